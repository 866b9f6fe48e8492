package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"snap/repo"
	"snap/repo/format"
)

type lsOptions struct {
	AsOf time.Time
}

func init() {
	register(&command{
		name:    "ls",
		summary: "list a snapshot's items, or the files of a tree item",
		usage: `Usage: snap ls SNAPSHOT [ITEM]

SNAPSHOT is an id, a unique id prefix or "latest". Listing items needs only
the metadata key (a write-only key works); listing files needs the full key.

Examples:
  snap ls latest
  snap ls 1a2b3c4d files`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o lsOptions
			addAsOfFlag(fs, &o.AsOf)
			return func(ctx context.Context, g *globalOptions, args []string) error {
				g.asOf = o.AsOf
				return runLs(ctx, g, &o, args)
			}
		},
	})
}

type lsEntry struct {
	Path  string    `json:"path"`
	Type  string    `json:"type"`
	Mode  string    `json:"mode"`
	UID   uint32    `json:"uid"`
	GID   uint32    `json:"gid"`
	Size  uint64    `json:"size"`
	MTime time.Time `json:"mtime"`
	Link  string    `json:"link,omitempty"`
}

func runLs(ctx context.Context, g *globalOptions, _ *lsOptions, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return usagef("usage: snap ls SNAPSHOT [ITEM]")
	}
	r, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	s, err := r.FindSnapshot(ctx, args[0])
	if err != nil {
		return err
	}
	if len(args) == 1 {
		if g.JSON {
			writeJSON(g.stdout, s.Items)
			return nil
		}
		fmt.Fprintf(g.stdout, "snapshot %s of %s at %s (%s)\n", s.ID.Short(), s.Host, s.Time.Local().Format("2006-01-02 15:04:05"), s.Status)
		for _, it := range s.Items {
			extra := ""
			if it.Kind == repo.KindTree {
				extra = fmt.Sprintf("  %d files, %d dirs", it.Files, it.Dirs)
			}
			if it.Error != "" {
				extra += "  NOT RESTORABLE: " + it.Error
			}
			fmt.Fprintf(g.stdout, "  %-24s %-6s %10s%s\n", format.DisplayName(it.Name), it.Kind, formatBytes(it.Size), extra)
		}
		return nil
	}
	it, err := s.Item(args[1])
	if err != nil {
		return err
	}
	if err := s.CheckItem(it); err != nil {
		return err
	}
	if it.Kind != repo.KindTree {
		fmt.Fprintf(g.stdout, "%s: stream of %d bytes\n", format.DisplayName(it.Name), it.Size)
		return nil
	}
	var entries []lsEntry
	err = r.WalkTree(ctx, *it.Tree, func(p string, n *format.Node) error {
		typ := string(n.Type)
		if n.Type == format.NodeFile {
			typ = "-"
		}
		e := lsEntry{Path: p, Type: typ, Mode: os.FileMode(n.Mode & 0o777).String(), UID: n.UID, GID: n.GID, Size: n.Size, MTime: n.MTime, Link: n.Target}
		if g.JSON {
			entries = append(entries, e)
			return nil
		}
		link := ""
		if e.Link != "" {
			link = " -> " + e.Link
		}
		_, err := fmt.Fprintf(g.stdout, "%s%s %5d %5d %12d %s %s%s\n", e.Type, e.Mode[1:], e.UID, e.GID, e.Size, e.MTime.Local().Format("2006-01-02 15:04"), e.Path, link)
		return err
	})
	if err != nil {
		return err
	}
	if g.JSON {
		writeJSON(g.stdout, entries)
	}
	return nil
}
