package repo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"snap/repo"
)

func TestLocks(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	ctx := context.Background()
	r := f.open(nil)
	shared1, err := r.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	shared2, err := f.open(nil).Lock(ctx, false)
	if err != nil {
		t.Fatalf("two backups must share the repository: %v", err)
	}
	_, err = f.open(nil).Lock(ctx, true)
	var le *repo.LockError
	if !errors.As(err, &le) || !errors.Is(err, repo.ErrLocked) {
		t.Fatalf("exclusive lock while shared ones are held: %v", err)
	}
	shared1.Unlock()
	shared2.Unlock()
	ex, err := f.open(nil).Lock(ctx, true)
	if err != nil {
		t.Fatalf("exclusive lock on a free repository: %v", err)
	}
	if _, err := f.open(nil).Lock(ctx, false); !errors.Is(err, repo.ErrLocked) {
		t.Fatalf("shared lock while an exclusive one is held: %v", err)
	}
	ex.Unlock()
	if locks, _ := r.Locks(ctx); len(locks) != 0 {
		t.Fatalf("%d lock files left after unlocking", len(locks))
	}
	// A lock not refreshed for long is stale: reported, not obeyed.
	stale, err := r.Lock(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	f.clock = f.clock.Add(time.Hour)
	if _, err := f.open(nil).Lock(ctx, false); err != nil {
		t.Fatalf("a stale exclusive lock blocked a backup: %v", err)
	}
	stale.Unlock()
}
