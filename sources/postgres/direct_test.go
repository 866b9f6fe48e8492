package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"snap/internal/teststack"
	"snap/sources/docker"
)

// hostPostgres starts a throwaway PostgreSQL 15 cluster of the host's
// binaries on 127.0.0.1 with password authentication, for direct mode.
func hostPostgres(t *testing.T, port int) string {
	t.Helper()
	teststack.RequireRoot(t) // same rule: root, and in CI never skipped
	bin := "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		t.Fatalf("PostgreSQL 15 server binaries missing (apt-get install postgresql-15): %v", err)
	}
	dir, err := os.MkdirTemp("", "snap-pg-direct")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pwfile := filepath.Join(dir, "pw")
	os.WriteFile(pwfile, []byte("direct-secret\n"), 0o600)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	data := filepath.Join(dir, "data")
	run(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=scram-sha-256", "--pwfile="+pwfile, "--locale=C", "-E", "UTF8")
	run(filepath.Join(bin, "pg_ctl"), "-D", data, "-w", "-l", filepath.Join(dir, "log"), "-o", fmt.Sprintf("-h 127.0.0.1 -p %d -k %s", port, dir), "start")
	t.Cleanup(func() { run(filepath.Join(bin, "pg_ctl"), "-D", data, "-w", "-m", "fast", "stop") })
	return fmt.Sprintf("postgres://postgres:direct-secret@127.0.0.1:%d/app", port)
}

func TestPostgresDirect(t *testing.T) {
	u := hostPostgres(t, 55439)
	ctx := context.Background()
	admin, err := FromURL(strings.Replace(u, "/app", "/postgres", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.query(ctx, "postgres", "create database app"); err != nil {
		t.Fatal(err)
	}
	p, err := FromURL(u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.query(ctx, "app", "create table t (id int primary key, v text)", "insert into t select g, md5(g::text) from generate_series(1, 5000) g", "create table u (x int)"); err != nil {
		t.Fatal(err)
	}
	meta, err := p.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if meta["table_count"] != "2" {
		t.Fatalf("metadata: %v", meta)
	}
	var dump bytes.Buffer
	if err := p.Dump(ctx, &dump); err != nil {
		t.Fatal(err)
	}
	sum := func() string {
		out, err := p.query(ctx, "app", "select count(*) || md5(string_agg(v, ',' order by id)) from t")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := sum()
	if _, err := p.query(ctx, "app", "delete from t where id > 100"); err != nil {
		t.Fatal(err)
	}
	swap, err := p.Prepare(ctx, bytes.NewReader(dump.Bytes()), meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := swap.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sum(); got != want {
		t.Fatalf("after direct restore: %q, want %q", got, want)
	}
	// A wrong password is a clear error, and the password is not in it.
	bad, _ := FromURL(strings.Replace(u, "direct-secret", "wrong-pw", 1))
	err = bad.Dump(ctx, &bytes.Buffer{})
	var ee *docker.ExecError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "password authentication failed") || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := FromURL("mysql://x"); err == nil {
		t.Fatal("non-postgres URL accepted")
	}
}
