package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"snap/crypt"
	"snap/repo"
)

// maxUnusedFlag is "5%", "unlimited" or a size ("100M") as a pflag.Value.
type maxUnusedFlag struct{ m *repo.MaxUnused }

func (f maxUnusedFlag) String() string { return f.m.String() }
func (maxUnusedFlag) Type() string     { return "limit" }
func (f maxUnusedFlag) Set(s string) error {
	m, err := parseMaxUnused(s)
	if err != nil {
		return err
	}
	*f.m = m
	return nil
}

func parseMaxUnused(s string) (repo.MaxUnused, error) {
	bad := fmt.Errorf("invalid --max-unused %q: give a percentage of the packs' size (5%%), a size (100M, 2G) or unlimited", s)
	switch {
	case s == "unlimited":
		return repo.MaxUnused{Unlimited: true}, nil
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || p < 0 || p > 100 {
			return repo.MaxUnused{}, bad
		}
		return repo.MaxUnused{Percent: p}, nil
	}
	n, err := parseSize(s)
	if err != nil || n <= 0 {
		return repo.MaxUnused{}, bad
	}
	return repo.MaxUnused{Bytes: n}, nil
}

// parseSize reads 123, 10K, 100M, 2G, 1T (powers of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	if n := len(s); n > 0 {
		switch strings.ToUpper(s[n-1:]) {
		case "K":
			mult = 1 << 10
		case "M":
			mult = 1 << 20
		case "G":
			mult = 1 << 30
		case "T":
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return v * mult, nil
}

type pruneOptions struct {
	MaxUnused repo.MaxUnused
	DryRun    bool
}

func (o *pruneOptions) AddFlags(fs *pflag.FlagSet) {
	o.MaxUnused = repo.DefaultMaxUnused
	fs.Var(maxUnusedFlag{&o.MaxUnused}, "max-unused", "unused space to tolerate in kept packs: a percentage of the packs' size after prune, a size, or unlimited (only delete wholly unused packs)")
}

func init() {
	register(&command{
		name:    "prune",
		summary: "free the space that no snapshot needs",
		usage: `Usage: snap prune [--max-unused 5%] [--dry-run]

Deletes packs that no snapshot needs and repacks packs that are partly
unused until the unused space left is within --max-unused. Backups keep
running while prune marks and repacks; they wait (--retry-lock) only for
its short final step, which deletes. A prune that is killed leaves every
snapshot restorable; the next prune finishes the job. A write-only key can
prune: it copies blobs without decrypting them.

Examples:
  snap prune
  snap prune --dry-run
  snap prune --max-unused unlimited   # fastest: only delete wholly unused packs
  snap forget --keep-daily 7 --prune`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o pruneOptions
			o.AddFlags(fs)
			fs.BoolVarP(&o.DryRun, "dry-run", "n", false, "print what prune would do, change nothing")
			return func(ctx context.Context, g *globalOptions, args []string) error {
				if len(args) != 0 {
					return usagef("prune takes no arguments")
				}
				r, err := g.open(ctx)
				if err != nil {
					return err
				}
				defer r.Close()
				lock, err := g.lock(ctx, r, repo.OpPrune, false)
				if err != nil {
					return err
				}
				defer lock.Unlock()
				st, err := prune(ctx, g, &o, r, lock, o.DryRun)
				if err == nil && g.JSON {
					writeJSON(g.stdout, st)
				}
				return err
			}
		},
	})
}

// prune runs a prune under the caller's shared prune lock and prints what it
// did; snap forget --prune and snap run call it too.
func prune(ctx context.Context, g *globalOptions, o *pruneOptions, r *openedRepo, lock *repo.Lock, dryRun bool, forgotten ...crypt.ID) (*repo.PruneStats, error) {
	po := repo.PruneOptions{MaxUnused: o.MaxUnused, DryRun: dryRun, Lock: lock, UpgradeWait: g.lockOptions(repo.OpPrune, true), Forgotten: map[crypt.ID]bool{}}
	for _, id := range forgotten {
		po.Forgotten[id] = true
	}
	if g.Verbose {
		po.Progress = func(s string) { g.printf("prune: %s\n", s) }
	}
	st, err := r.Prune(ctx, po)
	if err != nil {
		return nil, err
	}
	would := ""
	if dryRun {
		would = "would have "
	}
	g.printf("prune: %d snapshots; %s of packs, %s used\n", st.Snapshots, formatBytes(st.PackBytes), formatBytes(st.UsedBytes))
	g.printf("prune: %sdeleted %d packs, repacked %d (%s of needed blobs), removed %d leftover packs\n",
		would, st.PacksDeleted, st.PacksRepacked, formatBytes(st.RepackedBytes), st.PacksUnindexed)
	if st.PacksKeptForNew > 0 {
		g.printf("prune: kept %d packs that backups committed meanwhile need\n", st.PacksKeptForNew)
	}
	if st.DamagedKept > 0 {
		g.printf("prune: kept %d damaged packs as they are: they hold the only copies of blobs snapshots need ('snap check' names them)\n", st.DamagedKept)
	}
	if st.DamagedDeleted > 0 {
		g.printf("prune: %sdeleted %d damaged packs: every blob snapshots need from them has an intact copy in another pack\n", would, st.DamagedDeleted)
	}
	if st.Versions == nil {
		g.printf("prune: %sfreed %s; unused space left %s (limit %s)\n", would, formatBytes(st.FreedBytes), formatBytes(st.UnusedAfter), o.MaxUnused)
	} else {
		// A versioned bucket only hides what was deleted: its bytes go
		// when the earlier versions do.
		g.printf("prune: removed %s from the repository; unused space left %s (limit %s)\n", formatBytes(st.FreedBytes), formatBytes(st.UnusedAfter), o.MaxUnused)
	}
	printLocks(g, "prune", st.Locks)
	if v := st.Versions; v != nil {
		g.printf("prune: deleted %d earlier versions of files (%s) whose lock had run out\n", v.Deleted, formatBytes(v.FreedBytes))
		if v.Locked > 0 {
			g.printf("prune: %d earlier versions (%s) stay stored until their locks run out: the first on %s, the last on %s; a later prune deletes them\n",
				v.Locked, formatBytes(v.LockedBytes), formatLockDate(v.LockedFirst), formatLockDate(v.LockedLast))
		}
	}
	return st, nil
}

// printLocks says how far the locks of what snapshots need reach.
func printLocks(g *globalOptions, step string, st *repo.LockStats) {
	if st == nil {
		return
	}
	g.printf("%s: object locks: %d files checked (%d asked of the store, the others from this host's record), %d extended; everything the snapshots need is locked until at least %s\n",
		step, st.Checked, st.Asked, st.Extended, formatLockDate(st.Until))
}

func formatLockDate(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.Local().Format("2006-01-02 15:04")
}
