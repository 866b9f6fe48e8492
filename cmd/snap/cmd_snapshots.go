package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"snap/repo"
)

type snapshotsOptions struct {
	AsOf time.Time
}

func init() {
	register(&command{
		name:    "snapshots",
		summary: "list snapshots",
		usage: `Usage: snap snapshots [--json]

Lists every snapshot, oldest first: id, time, host, profile, items (an item
set aside by 'snap repair snapshots' is marked (!)), the bytes its items
hold, the bytes its run added to the repository (stored), tags, and
"(partial)" for a snapshot that is not complete. Needs only the metadata
key.

With --as-of TIME (an s3: repository in a versioned bucket) it lists the
snapshots the repository had at TIME, read from the bucket's earlier
object versions: after an attack that deleted or overwrote them, or wrote
bogus ones, pick a time before it (README, "After an attack").

Examples:
  snap snapshots
  snap snapshots --as-of "2026-12-01 02:00"
  snap snapshots --json | jq '.[-1].id'`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o snapshotsOptions
			addAsOfFlag(fs, &o.AsOf)
			return func(ctx context.Context, g *globalOptions, args []string) error {
				g.asOf = o.AsOf
				return runSnapshots(ctx, g, &o, args)
			}
		},
	})
}

type snapshotJSON struct {
	ID      string      `json:"id"`
	ShortID string      `json:"short_id"`
	Time    time.Time   `json:"time"`
	Host    string      `json:"host"`
	Profile string      `json:"profile,omitempty"`
	Tags    []string    `json:"tags"`
	Status  string      `json:"status"`
	Items   []repo.Item `json:"items"`
	Size    int64       `json:"size"`
	Added   int64       `json:"added"` // stored bytes the run added
}

func runSnapshots(ctx context.Context, g *globalOptions, _ *snapshotsOptions, args []string) error {
	if len(args) != 0 {
		return usagef("snapshots takes no arguments")
	}
	r, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	all, err := r.Snapshots(ctx)
	if err != nil {
		return err
	}
	out := make([]snapshotJSON, 0, len(all))
	for _, s := range all {
		j := snapshotJSON{ID: s.ID.String(), ShortID: s.ID.Short(), Time: s.Time, Host: s.Host, Profile: s.Profile, Tags: s.Tags, Status: s.Status, Items: s.Items}
		if j.Tags == nil {
			j.Tags = []string{}
		}
		for _, it := range s.Items {
			j.Size += it.Size
		}
		j.Added = s.Stored
		out = append(out, j)
	}
	if g.JSON {
		writeJSON(g.stdout, out)
		return nil
	}
	fmt.Fprintf(g.stdout, "%-8s  %-19s  %-12s  %-10s  %-30s  %10s  %10s  %s\n", "ID", "Time", "Host", "Profile", "Items", "Size", "Added", "Tags")
	for _, j := range out {
		var names []string
		for _, it := range j.Items {
			n := it.Name
			if it.Error != "" {
				n += "(!)"
			}
			names = append(names, n)
		}
		items := strings.Join(names, ",")
		if len(items) > 30 {
			items = fmt.Sprintf("%d: %.25s…", len(names), items)
		}
		status := ""
		if j.Status != repo.StatusComplete {
			status = "  (" + j.Status + ")"
		}
		fmt.Fprintf(g.stdout, "%-8s  %-19s  %-12s  %-10s  %-30s  %10s  %10s  %s%s\n", j.ShortID, j.Time.Local().Format("2006-01-02 15:04:05"), j.Host,
			j.Profile, items, formatBytes(j.Size), formatBytes(j.Added), strings.Join(j.Tags, ","), status)
	}
	fmt.Fprintf(g.stdout, "%d snapshots\n", len(out))
	return nil
}
