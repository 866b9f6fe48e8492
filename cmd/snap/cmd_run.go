package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"snap/internal/tail"
	"snap/metrics"
	"snap/notify"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/retention"
)

type runOptions struct {
	Project  string
	PruneNow bool
}

func init() {
	register(&command{
		name:    "run",
		summary: "the nightly job: backup, check, forget, prune, sync, as the config says",
		usage: `Usage: snap run PROFILE [--prune-now]

Runs a profile of the config file as one job, each step only if the one
before it succeeded:

  1. hooks.before          shell commands; a failure stops the job
  2. backup                the profile's items as one snapshot
  3. check                 structure, and a rotating 1/read_data_days of the
                           data (default 7: all data read once a week)
  4. forget                the profile's retention, this host's snapshots only
  5. prune                 when the last prune is every_days old (default 7)
  6. sync                  to each sync target (sync_delete mirrors prunes)
  7. hooks.after           or hooks.on_failure

Monitors in notify get a start ping and a success or failure ping with the
last lines of the log; metrics_dir gets a Prometheus textfile. A monitor
that is down never fails the job. Log lines are structured (--json for
JSON lines); --quiet prints only warnings and errors, so cron mail stays
empty on success. A failed backup never runs forget or prune.

Exit code: the backup's own code when the backup failed (3: a source
failed, 11: locked, ...), 4 when the snapshot was saved but a later step
failed (named in the message), 0 when everything ran.

Without a config file, 'snap run n8n' runs the n8n preset with the
defaults: backup and check.

Examples:
  snap run n8n
  snap run n8n --quiet        # what 'snap schedule install n8n' runs
  snap run n8n --prune-now`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o runOptions
			fs.StringVar(&o.Project, "project", "", "Docker Compose project of a preset (default: the profile's, or its name)")
			fs.BoolVar(&o.PruneNow, "prune-now", false, "prune this time whatever the schedule says")
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runRun(ctx, g, &o, args)
			}
		},
	})
}

// stepError is a step of snap run that failed after the backup was saved.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string {
	return fmt.Sprintf("the backup was saved, but %s failed: %v", e.step, e.err)
}
func (e *stepError) Unwrap() error { return e.err }

// job is one snap run.
type job struct {
	g       *globalOptions
	quiet   *globalOptions // for the steps' own printing: silent, the log speaks
	o       *runOptions
	name    string
	p       *profile
	log     *slog.Logger
	tail    *tail.Buffer
	host    string
	steps   []metrics.Step
	snap    *repo.Snapshot
	repoSum *metrics.Repo
}

func runRun(ctx context.Context, g *globalOptions, o *runOptions, args []string) error {
	if len(args) != 1 {
		return usagef("usage: snap run PROFILE")
	}
	name := args[0]
	p := &profile{Preset: name}
	if g.cfg != nil && g.cfg.Profiles[name] != nil {
		p = g.cfg.Profiles[name]
	} else if !isPreset(name) {
		where := "no config file"
		if g.cfg != nil {
			where = "config " + g.cfg.path
		}
		return usagef("no profile %q (%s; the built-in preset is n8n)", name, where)
	}
	var ns []notify.Notifier
	if g.cfg != nil {
		var err error
		if ns, err = g.cfg.notifiers(p); err != nil {
			return usagef("%v", err)
		}
	}
	j := &job{g: g, o: o, name: name, p: p, tail: &tail.Buffer{Max: 64 << 10}}
	j.host, _ = os.Hostname()
	q := *g
	q.Quiet = true
	j.quiet = &q
	j.log = j.logger()

	start := now()
	ev := notify.Event{Profile: name, Host: j.host, RunID: notify.NewRunID()}
	ev.Kind = notify.KindStart
	j.notify(ctx, ns, ev)
	j.log.Info("run started", "profile", name)
	err := j.run(ctx)
	if err == nil {
		err = j.hooks(ctx, "after", p.Hooks.After, "")
		if err != nil {
			err = &stepError{step: "hooks.after", err: err}
		}
	}
	if err != nil {
		// Info: with --quiet the error is printed once, as snap's last line.
		j.log.Info("run failed", "profile", name, "error", errorText(err))
		if herr := j.hooks(ctx, "on_failure", p.Hooks.OnFailure, errorText(err)); herr != nil {
			j.log.Warn("on_failure hook failed", "error", herr.Error())
		}
	} else {
		j.log.Info("run finished", "profile", name, "duration", now().Sub(start).Round(time.Millisecond).String())
	}
	j.writeMetrics(start, err == nil)
	ev.Kind, ev.Duration, ev.Log = notify.KindSuccess, now().Sub(start), j.tail.String()
	if err != nil {
		ev.Kind, ev.Error = notify.KindFailure, errorText(err)
	}
	if j.snap != nil {
		ev.Snapshot = j.snap.ID.String()
		ev.Stats = map[string]float64{"bytes_read": float64(j.bytesRead()), "bytes_added": float64(j.snap.Stored)}
	}
	j.notify(context.WithoutCancel(ctx), ns, ev)
	return err
}

// logger writes structured lines to stdout (JSON with --json), at warning
// level with --quiet, and always keeps the info-level tail for monitors.
func (j *job) logger() *slog.Logger {
	level := slog.LevelInfo
	if j.g.Quiet {
		level = slog.LevelWarn
	} else if j.g.Verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	var out slog.Handler
	if j.g.JSON {
		out = slog.NewJSONHandler(j.g.stdout, opts)
	} else {
		out = slog.NewTextHandler(j.g.stdout, opts)
	}
	return slog.New(slog.NewMultiHandler(out, slog.NewTextHandler(j.tail, &slog.HandlerOptions{Level: slog.LevelInfo})))
}

func (j *job) notify(ctx context.Context, ns []notify.Notifier, ev notify.Event) {
	for _, err := range notify.Send(ctx, ns, ev) {
		j.log.Warn("notification not delivered (the run is not affected)", "error", err.Error())
	}
}

func (j *job) step(name string, err error) {
	j.steps = append(j.steps, metrics.Step{Name: name, Success: err == nil})
}

func (j *job) bytesRead() int64 {
	var n int64
	for _, it := range j.snap.Items {
		n += it.Size
	}
	return n
}

// run is steps 1-6; the first failure stops it.
func (j *job) run(ctx context.Context) error {
	g, p := j.g, j.p
	if err := j.hooks(ctx, "before", p.Hooks.Before, ""); err != nil {
		return fmt.Errorf("hooks.before failed, nothing was backed up: %w", err)
	}
	project := j.o.Project
	if project == "" {
		project = p.Project
	}
	plan, err := profilePlan(ctx, g, j.name, project)
	if err != nil {
		j.step("backup", err)
		return &repo.SourceError{Err: err}
	}
	defer plan.Close()
	for _, w := range plan.Warnings {
		j.log.Warn(w)
	}
	r, err := g.open(ctx)
	if err != nil {
		j.step("backup", err)
		return err
	}
	defer r.Close()
	bo := &backupOptions{Tags: p.Tags}
	j.snap, err = backupPlan(ctx, j.quiet, bo, r, plan, j.name)
	j.step("backup", err)
	if err != nil {
		return err
	}
	j.log.Info("backup saved", "snapshot", j.snap.ID.Short(), "items", len(j.snap.Items), "bytes_read", j.bytesRead(), "bytes_added", j.snap.Stored, "seconds", math.Round(j.snap.Duration*10)/10)
	defer j.measure(ctx, r)

	{
		co := &checkOptions{}
		if days := p.readDataDays(); days > 0 {
			// Group n of days by the day number: every pack is read once
			// in any days consecutive nights.
			co.Subset = fmt.Sprintf("%d/%d", int(now().Unix()/86400)%days+1, days)
		}
		res, err := check(ctx, j.quiet, co)
		j.step("check", err)
		if err != nil {
			return &stepError{step: "check", err: err}
		}
		j.log.Info("check passed", "packs_read", res.PacksRead, "blobs_verified", res.BlobsRead, "subset", co.Subset)
	}
	if p.Retention != nil {
		if err := j.forgetAndPrune(ctx, r); err != nil {
			return err
		}
	}
	if r.Config().ObjectLock != nil && p.Retention == nil {
		// forget (or prune) extends them when there is a policy.
		if err := j.extendLocks(ctx, r); err != nil {
			return err
		}
	}
	for _, dest := range p.Sync {
		st, err := syncRepo(ctx, j.quiet, r, dest, &syncOptions{Delete: p.SyncDelete})
		j.step("sync", err)
		if err != nil {
			return &stepError{step: "sync to " + dest, err: err}
		}
		j.log.Info("synced", "to", dest, "files_copied", st.FilesCopied, "bytes_copied", st.BytesCopied, "files_deleted", st.FilesDeleted)
	}
	return nil
}

// forgetAndPrune applies the profile's retention to this host's snapshots
// of the profile, then prunes when a prune is due.
func (j *job) forgetAndPrune(ctx context.Context, r *openedRepo) error {
	stamp, pruneDue := j.pruneDue(r)
	op := repo.OpForget
	if pruneDue {
		op = repo.OpPrune
	}
	lock, err := j.g.lock(ctx, r, op, false)
	if err != nil {
		j.step("forget", err)
		return &stepError{step: "forget", err: err}
	}
	defer lock.Unlock()
	fo := &forgetOptions{Policy: j.p.policy, Hosts: []string{j.host}, Profile: []string{j.name}, prunes: pruneDue}
	res, err := forget(ctx, j.quiet, fo, r, lock, retention.GroupBy{Host: true, Profile: true}, nil)
	j.step("forget", err)
	if err != nil {
		return &stepError{step: "forget", err: err}
	}
	j.log.Info("forget done", "policy", j.p.policy.String(), "removed", res.Removed, "kept", res.Kept)
	j.logLocks(res.Locks)
	if !pruneDue {
		j.log.Debug("prune not due", "every_days", j.p.pruneEveryDays())
		return nil
	}
	st, err := prune(ctx, j.quiet, &pruneOptions{MaxUnused: j.p.maxUnused()}, r, lock, false)
	j.step("prune", err)
	if err != nil {
		return &stepError{step: "prune", err: err}
	}
	j.logLocks(st.Locks)
	if v := st.Versions; v != nil && v.Locked > 0 {
		j.log.Info("earlier versions kept by their locks", "versions", v.Locked, "bytes", v.LockedBytes, "first_unlocked", v.LockedFirst.Format(time.RFC3339))
	}
	if stamp != "" {
		if err := os.WriteFile(stamp, []byte(strconv.FormatInt(now().Unix(), 10)+"\n"), 0o600); err != nil {
			j.log.Warn("could not record the prune time (the next run prunes again)", "error", err.Error())
		}
	}
	j.log.Info("prune done", "packs_deleted", st.PacksDeleted, "packs_repacked", st.PacksRepacked, "bytes_freed", st.FreedBytes)
	return nil
}

// logLocks logs what a lock extension did (nil: not under Object Lock).
func (j *job) logLocks(st *repo.LockStats) {
	if st != nil {
		j.log.Info("object locks extended", "checked", st.Checked, "asked", st.Asked, "extended", st.Extended, "locked_until", st.Until.Format(time.RFC3339))
	}
}

// extendLocks moves the object locks of what the snapshots need forward
// for a profile without retention (forget and prune do it otherwise).
func (j *job) extendLocks(ctx context.Context, r *openedRepo) error {
	lock, err := j.g.lock(ctx, r, repo.OpExtendLocks, false)
	if err == nil {
		defer lock.Unlock()
		var st *repo.LockStats
		st, err = r.ExtendLocks(ctx)
		if err == nil {
			j.logLocks(st)
		}
	}
	j.step("locks", err)
	if err != nil {
		return &stepError{step: "extending object locks", err: err}
	}
	return nil
}

// pruneDue reads when this profile last pruned, from a state file in the
// cache (losing it only means one early prune).
func (j *job) pruneDue(r *openedRepo) (stamp string, due bool) {
	every := j.p.pruneEveryDays()
	if j.o.PruneNow {
		due = true
	}
	dir, err := r.CacheDir()
	if err != nil {
		return "", due || every > 0
	}
	safe := strings.Map(func(c rune) rune {
		if c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return c
		}
		return '_'
	}, j.name)
	stamp = filepath.Join(dir, "last-prune-"+safe)
	if every == 0 && !due {
		return stamp, false
	}
	b, err := os.ReadFile(stamp)
	if err != nil {
		return stamp, true
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return stamp, true
	}
	// A little slack so a nightly job run a few minutes early still counts.
	return stamp, due || now().Sub(time.Unix(sec, 0)) >= time.Duration(every)*24*time.Hour-time.Hour
}

// measure records the repository's snapshot count and size for metrics
// (by listing, not reading).
func (j *job) measure(ctx context.Context, r *openedRepo) {
	m := &metrics.Repo{}
	be := r.Backend()
	for _, t := range []backend.FileType{backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.KeyFile} {
		_ = be.List(ctx, t, func(fi backend.FileInfo) error {
			m.SizeBytes += fi.Size
			if t == backend.SnapshotFile {
				m.Snapshots++
			}
			return nil
		})
	}
	j.repoSum = m
}

func (j *job) writeMetrics(start time.Time, ok bool) {
	if j.g.cfg == nil || j.g.cfg.MetricsDir == "" {
		return
	}
	run := metrics.Run{Profile: j.name, Time: now(), Duration: now().Sub(start), Success: ok, Steps: j.steps, Repo: j.repoSum}
	if j.snap != nil {
		b := &metrics.Backup{BytesRead: j.bytesRead(), BytesAdded: j.snap.Stored}
		for _, it := range j.snap.Items {
			b.Items = append(b.Items, metrics.Item{Name: it.Name, SizeBytes: it.Size, AddedBytes: it.Added})
		}
		run.Backup = b
	}
	if err := metrics.WriteTextfile(j.g.cfg.MetricsDir, run); err != nil {
		j.log.Warn("metrics not written", "dir", j.g.cfg.MetricsDir, "error", err.Error())
	}
}

// hooks runs a hook list in order with /bin/sh; the first failure stops it.
// The log names a hook by its place (hooks.before[0]), never its command
// line: the log's tail goes to monitors, and commands may carry tokens.
// Its output goes to the local log only (--verbose) and to the error.
func (j *job) hooks(ctx context.Context, which string, cmds []string, runErr string) error {
	for i, c := range cmds {
		name := fmt.Sprintf("hooks.%s[%d]", which, i)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c)
		cmd.Env = append(os.Environ(), "SNAP_PROFILE="+j.name, "SNAP_ERROR="+runErr)
		if j.snap != nil {
			cmd.Env = append(cmd.Env, "SNAP_SNAPSHOT="+j.snap.ID.String())
		}
		var out tail.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		j.log.Info("hook ran", "hook", name, "ok", err == nil)
		j.log.Debug("hook output", "hook", name, "output", strings.TrimSpace(out.String()))
		if err != nil {
			return fmt.Errorf("%s failed (%v): %s", name, err, strings.TrimSpace(out.String()))
		}
	}
	return nil
}
