package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMain makes new key slots cheap to open: scrypt at its default cost
// would dominate the tests' time.
func TestMain(m *testing.M) {
	slotWorkFactor = 10
	os.Exit(m.Run())
}

// env is a test's environment: a repository, a cache and a passphrase.
type env struct {
	t    *testing.T
	vars map[string]string
	dir  string
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	e := &env{t: t, dir: dir, vars: map[string]string{
		"SNAP_REPO":      filepath.Join(dir, "repo"),
		"SNAP_CACHE_DIR": filepath.Join(dir, "cache"),
		"SNAP_PASSWORD":  "correct horse",
	}}
	return e
}

type result struct {
	code           int
	stdout, stderr string
}

func (e *env) run(stdin io.Reader, args ...string) result {
	e.t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, stdin, &out, &errb, func(k string) string { return e.vars[k] })
	return result{code, out.String(), errb.String()}
}

func (e *env) ok(stdin io.Reader, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("snap %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

func (e *env) expect(code int, stdin io.Reader, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != code {
		e.t.Fatalf("snap %s: exit %d, want %d\nstdout: %.300s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

func randData(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

func (e *env) snapshots() []snapshotJSON {
	e.t.Helper()
	var out []snapshotJSON
	r := e.ok(nil, "snapshots", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		e.t.Fatalf("snapshots --json: %v\n%s", err, r.stdout)
	}
	return out
}

func TestBackupDumpRestore(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	data := randData(1, 3<<20)
	e.ok(bytes.NewReader(data), "backup", "--stdin", "--item", "db.sql", "--tag", "nightly", "--host", "web1", "--time", "2026-01-02 03:04:05")
	snaps := e.snapshots()
	if len(snaps) != 1 || snaps[0].Host != "web1" || len(snaps[0].Tags) != 1 || snaps[0].Items[0].Name != "db.sql" || snaps[0].Time.Year() != 2026 {
		t.Fatalf("snapshot: %+v", snaps)
	}
	// The documented JSON fields exist.
	raw := e.ok(nil, "snapshots", "--json").stdout
	for _, k := range []string{`"id"`, `"time"`, `"host"`, `"tags"`, `"items"`} {
		if !strings.Contains(raw, k) {
			t.Errorf("snapshots --json lacks %s", k)
		}
	}
	got := e.ok(nil, "dump", "latest", "db.sql").stdout
	if got != string(data) {
		t.Fatal("dump differs from what was backed up")
	}
	// A unique id prefix works wherever an id does.
	if got := e.ok(nil, "dump", snaps[0].ID[:6], "db.sql").stdout; got != string(data) {
		t.Fatal("dump by id prefix differs")
	}
	dst := filepath.Join(e.dir, "out")
	e.ok(nil, "restore", "latest", "--item", "db.sql", "--target", dst)
	if b, _ := os.ReadFile(filepath.Join(dst, "db.sql")); !bytes.Equal(b, data) {
		t.Fatal("restored stream differs")
	}
}

func TestBackupSeveralItems(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	src := filepath.Join(e.dir, "app")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, ".env"), []byte("KEY=1\n"), 0o600)
	os.WriteFile(filepath.Join(src, "sub", "f"), []byte("file"), 0o644)
	e.ok(strings.NewReader("from stdin"), "backup", "--stdin", "--command", "echo hello; echo world", "--item", "in", "--item", "cmd", src)
	s := e.snapshots()[0]
	if len(s.Items) != 3 || s.Items[0].Name != "in" || s.Items[1].Name != "cmd" || s.Items[2].Name != "app" {
		t.Fatalf("items: %+v", s.Items)
	}
	if got := e.ok(nil, "dump", "latest", "cmd").stdout; got != "hello\nworld\n" {
		t.Fatalf("command output: %q", got)
	}
	dst := filepath.Join(e.dir, "restored")
	e.ok(nil, "restore", "latest", "--item", "app", "--target", dst)
	fi, err := os.Stat(filepath.Join(dst, "app", ".env"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf(".env not restored with mode 0600: %v %v", fi, err)
	}
	ls := e.ok(nil, "ls", "latest", "app").stdout
	if !strings.Contains(ls, "app/sub/f") {
		t.Fatalf("ls: %s", ls)
	}
	tarOut := e.ok(nil, "dump", "latest", "app").stdout
	if !strings.Contains(tarOut, "app/sub/f") {
		t.Fatal("tar dump lacks a file")
	}
}

func TestExitCodes(t *testing.T) {
	e := newEnv(t)
	e.expect(ExitNoRepo, nil, "snapshots")
	e.expect(ExitUsage, nil, "backup", "--bogus-flag")
	e.expect(ExitUsage, nil, "nosuchcommand")
	e.ok(nil, "init")
	if r := e.expect(ExitFailure, nil, "init"); !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("second init: %s", r.stderr)
	}
	e.ok(strings.NewReader("x"), "backup", "--stdin")

	r := e.expect(ExitSource, nil, "backup", "--command", "echo partial; echo 'pg_dump: error: database \"nope\" does not exist' >&2; exit 1", "--item", "db")
	if !strings.Contains(r.stderr, `database "nope" does not exist`) || !strings.Contains(r.stderr, `"db"`) {
		t.Fatalf("failed command: stderr does not name the item and the tool's error: %s", r.stderr)
	}
	e.expect(ExitSource, nil, "backup", filepath.Join(e.dir, "missing"))
	if n := len(e.snapshots()); n != 1 {
		t.Fatalf("failed backups wrote snapshots: %d", n)
	}
	e.expect(ExitNotFound, nil, "dump", "latest", "nope")
	e.expect(ExitNotFound, nil, "dump", "ffffffff", "stdin")

	e.vars["SNAP_PASSWORD"] = "wrong"
	e.expect(ExitWrongKey, nil, "snapshots")
	e.vars["SNAP_PASSWORD"] = "correct horse"

	cfg := filepath.Join(e.vars["SNAP_REPO"], "config")
	orig, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(orig, []byte(`"snap_repository": 1`), []byte(`"snap_repository": 9`), 1), 0o644)
	r = e.expect(ExitVersion, nil, "snapshots")
	if !strings.Contains(r.stderr, "version 9") {
		t.Fatalf("version error does not say the version: %s", r.stderr)
	}
	os.WriteFile(cfg, orig, 0o644)

	snapDir := filepath.Join(e.vars["SNAP_REPO"], "snapshots")
	ents, _ := os.ReadDir(snapDir)
	p := filepath.Join(snapDir, ents[0].Name())
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o644)
	r = e.expect(ExitDamaged, nil, "snapshots")
	if !strings.Contains(r.stderr, ents[0].Name()) {
		t.Fatalf("damage error does not name the file: %s", r.stderr)
	}
}

func TestWriteOnlyKeyCLI(t *testing.T) {
	e := newEnv(t)
	full := filepath.Join(e.dir, "full.key")
	e.vars["SNAP_PASSWORD"] = ""
	e.ok(nil, "init", "--key-file", full)
	if fi, _ := os.Stat(full); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	wo := filepath.Join(e.dir, "host.key")
	out := e.ok(nil, "key", "export", "--write-only", "--key-file", full).stdout
	if strings.Contains(out, "AGE-SECRET-KEY") {
		t.Fatal("write-only export contains the data identity")
	}
	os.WriteFile(wo, []byte(out), 0o644)
	r := e.expect(ExitFailure, nil, "snapshots", "--key-file", wo)
	if !strings.Contains(r.stderr, "chmod 600") {
		t.Fatalf("world-readable key file accepted or unclear: %s", r.stderr)
	}
	os.Chmod(wo, 0o600)
	secret := "the secret payload"
	e.ok(strings.NewReader(secret), "backup", "--stdin", "--item", "s", "--key-file", wo)
	e.ok(nil, "snapshots", "--key-file", wo)
	e.ok(nil, "ls", "latest", "--key-file", wo)
	r = e.expect(ExitWriteOnly, nil, "dump", "latest", "s", "--key-file", wo)
	if r.stdout != "" || !strings.Contains(r.stderr, "cannot decrypt data") {
		t.Fatalf("write-only dump: stdout %q stderr %q", r.stdout, r.stderr)
	}
	e.expect(ExitWriteOnly, nil, "restore", "latest", "--target", filepath.Join(e.dir, "x"), "--key-file", wo)
	if got := e.ok(nil, "dump", "latest", "s", "--key-file", full).stdout; got != secret {
		t.Fatal("full key cannot read what the write-only key wrote")
	}
}

func TestKeyCommands(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	e.vars["SNAP_NEW_PASSWORD"] = "second"
	e.ok(nil, "key", "add")
	var keys []struct{ ID, Kind string }
	json.Unmarshal([]byte(e.ok(nil, "key", "list", "--json").stdout), &keys)
	if len(keys) != 2 {
		t.Fatalf("keys: %+v", keys)
	}
	e.vars["SNAP_PASSWORD"] = "second"
	e.ok(nil, "snapshots")
	e.vars["SNAP_NEW_PASSWORD"] = "third"
	e.ok(nil, "key", "passwd")
	e.expect(ExitWrongKey, nil, "snapshots") // "second" is gone
	e.vars["SNAP_PASSWORD"] = "third"
	e.ok(nil, "snapshots")
	e.vars["SNAP_PASSWORD"] = "correct horse"
	json.Unmarshal([]byte(e.ok(nil, "key", "list", "--json").stdout), &keys)
	// The slot in use is refused; the other one is removed.
	removed := 0
	for _, k := range keys {
		switch r := e.run(nil, "key", "remove", k.ID[:10]); r.code {
		case 0:
			removed++
		case ExitUsage:
		default:
			t.Fatalf("key remove: %d %s", r.code, r.stderr)
		}
	}
	if removed != 1 {
		t.Fatalf("removed %d keys, want 1", removed)
	}
	e.ok(nil, "snapshots")
}

// TestKeyExportOutput: --output writes 0600 whatever the umask, the key
// opens the repository, and an existing file is kept unless --force.
func TestKeyExportOutput(t *testing.T) {
	e := newEnv(t)
	full := filepath.Join(e.dir, "full.key")
	e.vars["SNAP_PASSWORD"] = ""
	e.ok(nil, "init", "--key-file", full)
	wo := filepath.Join(e.dir, "host.key")
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	e.ok(nil, "key", "export", "--write-only", "--key-file", full, "--output", wo)
	fi, err := os.Stat(wo)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("exported key: mode %v, err %v", fi.Mode().Perm(), err)
	}
	e.ok(strings.NewReader("x"), "backup", "--stdin", "--key-file", wo)
	before, _ := os.ReadFile(wo)
	r := e.expect(ExitUsage, nil, "key", "export", "--key-file", full, "--output", wo)
	if !strings.Contains(r.stderr, "already exists") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("overwrite without --force: %s", r.stderr)
	}
	if after, _ := os.ReadFile(wo); !bytes.Equal(before, after) {
		t.Fatal("existing key file changed without --force")
	}
	e.ok(nil, "key", "export", "--key-file", full, "--output", wo, "--force")
	if after, _ := os.ReadFile(wo); !strings.Contains(string(after), "AGE-SECRET-KEY") {
		t.Fatal("--force did not replace the file with the full key")
	}
}

// TestItemNamesOneLine: a name that would print across lines, or hide
// itself, is refused with what is allowed, and nothing is stored.
func TestItemNamesOneLine(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	for _, name := range []string{"a\nb", "x\x1b[2Jy", "\u202etxt.exe", " lead"} {
		r := e.expect(ExitUsage, strings.NewReader("data"), "backup", "--stdin", "--item", name)
		msg := strings.TrimSpace(r.stderr)
		if strings.ContainsAny(msg, "\n\x1b") || strings.Contains(msg, "\u202e") || !strings.Contains(msg, "invalid item name") || !strings.Contains(msg, "use letters") {
			t.Errorf("--item %q: %q", name, r.stderr)
		}
	}
	if n := len(e.snapshots()); n != 0 {
		t.Fatalf("%d snapshots stored with refused names", n)
	}
	e.ok(strings.NewReader("data"), "backup", "--stdin", "--item", "db dump.sql")
}
