package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"snap/internal/testgw"
	"snap/internal/teststack"
	"snap/repo/backend"
	"snap/repo/backend/s3"
)

// lockedEnv is a repository in a fresh bucket of a versitygw with
// versioning, made by 'snap init --object-lock' with a full key file, and
// the write-only key the backup host holds.
type lockedEnv struct {
	*env
	gw       *testgw.Server
	bucket   string
	prefix   string
	full     string // the full key file (kept offline)
	hostKey  string // the write-only key file (on the host)
	location string
}

func newLockedEnv(t *testing.T, mode string) *lockedEnv {
	gw := testgw.StartWith(t, testgw.Options{Versioning: true})
	gw.SetEnv(t)
	e := &lockedEnv{env: newEnv(t), gw: gw, bucket: testgw.Bucket(), prefix: "n8n"}
	e.location = gw.URL(e.bucket + "/" + e.prefix)
	e.vars["SNAP_REPO"] = e.location
	e.vars["SNAP_PASSWORD"] = ""
	e.full = filepath.Join(e.dir, "full.key")
	e.hostKey = filepath.Join(e.dir, "host.key")
	out := e.ok(nil, "init", "--key-file", e.full, "--object-lock", "30d", "--object-lock-mode", mode).stdout
	if !strings.Contains(out, "locked for 30 days ("+mode+" mode)") {
		t.Fatalf("init --object-lock says: %s", out)
	}
	e.ok(nil, "key", "export", "--write-only", "--key-file", e.full, "--output", e.hostKey)
	e.vars["SNAP_KEY_FILE"] = e.hostKey // what the host runs with
	return e
}

// bucket opens the bucket as the host's S3 credentials do: what an
// attacker who owns the host can do with them.
func (e *lockedEnv) store(t *testing.T) *s3.S3 {
	be, err := s3.Open(context.Background(), s3.Config{Endpoint: e.gw.Endpoint, Bucket: e.bucket, Prefix: e.prefix, Name: e.location}, false)
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// treeSum is every file's path, mode and content hash under dir.
func treeSum(t *testing.T, dir string) map[string]string {
	t.Helper()
	sum := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			v += " " + hex.EncodeToString(h[:])
		}
		sum[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func sameSums(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s is %q, want %q", what, k, got[k], v)
		}
	}
}

// nextSecond waits until the wall clock enters the next second and returns
// the last millisecond of the second before: a time after every version
// written so far and before every one written next, on a store that
// timestamps versions to the second. It waits for the clock, it
// synchronises nothing.
func nextSecond() time.Time {
	next := time.Now().Truncate(time.Second).Add(time.Second)
	for time.Now().Before(next) {
		time.Sleep(20 * time.Millisecond)
	}
	return next.Add(-time.Millisecond)
}

// TestObjectLockAttack is the ransomware story on a real S3 server: the
// host backs up into a bucket under Object Lock (compliance mode) with a
// write-only key and its S3 credentials. An attacker who owns the host
// uses both: writes a bogus snapshot, overwrites every snapshot with
// garbage, deletes every object, then tries to delete every stored
// version for good. The attacker could not read the backups (write-only
// key), and now cannot destroy them: with the full key, the repository as
// of a time before the attack lists the real snapshots, restores them
// byte-exact, and copies to a disk that checks clean.
func TestObjectLockAttack(t *testing.T) {
	e := newLockedEnv(t, backend.ModeCompliance)
	logf := func(format string, a ...any) { t.Logf(format, a...) }
	host := func(args ...string) result { return e.ok(nil, append(args, "--key-file", e.hostKey)...) }

	// Two nights of backups by the host, with the write-only key.
	db := randData(21, 3<<20)
	src := filepath.Join(e.dir, "n8n-data")
	os.MkdirAll(filepath.Join(src, "binaryData"), 0o755)
	os.WriteFile(filepath.Join(src, "config"), []byte(`{"encryptionKey":"k"}`), 0o600)
	os.WriteFile(filepath.Join(src, "binaryData", "blob"), randData(22, 600<<10), 0o644)
	e.ok(bytes.NewReader(db), "backup", "--stdin", "--item", "db.sql", "--host", "web1", "--time", "2026-11-29 02:00:00")
	db2 := append(append([]byte{}, db...), randData(23, 1<<20)...)
	e.ok(bytes.NewReader(db2), "backup", "--stdin", "--item", "db.sql", "--host", "web1", "--time", "2026-11-30 02:00:00")
	host("backup", src, "--host", "web1", "--time", "2026-11-30 02:00:05")
	good := e.snapshots()
	before := map[string]bool{}
	for _, s := range good {
		before[s.ID] = true
	}
	wantTree := treeSum(t, src)
	logf("before the attack: %d snapshots: %s", len(good), strings.TrimSpace(host("snapshots").stdout))
	// The host cannot read back what it backed up.
	if r := e.run(nil, "dump", "latest", "db.sql", "--key-file", e.hostKey); r.code != ExitWriteOnly {
		t.Fatalf("the write-only key read data: exit %d", r.code)
	}
	at := nextSecond()

	// The attack, with the host's S3 credentials and write-only key.
	e.ok(strings.NewReader("PAY 1 BTC TO GET YOUR DATA BACK"), "backup", "--stdin", "--item", "db.sql", "--host", "web1", "--key-file", e.hostKey)
	store := e.store(t)
	ctx := context.Background()
	var names []string
	if err := store.List(ctx, backend.SnapshotFile, func(fi backend.FileInfo) error { names = append(names, fi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := store.Save(ctx, backend.Handle{Type: backend.SnapshotFile, Name: n}, backend.NewByteReader([]byte("garbage"))); err != nil {
			t.Fatalf("overwrite snapshot %s: %v", n, err)
		}
	}
	var all []backend.Version
	if err := store.Versions(ctx, func(v backend.Version) error { all = append(all, v); return nil }); err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, v := range all {
		if v.Latest && !v.DeleteMarker {
			if err := store.Remove(ctx, v.Handle); err != nil {
				t.Fatalf("delete %v: %v", v.Handle, err)
			}
			deleted++
		}
	}
	// Then every stored version for good (not the delete markers, whose
	// removal would bring the versions they hide back): only what no
	// lock holds goes.
	all = all[:0]
	if err := store.Versions(ctx, func(v backend.Version) error {
		if !v.DeleteMarker {
			all = append(all, v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var refused, gone int
	var firstRefusal error
	for _, v := range all {
		err := store.RemoveVersion(ctx, v)
		switch {
		case errors.Is(err, backend.ErrLocked):
			refused++
			if firstRefusal == nil {
				firstRefusal = err
			}
		case err == nil:
			gone++
		default:
			t.Fatalf("delete version %s of %v: %v", v.ID, v.Handle, err)
		}
	}
	logf("attack: wrote a bogus snapshot, overwrote %d snapshots with garbage, deleted %d objects (delete markers)", len(names), deleted)
	logf("attack: deleting all %d stored versions for good: %d deleted (the garbage and lock files: nothing locks them), %d refused by the server", len(all), gone, refused)
	logf("attack: first refusal: %v", firstRefusal)
	if refused == 0 {
		t.Fatal("no version was protected")
	}

	// The host's view now: no repository.
	r := e.run(nil, "snapshots", "--key-file", e.full)
	logf("after the attack, snap snapshots: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
	if r.code != ExitNoRepo {
		t.Fatalf("after the attack: exit %d, want %d (no repository)", r.code, ExitNoRepo)
	}

	// Recovery with the full key: the repository as it was.
	asOf := at.Format(time.RFC3339Nano)
	r = e.ok(nil, "snapshots", "--as-of", asOf, "--key-file", e.full)
	logf("snap snapshots --as-of %s:\n%s", asOf, r.stdout)
	var then []snapshotJSON
	e.vars["SNAP_KEY_FILE"] = e.full // brought from where it is kept
	if err := jsonOut(e.ok(nil, "snapshots", "--as-of", asOf, "--json").stdout, &then); err != nil {
		t.Fatal(err)
	}
	if len(then) != len(good) {
		t.Fatalf("as of %s: %d snapshots, want %d", asOf, len(then), len(good))
	}
	for _, s := range then {
		if !before[s.ID] {
			t.Fatalf("as of %s: snapshot %s was not there before the attack", asOf, s.ID)
		}
	}
	dst := filepath.Join(e.dir, "restored")
	r = e.ok(nil, "restore", good[1].ID, "--as-of", asOf, "--target", dst)
	logf("snap restore %s --as-of %s --target DIR: %s", good[1].ID[:8], asOf, strings.TrimSpace(r.stdout))
	if b, err := os.ReadFile(filepath.Join(dst, "db.sql")); err != nil || !bytes.Equal(b, db2) {
		t.Fatalf("restored db.sql differs from the backup (%d bytes, %v)", len(b), err)
	}
	e.ok(nil, "restore", "latest", "--as-of", asOf, "--target", dst)
	sameSums(t, "restored tree", wantTree, treeSum(t, filepath.Join(dst, "n8n-data")))
	if got := e.ok(nil, "dump", good[0].ID, "db.sql", "--as-of", asOf).stdout; got != string(db) {
		t.Fatal("dump --as-of of the first night differs")
	}

	// Restore day: the repository as it was, copied to a disk.
	disk := filepath.Join(e.dir, "disk")
	os.Mkdir(disk, 0o700)
	r = e.ok(nil, "sync", "--as-of", asOf, disk)
	logf("snap sync --as-of %s DIR: %s", asOf, strings.TrimSpace(r.stdout))
	e.vars["SNAP_REPO"] = disk
	r = e.ok(nil, "check", "--read-data")
	logf("snap check --read-data of the copy: %s", lastLine(r.stdout))
	if got := e.ok(nil, "dump", good[1].ID, "db.sql").stdout; got != string(db2) {
		t.Fatal("dump from the disk copy differs")
	}
	if n := len(e.snapshots()); n != len(good) {
		t.Fatalf("disk copy: %d snapshots, want %d", n, len(good))
	}
}

func jsonOut(s string, v any) error {
	return json.Unmarshal([]byte(s), v)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestAsOfRefusals: --as-of needs a versioned bucket, a time it can read,
// not in the future; commands that write do not take it.
func TestAsOfRefusals(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	r := e.expect(ExitUsage, nil, "snapshots", "--as-of", "2026-01-01 02:00")
	if !strings.Contains(r.stderr, "versioned bucket") {
		t.Fatalf("--as-of on a directory: %s", r.stderr)
	}
	r = e.expect(ExitUsage, nil, "snapshots", "--as-of", "yesterday")
	if !strings.Contains(r.stderr, "RFC 3339") || !strings.Contains(r.stderr, "2026-12-01 02:00") {
		t.Fatalf("a bad --as-of does not say what is accepted: %s", r.stderr)
	}
	for _, args := range [][]string{{"backup", "--stdin"}, {"prune"}, {"forget", "--keep-last", "1"}} {
		if r := e.run(strings.NewReader("x"), append(args, "--as-of", "2026-01-01")...); r.code != ExitUsage {
			t.Errorf("snap %s --as-of: exit %d", args[0], r.code)
		}
	}
	r = e.expect(ExitUsage, nil, "snapshots", "--as-of", time.Now().Add(time.Hour).Format(time.RFC3339))
	if !strings.Contains(r.stderr, "future") {
		t.Fatalf("--as-of in the future: %s", r.stderr)
	}
}

func TestParseAsOf(t *testing.T) {
	local := func(y, mo, d, h, mi, s int) time.Time {
		return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.Local)
	}
	for in, want := range map[string]time.Time{
		"2026-12-01T02:00:00Z":      time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC),
		"2026-12-01T02:00:00+01:00": time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC),
		"2026-12-01T02:00:00.5Z":    time.Date(2026, 12, 1, 2, 0, 0, 5e8, time.UTC),
		"2026-12-01 02:00":          local(2026, 12, 1, 2, 0, 0),
		"2026-12-01 02:00:30":       local(2026, 12, 1, 2, 0, 30),
		"2026-12-01T02:00":          local(2026, 12, 1, 2, 0, 0),
		"2026-12-01":                local(2026, 12, 1, 0, 0, 0),
		" 2026-12-01 02:00 ":        local(2026, 12, 1, 2, 0, 0),
	} {
		got, err := parseAsOf(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseAsOf(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2026-13-01", "01/12/2026 02:00", "2026-12-01 2:00pm"} {
		if _, err := parseAsOf(in); err == nil {
			t.Errorf("parseAsOf(%q) accepted", in)
		}
	}
	for in, want := range map[string]int{"30d": 30, "1d": 1, "36500d": 36500} {
		if got, err := parseLockPeriod(in); err != nil || got != want {
			t.Errorf("parseLockPeriod(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"30", "0d", "-1d", "36501d", "4w", "1y", "d", "30 d"} {
		if _, err := parseLockPeriod(in); err == nil {
			t.Errorf("parseLockPeriod(%q) accepted", in)
		}
	}
}

// TestObjectLockForgetPrune: with the clock moved forward, forget extends
// the locks of what the kept snapshot needs and of nothing else; prune
// then deletes for good the versions whose lock has run out on the
// server, keeps those still locked and says until when, and a delete the
// server refuses (snap's clock ahead of the server's) is counted as
// locked, not as a failure.
func TestObjectLockForgetPrune(t *testing.T) {
	day := 24 * time.Hour
	base := time.Now().Truncate(time.Second)
	clock := base.Add(-30*day + 12*time.Second) // X's locks end 12 s from now
	now = func() time.Time { return clock }
	t.Cleanup(func() { now = time.Now })
	e := newLockedEnv(t, backend.ModeGovernance)
	store := e.store(t)
	ctx := context.Background()

	// Three snapshots of different sizes: X (1 MiB) with a lock ending
	// in seconds, K (2 MiB, kept) and F (3 MiB, forgotten) locked for 30
	// days.
	backup := func(seed uint64, n int) string { // the new snapshot's id
		had := map[string]bool{}
		for _, s := range e.snapshots() {
			had[s.ID] = true
		}
		e.ok(bytes.NewReader(randData(seed, n)), "backup", "--stdin", "--item", "db.sql")
		for _, s := range e.snapshots() {
			if !had[s.ID] {
				return s.ID
			}
		}
		t.Fatal("backup wrote no snapshot")
		return ""
	}
	x := backup(31, 1<<20)
	clock = base
	k := backup(32, 2<<20)
	f := backup(33, 3<<20)
	owner := func(size int64) string { // whose pack a pack is, by its size
		switch {
		case size > 2<<20+1<<19:
			return "F"
		case size > 1<<20+1<<19:
			return "K"
		case size > 1<<19:
			return "X"
		}
		return "?"
	}
	// dates lists the lock dates of the stored versions of packs and
	// snapshot files, by owner.
	type ver struct {
		what   string
		latest bool
		until  time.Time
	}
	dates := func() []ver {
		var out []ver
		err := store.Versions(ctx, func(v backend.Version) error {
			if v.DeleteMarker || (v.Handle.Type != backend.PackFile && v.Handle.Type != backend.SnapshotFile) {
				return nil
			}
			r, err := store.Retention(ctx, v.Handle, v.ID)
			if err != nil {
				return err
			}
			what := map[string]string{x: "X", k: "K", f: "F"}[v.Handle.Name]
			if v.Handle.Type == backend.PackFile {
				what = owner(v.Size)
			}
			out = append(out, ver{what + " " + string(v.Handle.Type), v.Latest, r.Until})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	clock = base.Add(20 * day)
	out := e.ok(nil, "forget", x, f).stdout
	t.Logf("snap forget X F, 20 days later:\n%s", out)
	if !strings.Contains(out, "forget: object locks:") {
		t.Fatalf("forget says nothing of the locks:\n%s", out)
	}
	extended := base.Add(50 * day)
	for _, v := range dates() {
		want := base.Add(30 * day) // F's: not extended
		switch v.what[0] {
		case 'K':
			want = extended
		case 'X':
			want = base.Add(12 * time.Second)
		}
		if !v.until.Equal(want) {
			t.Errorf("%s (current %v): locked until %v, want %v", v.what, v.latest, v.until, want)
		}
	}

	// Wait for the server's clock to pass X's locks: what is tested is
	// that the server lets them go.
	for time.Now().Before(base.Add(13 * time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}
	// snap's clock says F's locks have run out too; the server's says
	// they have not, and refuses.
	clock = base.Add(31 * day)
	pr := e.ok(nil, "prune")
	out = pr.stdout
	t.Logf("snap prune, 31 days later (by snap's clock):\n%s%s", out, pr.stderr)
	first := base.Add(30 * day).Local().Format("2006-01-02 15:04")
	if !strings.Contains(out, "stay stored until their locks run out: the first on "+first) {
		t.Errorf("prune does not say what it waits for (first on %s):\n%s", first, out)
	}
	var freed, locked int
	m := regexp.MustCompile(`prune: deleted (\d+) earlier versions.*\n.*prune: (\d+) earlier versions`).FindStringSubmatch(out)
	if m != nil {
		freed, _ = strconv.Atoi(m[1])
		locked, _ = strconv.Atoi(m[2])
	}
	if freed < 3 || locked != 3 {
		t.Errorf("prune deleted %d earlier versions, want X's pack, snapshot and index at least; kept %d locked, want F's 3:\n%s", freed, locked, out)
	}
	for _, v := range dates() {
		switch {
		case v.what[0] == 'X':
			t.Errorf("%s is still stored after its lock ran out", v.what)
		case v.what[0] == 'K' && (!v.latest || !v.until.Equal(extended)):
			t.Errorf("%s: current %v, locked until %v", v.what, v.latest, v.until)
		case v.what[0] == 'F' && (v.latest || !v.until.Equal(base.Add(30*day))):
			t.Errorf("%s: current %v, locked until %v", v.what, v.latest, v.until)
		}
	}
	if got := e.ok(nil, "dump", k, "db.sql", "--key-file", e.full).stdout; got != string(randData(32, 2<<20)) {
		t.Fatal("the kept snapshot does not read back after prune")
	}
}

// TestObjectLockSyncAndInit: init --object-lock refuses a bucket without
// Object Lock; a local repository records the setting, and its sync makes
// the bucket with Object Lock, locks every file it copies there and, on a
// later sync, extends the locks of what both sides have.
func TestObjectLockSyncAndInit(t *testing.T) {
	gw := testgw.StartWith(t, testgw.Options{Versioning: true})
	gw.SetEnv(t)
	e := newEnv(t)
	plain := testgw.Bucket()
	e.vars["SNAP_REPO"] = gw.URL(plain)
	e.ok(nil, "init")
	e.vars["SNAP_REPO"] = gw.URL(plain + "/other")
	r := e.expect(ExitFailure, nil, "init", "--object-lock", "30d")
	t.Logf("init --object-lock on a plain bucket: %s", r.stderr)
	if !strings.Contains(r.stderr, "has no versioning") || !strings.Contains(r.stderr, "hint: 'snap init --object-lock 30d' makes a new bucket") {
		t.Fatalf("init --object-lock on a plain bucket: %s", r.stderr)
	}
	e.expect(ExitUsage, nil, "init", "--object-lock", "30d", "--object-lock-mode", "strict")

	day := 24 * time.Hour
	base := time.Now().Truncate(time.Second)
	clock := base
	now = func() time.Time { return clock }
	t.Cleanup(func() { now = time.Now })
	e.vars["SNAP_REPO"] = filepath.Join(e.dir, "local")
	out := e.ok(nil, "init", "--object-lock", "10d", "--object-lock-mode", "compliance").stdout
	if !strings.Contains(out, "recorded: it applies in the S3 buckets this repository is synced to") {
		t.Fatalf("init --object-lock on a directory: %s", out)
	}
	e.ok(bytes.NewReader(randData(41, 1<<20)), "backup", "--stdin", "--item", "db.sql")
	bucket := testgw.Bucket()
	dest := gw.URL(bucket + "/offsite")
	e.ok(nil, "sync", dest)
	be, err := s3.Open(context.Background(), s3.Config{Endpoint: gw.Endpoint, Bucket: bucket, Prefix: "offsite"}, false)
	if err != nil {
		t.Fatal(err)
	}
	until := func() map[string]time.Time {
		got := map[string]time.Time{}
		for _, ty := range []backend.FileType{backend.ConfigFile, backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile} {
			err := be.List(context.Background(), ty, func(fi backend.FileInfo) error {
				h := backend.Handle{Type: ty, Name: fi.Name}
				r, err := be.Retention(context.Background(), h, "")
				if err != nil {
					return err
				}
				if r.Mode != backend.ModeCompliance {
					t.Errorf("%v: lock mode %q", h, r.Mode)
				}
				got[h.String()] = r.Until
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	first := until()
	if len(first) < 5 {
		t.Fatalf("synced files: %v", first)
	}
	for h, u := range first {
		if !u.Equal(base.Add(10 * day)) {
			t.Errorf("%s locked until %v, want %v", h, u, base.Add(10*day))
		}
	}
	// Six days later (less than half the period left) the next sync
	// copies a new snapshot and extends what the bucket had.
	clock = base.Add(6 * day)
	e.ok(bytes.NewReader(randData(42, 1<<20)), "backup", "--stdin", "--item", "db.sql")
	out = e.ok(nil, "sync", dest).stdout
	t.Logf("second sync:\n%s", out)
	if !strings.Contains(out, "sync: object locks:") {
		t.Fatalf("sync says nothing of the locks: %s", out)
	}
	for h, u := range until() {
		if !u.Equal(base.Add(16 * day)) {
			t.Errorf("after the second sync %s is locked until %v, want %v", h, u, base.Add(16*day))
		}
	}
}

// TestObjectLockStackRestore: the whole n8n stack, backed up by the host
// into a bucket under Object Lock with its write-only key, is deleted from
// the bucket by an attacker with the host's credentials and wrecked on the
// host; 'snap restore latest --as-of TIME --yes' with the full key puts
// every part back as it was.
func TestObjectLockStackRestore(t *testing.T) {
	s := teststack.Start(t, "snaptlock")
	e := newLockedEnv(t, backend.ModeCompliance)
	before := fingerprint(t, s)
	e.ok(nil, "backup", "n8n", "--project", s.Project)
	at := nextSecond()

	store := e.store(t)
	ctx := context.Background()
	var current []backend.Handle
	if err := store.Versions(ctx, func(v backend.Version) error {
		if v.Latest && !v.DeleteMarker {
			current = append(current, v.Handle)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, h := range current {
		if err := store.Remove(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	s.Psql(`drop table execution_entity cascade`)
	s.Redis("flushall")
	os.Remove(filepath.Join(s.Dir, ".env"))
	e.expect(ExitNoRepo, nil, "snapshots", "--key-file", e.full)

	asOf := at.Format(time.RFC3339Nano)
	r := e.ok(nil, "restore", "latest", "--as-of", asOf, "--yes", "--key-file", e.full)
	t.Logf("attacker deleted %d objects; snap restore latest --as-of %s --yes:\n%s", len(current), asOf, r.stdout)
	after := fingerprint(t, s)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("after restore %s differs:\n want %s\n  got %s", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("after restore: %d entries, want %d", len(after), len(before))
	}
}
