package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"snap/repo"
	"snap/repo/format"
	"snap/sources"
	_ "snap/sources/all" // every source kind and preset
	"snap/sources/docker"
	"snap/stack"
)

// isPreset reports whether name is a stack preset (`snap backup n8n`).
func isPreset(name string) bool {
	_, ok := sources.LookupPreset(name)
	return ok
}

// isProfile reports whether backup's arguments name a profile (from the
// config file) or a stack preset rather than paths: one bare name (no '/'),
// no other sources. A directory that happens to be called n8n is backed up
// with ./n8n.
func (o *backupOptions) isProfile(g *globalOptions, args []string) bool {
	if len(args) != 1 || o.Stdin || len(o.Commands) != 0 || strings.Contains(args[0], "/") {
		return false
	}
	if g.cfg != nil && g.cfg.Profiles[args[0]] != nil {
		return true
	}
	return isPreset(args[0])
}

// profilePlan resolves a profile name: a config profile (a preset or items
// written out) or a preset with its default project. Close the plan.
func profilePlan(ctx context.Context, g *globalOptions, name, project string) (*sources.Plan, error) {
	var p *profile
	if g.cfg != nil {
		p = g.cfg.Profiles[name]
	}
	if p == nil || p.Preset != "" {
		preset := name
		if p != nil {
			preset = p.Preset
			if project == "" {
				project = p.Project
			}
		}
		if project == "" {
			project = name
		}
		return sources.Discover(ctx, preset, project)
	}
	return sources.PlanFromSpecs(ctx, name, p.Items)
}

func printPlan(g *globalOptions, plan *sources.Plan, verb string) {
	fmt.Fprintf(g.stdout, "%s Docker Compose project %q:\n", verb, plan.Project)
	for _, it := range plan.Items {
		fmt.Fprintf(g.stdout, "  %-18s %s\n", format.DisplayName(it.Name), it.Source.Describe())
	}
	printApps(g, plan)
}

// printApps lists the containers a restore stops and starts again.
func printApps(g *globalOptions, plan *sources.Plan) {
	for _, a := range plan.AppsInStopOrder() {
		timeout := ""
		if a.StopTimeout > 0 {
			timeout = fmt.Sprintf(", up to %s to finish running work", a.StopTimeout)
		}
		fmt.Fprintf(g.stdout, "  app %-14s %s: stopped during a restore (tier %d%s) and started again\n", a.Role, a.Container, a.StopTier, timeout)
	}
}

// Warnings come from many goroutines (retries of concurrent requests,
// backups of several items): one lock keeps their lines whole.
func warn(g *globalOptions, format string, a ...any) {
	if !g.Quiet {
		warnMu.Lock()
		defer warnMu.Unlock()
		fmt.Fprintf(g.stderr, "warning: "+format+"\n", a...)
	}
}

var warnMu sync.Mutex

// runPlan backs up every item of a plan concurrently as one snapshot. Any
// failed item fails the run: no snapshot, exit 3, the item named.
func runPlan(ctx context.Context, g *globalOptions, o *backupOptions, plan *sources.Plan, profile string) error {
	r, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	snap, err := backupPlan(ctx, g, o, r, plan, profile)
	if err != nil {
		return err
	}
	return printBackupSummary(g, snap, snap.ID.String())
}

// backupPlan takes the snapshot under a shared lock; snap run calls it.
func backupPlan(ctx context.Context, g *globalOptions, o *backupOptions, r *openedRepo, plan *sources.Plan, profile string) (*repo.Snapshot, error) {
	var snapTime time.Time // zero: the run's start
	if o.Time != "" {
		var err error
		if snapTime, err = parseTime(o.Time); err != nil {
			return nil, err
		}
	}
	host := o.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	if err := checkBackupSpace(ctx, g, r, host, profile); err != nil {
		return nil, err
	}
	return stack.Backup(ctx, r, plan, stack.BackupOptions{
		Lock: func(ctx context.Context) (stack.Lock, error) {
			l, err := g.lock(ctx, r, repo.OpBackup, false)
			if err != nil {
				return nil, err
			}
			return l, nil
		},
		Time: snapTime, Host: host, Profile: profile, Tags: o.Tags, Program: "snap " + version,
		Now:      now,
		Progress: func(w *repo.Writer) func() { return startProgress(g, w) },
		Warn:     func(msg string) { warn(g, "%s", msg) },
	})
}

func printBackupSummary(g *globalOptions, snap *repo.Snapshot, id string) error {
	sum := backupSummary{Snapshot: id, Time: snap.Time, Added: snap.Stored, Duration: snap.Duration, Store: g.store.Counts()}
	sum.Sent = sum.Store.BytesSent
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
		g.printf("  %-20s %-6s %s%s\n", format.DisplayName(it.Name), it.Kind, formatBytes(it.Size), extra)
	}
	g.printf("snapshot %.8s saved: %s read, %s added, %s sent in %d requests, %.1fs\n", id, formatBytes(sum.Read), formatBytes(sum.Added),
		formatBytes(sum.Sent), sum.Store.Requests(), sum.Duration)
	return nil
}

var errNeedYes = errors.New("restore replaces live data: re-run with --yes to confirm (stdin is not a terminal)")

func confirm(g *globalOptions, yes bool) error {
	if yes {
		return nil
	}
	tty, ok := ttyFile()
	if !ok {
		return &usageError{msg: errNeedYes.Error()}
	}
	defer tty.Close()
	fmt.Fprint(tty, "Type yes to replace the live data: ")
	var answer string
	_, _ = fmt.Fscanln(tty, &answer)
	if answer != "yes" {
		return errors.New("restore cancelled")
	}
	return nil
}

func runStackRestore(ctx context.Context, g *globalOptions, o *restoreOptions, r *openedRepo, snap *repo.Snapshot, items []*repo.Item) error {
	// stack.Restore checks the items again; this says a set-aside item
	// is missing before the plan is looked up in Docker.
	for _, it := range items {
		if err := snap.CheckItem(it); err != nil {
			return err
		}
	}
	plan, err := snapshotPlan(ctx, g, snap, o.Project)
	if err != nil {
		return err
	}
	defer plan.Close()
	fmt.Fprintf(g.stdout, "Restore snapshot %s (%s, %s) into project %q:\n", snap.ID.Short(), snap.Host, snap.Time.Local().Format("2006-01-02 15:04:05"), plan.Project)
	for _, it := range items {
		fmt.Fprintf(g.stdout, "  %-18s %s, %s\n", format.DisplayName(it.Name), it.Meta["source"], formatBytes(it.Size))
	}
	printApps(g, plan)
	if o.DryRun {
		// Exactly what would be replaced, read from the repository and
		// the live stack; nothing is changed.
		pv, err := stack.PreviewRestore(ctx, r, plan, snap, items)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "Would replace:\n")
		for _, line := range pv.Items {
			fmt.Fprintf(g.stdout, "  %s\n", line)
		}
		if len(pv.Stop) > 0 {
			fmt.Fprintf(g.stdout, "Would stop, then start again: %s\n", strings.Join(pv.Stop, ", "))
		}
		return nil
	}
	if err := confirm(g, o.Yes); err != nil {
		return err
	}
	err = stack.Restore(ctx, r, plan, snap, items, stack.RestoreOptions{
		Containers: docker.Containers{Env: plan.Env},
		Say:        func(msg string) { g.printf("  %s\n", msg) },
		Force:      o.Force,
	})
	if err != nil {
		return err
	}
	g.printf("restore of %s complete and verified\n", snap.ID.Short())
	return nil
}

// snapshotPlan finds, in today's Docker, where a stack snapshot's items go:
// the profile it was taken with, or the Compose project it recorded.
func snapshotPlan(ctx context.Context, g *globalOptions, snap *repo.Snapshot, project string) (*sources.Plan, error) {
	for _, it := range snap.Items {
		if name := it.Meta["profile"]; name != "" && project == "" {
			return profilePlan(ctx, g, name, "")
		}
		if project == "" {
			project = it.Meta["project"]
		}
	}
	if project == "" {
		return nil, usagef("snapshot %s records no Docker Compose project or profile: use --project NAME or --target DIR", snap.ID.Short())
	}
	return sources.Discover(ctx, snapshotPreset(g, snap.Profile), project)
}

// snapshotPreset is the preset that took a snapshot recording a Compose
// project: its profile's preset, the profile itself when it names a
// preset, else n8n (the only one there was).
func snapshotPreset(g *globalOptions, profile string) string {
	if g.cfg != nil && g.cfg.Profiles[profile] != nil && g.cfg.Profiles[profile].Preset != "" {
		return g.cfg.Profiles[profile].Preset
	}
	if isPreset(profile) {
		return profile
	}
	return "n8n"
}
