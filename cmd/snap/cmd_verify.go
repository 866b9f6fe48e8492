package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"snap/repo"
	"snap/sources"
)

type verifyOptions struct {
	Restore bool
	Project string
}

func init() {
	var o verifyOptions
	register(&command{
		name:    "verify",
		summary: "prove a snapshot restores (a restore drill that touches no live data)",
		usage: `Usage: snap verify [--restore] [SNAPSHOT]

Decrypts every item of the snapshot (default: latest) and checks it. With
--restore, also loads the PostgreSQL dump into a scratch database in the
same server (then drops it) and checks the table count, and checks the
Redis RDB with redis-check-rdb in a throwaway container. The live data is
never touched. Cheap enough for every night.

Examples:
  snap verify
  snap verify --restore latest`,
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&o.Restore, "restore", false, "also load database items into scratch copies on the stack's servers")
			fs.StringVar(&o.Project, "project", "", "Docker Compose project to use (default: the one backed up)")
		},
		run: func(ctx context.Context, g *globalOptions, args []string) error {
			return runVerify(ctx, g, &o, args)
		},
	})
}

func runVerify(ctx context.Context, g *globalOptions, o *verifyOptions, args []string) error {
	ref := "latest"
	if len(args) == 1 {
		ref = args[0]
	} else if len(args) > 1 {
		return usagef("usage: snap verify [--restore] [SNAPSHOT]")
	}
	r, s, err := g.openSnapshot(ctx, ref)
	if err != nil {
		return err
	}
	defer r.Close()
	var plan *sources.Plan
	if o.Restore && s.Profile != "" {
		d, p, err := snapshotPlan(ctx, g, s, o.Project)
		if err != nil {
			return err
		}
		if d != nil {
			defer d.Close()
		}
		plan = p
	}
	for i := range s.Items {
		it := &s.Items[i]
		var pi *sources.PlanItem
		if plan != nil {
			pi = plan.Item(it.Name)
		}
		msg := "decrypts and authenticates"
		// Every item decrypts and authenticates in full, once: a drill
		// reads the item itself.
		switch {
		case pi != nil && it.Meta["source"] == sources.SourcePostgres:
			err = withItem(ctx, r, it, func(rd io.Reader) error { return pi.PG.VerifyDump(ctx, rd, it.Meta) })
			msg = fmt.Sprintf("loads into a scratch database with %s tables", it.Meta["table_count"])
		case pi != nil && it.Meta["source"] == sources.SourceRedis:
			err = withItem(ctx, r, it, func(rd io.Reader) error { return pi.Redis.VerifyRDB(ctx, rd, it.Size) })
			msg = "RDB passes redis-check-rdb"
		case it.Kind == repo.KindTree:
			err = r.WriteTar(ctx, it, io.Discard)
		default:
			_, err = r.StreamItem(ctx, it, io.Discard)
		}
		if err != nil {
			return fmt.Errorf("item %q: %w", it.Name, err)
		}
		g.printf("  %-18s ok: %s (%s)\n", it.Name, msg, formatBytes(it.Size))
	}
	g.printf("snapshot %s verified\n", s.ID.Short())
	return nil
}
