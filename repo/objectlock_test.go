package repo_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/mem"
)

// lockRecorder is a store that says it locks (a fake: the real one is
// tested against versitygw in package s3 and cmd/snap), recording what it
// was told.
type lockRecorder struct {
	*mem.Mem
	mu    sync.Mutex
	locks []backend.ObjectLock
}

func (l *lockRecorder) StoreID() string { return "mem" }

func (l *lockRecorder) LockWrites(o backend.ObjectLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.locks = append(l.locks, o)
}

func (l *lockRecorder) Retention(context.Context, backend.Handle, string) (backend.Retention, error) {
	return backend.Retention{}, nil
}

func (l *lockRecorder) ExtendRetention(context.Context, backend.Handle, time.Time) error { return nil }

// TestConfigObjectLock: the setting is recorded in the sealed config and
// read back; a store that can lock is told to lock the files a restore
// needs (not lock files) for the period, at Init and at every Open; a
// config without the setting opens as before; a bad setting is refused.
func TestConfigObjectLock(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	be := &lockRecorder{Mem: mem.New()}
	m, err := repo.Init(ctx, be, repo.InitOptions{ObjectLock: &repo.ObjectLock{Mode: backend.ModeCompliance, Days: 30}, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, be, m, repo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if l := r.Config().ObjectLock; l == nil || *l != (repo.ObjectLock{Mode: backend.ModeCompliance, Days: 30}) {
		t.Fatalf("config object lock: %+v", l)
	}
	if len(be.locks) != 2 {
		t.Fatalf("LockWrites called %d times, want at Init and at Open", len(be.locks))
	}
	l := be.locks[0]
	if l.Mode != backend.ModeCompliance || l.Period != 30*24*time.Hour || !l.Now().Equal(clock) {
		t.Fatalf("lock at Init: %+v", l)
	}
	for _, ty := range []backend.FileType{backend.ConfigFile, backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile} {
		if !l.Locks(ty) {
			t.Errorf("%s not locked", ty)
		}
	}
	if l.Locks(backend.LockFile) || l.Locks(backend.DamagedFile) || slices.Contains(l.Types, backend.LockFile) {
		t.Error("lock files or damage records are locked")
	}

	// Without the setting: as before, and a store that can lock is not
	// asked to.
	plain := &lockRecorder{Mem: mem.New()}
	m2, err := repo.Init(ctx, plain, repo.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := repo.Open(ctx, plain, m2, repo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if r2.Config().ObjectLock != nil || len(plain.locks) != 0 {
		t.Fatalf("a repository without object lock: %+v, %d LockWrites", r2.Config().ObjectLock, len(plain.locks))
	}
	if st, err := r2.ExtendLocks(ctx); st != nil || err != nil {
		t.Fatalf("ExtendLocks without object lock: %+v %v", st, err)
	}

	for _, bad := range []repo.ObjectLock{{Mode: "strict", Days: 30}, {Mode: backend.ModeGovernance, Days: 0}, {Mode: backend.ModeGovernance, Days: repo.MaxLockDays + 1}} {
		if _, err := repo.Init(ctx, mem.New(), repo.InitOptions{ObjectLock: &bad}); err == nil {
			t.Errorf("Init with %+v accepted", bad)
		}
	}
	// A config sealed with a bad setting is damaged.
	bad := mem.New()
	m3 := repo.InitWithBadObjectLock(t, bad)
	if _, err := repo.Open(ctx, bad, m3, repo.Options{CacheDir: t.TempDir()}); !errors.Is(err, repo.ErrDamaged) {
		t.Fatalf("a config with object lock mode \"x\": %v", err)
	}
}
