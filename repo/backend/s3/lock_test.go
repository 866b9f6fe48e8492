package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"snap/internal/testgw"
	"snap/repo/backend"
	"snap/repo/backend/s3"
)

var packName = "ab" + strings.Repeat("0", 62)

func lockedBackend(t *testing.T, gw *testgw.Server, bucket string, mode string, now func() time.Time) *s3.S3 {
	t.Helper()
	be := open(t, gw, bucket, "repo", false)
	if err := be.PrepareObjectLock(context.Background()); err != nil {
		t.Fatal(err)
	}
	be.LockWrites(backend.ObjectLock{Mode: mode, Period: 30 * 24 * time.Hour, Now: now,
		Types: []backend.FileType{backend.ConfigFile, backend.PackFile, backend.SnapshotFile}})
	return be
}

func save(t *testing.T, be backend.Backend, h backend.Handle, body string) {
	t.Helper()
	if err := be.Save(context.Background(), h, backend.NewByteReader([]byte(body))); err != nil {
		t.Fatal(err)
	}
}

func versions(t *testing.T, be *s3.S3, h backend.Handle) []backend.Version {
	t.Helper()
	var out []backend.Version
	err := be.Versions(context.Background(), func(v backend.Version) error {
		if v.Handle == h {
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestObjectLock: on a real server, every write of a locked type carries
// the retention asked for (and lock files none); a delete only adds a
// delete marker; deleting the locked version for good is refused by the
// server and reported as a LockedError with the date; the date moves
// forward with ExtendRetention, also as read for a noncurrent version.
func TestObjectLock(t *testing.T) {
	gw := testgw.StartWith(t, testgw.Options{Versioning: true})
	gw.SetEnv(t)
	ctx := context.Background()
	clock := time.Now().Add(time.Hour).Truncate(time.Second)
	be := lockedBackend(t, gw, testgw.Bucket(), backend.ModeCompliance, func() time.Time { return clock })

	pack := backend.Handle{Type: backend.PackFile, Name: packName}
	lockf := backend.Handle{Type: backend.LockFile, Name: "l1"}
	save(t, be, pack, "pack bytes")
	save(t, be, lockf, "lock")
	want := clock.Add(30 * 24 * time.Hour)
	r, err := be.Retention(ctx, pack, "")
	if err != nil || r.Mode != backend.ModeCompliance || !r.Until.Equal(want) {
		t.Fatalf("retention of a pack: %+v %v, want compliance until %v", r, err, want)
	}
	if r, err := be.Retention(ctx, lockf, ""); err != nil || !r.Until.IsZero() {
		t.Fatalf("a lock file is locked: %+v %v", r, err)
	}

	if err := be.Remove(ctx, pack); err != nil {
		t.Fatal(err)
	}
	if _, err := be.Stat(ctx, pack); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("a removed pack is still there: %v", err)
	}
	vs := versions(t, be, pack)
	if len(vs) != 2 || !vs[0].DeleteMarker || !vs[0].Latest || vs[1].DeleteMarker || vs[1].Latest || vs[1].Size != int64(len("pack bytes")) {
		t.Fatalf("versions after a delete: %+v", vs)
	}
	old := vs[1]
	err = be.RemoveVersion(ctx, old)
	var le *backend.LockedError
	if !errors.As(err, &le) || !errors.Is(err, backend.ErrLocked) || !le.Until.Equal(want) || le.Mode != backend.ModeCompliance {
		t.Fatalf("deleting the locked version: %v", err)
	}
	if !strings.Contains(err.Error(), "object lock until") || !strings.Contains(err.Error(), "refuses to delete") {
		t.Fatalf("the refusal does not say why: %v", err)
	}
	t.Logf("refused: %v", err)
	if len(versions(t, be, pack)) != 2 {
		t.Fatal("the locked version is gone")
	}
	if r, err := be.Retention(ctx, pack, old.ID); err != nil || !r.Until.Equal(want) {
		t.Fatalf("retention of the noncurrent version: %+v %v", r, err)
	}

	// ExtendRetention moves the current version's date.
	save(t, be, pack, "pack bytes")
	later := want.Add(10 * 24 * time.Hour)
	if err := be.ExtendRetention(ctx, pack, later); err != nil {
		t.Fatal(err)
	}
	if r, err := be.Retention(ctx, pack, ""); err != nil || !r.Until.Equal(later) {
		t.Fatalf("after extending: %+v %v, want %v", r, err, later)
	}
	// The lock file's versions are not locked: they go for good.
	if err := be.Remove(ctx, lockf); err != nil {
		t.Fatal(err)
	}
	for _, v := range versions(t, be, lockf) {
		if err := be.RemoveVersion(ctx, v); err != nil {
			t.Fatalf("removing an unlocked version: %v", err)
		}
	}
	if vs := versions(t, be, lockf); len(vs) != 0 {
		t.Fatalf("lock file versions left: %+v", vs)
	}
}

// TestObjectLockRefusesPlainBuckets: a bucket without versioning, or
// versioned without Object Lock, is refused with a message that says so,
// by PrepareObjectLock and by the first locked write.
func TestObjectLockRefusesPlainBuckets(t *testing.T) {
	gw := testgw.StartWith(t, testgw.Options{Versioning: true})
	gw.SetEnv(t)
	ctx := context.Background()
	plain := testgw.Bucket()
	be := open(t, gw, plain, "", true)
	err := be.PrepareObjectLock(ctx)
	if !errors.Is(err, s3.ErrNoObjectLock) || !strings.Contains(err.Error(), "no versioning") || !strings.Contains(err.Error(), plain) {
		t.Fatalf("a plain bucket: %v", err)
	}
	t.Logf("plain bucket: %v", err)
	be.LockWrites(backend.ObjectLock{Mode: backend.ModeGovernance, Period: time.Hour, Types: []backend.FileType{backend.PackFile}})
	err = be.Save(ctx, backend.Handle{Type: backend.PackFile, Name: packName}, backend.NewByteReader([]byte("x")))
	if !errors.Is(err, s3.ErrNoObjectLock) {
		t.Fatalf("a locked write into a plain bucket: %v", err)
	}
	if _, err := be.AsOf(ctx, time.Now()); !errors.Is(err, s3.ErrNotVersioned) {
		t.Fatalf("AsOf of a plain bucket: %v", err)
	}
}

// TestAsOf: the view shows each file as it was at the time: deleted files
// are there, overwritten ones read their old bytes, files written later
// are absent; it refuses writes.
func TestAsOf(t *testing.T) {
	gw := testgw.StartWith(t, testgw.Options{Versioning: true})
	gw.SetEnv(t)
	ctx := context.Background()
	be := lockedBackend(t, gw, testgw.Bucket(), backend.ModeGovernance, time.Now)
	cfg := backend.Handle{Type: backend.ConfigFile}
	snap := backend.Handle{Type: backend.SnapshotFile, Name: "s1"}
	pack := backend.Handle{Type: backend.PackFile, Name: packName}
	save(t, be, cfg, "config v1")
	save(t, be, snap, "snapshot one")
	save(t, be, pack, "0123456789")
	at := nextSecond()
	// Then: everything deleted, the snapshot overwritten, a new one.
	save(t, be, snap, "garbage garbage garbage")
	for _, h := range []backend.Handle{cfg, pack} {
		if err := be.Remove(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	bogus := backend.Handle{Type: backend.SnapshotFile, Name: "s2"}
	save(t, be, bogus, "bogus")

	v, err := be.AsOf(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	read := func(h backend.Handle, off, n int64) string {
		rd, err := v.Open(ctx, h, off, n)
		if err != nil {
			t.Fatalf("open %v: %v", h, err)
		}
		defer rd.Close()
		b, err := io.ReadAll(rd)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(cfg, 0, 0); got != "config v1" {
		t.Fatalf("config as of then: %q", got)
	}
	if got := read(snap, 0, 0); got != "snapshot one" {
		t.Fatalf("snapshot as of then: %q", got)
	}
	if got := read(pack, 3, 4); got != "3456" {
		t.Fatalf("a range of a deleted pack: %q", got)
	}
	var names []string
	if err := v.List(ctx, backend.SnapshotFile, func(fi backend.FileInfo) error {
		names = append(names, fi.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "s1" {
		t.Fatalf("snapshots as of then: %v", names)
	}
	if fi, err := v.Stat(ctx, snap); err != nil || fi.Size != int64(len("snapshot one")) {
		t.Fatalf("stat: %+v %v", fi, err)
	}
	if _, err := v.Stat(ctx, bogus); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("a later file is in the view: %v", err)
	}
	if err := v.Save(ctx, bogus, backend.NewByteReader([]byte("x"))); !errors.Is(err, backend.ErrReadOnly) {
		t.Fatalf("save into the view: %v", err)
	}
	if err := v.Remove(ctx, snap); !errors.Is(err, backend.ErrReadOnly) {
		t.Fatalf("remove from the view: %v", err)
	}
	// Now: what the bucket shows today.
	now, err := be.AsOf(ctx, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := now.Stat(ctx, cfg); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("the deleted config is in today's view: %v", err)
	}
	var b bytes.Buffer
	rd, err := now.Open(ctx, snap, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(&b, rd)
	rd.Close()
	if b.String() != "garbage garbage garbage" {
		t.Fatalf("today's snapshot: %q", b.String())
	}
}

// nextSecond waits until the wall clock enters the next second and returns
// a time between what was written before and what is written after (the
// last millisecond of the second before). Stores timestamp versions to the
// second, so a time can only tell apart writes in different seconds: this
// waits for the clock, it synchronises nothing.
func nextSecond() time.Time {
	next := time.Now().Truncate(time.Second).Add(time.Second)
	for time.Now().Before(next) {
		time.Sleep(20 * time.Millisecond)
	}
	return next.Add(-time.Millisecond)
}
