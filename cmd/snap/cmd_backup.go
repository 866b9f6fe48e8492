package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"snap/repo"
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
	var o backupOptions
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
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&o.Stdin, "stdin", false, "back up standard input as a stream item")
			fs.StringArrayVar(&o.Commands, "command", nil, "back up this shell command's stdout as a stream item (repeatable)")
			fs.StringArrayVar(&o.Items, "item", nil, "item name, in source order (repeatable)")
			fs.StringArrayVar(&o.Tags, "tag", nil, "tag the snapshot (repeatable)")
			fs.StringVar(&o.Host, "host", "", "host name to record (default: this host)")
			fs.StringVar(&o.Time, "time", "", `snapshot time: RFC 3339 or "YYYY-MM-DD HH:MM:SS" (default: now)`)
			fs.StringVar(&o.Profile, "profile", "", "profile name to record")
			fs.StringVar(&o.Project, "project", "", "Docker Compose project of a stack preset (default: the preset's name)")
			fs.BoolVar(&o.DryRun, "dry-run", false, "print what a stack backup would take, and exit")
		},
		run: func(ctx context.Context, g *globalOptions, args []string) error {
			return runBackup(ctx, g, &o, args)
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

type source struct {
	name string
	kind string // stream or tree
	open func() (io.Reader, func() error, error)
	// paths for a tree source
	paths []string
}

func (o *backupOptions) sources(g *globalOptions, paths []string) ([]source, error) {
	var srcs []source
	if o.Stdin {
		srcs = append(srcs, source{name: "stdin", kind: repo.KindStream, open: func() (io.Reader, func() error, error) {
			return g.stdin, func() error { return nil }, nil
		}})
	}
	for _, c := range o.Commands {
		srcs = append(srcs, source{name: commandName(c), kind: repo.KindStream, open: func() (io.Reader, func() error, error) {
			return startCommand(c)
		}})
	}
	if len(paths) > 0 {
		name := "files"
		if len(paths) == 1 {
			name = filepath.Base(filepath.Clean(paths[0]))
		}
		for _, p := range paths {
			if _, err := os.Lstat(p); err != nil {
				return nil, &repo.SourceError{Err: fmt.Errorf("cannot back up %s: %w", p, err)}
			}
		}
		srcs = append(srcs, source{name: name, kind: repo.KindTree, paths: paths})
	}
	if len(srcs) == 0 {
		return nil, usagef("nothing to back up: give --stdin, --command or paths")
	}
	if len(o.Items) > len(srcs) {
		return nil, usagef("%d --item names for %d sources", len(o.Items), len(srcs))
	}
	seen := map[string]bool{}
	for i := range srcs {
		if i < len(o.Items) {
			srcs[i].name = o.Items[i]
		}
		if srcs[i].name == "" || strings.ContainsAny(srcs[i].name, "/\x00") {
			return nil, usagef("invalid item name %q", srcs[i].name)
		}
		if seen[srcs[i].name] {
			return nil, usagef("two items are named %q: name them with --item", srcs[i].name)
		}
		seen[srcs[i].name] = true
	}
	return srcs, nil
}

func commandName(c string) string {
	f := strings.Fields(c)
	if len(f) == 0 {
		return "command"
	}
	return filepath.Base(f[0])
}

// tailBuffer keeps the last bytes a command wrote to stderr, for the error.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func startCommand(c string) (io.Reader, func() error, error) {
	cmd := exec.Command("/bin/sh", "-c", c)
	var errTail tailBuffer
	cmd.Stderr = &errTail
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, &repo.SourceError{Err: fmt.Errorf("command %q: %w", c, err)}
	}
	wait := func() error {
		// Drain what the chunker did not read so the command can exit.
		_, _ = io.Copy(io.Discard, out)
		if err := cmd.Wait(); err != nil {
			msg := strings.TrimSpace(string(bytes.ToValidUTF8(errTail.b, nil)))
			if msg != "" {
				msg = ": " + msg
			}
			return &repo.SourceError{Err: fmt.Errorf("command %q failed (%v)%s", c, err, msg)}
		}
		return nil
	}
	return out, wait, nil
}

type backupSummary struct {
	Snapshot string        `json:"snapshot"`
	Time     time.Time     `json:"time"`
	Items    []itemSummary `json:"items"`
	Read     int64         `json:"bytes_read"`
	Added    int64         `json:"bytes_added"`
	Blobs    int64         `json:"blobs_added"`
	Duration float64       `json:"duration_seconds"`
}

type itemSummary struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Size  int64  `json:"size"`
	Files int64  `json:"files,omitempty"`
}

func runBackup(ctx context.Context, g *globalOptions, o *backupOptions, args []string) error {
	start := now()
	snapTime := start
	if o.Time != "" {
		t, err := parseTime(o.Time)
		if err != nil {
			return err
		}
		snapTime = t
	}
	if o.isProfile(g, args) {
		return runStackBackup(ctx, g, o, args[0])
	}
	host := o.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	srcs, err := o.sources(g, args)
	if err != nil {
		return err
	}
	r, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	lock, err := r.Lock(ctx, false)
	if err != nil {
		return err
	}
	defer lock.Unlock()

	w, err := r.NewWriter(ctx)
	if err != nil {
		return err
	}
	prog := startProgress(g, w)
	snap := &repo.Snapshot{Time: snapTime, Host: host, Profile: o.Profile, Tags: o.Tags, Program: "snap " + version, Status: repo.StatusComplete}
	var caches []*repo.FilesCache
	for _, s := range srcs {
		it, fc, err := backupSource(w, r, s)
		if err != nil {
			prog.stop()
			w.Abort()
			return fmt.Errorf("item %q: %w", s.name, err)
		}
		snap.Items = append(snap.Items, it)
		if fc != nil {
			caches = append(caches, fc)
		}
	}
	if err := w.Flush(); err != nil {
		prog.stop()
		return err
	}
	prog.stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	snap.Duration = now().Sub(start).Seconds()
	snap.Stored = w.Stats().BytesStored.Load()
	id, err := r.SaveSnapshot(ctx, snap)
	if err != nil {
		return err
	}
	for _, fc := range caches {
		if err := fc.Save(); err != nil && g.Verbose {
			fmt.Fprintf(g.stderr, "warning: files cache not saved: %v\n", err)
		}
	}
	st := w.Stats()
	sum := backupSummary{Snapshot: id.String(), Time: snapTime, Added: st.BytesStored.Load(), Blobs: st.BlobsNew.Load(), Duration: snap.Duration}
	for _, it := range snap.Items {
		sum.Items = append(sum.Items, itemSummary{Name: it.Name, Kind: it.Kind, Size: it.Size, Files: it.Files})
		sum.Read += it.Size
	}
	if g.JSON {
		writeJSON(g.stdout, sum)
		return nil
	}
	for _, it := range sum.Items {
		extra := ""
		if it.Kind == repo.KindTree {
			extra = fmt.Sprintf(", %d files", it.Files)
		}
		g.printf("  %-20s %-6s %s%s\n", it.Name, it.Kind, formatBytes(it.Size), extra)
	}
	g.printf("snapshot %s saved: %s read, %s added, %.1fs\n", id.Short(), formatBytes(sum.Read), formatBytes(sum.Added), sum.Duration)
	return nil
}

func backupSource(w *repo.Writer, r *openedRepo, s source) (repo.Item, *repo.FilesCache, error) {
	it := repo.Item{Name: s.name, Kind: s.kind}
	before := w.Stats().BytesQueued.Load()
	switch s.kind {
	case repo.KindStream:
		rd, wait, err := s.open()
		if err != nil {
			return it, nil, err
		}
		res, err := w.SaveStream(rd)
		if werr := wait(); werr != nil {
			return it, nil, werr // the source's failure is the cause, not ours
		}
		if err != nil {
			return it, nil, err
		}
		if it.Refs, err = w.SaveRefs(res.Chunks); err != nil {
			return it, nil, err
		}
		it.Size = res.Size
		it.Added = w.Stats().BytesQueued.Load() - before
		return it, nil, nil
	case repo.KindTree:
		abs := make([]string, len(s.paths))
		for i, p := range s.paths {
			a, err := filepath.Abs(p)
			if err != nil {
				return it, nil, err
			}
			abs[i] = a
		}
		sort.Strings(abs)
		fc := r.OpenFilesCache(strings.Join(abs, "\x00"))
		res, err := w.SaveTree(s.paths, fc)
		if err != nil {
			return it, nil, err
		}
		if it.Refs, err = w.SaveRefs(res.Refs); err != nil {
			return it, nil, err
		}
		root := res.Root
		it.Tree, it.Size, it.Files, it.Dirs = &root, res.Size, res.Files, res.Dirs
		it.Added = w.Stats().BytesQueued.Load() - before
		return it, fc, nil
	}
	return it, nil, errors.New("unknown source kind")
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
