package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// monitor records what reaches a real HTTP server on 127.0.0.1.
type monitor struct {
	mu   sync.Mutex
	hits []string // "METHOD path?query body"
}

func (m *monitor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	m.hits = append(m.hits, r.Method+" "+r.URL.Path+" "+string(b))
	m.mu.Unlock()
}

func (m *monitor) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.hits
	m.hits = nil
	return h
}

func writeRunConfig(t *testing.T, e *env, src, offsite, metricsDir, hooksDir, monURL string) string {
	t.Helper()
	cfg := filepath.Join(e.dir, "snap.yaml")
	os.WriteFile(cfg, []byte(`repository: `+e.vars["SNAP_REPO"]+`
password_file: `+filepath.Join(e.dir, "pw")+`
metrics_dir: `+metricsDir+`
notify: ["webhook+`+monURL+`/hook/secret-token"]
profiles:
  app:
    items:
      - name: files
        paths: [`+src+`]
      - name: version
        command: echo v1
    check: {read_data_days: 1}
    retention: {keep_last: 2}
    prune: {every_days: 1, max_unused: 0%}
    sync: [`+offsite+`]
    sync_delete: true
    hooks:
      before: ["echo before >> `+hooksDir+`/log"]
      after: ["echo after $SNAP_SNAPSHOT >> `+hooksDir+`/log"]
      on_failure: ["echo failed: $SNAP_ERROR >> `+hooksDir+`/log"]
    notify: ["hc+`+monURL+`/ping/uuid"]
`), 0o600)
	os.WriteFile(filepath.Join(e.dir, "pw"), []byte(e.vars["SNAP_PASSWORD"]+"\n"), 0o600)
	return cfg
}

// TestRun is the nightly job end to end: hooks, backup, check, forget,
// prune, sync, metrics and monitors; then a failing backup that must not
// forget anything, and a failing sync after a saved snapshot.
func TestRun(t *testing.T) {
	mon := &monitor{}
	srv := httptest.NewServer(mon)
	defer srv.Close()
	e := newEnv(t)
	e.ok(nil, "init")
	src := filepath.Join(e.dir, "app")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "data"), randData(1, 100000), 0o644)
	offsite, metricsDir, hooksDir := filepath.Join(e.dir, "offsite"), filepath.Join(e.dir, "metrics"), filepath.Join(e.dir, "hooks")
	for _, d := range []string{offsite, metricsDir, hooksDir} {
		os.Mkdir(d, 0o700)
	}
	e.vars["SNAP_CONFIG"] = writeRunConfig(t, e, src, offsite, metricsDir, hooksDir, srv.URL)
	delete(e.vars, "SNAP_PASSWORD")
	delete(e.vars, "SNAP_REPO")

	out := e.ok(nil, "config", "check")
	for _, want := range []string{"valid", "opens with the full key, 0 snapshots", "keep last 2", "every 1 days", offsite + " (present", "http://127.0.0.1", "snap_app.prom"} {
		if !strings.Contains(out.stdout, want) {
			t.Fatalf("config check lacks %q:\n%s", want, out.stdout)
		}
	}
	if strings.Contains(out.stdout, "secret-token") || strings.Contains(out.stdout, "uuid") {
		t.Fatalf("config check prints a monitor's secret:\n%s", out.stdout)
	}

	var logs []string
	for i := range 3 {
		os.WriteFile(filepath.Join(src, "data"), randData(uint64(10+i), 100000), 0o644)
		logs = append(logs, e.ok(nil, "run", "app").stdout)
	}
	// The first run prunes (no prune recorded yet), the next ones within
	// every_days do not.
	if !strings.Contains(logs[0], `msg="prune done"`) || strings.Contains(logs[1], `msg="prune done"`) {
		t.Fatalf("prune schedule: first run:\n%s\nsecond run:\n%s", logs[0], logs[1])
	}
	out = e.ok(nil, "run", "app", "--prune-now")
	for _, want := range []string{`msg="backup saved"`, `msg="check passed"`, `msg="forget done"`, `msg="prune done"`, `msg=synced`, `msg="run finished"`} {
		if !strings.Contains(out.stdout, want) {
			t.Fatalf("run log lacks %s:\n%s", want, out.stdout)
		}
	}
	if n := len(e.snapshots()); n != 2 {
		t.Fatalf("%d snapshots after four runs with keep_last 2", n)
	}
	if n := len(e.snapshots()); n != len(snapshotsAt(t, e, offsite)) {
		t.Fatal("the sync target does not mirror the repository")
	}
	hooks, _ := os.ReadFile(filepath.Join(hooksDir, "log"))
	if strings.Count(string(hooks), "before") != 4 || strings.Count(string(hooks), "after ") != 4 {
		t.Fatalf("hooks:\n%s", hooks)
	}
	hits := mon.take()
	joined := strings.Join(hits, "\n")
	if strings.Count(joined, "POST /ping/uuid/start") != 4 || strings.Count(joined, "POST /ping/uuid ") != 4 || strings.Count(joined, "/hook/secret-token") != 8 || !strings.Contains(joined, `"event":"success"`) {
		t.Fatalf("monitor saw:\n%s", joined)
	}
	prom, _ := os.ReadFile(filepath.Join(metricsDir, "snap_app.prom"))
	if !strings.Contains(string(prom), `snap_last_run_success{profile="app"} 1`) || !strings.Contains(string(prom), `snap_step_success{profile="app",step="sync"} 1`) {
		t.Fatalf("metrics:\n%s", prom)
	}
	// --quiet: nothing on success (cron mail stays empty).
	if out := e.ok(nil, "run", "app", "--quiet"); out.stdout != "" || out.stderr != "" {
		t.Fatalf("quiet run printed: %q %q", out.stdout, out.stderr)
	}
	mon.take()

	// A source that fails: no snapshot, no forget, exit 3, failure ping
	// with the error, on_failure hook.
	before := len(e.snapshots())
	os.RemoveAll(src)
	r := e.expect(ExitSource, nil, "run", "app")
	if !strings.Contains(r.stderr, src) {
		t.Fatalf("failed run: %s", r.stderr)
	}
	if n := len(e.snapshots()); n != before {
		t.Fatalf("a failed backup changed the snapshots: %d → %d", before, n)
	}
	joined = strings.Join(mon.take(), "\n")
	if !strings.Contains(joined, "POST /ping/uuid/fail") || !strings.Contains(joined, `"event":"failure"`) || !strings.Contains(joined, "no such file") {
		t.Fatalf("failure notifications:\n%s", joined)
	}
	hooks, _ = os.ReadFile(filepath.Join(hooksDir, "log"))
	if !strings.Contains(string(hooks), "failed: ") {
		t.Fatalf("on_failure hook did not run:\n%s", hooks)
	}
	prom, _ = os.ReadFile(filepath.Join(metricsDir, "snap_app.prom"))
	if !strings.Contains(string(prom), `snap_last_run_success{profile="app"} 0`) || strings.Contains(string(prom), `snap_last_success_timestamp_seconds{profile="app"} 0`) {
		t.Fatalf("metrics after a failure:\n%s", prom)
	}

	// The snapshot is saved but the sync disk is gone: exit 4.
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "data"), []byte("x"), 0o644)
	os.Rename(offsite, offsite+".gone")
	r = e.expect(ExitRunStep, nil, "run", "app")
	if !strings.Contains(r.stderr, "the backup was saved, but sync") {
		t.Fatalf("sync failure: %s", r.stderr)
	}
}

func snapshotsAt(t *testing.T, e *env, dir string) []snapshotJSON {
	t.Helper()
	r := e.ok(nil, "snapshots", "--json", "--repo", dir)
	var out []snapshotJSON
	if err := jsonUnmarshal(r.stdout, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConfigRejectsBadValues(t *testing.T) {
	e := newEnv(t)
	cfg := filepath.Join(e.dir, "snap.yaml")
	e.vars["SNAP_CONFIG"] = cfg
	for _, c := range []struct{ yaml, want string }{
		{"profiles:\n  a:\n    preset: n8n\n    retention: {}\n", "keeps nothing"},
		{"profiles:\n  a:\n    preset: n8n\n    retention: {keep_within: 7x}\n", "keep_within"},
		{"profiles:\n  a:\n    preset: n8n\n    prune: {max_unused: lots}\n", "max-unused"},
		{"profiles:\n  a:\n    preset: n8n\n    sync: [relative/dir]\n", "absolute"},
		{"profiles:\n  a:\n    preset: n8n\n    notify: [\"ftp://x\"]\n", "notify"},
		{"profiles:\n  a:\n    preset: n8n\n    hooks: {befor: [x]}\n", "befor"},
	} {
		os.WriteFile(cfg, []byte(c.yaml), 0o600)
		r := e.expect(ExitUsage, nil, "config", "check", "--no-repo")
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("config %q: error %q lacks %q", c.yaml, r.stderr, c.want)
		}
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
