package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/schedule"
)

// scheduleFake points 'snap schedule' at a temporary root (with cron, and
// systemd running if asked) and records systemctl calls.
func scheduleFake(t *testing.T, systemd bool) (string, *[]string) {
	root := t.TempDir()
	dirs := []string{"etc/cron.d", "etc/systemd/system"}
	if systemd {
		dirs = append(dirs, "run/systemd/system")
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	oldRoot, oldRun, oldBin := scheduleRoot, scheduleRunner, scheduleBinary
	t.Cleanup(func() { scheduleRoot, scheduleRunner, scheduleBinary = oldRoot, oldRun, oldBin })
	var calls []string
	scheduleRoot = root
	scheduleRunner = func(_ context.Context, name string, args ...string) error {
		calls = append(calls, name+" "+strings.Join(args, " "))
		return nil
	}
	scheduleBinary = func() (string, error) { return "/usr/local/bin/snap", nil }
	return root, &calls
}

// scheduleKeyEnv is a repository opened with a key file only, as on a server.
func scheduleKeyEnv(t *testing.T) (*env, string) {
	e := newEnv(t)
	key := filepath.Join(e.dir, "full.key")
	e.vars["SNAP_PASSWORD"] = ""
	e.ok(nil, "init", "--key-file", key)
	e.vars["SNAP_KEY_FILE"] = key
	return e, key
}

func scheduleRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestScheduleCron(t *testing.T) {
	root, calls := scheduleFake(t, false)
	e, key := scheduleKeyEnv(t)
	cronFile := filepath.Join(root, "etc/cron.d/snap-n8n")

	out := e.ok(nil, "schedule", "install", "n8n", "--dry-run").stdout
	if !strings.Contains(out, "# write /etc/cron.d/snap-n8n (mode 0644)") || !strings.Contains(out, "0 2 * * * root flock -n /run/lock/snap-n8n.lock") {
		t.Fatalf("dry run:\n%s", out)
	}
	if _, err := os.Stat(cronFile); err == nil {
		t.Fatal("--dry-run wrote the cron file")
	}

	for i := 0; i < 2; i++ { // re-install replaces
		e.ok(nil, "schedule", "install", "n8n", "--at", "01:07")
	}
	got := scheduleRead(t, cronFile)
	for _, want := range []string{
		"SHELL=/bin/sh\n",
		"\nPATH=/usr/local/sbin:",
		"\nSNAP_REPO=" + e.vars["SNAP_REPO"] + "\n",
		"\nSNAP_KEY_FILE=" + key + "\n",
		"\n7 1 * * * root flock -n /run/lock/snap-n8n.lock nice -n 19 ionice -c 3 /usr/local/bin/snap run n8n --quiet\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("cron file lacks %q:\n%s", want, got)
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(cronFile)); len(ents) != 1 || len(*calls) != 0 {
		t.Fatalf("files %v, calls %q", ents, *calls)
	}

	var list []schedule.Installed
	if err := json.Unmarshal([]byte(e.ok(nil, "schedule", "list", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Profile != "n8n" || list[0].Kind != schedule.Cron || list[0].Time != "01:07" {
		t.Fatalf("list: %+v", list)
	}
	e.ok(nil, "schedule", "remove", "n8n")
	if _, err := os.Stat(cronFile); err == nil {
		t.Fatal("remove left the cron file")
	}
	r := e.expect(ExitNotFound, nil, "schedule", "remove", "n8n")
	if !strings.Contains(r.stderr, `no snap schedule installed for profile "n8n"`) {
		t.Fatalf("remove of nothing: %s", r.stderr)
	}
	if got := e.ok(nil, "schedule", "list", "--json").stdout; strings.TrimSpace(got) != "[]" {
		t.Fatalf("empty list: %s", got)
	}
}

func TestScheduleSystemd(t *testing.T) {
	root, calls := scheduleFake(t, true)
	e, key := scheduleKeyEnv(t)
	e.ok(nil, "schedule", "install", "n8n", "--at", "03:30")
	svc := scheduleRead(t, filepath.Join(root, "etc/systemd/system/snap-n8n.service"))
	for _, want := range []string{
		"\nType=oneshot\n",
		`Environment="SNAP_REPO=` + e.vars["SNAP_REPO"] + `" "SNAP_KEY_FILE=` + key + `" "SNAP_CACHE_DIR=` + e.vars["SNAP_CACHE_DIR"] + `"` + "\n",
		"\nExecStart=/usr/local/bin/snap run n8n --quiet\n",
		"\nNice=19\n", "\nIOSchedulingClass=idle\n",
	} {
		if !strings.Contains(svc, want) {
			t.Errorf("service lacks %q:\n%s", want, svc)
		}
	}
	timer := scheduleRead(t, filepath.Join(root, "etc/systemd/system/snap-n8n.timer"))
	if !strings.Contains(timer, "\nOnCalendar=*-*-* 03:30:00\n") || !strings.Contains(timer, "\nPersistent=true\n") || strings.Contains(timer, "RandomizedDelaySec") {
		t.Errorf("timer:\n%s", timer)
	}
	if strings.Join(*calls, "; ") != "systemctl daemon-reload; systemctl enable --now snap-n8n.timer" {
		t.Fatalf("calls %q", *calls)
	}
	list := e.ok(nil, "schedule", "list").stdout
	if !strings.Contains(list, "n8n") || !strings.Contains(list, "systemd") || !strings.Contains(list, "03:30") {
		t.Fatalf("list:\n%s", list)
	}
	*calls = nil
	e.ok(nil, "schedule", "remove", "n8n")
	if strings.Join(*calls, "; ") != "systemctl disable --now snap-n8n.timer; systemctl daemon-reload" {
		t.Fatalf("remove calls %q", *calls)
	}
	// --cron overrides systemd.
	e.ok(nil, "schedule", "install", "n8n", "--cron")
	if _, err := os.Stat(filepath.Join(root, "etc/cron.d/snap-n8n")); err != nil {
		t.Fatal(err)
	}
}

// A passphrase is never written into a unit or cron file.
func TestScheduleRefusesPassphrase(t *testing.T) {
	root, _ := scheduleFake(t, false)
	e := newEnv(t)
	e.ok(nil, "init")
	r := e.expect(ExitUsage, nil, "schedule", "install", "n8n")
	if !strings.Contains(r.stderr, "key file") || !strings.Contains(r.stderr, "password file") {
		t.Fatalf("refusal does not say what to use: %s", r.stderr)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "etc/cron.d")); len(ents) != 0 {
		t.Fatal("wrote a file")
	}
	// A password file is fine: its path goes into the file, not its content.
	pw := filepath.Join(e.dir, "pass")
	os.WriteFile(pw, []byte(e.vars["SNAP_PASSWORD"]+"\n"), 0o600)
	e.ok(nil, "schedule", "install", "n8n", "--password-file", pw)
	got := scheduleRead(t, filepath.Join(root, "etc/cron.d/snap-n8n"))
	if !strings.Contains(got, "\nSNAP_PASSWORD_FILE="+pw+"\n") || strings.Contains(got, e.vars["SNAP_PASSWORD"]) {
		t.Fatalf("cron file:\n%s", got)
	}
	// A wrong password file fails now, not at 2 AM.
	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	e.expect(ExitWrongKey, nil, "schedule", "install", "n8n", "--password-file", pw)
}

func TestScheduleConfig(t *testing.T) {
	root, _ := scheduleFake(t, false)
	e, key := scheduleKeyEnv(t)
	cfg := filepath.Join(e.dir, "snap.yaml")
	os.WriteFile(cfg, []byte("repository: "+e.vars["SNAP_REPO"]+"\nkey_file: "+key+"\ncache_dir: "+e.vars["SNAP_CACHE_DIR"]+
		"\nprofiles:\n  shop:\n    items:\n      - name: env\n        paths: [/etc/hostname]\n"), 0o600)
	delete(e.vars, "SNAP_REPO")
	delete(e.vars, "SNAP_KEY_FILE")
	delete(e.vars, "SNAP_CACHE_DIR")
	e.ok(nil, "schedule", "install", "shop", "--config", cfg)
	got := scheduleRead(t, filepath.Join(root, "etc/cron.d/snap-shop"))
	if !strings.Contains(got, "/usr/local/bin/snap run shop --quiet --config "+cfg+"\n") || strings.Contains(got, "SNAP_REPO") || strings.Contains(got, "SNAP_KEY_FILE") {
		t.Fatalf("cron file:\n%s", got)
	}
	r := e.expect(ExitUsage, nil, "schedule", "install", "nope", "--config", cfg)
	if !strings.Contains(r.stderr, `unknown profile "nope"`) || !strings.Contains(r.stderr, "shop") {
		t.Fatalf("unknown profile: %s", r.stderr)
	}
}

func TestScheduleUsage(t *testing.T) {
	root, _ := scheduleFake(t, false)
	e, _ := scheduleKeyEnv(t)
	for _, at := range []string{"25:00", "2pm", "02:5"} {
		r := e.expect(ExitUsage, nil, "schedule", "install", "n8n", "--at", at)
		if !strings.Contains(r.stderr, "HH:MM") || !strings.Contains(r.stderr, "e.g. --at 02:30") {
			t.Fatalf("--at %s: %s", at, r.stderr)
		}
	}
	e.expect(ExitUsage, nil, "schedule", "install", "n8n", "--cron", "--systemd")
	e.expect(ExitUsage, nil, "schedule", "install", "shop") // not a preset, no config
	e.expect(ExitUsage, nil, "schedule", "install", "my.shop")
	e.expect(ExitUsage, nil, "schedule", "install")
	e.expect(ExitUsage, nil, "schedule", "list", "--at", "02:00")
	e.expect(ExitUsage, nil, "schedule", "frobnicate")
	e.expect(ExitUsage, nil, "schedule")
	if ents, _ := os.ReadDir(filepath.Join(root, "etc/cron.d")); len(ents) != 0 {
		t.Fatal("a refused install wrote a file")
	}
	if h := e.ok(nil, "help", "schedule").stdout; !strings.Contains(h, "Examples:") || !strings.Contains(h, "--at") {
		t.Fatalf("help:\n%s", h)
	}
}
