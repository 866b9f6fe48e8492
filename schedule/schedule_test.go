package schedule

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeSystem is a root directory with systemd and cron directories and a
// runner that records commands.
type fakeSystem struct {
	root  string
	calls []string
	fail  string // a command line that fails
	m     *Manager
}

func newFake(t *testing.T, systemd bool) *fakeSystem {
	f := &fakeSystem{root: t.TempDir()}
	for _, d := range []string{SystemdDir, CronDir} {
		if err := os.MkdirAll(filepath.Join(f.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if systemd {
		os.MkdirAll(filepath.Join(f.root, systemdProbe), 0o755)
	}
	f.m = New(f.root, func(_ context.Context, name string, args ...string) error {
		line := name + " " + strings.Join(args, " ")
		f.calls = append(f.calls, line)
		if line == f.fail {
			return errors.New("failed")
		}
		return nil
	})
	return f
}

func (f *fakeSystem) read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f *fakeSystem) exists(p string) bool {
	_, err := os.Stat(filepath.Join(f.root, p))
	return err == nil
}

var job = Job{
	Profile: "n8n", Hour: 2, Minute: 5, Binary: "/usr/local/bin/snap",
	Env: []Var{{"SNAP_REPO", "/srv/snap"}, {"SNAP_KEY_FILE", "/etc/snap/host.key"}},
}

const wantService = `# Written by 'snap schedule install' for profile n8n, daily at 02:05.
# Remove it with 'snap schedule remove n8n'; reinstall to change it.
[Unit]
Description=snap run n8n (backup, verify, forget, prune, sync)
# A backup at boot (a missed night) needs the Docker daemon up.
After=docker.service network-online.target
Wants=network-online.target

[Service]
Type=oneshot
# User= makes systemd set HOME, so snap finds its cache in ~/.cache/snap
# like an interactive root shell does.
User=root
Environment="SNAP_REPO=/srv/snap" "SNAP_KEY_FILE=/etc/snap/host.key"
ExecStart=/usr/local/bin/snap run n8n --quiet
# Keep the application stack responsive while the backup runs.
Nice=19
IOSchedulingClass=idle
`

const wantTimer = `# Written by 'snap schedule install' for profile n8n, daily at 02:05.
# Remove it with 'snap schedule remove n8n'; reinstall to change it.
[Unit]
Description=snap run n8n daily at 02:05

[Timer]
OnCalendar=*-*-* 02:05:00
# A night missed while the machine was off runs at the next boot.
Persistent=true

[Install]
WantedBy=timers.target
`

const wantCron = `# Written by 'snap schedule install' for profile n8n, daily at 02:05.
# Remove it with 'snap schedule remove n8n'; reinstall to change it.
# flock -n: a run still going at the next night is not joined by a second one.
# snap run --quiet prints nothing on success, so cron mails only failures.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SNAP_REPO=/srv/snap
SNAP_KEY_FILE=/etc/snap/host.key
5 2 * * * root flock -n /run/lock/snap-n8n.lock nice -n 19 ionice -c 3 /usr/local/bin/snap run n8n --quiet
`

func TestSystemdInstallListRemove(t *testing.T) {
	f := newFake(t, true)
	if f.m.DefaultKind() != Systemd {
		t.Fatal("systemd not detected")
	}
	ctx := context.Background()
	if _, err := f.m.Install(ctx, job, Systemd); err != nil {
		t.Fatal(err)
	}
	if got := f.read(t, "/etc/systemd/system/snap-n8n.service"); got != wantService {
		t.Errorf("service:\n%s\nwant:\n%s", got, wantService)
	}
	if got := f.read(t, "/etc/systemd/system/snap-n8n.timer"); got != wantTimer {
		t.Errorf("timer:\n%s\nwant:\n%s", got, wantTimer)
	}
	want := []string{"systemctl daemon-reload", "systemctl enable --now snap-n8n.timer"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls %q, want %q", f.calls, want)
	}

	// Re-install at another time replaces the files and restarts the timer.
	f.calls = nil
	j := job
	j.Hour, j.Minute = 23, 30
	if _, err := f.m.Install(ctx, j, Systemd); err != nil {
		t.Fatal(err)
	}
	if got := f.read(t, "/etc/systemd/system/snap-n8n.timer"); !strings.Contains(got, "OnCalendar=*-*-* 23:30:00\n") {
		t.Errorf("re-installed timer:\n%s", got)
	}
	want = append(want, "systemctl restart snap-n8n.timer")
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("re-install calls %q, want %q", f.calls, want)
	}
	ents, _ := os.ReadDir(filepath.Join(f.root, SystemdDir))
	if len(ents) != 2 {
		t.Fatalf("leftover files: %v", ents)
	}

	list, err := f.m.List()
	if err != nil {
		t.Fatal(err)
	}
	wantList := []Installed{{Profile: "n8n", Kind: Systemd, Time: "23:30",
		Files:   []string{"/etc/systemd/system/snap-n8n.timer", "/etc/systemd/system/snap-n8n.service"},
		Command: "/usr/local/bin/snap run n8n --quiet", hasTimer: true}}
	if !reflect.DeepEqual(list, wantList) {
		t.Fatalf("list %+v, want %+v", list, wantList)
	}

	f.calls = nil
	if _, err := f.m.Remove(ctx, "n8n"); err != nil {
		t.Fatal(err)
	}
	want = []string{"systemctl disable --now snap-n8n.timer", "systemctl daemon-reload"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("remove calls %q, want %q", f.calls, want)
	}
	if f.exists("/etc/systemd/system/snap-n8n.timer") || f.exists("/etc/systemd/system/snap-n8n.service") {
		t.Fatal("units left after remove")
	}
	if _, err := f.m.Remove(ctx, "n8n"); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("second remove: %v", err)
	}
}

func TestCronInstallListRemove(t *testing.T) {
	f := newFake(t, false)
	if f.m.DefaultKind() != Cron {
		t.Fatal("systemd detected without /run/systemd/system")
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ { // idempotent
		if _, err := f.m.Install(ctx, job, Cron); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.read(t, "/etc/cron.d/snap-n8n"); got != wantCron {
		t.Errorf("cron:\n%s\nwant:\n%s", got, wantCron)
	}
	fi, _ := os.Stat(filepath.Join(f.root, "/etc/cron.d/snap-n8n"))
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("cron file mode %v", fi.Mode())
	}
	ents, _ := os.ReadDir(filepath.Join(f.root, CronDir))
	if len(ents) != 1 || len(f.calls) != 0 {
		t.Fatalf("files %v, calls %q", ents, f.calls)
	}
	list, _ := f.m.List()
	if len(list) != 1 || list[0].Kind != Cron || list[0].Time != "02:05" || list[0].Files[0] != "/etc/cron.d/snap-n8n" {
		t.Fatalf("list: %+v", list)
	}
	if _, err := f.m.Remove(ctx, "n8n"); err != nil {
		t.Fatal(err)
	}
	if f.exists("/etc/cron.d/snap-n8n") {
		t.Fatal("cron file left")
	}
	if list, _ := f.m.List(); len(list) != 0 {
		t.Fatalf("list after remove: %+v", list)
	}
}

// Installing one kind removes the other, so a profile never runs twice.
func TestSwitchKind(t *testing.T) {
	f := newFake(t, true)
	ctx := context.Background()
	f.m.Install(ctx, job, Cron)
	if _, err := f.m.Install(ctx, job, Systemd); err != nil {
		t.Fatal(err)
	}
	if f.exists("/etc/cron.d/snap-n8n") {
		t.Fatal("cron file kept next to the timer")
	}
	f.calls = nil
	if _, err := f.m.Install(ctx, job, Cron); err != nil {
		t.Fatal(err)
	}
	if f.exists("/etc/systemd/system/snap-n8n.timer") || !f.exists("/etc/cron.d/snap-n8n") {
		t.Fatal("switch to cron")
	}
	if f.calls[0] != "systemctl disable --now snap-n8n.timer" {
		t.Fatalf("calls %q", f.calls)
	}
}

// Files the operator wrote are neither listed, removed nor overwritten.
func TestForeignFiles(t *testing.T) {
	f := newFake(t, false)
	own := filepath.Join(f.root, "/etc/cron.d/snap-n8n")
	os.WriteFile(own, []byte("0 3 * * * root snap backup n8n\n"), 0o644)
	os.WriteFile(filepath.Join(f.root, "/etc/cron.d/snap-other.dpkg-old"), []byte(wantCron), 0o644)
	if list, err := f.m.List(); err != nil || len(list) != 0 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := f.m.Remove(context.Background(), "n8n"); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("remove: %v", err)
	}
	if _, err := f.m.Install(context.Background(), job, Cron); err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Fatalf("install over a foreign file: %v", err)
	}
	if b, _ := os.ReadFile(own); !strings.Contains(string(b), "backup n8n") {
		t.Fatal("foreign file changed")
	}
}

func TestPlanChangesNothing(t *testing.T) {
	f := newFake(t, true)
	p, err := f.m.PlanInstall(job, Systemd)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 4 || p.Steps[0].Write == nil || p.Steps[0].Write.Content != wantService {
		t.Fatalf("plan: %+v", p)
	}
	ents, _ := os.ReadDir(filepath.Join(f.root, SystemdDir))
	if len(ents) != 0 || len(f.calls) != 0 {
		t.Fatal("planning changed the system")
	}
}

func TestMissingDirs(t *testing.T) {
	m := New(t.TempDir(), nil)
	if _, err := m.PlanInstall(job, Cron); err == nil || !strings.Contains(err.Error(), "is cron installed") {
		t.Fatalf("no /etc/cron.d: %v", err)
	}
	if _, err := m.PlanInstall(job, Systemd); err == nil || !strings.Contains(err.Error(), "is systemd installed") {
		t.Fatalf("no /etc/systemd/system: %v", err)
	}
}

func TestFailedCommand(t *testing.T) {
	f := newFake(t, true)
	f.fail = "systemctl enable --now snap-n8n.timer"
	_, err := f.m.Install(context.Background(), job, Systemd)
	if err == nil || !strings.Contains(err.Error(), "run systemctl enable --now snap-n8n.timer") {
		t.Fatalf("error: %v", err)
	}
}

func TestParseTime(t *testing.T) {
	for s, want := range map[string][2]int{"02:00": {2, 0}, "2:30": {2, 30}, "23:59": {23, 59}, "00:00": {0, 0}} {
		h, m, err := ParseTime(s)
		if err != nil || h != want[0] || m != want[1] {
			t.Errorf("%s: %d %d %v", s, h, m, err)
		}
	}
	for _, s := range []string{"", "24:00", "12:60", "2", "2pm", "02:5", "-1:00", "+1:00", "02:00:00", "0x1:00"} {
		if _, _, err := ParseTime(s); err == nil || !strings.Contains(err.Error(), "e.g. --at 02:30") {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestQuoting(t *testing.T) {
	j := job
	j.Profile = "shop"
	j.Binary = "/opt/my snap/snap"
	j.Args = []string{"--config", "/etc/snap/100%.yaml"}
	j.Env = []Var{{"SNAP_KEY_FILE", "/keys/$HOME key"}}
	svc, _ := systemdUnits(j)
	for _, want := range []string{
		`Environment="SNAP_KEY_FILE=/keys/$HOME key"`,
		`ExecStart="/opt/my snap/snap" run shop --quiet --config /etc/snap/100%%.yaml`,
	} {
		if !strings.Contains(svc, want+"\n") {
			t.Errorf("service lacks %s:\n%s", want, svc)
		}
	}
	cron := cronFile(j)
	if !strings.Contains(cron, `'/opt/my snap/snap' run shop --quiet --config /etc/snap/100\%.yaml`) {
		t.Errorf("cron:\n%s", cron)
	}
	j.Args = []string{"--config", "/etc/a\nb"}
	if _, err := New(t.TempDir(), nil).PlanInstall(j, Cron); err == nil || !strings.Contains(err.Error(), "newline") {
		t.Fatalf("newline accepted: %v", err)
	}
	if err := CheckProfile("my.shop"); err == nil {
		t.Fatal("a profile name cron would ignore was accepted")
	}
}
