package main

import (
	"bufio"
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"snap/repo"
)

type dumpOptions struct {
	AsOf time.Time
}

func init() {
	register(&command{
		name:    "dump",
		summary: "write an item to stdout (a stream as is, a tree as a tar)",
		usage: `Usage: snap dump SNAPSHOT ITEM

Examples:
  snap dump latest mydb.sql | psql mydb
  snap dump latest files | tar -tv
  snap dump latest mydb.sql --as-of "2026-12-01 02:00"   # from the bucket as it was then`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o dumpOptions
			addAsOfFlag(fs, &o.AsOf)
			return func(ctx context.Context, g *globalOptions, args []string) error {
				g.asOf = o.AsOf
				return runDump(ctx, g, &o, args)
			}
		},
	})
}

func runDump(ctx context.Context, g *globalOptions, _ *dumpOptions, args []string) error {
	if len(args) != 2 {
		return usagef("usage: snap dump SNAPSHOT ITEM")
	}
	r, s, err := g.openSnapshot(ctx, args[0])
	if err != nil {
		return err
	}
	defer r.Close()
	stopProgress := startStoreProgress(g)
	defer stopProgress()
	it, err := s.Item(args[1])
	if err != nil {
		return err
	}
	if err := s.CheckItem(it); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(g.stdout, 1<<20)
	if it.Kind == repo.KindTree {
		err = r.WriteTar(ctx, it, bw)
	} else {
		_, err = r.StreamItem(ctx, it, bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	// The reader went away ('snap dump ... | head'): not a failure, and
	// the deferred Close still releases the lock (SIGPIPE is ignored).
	if errors.Is(err, syscall.EPIPE) {
		return nil
	}
	return err
}
