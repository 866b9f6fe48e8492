package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"snap/notify"
	"snap/repo"
	"snap/repo/backend/location"
	"snap/repo/retention"
	"snap/sources"
)

// defaultConfig is read when it exists and no --config or SNAP_CONFIG is given.
const defaultConfig = "/etc/snap/snap.yaml"

// configFile is snap's YAML config: where the repository and key are, and
// profiles (a preset such as n8n, or items written out) with what 'snap run'
// does after the backup. YAML because it is what Compose users already
// write; go.yaml.in/yaml/v3 because it can reject unknown keys with their
// line number.
type configFile struct {
	Repository   string              `yaml:"repository"`
	KeyFile      string              `yaml:"key_file"`
	PasswordFile string              `yaml:"password_file"`
	CacheDir     string              `yaml:"cache_dir"`
	MetricsDir   string              `yaml:"metrics_dir"` // Prometheus node_exporter textfile directory
	Notify       []string            `yaml:"notify"`      // for every profile, before its own
	Profiles     map[string]*profile `yaml:"profiles"`
	// S3 configures every s3: location (the repository, sync targets,
	// repair --from); without it credentials come from the environment.
	S3 *s3Spec `yaml:"s3"`

	path string
}

// s3Spec is the config's s3 block. Credentials are named by file, never
// written inline: the config is often world-readable and shown in
// support threads, a 0600 key file is not.
type s3Spec struct {
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKeyFile string `yaml:"secret_key_file"`
	Region        string `yaml:"region"`
	Addressing    string `yaml:"addressing"` // path (default), virtual, auto
	CAFile        string `yaml:"ca_file"`
}

func (s *s3Spec) settings() location.S3Settings {
	return location.S3Settings{AccessKeyFile: s.AccessKeyFile, SecretKeyFile: s.SecretKeyFile,
		Region: s.Region, Addressing: s.Addressing, CAFile: s.CAFile}
}

// check rejects a block that cannot work, naming the key.
func (s *s3Spec) check() error {
	if (s.AccessKeyFile == "") != (s.SecretKeyFile == "") {
		return errors.New("give both access_key_file and secret_key_file (or neither, for the AWS_* environment)")
	}
	for _, f := range []struct{ key, path string }{{"access_key_file", s.AccessKeyFile}, {"secret_key_file", s.SecretKeyFile}, {"ca_file", s.CAFile}} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			return fmt.Errorf("%s %q must be an absolute path", f.key, f.path)
		}
	}
	switch s.Addressing {
	case "", "path", "virtual", "auto":
	default:
		return fmt.Errorf("addressing %q: use path (HOST/BUCKET, the default), virtual (BUCKET.HOST) or auto", s.Addressing)
	}
	return nil
}

type profile struct {
	Preset  string             `yaml:"preset"`  // "n8n"
	Project string             `yaml:"project"` // compose project for a preset
	Items   []sources.ItemSpec `yaml:"items"`
	Tags    []string           `yaml:"tags"`

	// What 'snap run' does after a successful backup, in this order.
	Check     *checkSpec     `yaml:"check"`
	Retention *retentionSpec `yaml:"retention"`
	Prune     *pruneSpec     `yaml:"prune"`
	Sync      []string       `yaml:"sync"`
	// SyncDelete mirrors the source's prunes (and forgets) to the sync
	// targets; off, a target keeps every file it ever received.
	SyncDelete bool      `yaml:"sync_delete"`
	Hooks      hooksSpec `yaml:"hooks"`
	Notify     []string  `yaml:"notify"`

	policy retention.Policy
}

// checkSpec: the verify step. ReadDataDays reads a rotating 1/N of the
// packs each night, so all data is read every N nights (default 7; 0 checks
// structure only).
type checkSpec struct {
	ReadDataDays *int `yaml:"read_data_days"`
}

type retentionSpec struct {
	KeepLast          int      `yaml:"keep_last"`
	KeepHourly        int      `yaml:"keep_hourly"`
	KeepDaily         int      `yaml:"keep_daily"`
	KeepWeekly        int      `yaml:"keep_weekly"`
	KeepMonthly       int      `yaml:"keep_monthly"`
	KeepYearly        int      `yaml:"keep_yearly"`
	KeepWithin        string   `yaml:"keep_within"`
	KeepWithinHourly  string   `yaml:"keep_within_hourly"`
	KeepWithinDaily   string   `yaml:"keep_within_daily"`
	KeepWithinWeekly  string   `yaml:"keep_within_weekly"`
	KeepWithinMonthly string   `yaml:"keep_within_monthly"`
	KeepWithinYearly  string   `yaml:"keep_within_yearly"`
	KeepTag           []string `yaml:"keep_tag"`
}

// pruneSpec: prune after forget when the last prune of this profile is
// EveryDays old (default 7: weekly).
type pruneSpec struct {
	EveryDays *int   `yaml:"every_days"`
	MaxUnused string `yaml:"max_unused"`
}

// hooksSpec: shell commands run around 'snap run'. A failing before hook
// stops the run (no backup); after hooks run on success, on_failure hooks
// on failure, with SNAP_PROFILE, SNAP_SNAPSHOT and SNAP_ERROR set.
type hooksSpec struct {
	Before    []string `yaml:"before"`
	After     []string `yaml:"after"`
	OnFailure []string `yaml:"on_failure"`
}

func (r *retentionSpec) policy() (retention.Policy, error) {
	p := retention.Policy{Last: r.KeepLast, Hourly: r.KeepHourly, Daily: r.KeepDaily, Weekly: r.KeepWeekly,
		Monthly: r.KeepMonthly, Yearly: r.KeepYearly, Tags: parseTagLists(r.KeepTag)}
	for _, d := range []struct {
		key string
		s   string
		to  *retention.Duration
	}{{"keep_within", r.KeepWithin, &p.Within}, {"keep_within_hourly", r.KeepWithinHourly, &p.WithinHourly},
		{"keep_within_daily", r.KeepWithinDaily, &p.WithinDaily}, {"keep_within_weekly", r.KeepWithinWeekly, &p.WithinWeekly},
		{"keep_within_monthly", r.KeepWithinMonthly, &p.WithinMonthly}, {"keep_within_yearly", r.KeepWithinYearly, &p.WithinYearly}} {
		if d.s == "" {
			continue
		}
		v, err := retention.ParseDuration(d.s)
		if err != nil {
			return p, fmt.Errorf("%s: %w", d.key, err)
		}
		*d.to = v
	}
	if p.Empty() {
		return p, errors.New("retention keeps nothing: give keep_daily or another keep_* rule")
	}
	return p, nil
}

func (p *profile) readDataDays() int {
	if p.Check == nil || p.Check.ReadDataDays == nil {
		return 7
	}
	return *p.Check.ReadDataDays
}

func (p *profile) pruneEveryDays() int {
	if p.Prune == nil || p.Prune.EveryDays == nil {
		return 7
	}
	return *p.Prune.EveryDays
}

func (p *profile) maxUnused() repo.MaxUnused {
	if p.Prune != nil && p.Prune.MaxUnused != "" {
		m, _ := parseMaxUnused(p.Prune.MaxUnused) // validated at load
		return m
	}
	return repo.DefaultMaxUnused
}

// notifiers are the config's and the profile's notification URLs.
func (c *configFile) notifiers(p *profile) ([]notify.Notifier, error) {
	var out []notify.Notifier
	for _, u := range append(append([]string(nil), c.Notify...), p.Notify...) {
		n, err := notify.Parse(u, notify.Options{Version: version})
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// loadConfig reads path; a missing default config is no config.
func loadConfig(path string, explicit bool) (*configFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c configFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, usagef("config %s: %v", path, err)
	}
	c.path = path
	bad := func(name, format string, a ...any) error {
		return usagef("config %s: profile %q: %s", path, name, fmt.Sprintf(format, a...))
	}
	if c.MetricsDir != "" && !filepath.IsAbs(c.MetricsDir) {
		return nil, usagef("config %s: metrics_dir %q must be an absolute path", path, c.MetricsDir)
	}
	for _, u := range c.Notify {
		if _, err := notify.Parse(u, notify.Options{}); err != nil {
			return nil, usagef("config %s: notify: %v", path, err)
		}
	}
	if c.S3 != nil {
		if err := c.S3.check(); err != nil {
			return nil, usagef("config %s: s3: %v", path, err)
		}
	}
	for name, p := range c.Profiles {
		if p == nil {
			return nil, bad(name, "empty: give a preset or items")
		}
		if p.Preset != "" && !isPreset(p.Preset) {
			return nil, bad(name, "unknown preset %q (known: %s)", p.Preset, strings.Join(sources.Presets(), ", "))
		}
		if (p.Preset == "") == (len(p.Items) == 0) {
			return nil, bad(name, "give either a preset or items")
		}
		if p.Retention != nil {
			if p.policy, err = p.Retention.policy(); err != nil {
				return nil, bad(name, "retention: %v", err)
			}
		}
		if p.Prune != nil {
			if p.Prune.MaxUnused != "" {
				if _, err := parseMaxUnused(p.Prune.MaxUnused); err != nil {
					return nil, bad(name, "prune: %v", err)
				}
			}
			if p.Prune.EveryDays != nil && *p.Prune.EveryDays < 0 {
				return nil, bad(name, "prune: every_days must be 0 (never) or more")
			}
		}
		if p.Check != nil && p.Check.ReadDataDays != nil && *p.Check.ReadDataDays < 0 {
			return nil, bad(name, "check: read_data_days must be 0 (structure only) or more")
		}
		for _, d := range p.Sync {
			loc, err := location.Parse(d)
			if err != nil {
				return nil, bad(name, "sync target: %v", err)
			}
			if l, ok := loc.(location.Local); ok && !filepath.IsAbs(l.Path) {
				return nil, bad(name, "sync target %q must be an absolute path", d)
			}
			if !location.Supported(loc) {
				return nil, bad(name, "sync target: %v", &location.UnsupportedError{Location: loc})
			}
		}
		for _, u := range p.Notify {
			if _, err := notify.Parse(u, notify.Options{}); err != nil {
				return nil, bad(name, "notify: %v", err)
			}
		}
	}
	return &c, nil
}
