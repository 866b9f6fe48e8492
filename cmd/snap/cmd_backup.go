package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"snap/repo"
	"snap/repo/backend/meter"
	"snap/repo/format"
	"snap/sources"
	commandsrc "snap/sources/command"
	"snap/sources/files"
)

type backupOptions struct {
	Stdin    bool
	Commands []string
	Items    []string
	Tags     []string
	Host     string
	Time     string
	Profile  string
	Project  string
	DryRun   bool
}

func init() {
	register(&command{
		name:    "backup",
		summary: "back up stdin, command output and paths as one snapshot",
		usage: `Usage: snap backup n8n [--project NAME] [--dry-run]
       snap backup [--stdin] [--command CMD]... [PATH...] [--item NAME]...

'snap backup n8n' discovers the n8n Docker Compose stack (project label
com.docker.compose.project=n8n, or --project) and takes, as one snapshot:
the PostgreSQL database (pg_dump inside its container) and its roles, the
Redis RDB, the n8n data volume as a file tree, and the project's .env and
compose files. --dry-run prints that plan. A directory named n8n is backed
up with ./n8n.

Every source is one item of the snapshot. --item names them in order: the
stdin item first, then each --command, then the paths (which together form
one tree item). Unnamed items are called "stdin", the command's program name,
and the single path's base name (or "files").

A source that fails (a command exiting non-zero, an unreadable path) fails
the whole run: no snapshot is written and snap exits with code 3.

Examples:
  pg_dump mydb | snap backup --stdin --item mydb.sql
  snap backup --command 'pg_dump -U postgres mydb' --item mydb.sql
  snap backup /srv/app/data /srv/app/.env --tag nightly
  snap backup n8n --dry-run`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o backupOptions
			fs.BoolVar(&o.Stdin, "stdin", false, "back up standard input as a stream item")
			fs.StringArrayVar(&o.Commands, "command", nil, "back up this shell command's stdout as a stream item (repeatable)")
			fs.StringArrayVar(&o.Items, "item", nil, "item name, in source order (repeatable)")
			fs.StringArrayVar(&o.Tags, "tag", nil, "tag the snapshot (repeatable)")
			fs.StringVar(&o.Host, "host", "", "host name to record (default: this host)")
			fs.StringVar(&o.Time, "time", "", `snapshot time: RFC 3339 or "YYYY-MM-DD HH:MM:SS" (default: now)`)
			fs.StringVar(&o.Profile, "profile", "", "profile name to record")
			fs.StringVar(&o.Project, "project", "", "Docker Compose project of a stack preset (default: the preset's name)")
			fs.BoolVar(&o.DryRun, "dry-run", false, "print what a stack backup would take, and exit")
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runBackup(ctx, g, &o, args)
			}
		},
	})
}

// parseTime accepts RFC 3339 or "YYYY-MM-DD HH:MM:SS" (local time).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05", s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, usagef(`invalid --time %q: use RFC 3339 (2026-01-02T03:04:05Z) or "2026-01-02 03:04:05"`, s)
}

// plan turns the command line's sources into plan items: stdin, each
// command, and the paths as one tree item, named by --item in that order.
func (o *backupOptions) plan(stdin io.Reader, paths []string) (*sources.Plan, error) {
	plan := &sources.Plan{}
	if o.Stdin {
		plan.Items = append(plan.Items, &sources.PlanItem{Name: "stdin", Source: &commandsrc.Stdin{R: stdin}})
	}
	for _, c := range o.Commands {
		plan.Items = append(plan.Items, &sources.PlanItem{Name: commandsrc.Name(c), Source: commandsrc.New(c)})
	}
	if len(paths) > 0 {
		name := "files"
		if len(paths) == 1 {
			name = filepath.Base(filepath.Clean(paths[0]))
		}
		abs := make([]string, len(paths))
		for i, p := range paths {
			if _, err := os.Lstat(p); err != nil {
				return nil, &repo.SourceError{Err: fmt.Errorf("cannot back up %s: %w", p, err)}
			}
			var err error
			if abs[i], err = filepath.Abs(p); err != nil {
				return nil, &repo.SourceError{Err: err}
			}
		}
		plan.Items = append(plan.Items, &sources.PlanItem{Name: name, Source: files.New(abs, "files "+strings.Join(abs, ", "))})
	}
	if len(plan.Items) == 0 {
		return nil, usagef("nothing to back up: give --stdin, --command or paths")
	}
	if len(o.Items) > len(plan.Items) {
		return nil, usagef("%d --item names for %d sources", len(o.Items), len(plan.Items))
	}
	seen := map[string]bool{}
	for i, it := range plan.Items {
		if i < len(o.Items) {
			it.Name = o.Items[i]
		}
		if err := format.CheckItemName(it.Name); err != nil {
			return nil, usagef("%v", err)
		}
		if seen[it.Name] {
			return nil, usagef("two items are named %q: name them with --item", it.Name)
		}
		seen[it.Name] = true
	}
	return plan, nil
}

type backupSummary struct {
	Snapshot string        `json:"snapshot"`
	Time     time.Time     `json:"time"`
	Items    []itemSummary `json:"items"`
	Read     int64         `json:"bytes_read"`
	Added    int64         `json:"bytes_added"`
	// Sent is what went to the store (packs, index, snapshot, lock), and
	// Store the requests by kind: what a paid bucket bills.
	Sent     int64        `json:"bytes_sent"`
	Store    meter.Counts `json:"store"`
	Duration float64      `json:"duration_seconds"`
}

type itemSummary struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Size  int64  `json:"size"`
	Files int64  `json:"files,omitempty"`
}

func runBackup(ctx context.Context, g *globalOptions, o *backupOptions, args []string) error {
	var plan *sources.Plan
	profile := o.Profile
	if o.isProfile(g, args) {
		p, err := profilePlan(ctx, g, args[0], o.Project)
		if err != nil {
			return &repo.SourceError{Err: err} // exit 3: the stack, not the repository
		}
		defer p.Close()
		plan, profile = p, args[0]
	} else {
		p, err := o.plan(g.stdin, args)
		if err != nil {
			return err
		}
		plan = p
	}
	for _, w := range plan.Warnings {
		warn(g, "%s", w)
	}
	if o.DryRun {
		printPlan(g, plan, "Would back up")
		return nil
	}
	return runPlan(ctx, g, o, plan, profile)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
