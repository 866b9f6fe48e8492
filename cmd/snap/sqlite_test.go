package main

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"snap/internal/teststack"
	"snap/sources/docker"
	"snap/sources/sqlite"
)

// n8nDB is the SQLite stack's live database as the host sees it.
func n8nDB(t *testing.T, s *teststack.Stack) string {
	t.Helper()
	mp, err := s.Docker.VolumeMountpoint(context.Background(), s.Project+"_n8n_data")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(mp, "database.sqlite")
}

// consistentN8N checks a copy of the stand-in's database: integrity_check,
// and the invariant every committed state keeps (one execution_data row
// per execution, as many executions as the counter in settings).
func consistentN8N(ctx context.Context, path string) (int64, error) {
	db, err := sqlite.Open(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := sqlite.CheckDB(ctx, db, false); err != nil {
		return 0, err
	}
	var execs, data, counter int64
	err = db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM execution_entity), (SELECT count(*) FROM execution_data),
		(SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'snap.test.executions')`).Scan(&execs, &data, &counter)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", sqlite.ErrCorrupt, err)
	}
	if execs != counter || data != execs {
		return 0, fmt.Errorf("%w: %d executions, %d execution_data rows, counter %d", sqlite.ErrCorrupt, execs, data, counter)
	}
	return execs, nil
}

func tarNames(t *testing.T, tarStream string) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(strings.NewReader(tarStream))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// TestStackSQLiteUnderLoad: n8n on SQLite writing executions continuously;
// every copy snap stores is consistent, a naive copy of the same file is
// not always.
func TestStackSQLiteUnderLoad(t *testing.T) {
	s := teststack.Start(t, "snaptsqlw", "--db", "sqlite", "--writes")
	ctx := context.Background()
	e := newEnv(t)
	e.ok(nil, "init")
	r := e.ok(nil, "backup", "n8n", "--project", s.Project, "--dry-run")
	for _, want := range []string{"sqlite ", "SQLite online copy of /home/node/.n8n/database.sqlite", "without database.sqlite"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("dry-run plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "postgres") || strings.Contains(r.stderr, "SQLite") || strings.Contains(r.stderr, "PostgreSQL") {
		t.Fatalf("dry-run of a SQLite stack:\n%s\n%s", r.stdout, r.stderr)
	}
	const runs = 10
	dir := t.TempDir()
	bad := 0
	var last int64
	for i := range runs {
		e.ok(nil, "backup", "n8n", "--project", s.Project)
		snaps := e.snapshots()
		id := snaps[len(snaps)-1].ID
		cp := filepath.Join(dir, fmt.Sprintf("snap-%d.sqlite", i))
		if err := os.WriteFile(cp, []byte(e.ok(nil, "dump", id, "sqlite").stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := consistentN8N(ctx, cp)
		if err != nil {
			bad++
			t.Errorf("snapshot %d: stored copy: %v", i, err)
		}
		if i > 0 && n <= last {
			t.Errorf("snapshot %d has %d executions, the one before %d: is the writer running?", i, n, last)
		}
		last = n
		for _, name := range tarNames(t, e.ok(nil, "dump", id, "n8n-data").stdout) {
			if strings.Contains(name, "database.sqlite") {
				t.Errorf("snapshot %d: the volume's tree holds %s", i, name)
			}
		}
	}
	// The same load, copied as a file of the volume tree would be.
	live := n8nDB(t, s)
	naiveBad, naiveRuns := 0, 0
	for naiveRuns < runs || naiveBad == 0 && naiveRuns < 100 {
		naiveRuns++
		cp := filepath.Join(dir, fmt.Sprintf("naive-%d.sqlite", naiveRuns))
		b, err := os.ReadFile(live)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := consistentN8N(ctx, cp); err != nil {
			naiveBad++
		}
		os.Remove(cp)
	}
	t.Logf("n8n on SQLite under load (%d executions at the end): snap copies inconsistent %d of %d; naive file copies inconsistent %d of %d", last, bad, runs, naiveBad, naiveRuns)
	if naiveBad == 0 {
		t.Fatalf("no naive copy of %d was torn: this test cannot tell a consistent copy from a torn one (is the stand-in writing?)", naiveRuns)
	}
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func owner(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d %04o", st.Uid, st.Gid, fi.Mode().Perm())
}

func setAside(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "database.sqlite.snap-old-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStackSQLiteRestore: restore puts n8n's database back with its owner
// and mode, sets the live file aside only when it differs, moves stale
// journals with it, and starts n8n again; the drill touches nothing.
func TestStackSQLiteRestore(t *testing.T) {
	s := teststack.Start(t, "snaptsqlr", "--db", "sqlite")
	ctx := context.Background()
	e := newEnv(t)
	e.ok(nil, "init")
	live := n8nDB(t, s)
	vol := filepath.Dir(live)
	want, err := consistentN8N(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	e.ok(nil, "backup", "n8n", "--project", s.Project)
	stored := filepath.Join(t.TempDir(), "stored.sqlite")
	os.WriteFile(stored, []byte(e.ok(nil, "dump", "latest", "sqlite").stdout), 0o600)
	hash := fileHash(t, stored)

	// Nothing changed: replaced by the same bytes, nothing set aside.
	r := e.ok(nil, "restore", "latest", "--yes")
	if !strings.Contains(r.stdout, "nothing set aside") || len(setAside(t, vol)) != 0 {
		t.Fatalf("restore of an unchanged database set something aside:\n%s", r.stdout)
	}
	if fileHash(t, live) != hash {
		t.Fatal("the restored file is not the stored copy")
	}

	// The drill opens the stored copy in scratch and touches nothing live.
	before, err := s.Docker.Inspect(ctx, s.Container("n8n"))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(vol)
	r = e.ok(nil, "verify", "--restore", "--project", s.Project)
	if !strings.Contains(r.stdout, "integrity_check ok, 8 tables as recorded") || !strings.Contains(r.stdout, "20 of 20 credentials decrypt") {
		t.Fatalf("verify --restore (the copy checked, and n8n's credentials decrypting with the snapshot's key):\n%s", r.stdout)
	}
	after, err := s.Docker.Inspect(ctx, s.Container("n8n"))
	if err != nil {
		t.Fatal(err)
	}
	if after.State.StartedAt != before.State.StartedAt || !after.State.Running {
		t.Errorf("verify --restore restarted n8n: %s, then %s", before.State.StartedAt, after.State.StartedAt)
	}
	if entries2, _ := os.ReadDir(vol); len(entries2) != len(entries) || fileHash(t, live) != hash {
		t.Errorf("verify --restore changed the volume: %d entries, then %d", len(entries), len(entries2))
	}

	// Disaster: executions deleted, the file's owner and mode changed, a
	// stale WAL and shared-memory file beside it.
	s.Exec("n8n", nil, "sqlite3", "/home/node/.n8n/database.sqlite", "DELETE FROM execution_data; DELETE FROM execution_entity;")
	err = s.Docker.Exec(ctx, s.Container("n8n"), docker.ExecOptions{User: "0", Cmd: []string{"sh", "-c",
		"cd /home/node/.n8n && echo junk > database.sqlite-wal && echo junk > database.sqlite-shm && chown 0:0 database.sqlite && chmod 600 database.sqlite && echo broken > config"}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.ok(nil, "restore", "latest", "--dry-run")
	if !strings.Contains(r.stdout, "the live file differs and would be kept as database.sqlite.snap-old-") {
		t.Errorf("restore --dry-run:\n%s", r.stdout)
	}
	r = e.ok(nil, "restore", "latest", "--yes")
	if got := owner(t, live); got != "1000:1000 0644" {
		t.Errorf("restored database: owner and mode %s, want 1000:1000 0644", got)
	}
	if fileHash(t, live) != hash {
		t.Error("restored database differs from the one backed up")
	}
	if n, err := consistentN8N(ctx, live); err != nil || n != want {
		t.Errorf("restored database: %d executions, %v; want %d", n, err, want)
	}
	for _, suf := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Lstat(live + suf); err == nil {
			t.Errorf("stale database.sqlite%s left beside the restored file", suf)
		}
	}
	aside := setAside(t, vol)
	if len(aside) != 3 || !strings.Contains(r.stdout, "kept as "+aside[0]) || !strings.Contains(r.stdout, "rm "+aside[0]+"*") {
		t.Errorf("set aside: %v\n%s", aside, r.stdout)
	}
	if b, _ := os.ReadFile(filepath.Join(vol, "config")); strings.Contains(string(b), "broken") {
		t.Error("the volume's config was not restored")
	}
	ins, err := s.Docker.Inspect(ctx, s.Container("n8n"))
	if err != nil || !ins.State.Running {
		t.Errorf("n8n is not running after the restore: %v", err)
	}
	if t.Failed() {
		t.Logf("restore output:\n%s", r.stdout)
	}
}
