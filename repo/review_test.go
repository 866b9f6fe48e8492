package repo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"snap/crypt"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/local"
)

// hookBackend runs a function once, before a List of a type starts
// (beforeList) or after it has listed and before the lister sees the names
// (afterList): to put another process's action exactly between two steps.
type hookBackend struct {
	backend.Backend
	mu         sync.Mutex
	afterList  map[backend.FileType]func()
	beforeList map[backend.FileType]func()
}

func (h *hookBackend) take(m map[backend.FileType]func(), t backend.FileType) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := m[t]
	delete(m, t)
	return f
}

func (h *hookBackend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if f := h.take(h.beforeList, t); f != nil {
		f()
	}
	var infos []backend.FileInfo
	if err := h.Backend.List(ctx, t, func(fi backend.FileInfo) error { infos = append(infos, fi); return nil }); err != nil {
		return err
	}
	if f := h.take(h.afterList, t); f != nil {
		f()
	}
	for _, fi := range infos {
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

func (h *hookBackend) on(t backend.FileType, f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.afterList == nil {
		h.afterList = map[backend.FileType]func(){}
	}
	h.afterList[t] = f
}

func (h *hookBackend) before(t backend.FileType, f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.beforeList == nil {
		h.beforeList = map[backend.FileType]func(){}
	}
	h.beforeList[t] = f
}

// TestLockSeenDuringRefresh: a holder refreshing its lock (new file, old
// removed) between another process's listing and its reads must still be
// seen as holding the repository.
func TestLockSeenDuringRefresh(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, testChunker())
	hb := &hookBackend{Backend: f.be}
	backup, err := f.open(nil).Lock(ctx, repo.LockOptions{Op: repo.OpBackup})
	if err != nil {
		t.Fatal(err)
	}
	defer backup.Unlock()
	f.be = hb
	hb.on(backend.LockFile, func() {
		if err := backup.Refresh(ctx); err != nil {
			t.Error(err)
		}
	})
	_, err = f.open(nil).Lock(ctx, repo.LockOptions{Op: repo.OpRepair, Exclusive: true})
	var le *repo.LockError
	if !errors.As(err, &le) || le.Holder.Op != repo.OpBackup {
		t.Fatalf("an exclusive lock was taken beside a backup refreshing its lock: %v", err)
	}
}

// TestLockLongWaitStaysFresh: an exclusive locker that waits longer than a
// lock stays trusted keeps rewriting its file, so it is neither stale to
// others nor lost to itself when the wait ends.
func TestLockLongWaitStaysFresh(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, testChunker())
	var clock atomic.Int64
	clock.Store(f.clock.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	open := func() *repo.Repository {
		r, err := repo.Open(ctx, f.be, f.master, repo.Options{CacheDir: t.TempDir(), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	holder, err := open().Lock(ctx, repo.LockOptions{Op: repo.OpBackup})
	if err != nil {
		t.Fatal(err)
	}
	polls := make(chan struct{})
	done := make(chan error, 1)
	var waiter *repo.Lock
	go func() {
		var err error
		// The wait is measured on the same clock: it must outlast the
		// 40 minutes below.
		waiter, err = open().Lock(ctx, repo.LockOptions{Op: repo.OpRepair, Exclusive: true, Wait: time.Hour, Poll: time.Millisecond,
			Waiting: func(*repo.LockInfo) { close(polls) }})
		done <- err
	}()
	<-polls
	// 40 minutes pass while it waits; the holder keeps refreshing.
	for range 8 {
		clock.Add(int64(5 * time.Minute))
		if err := holder.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		// Another process sees the waiter's lock as live the whole time.
		_, err := open().Lock(ctx, repo.LockOptions{Op: repo.OpBackup})
		var le *repo.LockError
		if !errors.As(err, &le) || !le.Holder.Exclusive {
			t.Fatalf("after %v the waiting exclusive lock no longer holds back a backup: %v", now().Sub(f.clock), err)
		}
	}
	holder.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	defer waiter.Unlock()
	if err := waiter.Check(); err != nil {
		t.Fatalf("a lock that waited 40 minutes is not trusted: %v", err)
	}
}

// TestPruneBackupBetweenListings: a backup that commits while prune's scan
// lists the repository (just before, or just after, it lists packs) must
// still restore after prune.
func TestPruneBackupBetweenListings(t *testing.T) {
	for _, when := range []string{"before", "after"} {
		t.Run(when, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, nil, testChunker())
			a, b := randBytes(61, 6<<20), randBytes(62, 6<<20)
			sa, _, err := backupStream(f.open(nil), "s", bytes.NewReader(a))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.open(nil).ForgetSnapshot(ctx, sa.ID); err != nil {
				t.Fatal(err)
			}
			hb := &hookBackend{Backend: f.be}
			inner := f.be
			var sb *repo.Snapshot
			backup := func() {
				other := &fixture{t: t, be: inner, master: f.master, cache: t.TempDir(), clock: f.clock}
				var err error
				if sb, _, err = backupStream(other.open(nil), "s", bytes.NewReader(b)); err != nil {
					t.Error(err)
				}
			}
			// No step of prune lists packs before its scan does.
			if when == "before" {
				hb.before(backend.PackFile, backup)
			} else {
				hb.on(backend.PackFile, backup)
			}
			f.be = hb
			mustPrune(t, f.open(nil), repo.PruneOptions{})
			if sb == nil {
				t.Fatal("the backup did not run")
			}
			f.be = inner
			expectRestores(t, f.fresh(nil), map[crypt.ID]map[string][32]byte{sb.ID: {"s": sha(b)}})
		})
	}
}

// TestSyncDeleteKeepsWhatTheSourceLost: a pack the source's index lists but
// its disk lost is the one thing the destination must never delete.
func TestSyncDeleteKeepsWhatTheSourceLost(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, testChunker())
	_, s2, a := mixedRepo(t, f)
	dst := local.New(t.TempDir())
	if _, err := syncTo(f, dst, repo.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	packs := listFiles(t, f.be, backend.PackFile)
	if err := f.be.Remove(ctx, backend.Handle{Type: backend.PackFile, Name: packs[0]}); err != nil {
		t.Fatal(err)
	}
	st, err := syncTo(f, dst, repo.SyncOptions{Delete: true})
	if !errors.Is(err, repo.ErrDamaged) || st.FilesDeleted != 0 {
		t.Fatalf("sync --delete with a pack lost at the source: %v %+v", err, st)
	}
	// The copy mends the source.
	r := f.open(nil)
	l, err := r.Lock(ctx, repo.LockOptions{Op: repo.OpRepair, Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	fixed, err := r.RepairPacks(ctx, repo.RepairPacksOptions{From: dst, Lock: l})
	l.Unlock()
	if err != nil || len(fixed) != 1 || !fixed[0].FromCopy {
		t.Fatalf("repair from the copy: %v %+v", err, fixed)
	}
	expectRestores(t, f.fresh(nil), map[crypt.ID]map[string][32]byte{s2.ID: {"a": sha(a)}, f.snapshotIDs(t)[0]: {"a": sha(a)}})
}

func (f *fixture) snapshotIDs(t *testing.T) []crypt.ID {
	snaps, err := f.open(nil).Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []crypt.ID
	for _, s := range snaps {
		out = append(out, s.ID)
	}
	return out
}

// flakyBackend fails pack reads with a plain I/O error (not damage).
type flakyBackend struct{ backend.Backend }

func (b flakyBackend) Open(ctx context.Context, h backend.Handle, off, n int64) (io.ReadCloser, error) {
	if h.Type == backend.PackFile {
		return nil, fmt.Errorf("read %v: input/output error (the USB disk hiccupped)", h)
	}
	return b.Backend.Open(ctx, h, off, n)
}

// TestRepairSnapshotsStopsOnReadErrors: a read error that is not damage
// must not make repair set items aside (and a prune then delete their data).
func TestRepairSnapshotsStopsOnReadErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, testChunker())
	stream, tree, data, dir := twoRuns(t, f)
	f.be = flakyBackend{f.be}
	r, err := repo.Open(ctx, f.be, f.master, repo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, err := r.Lock(ctx, repo.LockOptions{Op: repo.OpRepair, Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.RepairSnapshots(ctx, repo.RepairSnapshotsOptions{Lock: l})
	l.Unlock()
	if err == nil || errors.Is(err, repo.ErrDamaged) || (res != nil && len(res.Rewritten) != 0) {
		t.Fatalf("repair snapshots on a flaky disk: %v %+v", err, res)
	}
	f.be = f.be.(flakyBackend).Backend
	if n := restoreBoth(t, f, stream, tree, data, dir); n != 2 {
		t.Fatalf("after a repair that met read errors, %d of 2 snapshots restore", n)
	}
}
