package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"snap/sources"
)

// stack is a compose-like n8n stack from testenv/stack.sh (real PostgreSQL,
// Redis and Docker). In CI a failure to set it up fails the test; only a
// developer without root gets a skip.
type stack struct {
	t       *testing.T
	project string
	dir     string
	env     map[string]string
	d       *sources.Docker
}

func testenvScript(t *testing.T, name string, args ...string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	out, err := exec.Command("bash", append([]string{filepath.Join(root, "testenv", name)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv/%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func newStack(t *testing.T, project string, args ...string) *stack {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root (dockerd, test images)")
		}
		t.Skip("needs root for dockerd and the test images (testenv/setup.sh); CI runs this test")
	}
	testenvScript(t, "setup.sh")
	dir := filepath.Join(t.TempDir(), "stack")
	testenvScript(t, "stack.sh", append([]string{"up", "--project", project, "--dir", dir}, args...)...)
	t.Cleanup(func() { testenvScript(t, "stack.sh", "down", "--project", project, "--dir", dir, "--purge") })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := sources.NewDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	env := map[string]string{}
	b, err := os.ReadFile(filepath.Join(dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			env[k] = v
		}
	}
	return &stack{t: t, project: project, dir: dir, env: env, d: d}
}

func (s *stack) ctr(service string) string { return s.project + "-" + service + "-1" }

func (s *stack) exec(service string, env []string, cmd ...string) string {
	s.t.Helper()
	out, err := s.d.Output(context.Background(), s.ctr(service), env, cmd...)
	if err != nil {
		s.t.Fatalf("%s: %v", strings.Join(cmd, " "), err)
	}
	return strings.TrimSpace(out)
}

func (s *stack) psql(sql string) string {
	return s.exec("postgres", nil, "psql", "-X", "-q", "-At", "-U", "n8n", "-d", "n8n", "-c", sql)
}

func (s *stack) redis(args ...string) string {
	return s.exec("redis", []string{"REDISCLI_AUTH=" + s.env["REDIS_PASSWORD"]}, append([]string{"redis-cli", "-p", "6386"}, args...)...)
}

// fingerprint is what "identical" means for the stack's data.
func (s *stack) fingerprint() map[string]string {
	s.t.Helper()
	fp := map[string]string{
		"tables":    s.psql(`select count(*) from pg_tables where schemaname = 'public'`),
		"workflows": s.psql(`select count(*) || ':' || md5(string_agg(t::text, ',' order by t::text)) from workflow_entity t`),
		"execs":     s.psql(`select count(*) || ':' || md5(string_agg(t::text, ',' order by t::text)) from execution_entity t`),
		"redis":     s.redis("dbsize"),
	}
	rc, err := (&sources.Volume{Docker: s.d, Container: s.ctr("n8n"), Path: "/home/node/.n8n"}).Tar(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	sum, err := sources.TarSummary(rc)
	rc.Close()
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range sum {
		fp["vol:"+k] = v
	}
	fi, err := os.Stat(filepath.Join(s.dir, ".env"))
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(s.dir, ".env"))
	fp[".env"] = fi.Mode().Perm().String() + string(b)
	return fp
}

func TestStackBackupRestore(t *testing.T) {
	s := newStack(t, "snaptstack")
	e := newEnv(t)
	e.ok(nil, "init")
	plan := e.ok(nil, "backup", "n8n", "--project", s.project, "--dry-run").stdout
	for _, want := range []string{"postgres", "postgres-globals", "redis", "n8n-data", "config", "6386"} {
		if !strings.Contains(plan, want) {
			t.Fatalf("dry-run plan lacks %q:\n%s", want, plan)
		}
	}
	if len(e.snapshots()) != 0 {
		t.Fatal("dry-run wrote a snapshot")
	}
	before := s.fingerprint()
	e.ok(nil, "backup", "n8n", "--project", s.project)
	snaps := e.snapshots()
	if len(snaps) != 1 || len(snaps[0].Items) != 5 {
		t.Fatalf("snapshot: %+v", snaps)
	}
	first := snaps[0].Size
	// A second night of a barely changed stack adds a small fraction.
	s.redis("set", "night2", "x")
	e.ok(nil, "backup", "n8n", "--project", s.project)
	snaps = e.snapshots()
	if added := snaps[1].Added; added > first/4 {
		t.Errorf("second backup added %d bytes of %d", added, first)
	}
	s.redis("del", "night2")

	// Disaster: a dropped table, updated rows, a flushed Redis, a damaged
	// volume and a lost .env.
	s.psql(`drop table execution_entity cascade`)
	s.psql(`update workflow_entity set name = 'broken'`)
	s.redis("flushall")
	err := s.d.Exec(context.Background(), s.ctr("n8n"), sources.ExecOptions{User: "0", Cmd: []string{"sh", "-c",
		"rm -rf /home/node/.n8n/binaryData && echo junk > /home/node/.n8n/config && chown 0:0 /home/node/.n8n/config"}})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(s.dir, ".env"))

	r := e.expect(ExitUsage, nil, "restore", "latest")
	if !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("restore without --yes: %s", r.stderr)
	}
	r = e.ok(nil, "restore", snaps[0].ID, "--yes")
	after := s.fingerprint()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("after restore %s differs:\n want %s\n  got %s", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("after restore: extra %s", k)
		}
	}
	if t.Failed() {
		t.Logf("restore output:\n%s", r.stdout)
	}
	// One item alone: only Redis is touched.
	s.redis("flushall")
	s.psql(`update workflow_entity set name = 'kept'`)
	e.ok(nil, "restore", snaps[0].ID, "--item", "redis", "--yes")
	if got := s.redis("dbsize"); got != before["redis"] {
		t.Errorf("redis after item restore: %s keys, want %s", got, before["redis"])
	}
	if got := s.psql(`select count(*) from workflow_entity where name = 'kept'`); got == "0" {
		t.Error("restoring the redis item changed the database")
	}

	// The restore drill works and leaves no trace.
	e.ok(nil, "verify", "--restore", "--project", s.project)
	if got := s.psql(`select count(*) from pg_database where datname like '%snap%'`); got != "0" {
		t.Errorf("scratch databases left behind: %s", got)
	}
}

func TestStackBackupFailures(t *testing.T) {
	s := newStack(t, "snaptfail")
	e := newEnv(t)
	e.ok(nil, "init")
	e.ok(nil, "backup", "n8n", "--project", s.project)
	// Redis down: the run fails, names the item, writes no snapshot.
	if _, err := s.d.Stop(context.Background(), s.ctr("redis")); err != nil {
		t.Fatal(err)
	}
	r := e.expect(ExitSource, nil, "backup", "n8n", "--project", s.project)
	if !strings.Contains(r.stderr, "redis") {
		t.Fatalf("error does not name redis: %s", r.stderr)
	}
	if err := s.d.Start(context.Background(), s.ctr("redis")); err != nil {
		t.Fatal(err)
	}
	// A project that does not exist.
	r = e.expect(ExitSource, nil, "backup", "n8n", "--project", "nosuchproject")
	if !strings.Contains(r.stderr, "nosuchproject") {
		t.Fatalf("missing project error: %s", r.stderr)
	}
	// A profile written out in the config file, naming containers.
	cfg := filepath.Join(e.dir, "snap.yaml")
	os.WriteFile(cfg, []byte(`profiles:
  custom:
    items:
      - name: db
        postgres: {container: `+s.ctr("postgres")+`, globals: true}
      - name: cache
        redis: {container: `+s.ctr("redis")+`}
      - name: data
        volume: {container: `+s.ctr("n8n")+`, path: /home/node/.n8n}
      - name: env
        paths: [`+filepath.Join(s.dir, ".env")+`]
`), 0o600)
	e.vars["SNAP_CONFIG"] = cfg
	e.ok(nil, "backup", "custom")
	snaps := e.snapshots()
	if got := snaps[len(snaps)-1]; got.Profile != "custom" || len(got.Items) != 5 {
		t.Fatalf("custom profile snapshot: %+v", got)
	}
	e.ok(nil, "verify", "--restore")
	delete(e.vars, "SNAP_CONFIG")

	// An n8n encryption key in .env that differs from the container's is
	// worth a warning at backup time.
	envPath := filepath.Join(s.dir, ".env")
	orig, _ := os.ReadFile(envPath)
	os.WriteFile(envPath, []byte(strings.Replace(string(orig), "N8N_ENCRYPTION_KEY=", "N8N_ENCRYPTION_KEY=changed", 1)), 0o600)
	r = e.ok(nil, "backup", "n8n", "--project", s.project, "--dry-run")
	if !strings.Contains(r.stderr, "encryption keys differ") {
		t.Errorf("no warning for a changed encryption key: %s", r.stderr)
	}
	os.WriteFile(envPath, orig, 0o600)

	// The repository's disk is full: exit 15, no snapshot there.
	full := newEnv(t)
	full.vars["SNAP_REPO"] = filepath.Join(smallDisk(t, "1m"), "repo")
	full.ok(nil, "init")
	r = full.expect(ExitNoSpace, nil, "backup", "n8n", "--project", s.project)
	if !strings.Contains(r.stderr, "no space left") {
		t.Fatalf("disk full: %s", r.stderr)
	}
	if n := len(full.snapshots()); n != 0 {
		t.Fatalf("disk full wrote %d snapshots", n)
	}

	// pg_dump fails: the database is gone.
	s.exec("postgres", nil, "psql", "-X", "-q", "-U", "n8n", "-d", "postgres", "-c", "drop database n8n with (force)")
	r = e.expect(ExitSource, nil, "backup", "n8n", "--project", s.project)
	if !strings.Contains(r.stderr, `database "n8n" does not exist`) || !strings.Contains(r.stderr, "postgres") {
		t.Fatalf("pg_dump failure not named: %s", r.stderr)
	}
	if n := len(e.snapshots()); n != 2 {
		t.Fatalf("failed backups wrote snapshots: %d", n)
	}
}
