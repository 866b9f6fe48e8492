package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/internal/teststack"
	"snap/sources/docker"
	"snap/sources/volume"
)

// fingerprint is what "identical" means for the stack's data.
func fingerprint(t *testing.T, s *teststack.Stack) map[string]string {
	t.Helper()
	fp := map[string]string{
		"tables":    s.Psql(`select count(*) from pg_tables where schemaname = 'public'`),
		"workflows": s.Psql(`select count(*) || ':' || md5(string_agg(t::text, ',' order by t::text)) from workflow_entity t`),
		"execs":     s.Psql(`select count(*) || ':' || md5(string_agg(t::text, ',' order by t::text)) from execution_entity t`),
		"redis":     s.Redis("dbsize"),
	}
	rc, err := (&volume.Volume{Docker: s.Docker, Container: s.Container("n8n"), Path: "/home/node/.n8n"}).Tar(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := volume.TarSummary(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range sum {
		fp["vol:"+k] = v
	}
	fi, err := os.Stat(filepath.Join(s.Dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir, ".env"))
	fp[".env"] = fi.Mode().Perm().String() + string(b)
	return fp
}

func TestStackBackupRestore(t *testing.T) {
	s := teststack.Start(t, "snaptstack")
	e := newEnv(t)
	e.ok(nil, "init")
	plan := e.ok(nil, "backup", "n8n", "--project", s.Project, "--dry-run").stdout
	for _, want := range []string{"postgres", "postgres-globals", "redis", "n8n-data", "config", "6386"} {
		if !strings.Contains(plan, want) {
			t.Fatalf("dry-run plan lacks %q:\n%s", want, plan)
		}
	}
	if len(e.snapshots()) != 0 {
		t.Fatal("dry-run wrote a snapshot")
	}
	before := fingerprint(t, s)
	e.ok(nil, "backup", "n8n", "--project", s.Project)
	snaps := e.snapshots()
	if len(snaps) != 1 || len(snaps[0].Items) != 5 {
		t.Fatalf("snapshot: %+v", snaps)
	}
	first := snaps[0].Size
	// A second night of a barely changed stack adds a small fraction.
	s.Redis("set", "night2", "x")
	e.ok(nil, "backup", "n8n", "--project", s.Project)
	snaps = e.snapshots()
	if added := snaps[1].Added; added > first/4 {
		t.Errorf("second backup added %d bytes of %d", added, first)
	}
	s.Redis("del", "night2")

	// Disaster: a dropped table, updated rows, a flushed Redis, a damaged
	// volume and a lost .env.
	s.Psql(`drop table execution_entity cascade`)
	s.Psql(`update workflow_entity set name = 'broken'`)
	s.Redis("flushall")
	err := s.Docker.Exec(context.Background(), s.Container("n8n"), docker.ExecOptions{User: "0", Cmd: []string{"sh", "-c",
		"rm -rf /home/node/.n8n/binaryData && echo junk > /home/node/.n8n/config && chown 0:0 /home/node/.n8n/config"}})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(s.Dir, ".env"))

	// The dry run names exactly what would be replaced, and changes nothing.
	dry := e.ok(nil, "restore", snaps[0].ID, "--dry-run").stdout
	for _, want := range []string{"Would replace:", `database "n8n"`, "tables now) replaced by the backup's (", "keys)",
		"of its entries differ", "created: " + filepath.Join(s.Dir, ".env"), "unchanged: ", "Would stop, then start again: " + s.Container("n8n")} {
		if !strings.Contains(dry, want) {
			t.Errorf("restore --dry-run lacks %q:\n%s", want, dry)
		}
	}
	if got := s.Redis("dbsize"); got != "0" {
		t.Fatalf("restore --dry-run changed Redis: dbsize %s", got)
	}
	r := e.expect(ExitUsage, nil, "restore", "latest")
	if !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("restore without --yes: %s", r.stderr)
	}
	r = e.ok(nil, "restore", snaps[0].ID, "--yes")
	after := fingerprint(t, s)
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
	s.Redis("flushall")
	s.Psql(`update workflow_entity set name = 'kept'`)
	e.ok(nil, "restore", snaps[0].ID, "--item", "redis", "--yes")
	if got := s.Redis("dbsize"); got != before["redis"] {
		t.Errorf("redis after item restore: %s keys, want %s", got, before["redis"])
	}
	if got := s.Psql(`select count(*) from workflow_entity where name = 'kept'`); got == "0" {
		t.Error("restoring the redis item changed the database")
	}

	// The restore drill works and leaves no trace.
	e.ok(nil, "verify", "--restore", "--project", s.Project)
	if got := s.Psql(`select count(*) from pg_database where datname like '%snap%'`); got != "0" {
		t.Errorf("scratch databases left behind: %s", got)
	}
}

func TestStackBackupFailures(t *testing.T) {
	s := teststack.Start(t, "snaptfail")
	e := newEnv(t)
	e.ok(nil, "init")
	e.ok(nil, "backup", "n8n", "--project", s.Project)
	// Redis down: the run fails, names the item, writes no snapshot.
	if _, err := s.Docker.Stop(context.Background(), s.Container("redis")); err != nil {
		t.Fatal(err)
	}
	r := e.expect(ExitSource, nil, "backup", "n8n", "--project", s.Project)
	if !strings.Contains(r.stderr, "redis") {
		t.Fatalf("error does not name redis: %s", r.stderr)
	}
	if err := s.Docker.Start(context.Background(), s.Container("redis")); err != nil {
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
        postgres: {container: `+s.Container("postgres")+`, globals: true}
      - name: cache
        redis: {container: `+s.Container("redis")+`}
      - name: data
        volume: {container: `+s.Container("n8n")+`, path: /home/node/.n8n}
      - name: env
        paths: [`+filepath.Join(s.Dir, ".env")+`]
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
	envPath := filepath.Join(s.Dir, ".env")
	orig, _ := os.ReadFile(envPath)
	os.WriteFile(envPath, []byte(strings.Replace(string(orig), "N8N_ENCRYPTION_KEY=", "N8N_ENCRYPTION_KEY=changed", 1)), 0o600)
	r = e.ok(nil, "backup", "n8n", "--project", s.Project, "--dry-run")
	if !strings.Contains(r.stderr, "encryption keys differ") {
		t.Errorf("no warning for a changed encryption key: %s", r.stderr)
	}
	os.WriteFile(envPath, orig, 0o600)

	// The repository's disk is full: exit 15, no snapshot there.
	full := newEnv(t)
	full.vars["SNAP_REPO"] = filepath.Join(smallDisk(t, "1m"), "repo")
	full.ok(nil, "init")
	r = full.expect(ExitNoSpace, nil, "backup", "n8n", "--project", s.Project)
	if !strings.Contains(r.stderr, "no space left") {
		t.Fatalf("disk full: %s", r.stderr)
	}
	if n := len(full.snapshots()); n != 0 {
		t.Fatalf("disk full wrote %d snapshots", n)
	}

	// pg_dump fails: the database is gone.
	s.Exec("postgres", nil, "psql", "-X", "-q", "-U", "n8n", "-d", "postgres", "-c", "drop database n8n with (force)")
	r = e.expect(ExitSource, nil, "backup", "n8n", "--project", s.Project)
	if !strings.Contains(r.stderr, `database "n8n" does not exist`) || !strings.Contains(r.stderr, "postgres") {
		t.Fatalf("pg_dump failure not named: %s", r.stderr)
	}
	if n := len(e.snapshots()); n != 2 {
		t.Fatalf("failed backups wrote snapshots: %d", n)
	}
}
