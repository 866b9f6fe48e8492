// Package schedule installs, lists and removes the nightly 'snap run
// PROFILE' job as a systemd service and timer or as a cron.d file.
//
// Everything happens under a root directory ("/" in operation) and every
// systemctl call goes through a Runner, so tests write into a temporary
// directory and record the calls instead of making them.
package schedule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"snap/internal/atomicfile"
)

// Kind is how a schedule is installed.
type Kind string

const (
	Systemd Kind = "systemd"
	Cron    Kind = "cron"
)

// Paths, relative to the root.
const (
	SystemdDir   = "/etc/systemd/system"
	CronDir      = "/etc/cron.d"
	systemdProbe = "/run/systemd/system" // exists only while systemd is PID 1 (sd_booted)
	lockDir      = "/run/lock"
)

// marker starts every file this package writes: list and remove touch only
// files that carry it, never an operator's own /etc/cron.d/snap-something.
const marker = "# Written by 'snap schedule install'"

// cronPath is what cron runs jobs with; cron's own default lacks /usr/local.
const cronPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrNotInstalled is returned by PlanRemove when the profile has no schedule.
var ErrNotInstalled = errors.New("no snap schedule installed")

// Runner runs a command (systemctl) and returns an error naming it and its
// output when it fails.
type Runner func(ctx context.Context, name string, args ...string) error

// Exec is the Runner used in operation.
func Exec(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg != "" {
			return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
		}
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// Var is one environment variable given to the job.
type Var struct {
	Name, Value string
}

// Job is what to schedule: Binary run Profile --quiet Args..., daily at
// Hour:Minute local time, with Env.
type Job struct {
	Profile      string
	Hour, Minute int
	Binary       string   // absolute path of snap
	Args         []string // after "run PROFILE --quiet", e.g. --config PATH
	Env          []Var
}

// Command is the job's argv.
func (j *Job) Command() []string {
	return append([]string{j.Binary, "run", j.Profile, "--quiet"}, j.Args...)
}

var profileRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckProfile refuses names cron would silently ignore: Debian's cron skips
// /etc/cron.d files whose names have anything but letters, digits, '_' and
// '-' (a dot included), and systemd unit names are a superset of that.
func CheckProfile(name string) error {
	if !profileRE.MatchString(name) {
		return fmt.Errorf("profile name %q cannot be scheduled: use only letters, digits, '_' and '-' (cron ignores other file names)", name)
	}
	return nil
}

// ParseTime parses HH:MM (24 h).
func ParseTime(s string) (hour, minute int, err error) {
	bad := fmt.Errorf("bad time %q: use HH:MM, 24 h local time, e.g. --at 02:30 or --at 23:05", s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, 0, bad
	}
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hour < 0 || hour > 23 || minute < 0 || minute > 59 || h[0] == '+' || h[0] == '-' {
		return 0, 0, bad
	}
	return hour, minute, nil
}

// File is one file to write.
type File struct {
	Path    string      `json:"path"` // absolute, as seen on the target system
	Mode    fs.FileMode `json:"mode"`
	Content string      `json:"content"`
}

// Step is one action of a plan; exactly one field is set.
type Step struct {
	Write   *File    `json:"write,omitempty"`
	Remove  string   `json:"remove,omitempty"`
	Command []string `json:"command,omitempty"`
}

func (s Step) String() string {
	switch {
	case s.Write != nil:
		return fmt.Sprintf("write %s (mode %04o)", s.Write.Path, s.Write.Mode.Perm())
	case s.Remove != "":
		return "remove " + s.Remove
	}
	return "run " + strings.Join(s.Command, " ")
}

// Plan is what Install or Remove will do, in order: printed by --dry-run,
// carried out by Apply.
type Plan struct {
	Profile string `json:"profile"`
	Kind    Kind   `json:"kind,omitempty"` // what install sets up; empty for a removal
	Time    string `json:"time,omitempty"`
	Steps   []Step `json:"steps"`
}

// Manager installs schedules under Root with Run for systemctl.
type Manager struct {
	Root string
	Run  Runner
}

// New returns a Manager; root "" means "/" and run nil means Exec.
func New(root string, run Runner) *Manager {
	if root == "" {
		root = "/"
	}
	if run == nil {
		run = Exec
	}
	return &Manager{Root: root, Run: run}
}

func (m *Manager) abs(p string) string { return filepath.Join(m.Root, filepath.FromSlash(p)) }

func (m *Manager) isDir(p string) bool {
	fi, err := os.Stat(m.abs(p))
	return err == nil && fi.IsDir()
}

func (m *Manager) exists(p string) bool {
	_, err := os.Lstat(m.abs(p))
	return err == nil
}

// HasSystemd reports whether systemd is the running init, the way
// sd_booted(3) does: containers and this kind of host have no such directory.
func (m *Manager) HasSystemd() bool { return m.isDir(systemdProbe) }

// DefaultKind is systemd where it runs, cron elsewhere.
func (m *Manager) DefaultKind() Kind {
	if m.HasSystemd() {
		return Systemd
	}
	return Cron
}

// Unit and file names of a profile's schedule.
func ServiceName(profile string) string { return "snap-" + profile + ".service" }
func TimerName(profile string) string   { return "snap-" + profile + ".timer" }
func servicePath(profile string) string { return path.Join(SystemdDir, ServiceName(profile)) }
func timerPath(profile string) string   { return path.Join(SystemdDir, TimerName(profile)) }
func cronPathOf(profile string) string  { return path.Join(CronDir, "snap-"+profile) }

// PlanInstall works out how to install j as kind, replacing a schedule of
// the profile that is already there (of either kind, so one profile never
// runs twice a night). It changes nothing.
func (m *Manager) PlanInstall(j Job, kind Kind) (*Plan, error) {
	if err := CheckProfile(j.Profile); err != nil {
		return nil, err
	}
	if j.Hour < 0 || j.Hour > 23 || j.Minute < 0 || j.Minute > 59 {
		return nil, fmt.Errorf("bad time %02d:%02d", j.Hour, j.Minute)
	}
	if !filepath.IsAbs(j.Binary) {
		return nil, fmt.Errorf("snap binary %q is not an absolute path", j.Binary)
	}
	for _, s := range append(j.Command(), envStrings(j.Env)...) {
		if strings.ContainsAny(s, "\n\r\x00") {
			return nil, fmt.Errorf("%q: a newline or NUL cannot go into a unit or cron file", s)
		}
	}
	p := &Plan{Profile: j.Profile, Kind: kind, Time: fmt.Sprintf("%02d:%02d", j.Hour, j.Minute)}
	existing, err := m.find(j.Profile)
	if err != nil {
		return nil, err
	}
	switch kind {
	case Systemd:
		if !m.isDir(SystemdDir) {
			return nil, fmt.Errorf("%s does not exist: is systemd installed? (or use --cron)", SystemdDir)
		}
		var replaced bool
		for _, in := range existing {
			if in.Kind == Cron {
				p.Steps = append(p.Steps, Step{Remove: in.Files[0]})
			} else {
				replaced = true
			}
		}
		service, timer := systemdUnits(j)
		p.Steps = append(p.Steps,
			Step{Write: &File{Path: servicePath(j.Profile), Mode: 0o644, Content: service}},
			Step{Write: &File{Path: timerPath(j.Profile), Mode: 0o644, Content: timer}},
			Step{Command: []string{"systemctl", "daemon-reload"}},
			Step{Command: []string{"systemctl", "enable", "--now", TimerName(j.Profile)}})
		if replaced {
			// A running timer keeps its old elapse time until restarted.
			p.Steps = append(p.Steps, Step{Command: []string{"systemctl", "restart", TimerName(j.Profile)}})
		}
	case Cron:
		if !m.isDir(CronDir) {
			return nil, fmt.Errorf("%s does not exist: is cron installed? (apt-get install cron, or use --systemd)", CronDir)
		}
		for _, in := range existing {
			if in.Kind == Systemd {
				p.Steps = append(p.Steps, removeSteps(in)...)
			}
		}
		p.Steps = append(p.Steps, Step{Write: &File{Path: cronPathOf(j.Profile), Mode: 0o644, Content: cronFile(j)}})
	default:
		return nil, fmt.Errorf("unknown schedule kind %q", kind)
	}
	for _, s := range p.Steps {
		if s.Write == nil {
			continue
		}
		if _, ours, err := readOurs(m.abs(s.Write.Path)); err != nil {
			return nil, err
		} else if !ours && m.exists(s.Write.Path) {
			return nil, fmt.Errorf("%s exists and was not written by 'snap schedule install': move it away first", s.Write.Path)
		}
	}
	return p, nil
}

// PlanRemove works out how to remove the profile's schedule; ErrNotInstalled
// when there is none.
func (m *Manager) PlanRemove(profile string) (*Plan, error) {
	existing, err := m.find(profile)
	if err != nil {
		return nil, err
	}
	if len(existing) == 0 {
		return nil, fmt.Errorf("%w for profile %q (see 'snap schedule list')", ErrNotInstalled, profile)
	}
	p := &Plan{Profile: profile}
	for _, in := range existing {
		p.Steps = append(p.Steps, removeSteps(in)...)
	}
	return p, nil
}

func removeSteps(in Installed) []Step {
	if in.Kind == Cron {
		return []Step{{Remove: in.Files[0]}}
	}
	var s []Step
	if in.hasTimer {
		s = append(s, Step{Command: []string{"systemctl", "disable", "--now", TimerName(in.Profile)}})
	}
	for _, f := range in.Files {
		s = append(s, Step{Remove: f})
	}
	return append(s, Step{Command: []string{"systemctl", "daemon-reload"}})
}

// Apply carries out a plan, stopping at the first failure.
func (m *Manager) Apply(ctx context.Context, p *Plan) error {
	for _, s := range p.Steps {
		var err error
		switch {
		case s.Write != nil:
			err = atomicfile.WriteFile(m.abs(s.Write.Path), []byte(s.Write.Content), s.Write.Mode)
		case s.Remove != "":
			err = os.Remove(m.abs(s.Remove))
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
			if err == nil {
				syncDir(filepath.Dir(m.abs(s.Remove)))
			}
		default:
			err = m.Run(ctx, s.Command[0], s.Command[1:]...)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// Install plans and applies.
func (m *Manager) Install(ctx context.Context, j Job, kind Kind) (*Plan, error) {
	p, err := m.PlanInstall(j, kind)
	if err != nil {
		return nil, err
	}
	return p, m.Apply(ctx, p)
}

// Remove plans and applies a removal.
func (m *Manager) Remove(ctx context.Context, profile string) (*Plan, error) {
	p, err := m.PlanRemove(profile)
	if err != nil {
		return nil, err
	}
	return p, m.Apply(ctx, p)
}

// Installed is one schedule found on the system.
type Installed struct {
	Profile string   `json:"profile"`
	Kind    Kind     `json:"kind"`
	Time    string   `json:"time"` // HH:MM, or "?" if the file was edited beyond recognition
	Files   []string `json:"files"`
	Command string   `json:"command,omitempty"`

	hasTimer bool
}

// List returns every installed snap schedule, by profile then kind.
func (m *Manager) List() ([]Installed, error) {
	return m.scan("*")
}

func (m *Manager) find(profile string) ([]Installed, error) {
	if err := CheckProfile(profile); err != nil {
		return nil, err
	}
	return m.scan(profile)
}

// scan reads this package's files for profiles matching the glob pattern.
func (m *Manager) scan(pattern string) ([]Installed, error) {
	var out []Installed
	byProfile := map[string]*Installed{}
	for _, suffix := range []string{".timer", ".service"} {
		matches, err := filepath.Glob(m.abs(path.Join(SystemdDir, "snap-"+pattern+suffix)))
		if err != nil {
			return nil, err
		}
		for _, f := range matches {
			b, ok, err := readOurs(f)
			if err != nil || !ok {
				if err != nil {
					return nil, err
				}
				continue
			}
			name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "snap-"), suffix)
			in := byProfile[name]
			if in == nil {
				in = &Installed{Profile: name, Kind: Systemd, Time: "?"}
				byProfile[name] = in
			}
			rel := path.Join(SystemdDir, filepath.Base(f))
			if suffix == ".timer" {
				in.hasTimer = true
				in.Files = append([]string{rel}, in.Files...)
				if t, ok := timerTime(b); ok {
					in.Time = t
				}
			} else {
				in.Files = append(in.Files, rel)
				in.Command = directive(b, "ExecStart=")
			}
		}
	}
	for _, in := range byProfile {
		out = append(out, *in)
	}
	matches, err := filepath.Glob(m.abs(path.Join(CronDir, "snap-"+pattern)))
	if err != nil {
		return nil, err
	}
	for _, f := range matches {
		name := strings.TrimPrefix(filepath.Base(f), "snap-")
		if CheckProfile(name) != nil {
			continue // editor backups and the like: cron ignores them too
		}
		b, ok, err := readOurs(f)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		in := Installed{Profile: name, Kind: Cron, Time: "?", Files: []string{path.Join(CronDir, filepath.Base(f))}}
		in.Time, in.Command = cronJob(b)
		out = append(out, in)
	}
	sort.Slice(out, func(i, k int) bool {
		if out[i].Profile != out[k].Profile {
			return out[i].Profile < out[k].Profile
		}
		return out[i].Kind < out[k].Kind
	})
	return out, nil
}

// readOurs reads a file and reports whether this package wrote it.
func readOurs(p string) ([]byte, bool, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, bytes.HasPrefix(b, []byte(marker)), nil
}

func directive(b []byte, key string) string {
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key); ok {
			return v
		}
	}
	return ""
}

var timerRE = regexp.MustCompile(`^\*-\*-\* (\d\d):(\d\d):00$`)

func timerTime(b []byte) (string, bool) {
	m := timerRE.FindStringSubmatch(directive(b, "OnCalendar="))
	if m == nil {
		return "", false
	}
	return m[1] + ":" + m[2], true
}

var cronRE = regexp.MustCompile(`^(\d{1,2})\s+(\d{1,2})\s+\*\s+\*\s+\*\s+\S+\s+(.*)$`)

func cronJob(b []byte) (string, string) {
	for _, l := range strings.Split(string(b), "\n") {
		if m := cronRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			h, _ := strconv.Atoi(m[2])
			mi, _ := strconv.Atoi(m[1])
			return fmt.Sprintf("%02d:%02d", h, mi), m[3]
		}
	}
	return "?", ""
}

func envStrings(env []Var) []string {
	var s []string
	for _, v := range env {
		s = append(s, v.Name+"="+v.Value)
	}
	return s
}

func header(j Job) string {
	return fmt.Sprintf("%s for profile %s, daily at %02d:%02d.\n# Remove it with 'snap schedule remove %s'; reinstall to change it.\n",
		marker, j.Profile, j.Hour, j.Minute, j.Profile)
}

// systemdUnits renders the service and the timer.
func systemdUnits(j Job) (service, timer string) {
	var b strings.Builder
	b.WriteString(header(j))
	fmt.Fprintf(&b, `[Unit]
Description=snap run %s (backup, verify, forget, prune, sync)
# A backup at boot (a missed night) needs the Docker daemon up.
After=docker.service network-online.target
Wants=network-online.target

[Service]
Type=oneshot
# User= makes systemd set HOME, so snap finds its cache in ~/.cache/snap
# like an interactive root shell does.
User=root
`, j.Profile)
	if len(j.Env) > 0 {
		b.WriteString("Environment=")
		for i, v := range j.Env {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(systemdQuote(v.Name + "=" + v.Value))
		}
		b.WriteByte('\n')
	}
	b.WriteString("ExecStart=")
	for i, a := range j.Command() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(systemdExecArg(a))
	}
	b.WriteString(`
# Keep the application stack responsive while the backup runs.
Nice=19
IOSchedulingClass=idle
`)
	service = b.String()

	b.Reset()
	b.WriteString(header(j))
	fmt.Fprintf(&b, `[Unit]
Description=snap run %s daily at %02d:%02d

[Timer]
OnCalendar=*-*-* %02d:%02d:00
# A night missed while the machine was off runs at the next boot.
Persistent=true

[Install]
WantedBy=timers.target
`, j.Profile, j.Hour, j.Minute, j.Hour, j.Minute)
	return service, b.String()
}

// systemdQuote double-quotes a word for a unit file: '%' is a specifier and
// backslash and '"' are C escapes there.
func systemdQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%")
	return `"` + r.Replace(s) + `"`
}

// systemdExecArg is one ExecStart= word: '%' is a specifier and '$' would
// be variable expansion; quotes only where the word needs them.
func systemdExecArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
	}
	return strings.ReplaceAll(systemdQuote(s), "$", "$$")
}

// cronFile renders /etc/cron.d/snap-PROFILE.
func cronFile(j Job) string {
	var b strings.Builder
	b.WriteString(header(j))
	b.WriteString("# flock -n: a run still going at the next night is not joined by a second one.\n")
	b.WriteString("# snap run --quiet prints nothing on success, so cron mails only failures.\n")
	b.WriteString("SHELL=/bin/sh\nPATH=" + cronPath + "\n")
	for _, v := range j.Env {
		// cron.d variable lines take the value literally; quotes keep
		// leading or trailing spaces.
		val := v.Value
		if strings.TrimSpace(val) != val || strings.HasPrefix(val, `"`) || strings.HasPrefix(val, `'`) {
			val = `"` + val + `"`
		}
		fmt.Fprintf(&b, "%s=%s\n", v.Name, val)
	}
	// nice and ionice do what Nice= and IOSchedulingClass= do in the unit.
	argv := append([]string{"flock", "-n", path.Join(lockDir, "snap-"+j.Profile+".lock"), "nice", "-n", "19", "ionice", "-c", "3"}, j.Command()...)
	for i, a := range argv {
		argv[i] = cronArg(a)
	}
	fmt.Fprintf(&b, "%d %d * * * root %s\n", j.Minute, j.Hour, strings.Join(argv, " "))
	return b.String()
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// cronArg quotes a word for /bin/sh and escapes '%', which cron turns into
// a newline.
func cronArg(s string) string {
	if !shellSafe.MatchString(s) {
		s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return strings.ReplaceAll(s, "%", `\%`)
}

// syncDir makes a rename or remove durable; best effort, the change itself
// has already happened.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
