package repo_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"snap/repo"
	"snap/repo/backend"
)

func shared(op string) repo.LockOptions { return repo.LockOptions{Op: op} }
func exclusive(op string) repo.LockOptions {
	return repo.LockOptions{Op: op, Exclusive: true}
}

func TestLocks(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	ctx := context.Background()
	r := f.open(nil)
	shared1, err := r.Lock(ctx, shared(repo.OpBackup))
	if err != nil {
		t.Fatal(err)
	}
	shared2, err := f.open(nil).Lock(ctx, shared(repo.OpBackup))
	if err != nil {
		t.Fatalf("two backups must share the repository: %v", err)
	}
	_, err = f.open(nil).Lock(ctx, exclusive(repo.OpRepair))
	var le *repo.LockError
	if !errors.As(err, &le) || !errors.Is(err, repo.ErrLocked) || le.Holder.Op != repo.OpBackup {
		t.Fatalf("exclusive lock while shared ones are held: %v", err)
	}
	shared1.Unlock()
	shared2.Unlock()
	ex, err := f.open(nil).Lock(ctx, exclusive(repo.OpRepair))
	if err != nil {
		t.Fatalf("exclusive lock on a free repository: %v", err)
	}
	if _, err := f.open(nil).Lock(ctx, shared(repo.OpBackup)); !errors.Is(err, repo.ErrLocked) {
		t.Fatalf("shared lock while an exclusive one is held: %v", err)
	}
	ex.Unlock()
	if locks, _ := r.Locks(ctx); len(locks) != 0 {
		t.Fatalf("%d lock files left after unlocking", len(locks))
	}
	// One prune at a time, though a prune's first phase shares the
	// repository with backups.
	p1, err := r.Lock(ctx, shared(repo.OpPrune))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.open(nil).Lock(ctx, shared(repo.OpPrune)); !errors.Is(err, repo.ErrLocked) {
		t.Fatalf("second prune: %v", err)
	}
	b, err := f.open(nil).Lock(ctx, shared(repo.OpBackup))
	if err != nil {
		t.Fatalf("backup during a prune's shared phase: %v", err)
	}
	b.Unlock()
	p1.Unlock()
	// A lock not refreshed for long is stale: reported, not obeyed.
	stale, err := r.Lock(ctx, exclusive(repo.OpPrune))
	if err != nil {
		t.Fatal(err)
	}
	f.clock = f.clock.Add(time.Hour)
	if _, err := f.open(nil).Lock(ctx, shared(repo.OpBackup)); err != nil {
		t.Fatalf("a stale exclusive lock blocked a backup: %v", err)
	}
	stale.Unlock()
}

// TestLockWait: a locker waits for a conflicting lock to go away, up to its
// bound, and says once that it waits.
func TestLockWait(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	f.realClock = true // the waits take real time
	ctx := context.Background()
	holder, err := f.open(nil).Lock(ctx, exclusive(repo.OpPrune))
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan *repo.LockInfo, 1)
	got := make(chan error, 1)
	go func() {
		o := shared(repo.OpBackup)
		o.Wait, o.Poll = time.Minute, 5*time.Millisecond
		o.Waiting = func(h *repo.LockInfo) { waiting <- h }
		l, err := f.open(nil).Lock(ctx, o)
		if err == nil {
			l.Unlock()
		}
		got <- err
	}()
	h := <-waiting
	if h.Op != repo.OpPrune || !h.Exclusive {
		t.Fatalf("waiting for %+v", h)
	}
	holder.Unlock()
	if err := <-got; err != nil {
		t.Fatalf("waiter did not get the lock after the holder left: %v", err)
	}

	// The bound holds: a waiter gives up with the holder named.
	holder, err = f.open(nil).Lock(ctx, exclusive(repo.OpPrune))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Unlock()
	o := shared(repo.OpBackup)
	o.Wait, o.Poll = 30*time.Millisecond, 5*time.Millisecond
	_, err = f.open(nil).Lock(ctx, o)
	var le *repo.LockError
	if !errors.As(err, &le) || le.Waited < 30*time.Millisecond || le.Holder.Op != repo.OpPrune {
		t.Fatalf("bounded wait: %v", err)
	}
	if locks, _ := f.open(nil).Locks(ctx); len(locks) != 1 {
		t.Fatalf("a waiter that gave up left its lock file: %d locks", len(locks))
	}
}

// TestLockUpgrade: a prune's shared lock becomes exclusive once the backups
// running beside it finish; while it waits, new backups queue behind it.
func TestLockUpgrade(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	f.realClock = true // the waits take real time
	ctx := context.Background()
	r := f.open(nil)
	prune, err := r.Lock(ctx, shared(repo.OpPrune))
	if err != nil {
		t.Fatal(err)
	}
	backup, err := f.open(nil).Lock(ctx, shared(repo.OpBackup))
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		o := repo.LockOptions{Wait: time.Minute, Poll: 5 * time.Millisecond, Waiting: func(*repo.LockInfo) { close(waiting) }}
		done <- prune.Upgrade(ctx, o)
	}()
	<-waiting
	// The pending exclusive lock turns a new backup away.
	_, err = f.open(nil).Lock(ctx, shared(repo.OpBackup))
	var le *repo.LockError
	if !errors.As(err, &le) || !le.Holder.Exclusive {
		t.Fatalf("a backup started while a prune waits to upgrade: %v", err)
	}
	backup.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	locks, _ := r.Locks(ctx)
	if len(locks) != 1 || !locks[0].Exclusive || locks[0].Op != repo.OpPrune {
		t.Fatalf("after the upgrade: %+v", locks)
	}
	if info := prune.Info(); !info.Exclusive || info.Name != locks[0].Name {
		t.Fatalf("lock info after upgrade: %+v", info)
	}
	prune.Unlock()
	if locks, _ := r.Locks(ctx); len(locks) != 0 {
		t.Fatalf("%d lock files left", len(locks))
	}

	// A failed upgrade keeps the shared lock.
	prune, _ = r.Lock(ctx, shared(repo.OpPrune))
	backup, _ = f.open(nil).Lock(ctx, shared(repo.OpBackup))
	if err := prune.Upgrade(ctx, repo.LockOptions{Wait: 10 * time.Millisecond, Poll: time.Millisecond}); !errors.Is(err, repo.ErrLocked) {
		t.Fatalf("upgrade beside a running backup: %v", err)
	}
	if info := prune.Info(); info.Exclusive {
		t.Fatal("failed upgrade left the lock exclusive")
	}
	if locks, _ := r.Locks(ctx); len(locks) != 2 {
		t.Fatalf("after a failed upgrade: %d locks, want the two shared ones", len(locks))
	}
	backup.Unlock()
	prune.Unlock()
}

// TestLockRefreshAndCheck: a holder that cannot refresh its lock in time,
// or whose lock was removed, stops trusting it before it commits.
func TestLockRefreshAndCheck(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	ctx := context.Background()
	r := f.open(nil)
	l, err := r.Lock(ctx, shared(repo.OpBackup))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	first := l.Info()
	f.clock = f.clock.Add(16 * time.Minute)
	if err := l.Check(); !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("lock not refreshed for 16 minutes: %v", err)
	}
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(); err != nil {
		t.Fatalf("after a refresh: %v", err)
	}
	locks, _ := r.Locks(ctx)
	if len(locks) != 1 || locks[0].Name == first.Name || !locks[0].Time.Equal(f.clock) {
		t.Fatalf("refresh must replace the lock file with a newer one: %+v", locks)
	}
	// Someone removes every lock (snap unlock --remove-all).
	if removed, _, err := r.RemoveLocks(ctx, true); err != nil || len(removed) != 1 {
		t.Fatalf("remove all: %v %d", err, len(removed))
	}
	if err := l.Refresh(ctx); !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("refresh of a removed lock: %v", err)
	}
	if err := l.Check(); !errors.Is(err, repo.ErrLockLost) {
		t.Fatalf("check of a removed lock: %v", err)
	}
}

func TestRemoveLocks(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	ctx := context.Background()
	r := f.open(nil)
	live, err := r.Lock(ctx, shared(repo.OpBackup))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Unlock()
	f.clock = f.clock.Add(-time.Hour) // this one was last refreshed an hour ago
	if _, err := f.open(nil).Lock(ctx, exclusive(repo.OpPrune)); err == nil {
		t.Fatal("exclusive lock beside a live shared one")
	}
	f.clock = f.clock.Add(-time.Hour)
	// Abandoned: its holder "crashed".
	if _, err := f.open(nil).Lock(ctx, shared(repo.OpPrune)); err != nil {
		t.Fatal(err)
	}
	f.clock = f.clock.Add(2 * time.Hour)
	garbage := []byte("not a lock")
	h := backend.Handle{Type: backend.LockFile, Name: "00" + string(bytes.Repeat([]byte("1"), 62))}
	if err := f.be.Save(ctx, h, backend.NewByteReader(garbage)); err != nil {
		t.Fatal(err)
	}
	removed, kept, err := r.RemoveLocks(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || len(kept) != 1 || kept[0].Name != live.Info().Name {
		t.Fatalf("removed %d (want the stale and the unreadable one), kept %+v", len(removed), kept)
	}
	if err := live.Check(); err != nil {
		t.Fatalf("removing stale locks touched a live one: %v", err)
	}
}
