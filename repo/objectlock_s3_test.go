package repo_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snap/crypt"
	"snap/internal/faultproxy"
	"snap/internal/testgw"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/location"
	"snap/repo/backend/meter"
	"snap/repo/backend/s3"
)

// The tests here run a repository under Object Lock on a real S3 server
// (versitygw with versioning), opened as snap opens it (location.Open:
// the retry wrapper; the meter), through a proxy that only counts the
// requests.

const day = 24 * time.Hour

// lockedS3 is a repository under Object Lock (governance mode, 30 days)
// in a fresh bucket. Its clock (fixture.clock) starts at base, now.
type lockedS3 struct {
	*fixture
	proxy   *faultproxy.Proxy
	loc     location.Location
	inspect *s3.S3 // straight to the server: the test's own reads, not counted
	base    time.Time
}

// store opens the repository's bucket as snap does.
func (e *lockedS3) store(t *testing.T) backend.Backend {
	t.Helper()
	be, err := location.Open(context.Background(), e.loc, location.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return meter.Wrap(be)
}

// process opens the repository on a store of its own, as another snap
// process would.
func (e *lockedS3) process(t *testing.T) *repo.Repository {
	t.Helper()
	r, err := repo.Open(context.Background(), e.store(t), e.master, repo.Options{CacheDir: e.cache, Now: func() time.Time { return e.clock }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newLockedS3(t *testing.T) *lockedS3 {
	t.Helper()
	ctx := context.Background()
	gw := testgw.StartWith(t, testgw.Options{Versioning: true})
	gw.SetEnv(t)
	p := faultproxy.Start(t, gw.Endpoint)
	bucket := testgw.Bucket()
	loc, err := location.Parse("s3:http://" + p.Addr + "/" + bucket + "/repo")
	if err != nil {
		t.Fatal(err)
	}
	e := &lockedS3{proxy: p, loc: loc, base: time.Now().Truncate(time.Second)}
	be := e.store(t)
	ls, ok := backend.As[backend.LockingStore](be)
	if !ok {
		t.Fatal("the wrapped store does not pass Object Lock on")
	}
	if err := ls.PrepareObjectLock(ctx); err != nil {
		t.Fatal(err)
	}
	e.fixture = &fixture{t: t, be: be, cache: t.TempDir(), clock: e.base}
	e.master, err = repo.Init(ctx, be, repo.InitOptions{Chunker: testChunker(), PackSize: 4 << 20,
		ObjectLock: &repo.ObjectLock{Mode: backend.ModeGovernance, Days: 30}, Now: func() time.Time { return e.clock }})
	if err != nil {
		t.Fatal(err)
	}
	if e.inspect, err = s3.Open(ctx, s3.Config{Endpoint: gw.Endpoint, Bucket: bucket, Prefix: "repo"}, false); err != nil {
		t.Fatal(err)
	}
	return e
}

// names lists the files of type ty.
func (e *lockedS3) names(ty backend.FileType) map[string]bool {
	e.t.Helper()
	out := map[string]bool{}
	if err := e.inspect.List(context.Background(), ty, func(fi backend.FileInfo) error { out[fi.Name] = true; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// until is the lock date of h's current version.
func (e *lockedS3) until(h backend.Handle) time.Time {
	e.t.Helper()
	r, err := e.inspect.Retention(context.Background(), h, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Until
}

// expectLocked fails for each file of names (of type ty) locked until
// before min (or, exact, at another date than min).
func (e *lockedS3) expectLocked(what string, ty backend.FileType, names map[string]bool, min time.Time, exact bool) {
	e.t.Helper()
	if len(names) == 0 {
		e.t.Fatalf("%s: no files", what)
	}
	for n := range names {
		got := e.until(backend.Handle{Type: ty, Name: n})
		if got.Before(min) || exact && !got.Equal(min) {
			e.t.Errorf("%s: %s/%.8s locked until %v, want %v", what, ty, n, got.Sub(e.base).Round(time.Second), min.Sub(e.base))
		}
	}
}

// requests counts the requests the proxy saw of method whose query has
// query, to repository files other than lock files.
func (e *lockedS3) requests(method, query string) int {
	return e.proxy.Count(func(r faultproxy.Request) bool {
		return r.Method == method && strings.Contains(r.Query, query) && !strings.Contains(r.Path, "/locks/")
	})
}

func minus(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		if !b[k] {
			out[k] = true
		}
	}
	return out
}

// TestPruneExtendsWhatSnapshotsNeed: a prune extends the lock of every
// file the kept snapshots read, whatever it plans for it: a prune that
// stops before deleting anything leaves the packs it meant to repack and
// the index files it meant to replace locked for at least half a period
// (they are what the snapshots still read); packs it meant to delete
// that a backup committed meanwhile needs are kept and extended before
// anything is deleted. A later prune then sends no request for what the
// host's record knows: no lock read, and no delete of an earlier version
// whose lock still holds.
func TestPruneExtendsWhatSnapshotsNeed(t *testing.T) {
	e := newLockedS3(t)
	ctx := context.Background()
	s1, s2, a := mixedRepo(t, e.fixture)
	mixedPacks, mixedIndex := e.names(backend.PackFile), e.names(backend.IndexFile)
	x := randBytes(9, 3<<20)
	r := e.open(nil)
	sx, _, err := backupStream(r, "x", bytes.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	xPacks, xIndex := minus(e.names(backend.PackFile), mixedPacks), minus(e.names(backend.IndexFile), mixedIndex)
	for _, id := range []crypt.ID{s1.ID, sx.ID} {
		if err := r.ForgetSnapshot(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()

	// 20 days later: less than half the period is left on every lock.
	e.clock = e.base.Add(20 * day)
	extended := e.clock.Add(30 * day)
	if dry := mustPrune(t, e.open(nil), repo.PruneOptions{DryRun: true}); dry.PacksRepacked == 0 || dry.PacksDeleted == 0 {
		t.Fatalf("the plan repacks %d packs and deletes %d: want both", dry.PacksRepacked, dry.PacksDeleted)
	}

	// A prune that stops before deleting (here: canceled while waiting
	// for the exclusive lock).
	r1 := e.open(nil)
	cctx, cancel := context.WithCancel(ctx)
	l, err := r1.Lock(cctx, repo.LockOptions{Op: repo.OpPrune, Wait: time.Minute, Poll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o := repo.PruneOptions{MaxUnused: repo.DefaultMaxUnused, Lock: l, UpgradeWait: repo.LockOptions{Wait: time.Minute, Poll: time.Millisecond}}
	repo.SetAfterRepack(&o, cancel)
	if _, err := r1.Prune(cctx, o); err == nil {
		t.Fatal("the canceled prune finished")
	}
	l.Unlock()
	r1.Close()
	e.expectLocked("packs to repack", backend.PackFile, mixedPacks, extended, true)
	e.expectLocked("index files to replace", backend.IndexFile, mixedIndex, extended, true)
	e.expectLocked("the kept snapshot", backend.SnapshotFile, map[string]bool{s2.ID.String(): true}, extended, true)
	e.expectLocked("packs nothing needs", backend.PackFile, xPacks, e.base.Add(30*day), true)

	// A prune during which a backup commits a snapshot of x again: it
	// dedups against the packs the prune planned to delete.
	var s3x *repo.Snapshot
	var added int64
	o = repo.PruneOptions{}
	repo.SetAfterRepack(&o, func() {
		other := e.process(t) // another snap process
		defer other.Close()
		l, err := other.Lock(ctx, repo.LockOptions{Op: repo.OpBackup})
		if err != nil {
			t.Errorf("backup lock: %v", err)
			return
		}
		defer l.Unlock()
		if s3x, added, err = backupStreamLocked(other, l, "x", bytes.NewReader(x)); err != nil {
			t.Error(err)
		}
	})
	r2 := e.open(nil)
	st := mustPrune(t, r2, o)
	r2.Close()
	if s3x == nil || added != 0 || st.PacksKeptForNew == 0 {
		t.Fatalf("backup during the prune: added %d bytes (want 0), %d packs kept for it", added, st.PacksKeptForNew)
	}
	e.expectLocked("packs kept for the new snapshot", backend.PackFile, xPacks, extended, true)
	if st.Versions == nil || st.Versions.Locked == 0 {
		t.Fatalf("prune found no earlier version held by its lock: %+v", st.Versions)
	}
	// Everything the repository holds now is locked for at least half
	// a period.
	threshold := e.clock.Add(15 * day)
	for _, ty := range []backend.FileType{backend.PackFile, backend.IndexFile, backend.SnapshotFile} {
		e.expectLocked("after the prune", ty, e.names(ty), threshold, false)
	}
	for n := range xIndex {
		if e.names(backend.IndexFile)[n] {
			e.expectLocked("the index file of the kept packs", backend.IndexFile, map[string]bool{n: true}, extended, true)
		}
	}

	// The next prune asks the store nothing it knows.
	e.proxy.Reset()
	st3 := mustPrune(t, e.open(nil), repo.PruneOptions{})
	reads, writes, deletes := e.requests("GET", "retention"), e.requests("PUT", "retention"), e.requests("DELETE", "versionId")
	t.Logf("third prune: %d lock reads, %d lock writes, %d deletes of versions; %d earlier versions held by their locks", reads, writes, deletes, st3.Versions.Locked)
	if reads != 0 || writes != 0 || deletes != 0 || st3.Locks.Asked != 0 {
		t.Errorf("third prune: %d lock reads, %d lock writes, %d deletes of versions (want none: all known); stats %+v", reads, writes, deletes, st3.Locks)
	}
	if st3.Versions.Locked != st.Versions.Locked {
		t.Errorf("third prune counts %d versions held by their locks, the second %d", st3.Versions.Locked, st.Versions.Locked)
	}
	expectRestores(t, e.fresh(nil), map[crypt.ID]map[string][32]byte{s2.ID: {"a": sha(a)}, s3x.ID: {"x": sha(x)}})
}

// TestLockRecordSavesRequests: extending locks asks the store only about
// files whose date this host's record does not show far enough ahead;
// what snap wrote with a lock is known from the write. Losing the record,
// or finding it unreadable, only costs requests: every file is asked
// about again, and nothing is shortened.
func TestLockRecordSavesRequests(t *testing.T) {
	e := newLockedS3(t)
	ctx := context.Background()
	r := e.open(nil)
	for i := range 2 {
		if _, _, err := backupStream(r, "s", bytes.NewReader(randBytes(uint64(20+i), 2<<20))); err != nil {
			t.Fatal(err)
		}
	}
	id := r.Config().ID
	r.Close()
	extend := func(what string) *repo.LockStats {
		t.Helper()
		e.proxy.Reset()
		r := e.open(nil)
		defer r.Close()
		st, err := r.ExtendLocks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reads, writes := e.requests("GET", "retention"), e.requests("PUT", "retention")
		t.Logf("%s: %d files, %d asked, %d extended; %d lock reads, %d lock writes", what, st.Checked, st.Asked, st.Extended, reads, writes)
		if reads != st.Asked || writes != st.Extended {
			t.Errorf("%s: %d lock reads and %d writes sent, stats say %d and %d", what, reads, writes, st.Asked, st.Extended)
		}
		return st
	}

	e.clock = e.base.Add(day)
	if st := extend("a day later"); st.Asked != 1 || st.Extended != 0 || st.Checked < 5 {
		t.Errorf("a day later: %+v; want only the config asked about (written by init, before any record)", st)
	}
	if st := extend("again"); st.Asked != 0 || st.Extended != 0 {
		t.Errorf("again: %+v; want nothing asked", st)
	}
	e.clock = e.base.Add(20 * day)
	all := extend("20 days later")
	if all.Asked != all.Checked || all.Extended != all.Checked {
		t.Errorf("20 days later: %+v; want every file asked about and extended", all)
	}
	if st := extend("again"); st.Asked != 0 || st.Extended != 0 || !st.Until.Equal(e.base.Add(50*day)) {
		t.Errorf("again: %+v; want nothing asked, everything locked until day 50", st)
	}

	// The record unreadable, then lost: every file asked about, none
	// extended (their dates are far enough), none shortened.
	rec := filepath.Join(e.cache, id, "locks.db")
	if err := os.WriteFile(rec, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st := extend("record unreadable"); st.Asked != all.Checked || st.Extended != 0 {
		t.Errorf("record unreadable: %+v; want every file asked about, none extended", st)
	}
	e.cache = t.TempDir()
	if st := extend("record lost"); st.Asked != all.Checked || st.Extended != 0 {
		t.Errorf("record lost: %+v; want every file asked about, none extended", st)
	}
	for _, ty := range []backend.FileType{backend.PackFile, backend.IndexFile, backend.SnapshotFile} {
		e.expectLocked("after the record was lost", ty, e.names(ty), e.base.Add(50*day), true)
	}
	// Near the remembered dates, the files are asked about and extended.
	e.clock = e.base.Add(36 * day)
	if st := extend("36 days later"); st.Asked != all.Checked || st.Extended != all.Checked {
		t.Errorf("36 days later: %+v; want every file asked about and extended", st)
	}
}
