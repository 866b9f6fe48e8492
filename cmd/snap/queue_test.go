package main

import (
	"context"
	"strings"
	"testing"

	"snap/internal/teststack"
)

// startedAt is when each named container last started: unchanged means
// it was neither stopped nor restarted.
func startedAt(t *testing.T, s *teststack.Stack, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		ins, err := s.Docker.Inspect(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = ins.State.StartedAt
		if !ins.State.Running {
			out[n] = "not running"
		}
	}
	return out
}

// TestQueueStackRestore: with two workers and a webhook processor,
// --dry-run lists every n8n container; the restore stops workers and the
// webhook processor before main, all before the database is replaced,
// starts main first and reports that it answers.
func TestQueueStackRestore(t *testing.T) {
	s := teststack.Start(t, "snaptqcmd", "--queue", "2")
	e := newEnv(t)
	e.ok(nil, "init")
	w1, w2, hook, main := s.Container("n8n-worker"), s.Project+"-n8n-worker-2", s.Container("n8n-webhook"), s.Container("n8n")
	plan := e.ok(nil, "backup", "n8n", "--project", s.Project, "--dry-run").stdout
	for _, want := range []string{"app worker         " + w1, "app worker         " + w2, "app webhook        " + hook, "app main           " + main} {
		if !strings.Contains(plan, want) {
			t.Errorf("dry-run lacks %q:\n%s", want, plan)
		}
	}
	e.ok(nil, "backup", "n8n", "--project", s.Project)
	out := e.ok(nil, "restore", "latest", "--yes").stdout
	at := func(line string) int {
		i := strings.Index(out, line)
		if i < 0 {
			t.Fatalf("restore output lacks %q:\n%s", line, out)
		}
		return i
	}
	swap := at("postgres: database n8n replaced")
	for _, w := range []string{w1, w2, hook} {
		if at("stopped "+w) > at("stopped "+main+" (main)") {
			t.Errorf("%s stopped after main:\n%s", w, out)
		}
		if at("started "+w) < at("started "+main) {
			t.Errorf("%s started before main:\n%s", w, out)
		}
	}
	if at("stopped "+main+" (main)") > swap {
		t.Errorf("main stopped after the swap:\n%s", out)
	}
	at(main + " (main) answers: http://127.0.0.1:5678/healthz")
	for n, v := range startedAt(t, s, w1, w2, hook, main) {
		if v == "not running" {
			t.Errorf("%s not running after the restore", n)
		}
	}
}

// TestCredentialDrill: verify --restore decrypts every stored credential
// with the snapshot's key; a restore of a database with newer migrations
// is refused; so is one into a stack whose n8n runs with another key,
// before anything is stopped or replaced, and --force restores anyway.
func TestCredentialDrill(t *testing.T) {
	s := teststack.Start(t, "snaptcred")
	e := newEnv(t)
	e.ok(nil, "init")
	e.ok(nil, "backup", "n8n", "--project", s.Project)
	r := e.ok(nil, "verify", "--restore", "--project", s.Project)
	if !strings.Contains(r.stdout, "40 of 40 credentials decrypt with N8N_ENCRYPTION_KEY in the snapshot's .env") {
		t.Fatalf("verify --restore:\n%s", r.stdout)
	}
	first := e.snapshots()[0].ID

	// A snapshot taken after an upgrade (a newer migration), restored
	// into the database of the older n8n: refused, naming both.
	s.Psql(`insert into migrations ("timestamp", name) values (1900000000000, 'AddFutureThing1900000000000')`)
	e.ok(nil, "backup", "n8n", "--project", s.Project)
	upgraded := e.snapshots()[1].ID
	s.Psql(`delete from migrations where "timestamp" = 1900000000000`)
	s.Psql(`update workflow_entity set name = 'kept'`)
	names := []string{s.Container("n8n"), s.Container("postgres"), s.Container("redis")}
	before := startedAt(t, s, names...)
	r = e.expect(ExitFailure, nil, "restore", upgraded, "--yes")
	for _, want := range []string{"AddFutureThing1900000000000", "Migration120", "cannot migrate down", "n8n 1.0.0", "--force"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("migrations refusal lacks %q: %s", want, r.stderr)
		}
	}
	untouched := func(what string) {
		t.Helper()
		if got := startedAt(t, s, names...); !equalMaps(got, before) {
			t.Errorf("%s: containers were stopped or restarted: %v, before %v", what, got, before)
		}
		if got := s.Psql(`select count(*) from workflow_entity where name = 'kept'`); got != "250" {
			t.Errorf("%s: the live database was replaced (%s rows kept)", what, got)
		}
		if got := s.Psql(`select count(*) from pg_database where datname like '%snap%'`); got != "0" {
			t.Errorf("%s: scratch databases left behind: %s", what, got)
		}
	}
	untouched("newer migrations")

	// n8n recreated with another key: the restored credentials would not
	// decrypt. Refused before anything is touched; --force restores.
	s.Up([]string{"N8N_ENCRYPTION_KEY=anotherkey0123456789"})
	s.Psql(`update workflow_entity set name = 'kept'`)
	before = startedAt(t, s, names...)
	r = e.expect(ExitFailure, nil, "restore", first, "--yes")
	for _, want := range []string{"restore refused", "40 of 40", "decrypts 0 of 40", "N8N_ENCRYPTION_KEY in the env of container " + s.Container("n8n"), "--force"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("key refusal lacks %q: %s", want, r.stderr)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "anotherkey0123456789") || strings.Contains(r.stdout+r.stderr, s.Env["N8N_ENCRYPTION_KEY"]) {
		t.Error("a key was printed")
	}
	untouched("another key")
	r = e.ok(nil, "restore", first, "--yes", "--force")
	if !strings.Contains(r.stdout, "restoring anyway, as forced") {
		t.Errorf("forced restore does not say what it overrode:\n%s", r.stdout)
	}
	if got := s.Psql(`select count(*) from workflow_entity where name = 'kept'`); got != "0" {
		t.Errorf("forced restore did not replace the database (%s rows kept)", got)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
