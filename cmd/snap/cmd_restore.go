package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"snap/repo"
	"snap/repo/format"
)

type restoreOptions struct {
	Items   []string
	Target  string
	Yes     bool
	DryRun  bool
	Project string
	Force   bool
	AsOf    time.Time
}

func init() {
	register(&command{
		name:    "restore",
		summary: "restore items of a snapshot to a directory",
		usage: `Usage: snap restore SNAPSHOT --target DIR [--item NAME]...
       snap restore SNAPSHOT [--item NAME]... [--yes] [--dry-run]   (stack snapshots)

With --target, a tree item is restored under DIR with modes, mtimes and (as
root) owners, and a stream item is written to DIR/NAME.

Without --target, a snapshot of a stack ('snap backup n8n') is put back into
the running stack: the database is first loaded into a scratch database and
checked, the Redis RDB is checked, and only then is n8n stopped, the roles,
database, Redis data, volume and project files replaced (old project files
kept as *.snap-old-TIME), and n8n started again. Replacing live data needs
--yes when stdin is not a terminal. Without --item every item is restored.

In queue mode every n8n container is stopped first: workers and webhook
processors (given time to finish running executions), then main; main
starts first afterwards, and snap waits for it to answer /healthz.

Before anything is stopped, the restored n8n credentials are decrypted
with the snapshot's encryption key, and the restore is refused if the
running n8n would use another key, or if the snapshot's database has
migrations newer than the live one's (n8n cannot migrate down); --force
restores anyway.

With --as-of TIME the snapshot is read from the repository as it was at
TIME (an s3: repository in a versioned bucket, from its earlier object
versions): what an attack deleted or overwrote since reads as it was.

Examples:
  snap restore latest --dry-run
  snap restore latest --yes
  snap restore latest --item postgres --yes
  snap restore latest --item n8n-data --target /tmp/restore
  snap restore latest --as-of "2026-12-01 02:00" --yes`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o restoreOptions
			fs.StringArrayVar(&o.Items, "item", nil, "item to restore (repeatable; default all)")
			fs.StringVarP(&o.Target, "target", "t", "", "directory to restore into (files), instead of into the stack")
			fs.BoolVar(&o.Yes, "yes", false, "confirm replacing live data (stack restore)")
			fs.BoolVar(&o.DryRun, "dry-run", false, "print the restore plan and exit")
			fs.StringVar(&o.Project, "project", "", "restore into this Docker Compose project (default: the one backed up)")
			fs.BoolVar(&o.Force, "force", false, "restore even if the stack's checks refuse (credentials that would not decrypt, newer migrations)")
			addAsOfFlag(fs, &o.AsOf)
			return func(ctx context.Context, g *globalOptions, args []string) error {
				g.asOf = o.AsOf
				return runRestore(ctx, g, &o, args)
			}
		},
	})
}

func runRestore(ctx context.Context, g *globalOptions, o *restoreOptions, args []string) error {
	if len(args) != 1 {
		return usagef("usage: snap restore SNAPSHOT --target DIR [--item NAME]")
	}
	r, s, err := g.openSnapshot(ctx, args[0])
	if err != nil {
		return err
	}
	defer r.Close()
	var items []*repo.Item
	if len(o.Items) == 0 {
		for i := range s.Items {
			items = append(items, &s.Items[i])
		}
	}
	for _, name := range o.Items {
		it, err := s.Item(name)
		if err != nil {
			return err
		}
		items = append(items, it)
	}
	if o.Target == "" {
		if s.Profile == "" {
			return usagef("snapshot %s is not of a stack: give --target DIR", s.ID.Short())
		}
		return runStackRestore(ctx, g, o, r, s, items)
	}
	// Only here: a stack restore prints its steps as it goes.
	stopProgress := startStoreProgress(g)
	defer stopProgress()
	var need int64
	for _, it := range items {
		need += it.Size
	}
	if err := checkDirSpace(o.Target, need, fmt.Sprintf("restoring %d item(s)", len(items))); err != nil {
		return err
	}
	if err := os.MkdirAll(o.Target, 0o700); err != nil {
		return err
	}
	for _, it := range items {
		if err := s.CheckItem(it); err != nil {
			return err
		}
		switch it.Kind {
		case repo.KindTree:
			st, err := r.RestoreTree(ctx, it, o.Target)
			if err != nil {
				return fmt.Errorf("item %q: %w", it.Name, err)
			}
			g.printf("restored %s: %d files, %d dirs, %s\n", format.DisplayName(it.Name), st.Files, st.Dirs, formatBytes(st.Bytes))
			for _, p := range st.Skipped {
				fmt.Fprintf(g.stderr, "warning: %s: device or socket not restored (needs root)\n", p)
			}
		case repo.KindStream:
			if err := restoreStream(ctx, r, it, filepath.Join(o.Target, it.Name)); err != nil {
				return fmt.Errorf("item %q: %w", it.Name, err)
			}
			g.printf("restored %s: %s\n", format.DisplayName(it.Name), formatBytes(it.Size))
		}
	}
	return nil
}

// restoreStream writes a stream to a temporary file and renames it into
// place only when complete and verified.
func restoreStream(ctx context.Context, r *openedRepo, it *repo.Item, dst string) error {
	tmp := dst + ".snap-partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := r.StreamItem(ctx, it, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
