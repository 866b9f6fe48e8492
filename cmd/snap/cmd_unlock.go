package main

import (
	"context"

	"github.com/spf13/pflag"
)

type unlockOptions struct {
	All bool
}

func init() {
	register(&command{
		name:    "unlock",
		summary: "remove stale locks",
		usage: `Usage: snap unlock [--remove-all]

Removes lock files whose holder is gone: a process on this host that no
longer runs, or a lock not refreshed for 30 minutes (a live snap rewrites
its lock every 5 minutes). Live locks are listed and kept. --remove-all
removes every lock: only when you know no snap process uses the
repository, from any host (a running backup whose lock is removed stops
before it commits).

Examples:
  snap unlock
  snap unlock --remove-all`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o unlockOptions
			fs.BoolVar(&o.All, "remove-all", false, "remove live locks too")
			return func(ctx context.Context, g *globalOptions, args []string) error {
				if len(args) != 0 {
					return usagef("unlock takes no arguments")
				}
				r, err := g.open(ctx)
				if err != nil {
					return err
				}
				defer r.Close()
				removed, kept, err := r.RemoveLocks(ctx, o.All)
				if g.JSON {
					writeJSON(g.stdout, map[string]any{"removed": removed, "kept": kept})
				}
				for _, l := range removed {
					g.printf("removed locks/%s: %s\n", l.Name, l)
				}
				for _, l := range kept {
					g.printf("kept locks/%s: %s is live (--remove-all removes it)\n", l.Name, l)
				}
				if len(removed)+len(kept) == 0 {
					g.printf("no locks\n")
				}
				return err
			}
		},
	})
}
