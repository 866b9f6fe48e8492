package main

import (
	"context"
	"time"

	"github.com/spf13/pflag"

	"snap/repo"
)

type statsOptions struct{}

func init() {
	register(&command{
		name:    "stats",
		summary: "space used: raw, deduplicated, stored, reclaimable",
		usage: `Usage: snap stats [SNAPSHOT...]

For the repository: what restoring every snapshot would write (raw), what
that is after deduplication, after compression and encryption (stored),
the packs on disk and what 'snap prune' would free. For each SNAPSHOT
given ("latest", ids or prefixes): its raw size, the size of the blobs it
needs after deduplication and as stored, and what its run added. Needs
only the metadata key.

Examples:
  snap stats
  snap stats latest
  snap stats --json | jq .repository.reclaimable_bytes`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o statsOptions
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runStats(ctx, g, &o, args)
			}
		},
	})
}

type snapshotStats struct {
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Raw   int64     `json:"raw_bytes"`
	Added int64     `json:"added_bytes"`
	*repo.SnapshotUsage
}

func runStats(ctx context.Context, g *globalOptions, _ *statsOptions, args []string) error {
	r, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	u, err := r.Usage(ctx)
	if err != nil {
		return err
	}
	var per []snapshotStats
	for _, ref := range args {
		s, err := r.FindSnapshot(ctx, ref)
		if err != nil {
			return err
		}
		su, err := r.SnapshotUsage(ctx, s)
		if err != nil {
			return err
		}
		st := snapshotStats{ID: s.ID.String(), Time: s.Time, Added: s.Stored, SnapshotUsage: su}
		for _, it := range s.Items {
			st.Raw += it.Size
		}
		per = append(per, st)
	}
	if g.JSON {
		writeJSON(g.stdout, map[string]any{"repository": u, "dedup_ratio": u.DedupRatio(), "snapshots": per})
		return nil
	}
	ratio := func(a, b int64) float64 {
		if b == 0 {
			return 1
		}
		return float64(a) / float64(b)
	}
	g.printf("repository: %d snapshots, %d blobs, %d packs, %d index files\n", u.Snapshots, u.Blobs, u.Packs, u.IndexFiles)
	g.printf("  %-30s %12s\n", "raw (every snapshot restored)", formatBytes(u.RawBytes))
	g.printf("  %-30s %12s  %5.1fx smaller\n", "deduplicated", formatBytes(u.PlainBytes), ratio(u.RawBytes, u.PlainBytes))
	g.printf("  %-30s %12s  %5.1fx smaller\n", "stored (compressed, sealed)", formatBytes(u.StoredBytes), ratio(u.PlainBytes, u.StoredBytes))
	g.printf("  %-30s %12s\n", "packs on disk", formatBytes(u.PackBytes))
	g.printf("  %-30s %12s\n", "reclaimable by prune", formatBytes(u.Reclaimable))
	if u.Unindexed > 0 {
		g.printf("  (%d packs left by interrupted runs: prune removes them)\n", u.Unindexed)
	}
	for _, s := range per {
		g.printf("snapshot %.8s %s: raw %s, deduplicated %s, stored %s, added by its run %s\n", s.ID, s.Time.Local().Format("2006-01-02 15:04:05"),
			formatBytes(s.Raw), formatBytes(s.PlainBytes), formatBytes(s.StoredBytes), formatBytes(s.Added))
	}
	return nil
}
