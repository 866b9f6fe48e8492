package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"snap/internal/teststack"
	"snap/repo"
	"snap/sources"
	"snap/sources/sqlite"
	"snap/stack"
)

// stored is a stream item held in memory.
type stored struct {
	name string
	b    []byte
	meta map[string]string
}

func (s *stored) Name() string            { return s.name }
func (s *stored) Size() int64             { return int64(len(s.b)) }
func (s *stored) Meta() map[string]string { return s.meta }
func (s *stored) Open(context.Context) io.ReadCloser {
	return io.NopCloser(bytes.NewReader(s.b))
}
func (s *stored) Extract(context.Context, string) error { return errors.New("not a tree") }

func mkdb(t *testing.T, path string, sql ...string) {
	t.Helper()
	db, err := sqlite.OpenRW(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range sql {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(s, err)
		}
	}
}

func backup(t *testing.T, src *sqlite.Source) *stored {
	t.Helper()
	var buf bytes.Buffer
	extra, err := src.Stream(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	meta := src.Meta()
	for k, v := range extra {
		meta[k] = v
	}
	return &stored{name: "db", b: buf.Bytes(), meta: meta}
}

// scratchDirs counts the scratch directories of restores and drills.
func scratchDirs(t *testing.T) int {
	m, err := filepath.Glob(filepath.Join(os.TempDir(), "snap-sqlite-*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// A host file, through backup, drill and restore, without Docker.
func TestHostFile(t *testing.T) {
	defer func(n int) {
		if got := scratchDirs(t); got != n {
			t.Errorf("%d scratch directories left behind", got-n)
		}
	}(scratchDirs(t))
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "app.sqlite")
	mkdb(t, live, "CREATE TABLE a(x)", "CREATE TABLE b(y)", "INSERT INTO a VALUES(1)")
	os.Chmod(live, 0o640)
	src := sqlite.HostFile(live)
	st := backup(t, src)
	if m := st.meta; m["tables"] != "a,b" || m["table_count"] != "2" || m["journal_mode"] != "delete" || m["mode"] != "0640" || m["uid"] != "0" || m["file"] != live {
		t.Fatalf("meta %v", m)
	}
	if msg, err := src.Drill(ctx, st); err != nil || !strings.Contains(msg, "2 tables") {
		t.Fatalf("drill: %q %v", msg, err)
	}
	// Unchanged: nothing set aside.
	sw, _, err := src.Prepare(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := sw.Commit(ctx)
	if err != nil || !strings.Contains(msg, "nothing set aside") {
		t.Fatalf("commit: %q %v", msg, err)
	}
	// Changed, with a hot journal beside it: the journal goes aside with
	// the old file (else SQLite would roll it back into the new one).
	mkdb(t, live, "INSERT INTO a VALUES(2)")
	os.WriteFile(live+"-journal", []byte("hot"), 0o644)
	os.Chmod(live, 0o600)
	sw, _, err = src.Prepare(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err = sw.Commit(ctx); err != nil || !strings.Contains(msg, "kept as") {
		t.Fatalf("commit: %q %v", msg, err)
	}
	aside, _ := filepath.Glob(live + ".snap-old-*")
	if len(aside) != 2 || !strings.HasSuffix(aside[1], "-journal") {
		t.Fatalf("set aside: %v", aside)
	}
	if _, err := os.Stat(live + "-journal"); err == nil {
		t.Fatal("the stale journal stayed beside the new file")
	}
	if fi, _ := os.Stat(live); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want the recorded 0640", fi.Mode())
	}
	rep, err := sqlite.Check(ctx, live, true)
	if err != nil || rep.Rows["a"] != 1 {
		t.Fatalf("restored: %+v %v", rep, err)
	}
	if err := sw.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	// Changed again at once: a second set-aside, never over the first.
	mkdb(t, live, "INSERT INTO a VALUES(3)")
	if msg, err := src.Preview(ctx, st); err != nil || !strings.Contains(msg, "the live file differs") {
		t.Fatalf("preview: %q %v", msg, err)
	}
	if sw, _, err = src.Prepare(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err = sw.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if aside, _ = filepath.Glob(live + ".snap-old-*"); len(aside) != 3 {
		t.Fatalf("set aside after two restores: %v", aside)
	}
	if msg, err := src.Preview(ctx, st); err != nil || !strings.Contains(msg, "same data") {
		t.Fatalf("preview: %q %v", msg, err)
	}
	// A place the host cannot reach is named as such, with what to do.
	var buf bytes.Buffer
	if _, err := sqlite.HostFile("/nonexistent/snap/app.sqlite").Stream(ctx, &buf); !errors.Is(err, sqlite.ErrUnreachable) || !strings.Contains(err.Error(), "not with rootless or remote Docker") {
		t.Fatalf("unreachable: %v", err)
	}
	// A copy whose table list is not the recorded one is refused.
	bad := *st
	bad.meta = map[string]string{"tables": "a,b,c"}
	if _, err := src.Drill(ctx, &bad); !errors.Is(err, sqlite.ErrCorrupt) {
		t.Fatalf("drill of a copy missing a table: %v", err)
	}
}

// Reading a WAL database whose app is stopped creates its -wal and -shm;
// SQLite, run as root, gives them the database's owner, so the app (n8n:
// 1000) can open them again. A guard: if that ever changed, n8n would
// break after a backup.
func TestWALOwner(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "database.sqlite")
	mkdb(t, live, "PRAGMA journal_mode=WAL", "CREATE TABLE a(x)", "INSERT INTO a VALUES(1)")
	for _, f := range []string{dir, live} {
		if err := os.Chown(f, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := filepath.Glob(live + "-*"); len(m) != 0 {
		t.Fatalf("journal files after a clean close: %v", m)
	}
	st := backup(t, sqlite.HostFile(live))
	if st.meta["journal_mode"] != "wal" {
		t.Fatalf("journal mode %q", st.meta["journal_mode"])
	}
	m, _ := filepath.Glob(live + "-*")
	if len(m) == 0 {
		t.Fatal("the copy of a stopped WAL database left no -wal/-shm: this guard checks nothing (did SQLite change?)")
	}
	for _, f := range m {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if s := fi.Sys().(*syscall.Stat_t); s.Uid != 1000 || s.Gid != 1000 {
			t.Errorf("%s owned by %d:%d after the copy", f, s.Uid, s.Gid)
		}
	}
	t.Logf("left by the copy: %v", m)
}

// corrupt flips bytes in every few pages after the first two.
func corrupt(b []byte) []byte {
	b = bytes.Clone(b)
	for i := 8192; i+200 < len(b); i += 4096 * 3 {
		b[i+100] ^= 0xff
	}
	return b
}

type reader struct{ b []byte }

func (r reader) StreamItem(_ context.Context, _ *repo.Item, w io.Writer) (int64, error) {
	n, err := w.Write(r.b)
	return int64(n), err
}
func (r reader) WriteTar(context.Context, *repo.Item, io.Writer) error { return errors.New("no trees") }
func (r reader) RestoreTree(context.Context, *repo.Item, string) (*repo.RestoreStats, error) {
	return nil, errors.New("no trees")
}

type controller struct{ stopped []string }

func (c *controller) Stop(_ context.Context, id string) (bool, error) {
	c.stopped = append(c.stopped, id)
	return true, nil
}
func (c *controller) Start(context.Context, string) error { return nil }

// TestRestoreRefusesTornCopy: against n8n on SQLite, a stored copy that
// fails integrity_check is refused before any container is stopped, and
// the live database is left as it was.
func TestRestoreRefusesTornCopy(t *testing.T) {
	s := teststack.Start(t, "snaptsqlbad", "--db", "sqlite")
	ctx := context.Background()
	const path = "/home/node/.n8n/database.sqlite"
	src := sqlite.InContainer(s.Docker, s.Container("n8n"), path)
	host, err := src.HostPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A container path on no mount cannot be copied from the host.
	var buf bytes.Buffer
	if _, err := sqlite.InContainer(s.Docker, s.Container("n8n"), "/tmp/database.sqlite").Stream(ctx, &buf); err == nil || !strings.Contains(err.Error(), "no volume or bind mount") {
		t.Fatalf("stream of a file on no mount: %v", err)
	}
	if users, err := src.MustStop(ctx); err != nil || len(users) != 1 {
		t.Fatalf("users of the volume: %v %v", users, err)
	}
	good := backup(t, src)
	if good.meta["uid"] != "1000" || good.meta["gid"] != "1000" || good.meta["table_count"] != "8" {
		t.Fatalf("recorded %v", good.meta)
	}
	before, _ := os.ReadFile(host)
	fi, _ := os.Stat(host)
	bad := corrupt(good.b)
	meta := good.meta
	meta["source"] = sqlite.Kind
	snap := &repo.Snapshot{Items: []repo.Item{{Name: "sqlite", Kind: repo.KindStream, Size: int64(len(bad)), Meta: meta}}}
	plan := &sources.Plan{Project: s.Project, Apps: []sources.App{{Container: s.Container("n8n"), Role: "main"}},
		Items: []*sources.PlanItem{{Name: "sqlite", Source: src}}}
	c := &controller{}
	err = stack.Restore(ctx, reader{bad}, plan, snap, []*repo.Item{&snap.Items[0]}, stack.RestoreOptions{Containers: c})
	if !errors.Is(err, sqlite.ErrCorrupt) || !strings.Contains(err.Error(), "the live database was not touched") {
		t.Fatalf("restore of a torn copy: %v", err)
	}
	if len(c.stopped) != 0 {
		t.Fatalf("containers stopped before the copy was proven: %v", c.stopped)
	}
	after, _ := os.ReadFile(host)
	fi2, _ := os.Stat(host)
	if !bytes.Equal(before, after) || fi2.Sys().(*syscall.Stat_t).Ino != fi.Sys().(*syscall.Stat_t).Ino {
		t.Fatal("the live database changed")
	}
	if m, _ := filepath.Glob(host + ".*"); len(m) != 0 {
		t.Fatalf("left beside the live database: %v", m)
	}
	// The good copy goes through: the container is stopped for it.
	err = stack.Restore(ctx, reader{good.b}, plan, snap, []*repo.Item{{Name: "sqlite", Kind: repo.KindStream, Size: int64(len(good.b)), Meta: meta}}, stack.RestoreOptions{Containers: c})
	if err != nil || len(c.stopped) == 0 {
		t.Fatalf("restore of the good copy: %v, stopped %v", err, c.stopped)
	}
}
