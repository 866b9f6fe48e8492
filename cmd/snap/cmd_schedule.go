package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"snap/repo"
	"snap/repo/backend/location"
	"snap/schedule"
	"snap/sources"
)

type scheduleOptions struct {
	At      string
	Cron    bool
	Systemd bool
	DryRun  bool
}

// What tests replace: the root the files go under, the systemctl runner
// and the binary the job runs.
var (
	scheduleRoot                   = "/"
	scheduleRunner schedule.Runner = schedule.Exec
	scheduleBinary                 = os.Executable
)

const defaultScheduleAt = "02:00"

func init() {
	register(&command{
		name:    "schedule",
		summary: "install, list or remove the nightly 'snap run PROFILE' job",
		usage: `Usage: snap schedule install PROFILE [--at HH:MM] [--cron|--systemd] [--dry-run]
       snap schedule list [--json]
       snap schedule remove PROFILE [--dry-run]

'install' runs 'snap run PROFILE --quiet' every day at --at (24 h, local
time, default 02:00) as root: with a systemd service and timer
(/etc/systemd/system/snap-PROFILE.service and .timer, enabled at once; a
night missed while the machine was off runs at the next boot) where systemd
is running, otherwise with /etc/cron.d/snap-PROFILE (under flock, so runs
never overlap; cron mails only failures). The job runs at low CPU and I/O
priority so the stack stays responsive. Installing again replaces the
schedule.

The job finds the repository through --config (the config file in use) or
through SNAP_REPO and SNAP_KEY_FILE (or SNAP_PASSWORD_FILE) set in the unit
or cron file. A passphrase is never written there: with only SNAP_PASSWORD,
install refuses; use a key file (a write-only one from 'snap key export
--write-only' is enough for backups) or a password file. Install opens the
repository the way the job will, so a wrong path fails now, not at 2 AM.

PROFILE is a profile of the config file or a preset (n8n).

Examples:
  snap schedule install n8n
  snap schedule install n8n --at 03:30 --dry-run
  snap schedule install shop --cron --config /etc/snap/snap.yaml
  snap schedule list
  snap schedule remove n8n`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o scheduleOptions
			fs.StringVar(&o.At, "at", "", "install: time of day, HH:MM 24 h local time (default "+defaultScheduleAt+")")
			fs.BoolVar(&o.Cron, "cron", false, "install: write /etc/cron.d/snap-PROFILE even where systemd runs")
			fs.BoolVar(&o.Systemd, "systemd", false, "install: write a systemd service and timer even where systemd does not seem to run")
			fs.BoolVar(&o.DryRun, "dry-run", false, "install, remove: print the files and commands instead")
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runSchedule(ctx, g, &o, args)
			}
		},
	})
}

func runSchedule(ctx context.Context, g *globalOptions, o *scheduleOptions, args []string) error {
	if len(args) == 0 {
		return usagef("usage: snap schedule install|list|remove")
	}
	m := schedule.New(scheduleRoot, scheduleRunner)
	sub, args := args[0], args[1:]
	if sub != "install" && (o.At != "" || o.Cron || o.Systemd) {
		return usagef("--at, --cron and --systemd are for 'snap schedule install'")
	}
	switch sub {
	case "install":
		if len(args) != 1 {
			return usagef("usage: snap schedule install PROFILE [--at HH:MM] [--cron|--systemd] [--dry-run]")
		}
		return scheduleInstall(ctx, g, o, m, args[0])
	case "list":
		if len(args) != 0 || o.DryRun {
			return usagef("usage: snap schedule list [--json]")
		}
		return scheduleList(g, m)
	case "remove":
		if len(args) != 1 {
			return usagef("usage: snap schedule remove PROFILE [--dry-run]")
		}
		if err := schedule.CheckProfile(args[0]); err != nil {
			return usagef("%v", err)
		}
		p, err := m.PlanRemove(args[0])
		if errors.Is(err, schedule.ErrNotInstalled) {
			return scheduleNotFound{err}
		}
		if err != nil {
			return err
		}
		return applySchedulePlan(ctx, g, m, p, o.DryRun, fmt.Sprintf("removed the schedule of profile %s", p.Profile))
	}
	return usagef("unknown subcommand %q: use install, list or remove", sub)
}

// scheduleNotFound gives a schedule that is not there the exit code of other
// things that are not there (17).
type scheduleNotFound struct{ error }

func (e scheduleNotFound) Is(target error) bool { return target == repo.ErrNotFound }
func (e scheduleNotFound) Unwrap() error        { return e.error }

func scheduleInstall(ctx context.Context, g *globalOptions, o *scheduleOptions, m *schedule.Manager, profile string) error {
	if o.Cron && o.Systemd {
		return usagef("give --cron or --systemd, not both")
	}
	at := o.At
	if at == "" {
		at = defaultScheduleAt
	}
	hour, minute, err := schedule.ParseTime(at)
	if err != nil {
		return usagef("%v", err)
	}
	if err := schedule.CheckProfile(profile); err != nil {
		return usagef("%v", err)
	}
	if err := checkScheduledProfile(g, profile); err != nil {
		return err
	}
	j, jg, err := scheduleJob(g, profile, hour, minute)
	if err != nil {
		return err
	}
	// Open the repository as the job will (same repository, same key,
	// no SNAP_PASSWORD) so a typo fails here rather than every night.
	r, err := jg.open(ctx)
	if err != nil {
		return fmt.Errorf("the scheduled job could not open the repository: %w", err)
	}
	r.Close()
	kind := m.DefaultKind()
	if o.Cron {
		kind = schedule.Cron
	} else if o.Systemd {
		kind = schedule.Systemd
	}
	p, err := m.PlanInstall(j, kind)
	if err != nil {
		return err
	}
	what := "cron file"
	if kind == schedule.Systemd {
		what = "systemd timer"
	}
	if err := applySchedulePlan(ctx, g, m, p, o.DryRun, fmt.Sprintf("installed a %s: 'snap run %s' daily at %s", what, profile, p.Time)); err != nil || o.DryRun {
		return err
	}
	if kind == schedule.Cron && !cronDaemonPresent() {
		warn(g, "no cron daemon is installed on this machine, so the job will not run until one is: apt-get install cron (or schedule 'snap run %s' another way)", profile)
	}
	return nil
}

// applySchedulePlan prints a plan (dry run) or carries it out and says so.
func applySchedulePlan(ctx context.Context, g *globalOptions, m *schedule.Manager, p *schedule.Plan, dryRun bool, done string) error {
	if dryRun {
		printSchedulePlan(g, p)
		return nil
	}
	if err := m.Apply(ctx, p); err != nil {
		return err
	}
	reportSchedulePlan(g, p, done)
	return nil
}

// cronDaemonPresent looks for the cron daemons Debian and others ship.
func cronDaemonPresent() bool {
	for _, p := range []string{"/usr/sbin/cron", "/usr/sbin/crond", "/usr/bin/crond", "/usr/sbin/anacron"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// checkScheduledProfile refuses a profile 'snap run' would not know.
func checkScheduledProfile(g *globalOptions, name string) error {
	if isPreset(name) || (g.cfg != nil && g.cfg.Profiles[name] != nil) {
		return nil
	}
	var known []string
	if g.cfg != nil {
		for n := range g.cfg.Profiles {
			known = append(known, n)
		}
	}
	for _, n := range sources.Presets() {
		if g.cfg == nil || g.cfg.Profiles[n] == nil {
			known = append(known, n)
		}
	}
	sort.Strings(known)
	where := "no config file is in use"
	if g.cfg != nil {
		where = "it is not in " + scheduleConfigPath(g)
	}
	return usagef("unknown profile %q: %s and it is not a preset (known: %s)", name, where, strings.Join(known, ", "))
}

// scheduleConfigPath is the config file in use (g.cfg non-nil).
func scheduleConfigPath(g *globalOptions) string {
	if g.Config != "" {
		return g.Config
	}
	return defaultConfig
}

// scheduleJob works out how the job finds the repository and key, and
// returns it with the options the job will run with. A config file in use
// is passed as --config; whatever this command was given beyond it (flags,
// environment) is written as environment variables, so the job opens the
// same repository with the same key.
func scheduleJob(g *globalOptions, profile string, hour, minute int) (schedule.Job, *globalOptions, error) {
	j := schedule.Job{Profile: profile, Hour: hour, Minute: minute}
	bin, err := scheduleBinary()
	if err != nil {
		return j, nil, fmt.Errorf("cannot find the snap binary: %w", err)
	}
	j.Binary = bin
	cfg := g.cfg
	if cfg == nil {
		cfg = &configFile{}
	} else {
		p, err := filepath.Abs(scheduleConfigPath(g))
		if err != nil {
			return j, nil, err
		}
		j.Args = []string{"--config", p}
	}
	if g.Repo == "" {
		return j, nil, usagef("no repository given: use --repo DIR, SNAP_REPO or a config file")
	}
	// What this process opens with: a key file, else a password file. The
	// config's key file counts even when SNAP_PASSWORD kept it out of g.
	keyFile, pwFile := g.KeyFile, g.PasswordFile
	if keyFile == "" && pwFile == "" {
		keyFile = cfg.KeyFile
	}
	if keyFile == "" && pwFile == "" {
		return j, nil, usagef("the repository would be opened with SNAP_PASSWORD, and a passphrase is never written into a unit or cron file: " +
			"use a key file (--key-file, SNAP_KEY_FILE or key_file in the config; 'snap key export --write-only' makes one that can back up but not decrypt) " +
			"or a password file (--password-file, SNAP_PASSWORD_FILE or password_file in the config)")
	}
	// What the job opens with given only the config (fillFromEnv's rule).
	cfgKey, cfgPw := cfg.KeyFile, ""
	if cfgKey == "" {
		cfgPw = cfg.PasswordFile
	}
	jg := &globalOptions{stdin: g.stdin, stdout: g.stdout, stderr: g.stderr, getenv: func(string) string { return "" }}
	add := func(name, value string, dst *string) error {
		if value == "" {
			return nil
		}
		abs, err := filepath.Abs(value)
		if err != nil {
			return err
		}
		*dst = abs
		j.Env = append(j.Env, schedule.Var{Name: name, Value: abs})
		return nil
	}
	var errs []error
	jg.Repo, jg.CacheDir = cfg.Repository, cfg.CacheDir
	if g.Repo != cfg.Repository {
		loc, err := g.location()
		if err != nil {
			return j, nil, err
		}
		if l, ok := loc.(location.Local); ok {
			errs = append(errs, add("SNAP_REPO", l.Path, &jg.Repo))
		} else {
			jg.Repo = loc.String()
			j.Env = append(j.Env, schedule.Var{Name: "SNAP_REPO", Value: jg.Repo})
		}
	}
	switch {
	case keyFile != "" && keyFile == cfgKey:
		jg.KeyFile = cfgKey
	case keyFile != "":
		errs = append(errs, add("SNAP_KEY_FILE", keyFile, &jg.KeyFile))
	case pwFile == cfgPw:
		jg.PasswordFile = cfgPw
	default:
		errs = append(errs, add("SNAP_PASSWORD_FILE", pwFile, &jg.PasswordFile))
	}
	if g.CacheDir != cfg.CacheDir {
		errs = append(errs, add("SNAP_CACHE_DIR", g.CacheDir, &jg.CacheDir))
	}
	if err := errors.Join(errs...); err != nil {
		return j, nil, err
	}
	return j, jg, nil
}

func printSchedulePlan(g *globalOptions, p *schedule.Plan) {
	if g.JSON {
		writeJSON(g.stdout, map[string]any{"dry_run": true, "plan": p})
		return
	}
	// Printed even with --quiet: it is what was asked for.
	for _, s := range p.Steps {
		fmt.Fprintf(g.stdout, "# %s\n", s)
		if s.Write != nil {
			fmt.Fprintf(g.stdout, "%s\n", s.Write.Content)
		}
	}
}

func reportSchedulePlan(g *globalOptions, p *schedule.Plan, headline string) {
	if g.JSON {
		writeJSON(g.stdout, p)
		return
	}
	g.printf("%s\n", headline)
	for _, s := range p.Steps {
		g.printf("  %s\n", s)
	}
}

func scheduleList(g *globalOptions, m *schedule.Manager) error {
	list, err := m.List()
	if err != nil {
		return err
	}
	if g.JSON {
		if list == nil {
			list = []schedule.Installed{}
		}
		writeJSON(g.stdout, list)
		return nil
	}
	if len(list) == 0 {
		fmt.Fprintln(g.stdout, "no snap schedules installed (see 'snap help schedule')")
		return nil
	}
	fmt.Fprintf(g.stdout, "%-16s  %-7s  %-5s  %s\n", "PROFILE", "KIND", "TIME", "FILES")
	for _, in := range list {
		fmt.Fprintf(g.stdout, "%-16s  %-7s  %-5s  %s\n", in.Profile, in.Kind, in.Time, strings.Join(in.Files, " "))
	}
	return nil
}
