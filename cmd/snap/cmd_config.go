package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"snap/metrics"
	"snap/repo/backend"
	"snap/repo/backend/location"
)

type configOptions struct {
	NoRepo bool
}

func init() {
	register(&command{
		name:    "config",
		summary: "check the config file and print what each profile does",
		usage: `Usage: snap config check [PROFILE] [--no-repo]

Reads the config file (--config, SNAP_CONFIG or /etc/snap/snap.yaml),
rejects unknown keys and bad values with the line or profile they are in,
opens the repository with the configured key (unless --no-repo), and prints
for each profile what 'snap run' would do: the items, the check, the
retention, when it prunes, where it syncs (and whether that disk is there),
the hooks and the monitors (URLs shortened: they hold secrets). What a
preset discovers from Docker is shown by 'snap backup NAME --dry-run'.

Examples:
  snap config check
  snap config check n8n --config /etc/snap/snap.yaml`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o configOptions
			fs.BoolVar(&o.NoRepo, "no-repo", false, "do not open the repository")
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runConfig(ctx, g, &o, args)
			}
		},
	})
}

func runConfig(ctx context.Context, g *globalOptions, o *configOptions, args []string) error {
	if len(args) == 0 || args[0] != "check" || len(args) > 2 {
		return usagef("usage: snap config check [PROFILE]")
	}
	c := g.cfg
	if c == nil {
		path := g.Config
		if path == "" {
			path = defaultConfig
		}
		return usagef("no config file at %s: write one (see README.md, \"Config file\") or give --config", path)
	}
	out := g.stdout
	fmt.Fprintf(out, "config %s: valid\n", c.path)
	if c.S3 != nil {
		fmt.Fprintf(out, "s3 %s\n", c.S3.describe())
	}
	var repoErr error
	if !o.NoRepo {
		r, err := g.open(ctx)
		if err == nil {
			n := 0
			_ = r.Backend().List(ctx, backend.SnapshotFile, func(backend.FileInfo) error { n++; return nil })
			kind := "full key"
			if !r.CanRead() {
				kind = "write-only key"
			}
			fmt.Fprintf(out, "repository %s: opens with the %s, %d snapshots\n", g.Repo, kind, n)
			r.Close()
		} else {
			repoErr = err
			fmt.Fprintf(out, "repository %s: DOES NOT OPEN: %v\n", g.Repo, err)
		}
	}
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		if len(args) == 2 && n != args[1] {
			continue
		}
		names = append(names, n)
	}
	if len(args) == 2 && len(names) == 0 {
		return usagef("config %s has no profile %q", c.path, args[1])
	}
	sort.Strings(names)
	for _, n := range names {
		p := c.Profiles[n]
		fmt.Fprintf(out, "profile %s:\n", n)
		if p.Preset != "" {
			proj := p.Project
			if proj == "" {
				proj = n
			}
			fmt.Fprintf(out, "  backup   preset %s: Docker Compose project %q ('snap backup %s --dry-run' shows what it finds)\n", p.Preset, proj, n)
		} else {
			var items []string
			for _, it := range p.Items {
				items = append(items, it.Name)
			}
			fmt.Fprintf(out, "  backup   items %s\n", strings.Join(items, ", "))
		}
		if days := p.readDataDays(); days > 0 {
			fmt.Fprintf(out, "  check    structure, and 1/%d of the data each night (all of it every %d nights)\n", days, days)
		} else {
			fmt.Fprintf(out, "  check    structure only\n")
		}
		if p.Retention != nil {
			fmt.Fprintf(out, "  forget   %s (this host's snapshots of %s)\n", p.policy, n)
			if every := p.pruneEveryDays(); every > 0 {
				fmt.Fprintf(out, "  prune    every %d days, tolerating %s unused\n", every, p.maxUnused())
			} else {
				fmt.Fprintf(out, "  prune    never (every_days: 0)\n")
			}
		} else {
			fmt.Fprintf(out, "  forget   no retention: every snapshot is kept\n")
		}
		for _, d := range p.Sync {
			fmt.Fprintf(out, "  sync     %s (%s; mirror deletions: %v)\n", d, syncTargetState(ctx, g, d, o.NoRepo), p.SyncDelete)
		}
		fmt.Fprintf(out, "  hooks    before %d, after %d, on_failure %d\n", len(p.Hooks.Before), len(p.Hooks.After), len(p.Hooks.OnFailure))
		ns, err := c.notifiers(p)
		if err != nil {
			return usagef("profile %s: %v", n, err)
		}
		for _, nt := range ns {
			fmt.Fprintf(out, "  notify   %s\n", nt)
		}
		if c.MetricsDir != "" {
			fmt.Fprintf(out, "  metrics  %s/%s\n", strings.TrimRight(c.MetricsDir, "/"), metrics.FileName(n))
		}
	}
	return repoErr
}

// describe says where the s3 credentials come from and whether the files
// are there, never what they hold.
func (s *s3Spec) describe() string {
	var parts []string
	if s.AccessKeyFile != "" {
		parts = append(parts, fmt.Sprintf("credentials from files: access key %s (%s), secret key %s (%s)",
			s.AccessKeyFile, secretFileState(s.AccessKeyFile), s.SecretKeyFile, secretFileState(s.SecretKeyFile)))
	} else {
		parts = append(parts, "credentials from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE)")
	}
	if s.Region != "" {
		parts = append(parts, "region "+s.Region)
	}
	if s.Addressing != "" {
		parts = append(parts, "addressing "+s.Addressing)
	}
	if s.CAFile != "" {
		parts = append(parts, fmt.Sprintf("CA %s (%s)", s.CAFile, fileState(s.CAFile)))
	}
	return strings.Join(parts, "; ")
}

func fileState(path string) string {
	if _, err := os.Stat(path); err != nil {
		return "MISSING"
	}
	return "present"
}

// secretFileState flags a credential file others can read.
func secretFileState(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "MISSING"
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Sprintf("present, mode %04o: readable by others, chmod 600 it", fi.Mode().Perm())
	}
	return "present, " + fmt.Sprintf("mode %04o", fi.Mode().Perm())
}

// syncTargetState says whether a sync target can be reached: a local disk
// is there (mounted), a remote store answers. Offline (--no-repo) remote
// targets are not asked.
func syncTargetState(ctx context.Context, g *globalOptions, target string, offline bool) string {
	loc, err := location.Parse(target)
	if err != nil {
		return "INVALID: " + err.Error()
	}
	if l, ok := loc.(location.Local); ok {
		if fi, err := os.Stat(l.Path); err != nil || !fi.IsDir() {
			return "MISSING (not mounted?)"
		}
		return "present"
	}
	if offline {
		return "remote, not asked (--no-repo)"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	be, err := g.openLocation(ctx, "", loc, false)
	if err == nil {
		_, err = be.Stat(ctx, backend.Handle{Type: backend.ConfigFile})
	}
	switch {
	case err == nil:
		return "reachable, repository there"
	case errors.Is(err, backend.ErrNotExist):
		return "reachable, no repository yet (the first sync makes it)"
	default:
		return "UNREACHABLE: " + err.Error()
	}
}
