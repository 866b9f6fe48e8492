package retry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"snap/repo/backend"
	"snap/repo/backend/mem"
	"snap/repo/backend/retry"
)

// lockStore is a fake store with Object Lock and versions (the real one,
// package s3, is tested through faults in package location): the first
// call of each method for each file fails, by the way given, and every
// call is counted.
type lockStore struct {
	*mem.Mem
	fail map[string]way // method → how its first call fails

	mu       sync.Mutex
	calls    map[string]int
	until    map[backend.Handle]time.Time
	versions []backend.Version
	removed  map[string]bool
	locked   map[string]bool // version ids the lock refuses to remove
}

func newLockStore(fail map[string]way) *lockStore {
	return &lockStore{Mem: mem.New(), fail: fail, calls: map[string]int{}, until: map[backend.Handle]time.Time{},
		removed: map[string]bool{}, locked: map[string]bool{}}
}

// call counts a call and says how it fails.
func (l *lockStore) call(method string) way {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[method]++
	if l.calls[method] == 1 {
		return l.fail[method]
	}
	return none
}

func (l *lockStore) StoreID() string               { return "fake" }
func (l *lockStore) LockWrites(backend.ObjectLock) {}
func (l *lockStore) PrepareObjectLock(context.Context) error {
	if l.call("prepare") != none {
		return errReset
	}
	return nil
}

func (l *lockStore) Retention(_ context.Context, h backend.Handle, _ string) (backend.Retention, error) {
	if l.call("retention") != none {
		return backend.Retention{}, errReset
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return backend.Retention{Mode: backend.ModeGovernance, Until: l.until[h]}, nil
}

func (l *lockStore) ExtendRetention(_ context.Context, h backend.Handle, until time.Time) error {
	w := l.call("extend")
	if w == before {
		return errReset
	}
	l.mu.Lock()
	l.until[h] = until
	l.mu.Unlock()
	if w != none {
		return errReset // set, the answer lost
	}
	return nil
}

func (l *lockStore) Versions(_ context.Context, fn func(backend.Version) error) error {
	w := l.call("versions")
	for i, v := range l.versions {
		if w == halfway && i == 1 {
			return errReset
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func (l *lockStore) RemoveVersion(_ context.Context, v backend.Version) error {
	w := l.call("remove " + v.ID)
	if l.locked[v.ID] {
		return &backend.LockedError{Location: "fake", File: v.Handle.String(), Version: v.ID, Mode: backend.ModeGovernance, Until: time.Unix(2e9, 0)}
	}
	if w == before {
		return errReset
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.removed[v.ID] {
		return backend.ErrNotExist
	}
	l.removed[v.ID] = true
	if w != none {
		return errReset
	}
	return nil
}

// TestLockingStore: the wrapper passes a store's Object Lock and versions
// on (besides OpenFile), each request retried: a failed lock read or
// extension, a listing of versions that breaks midway (fn sees each
// version once), a removal of a version whose answer was lost (done); a
// refusal by the lock is not retried. A store without them gets none.
func TestLockingStore(t *testing.T) {
	ctx := context.Background()
	h := backend.Handle{Type: backend.PackFile, Name: "p"}
	inner := newLockStore(map[string]way{"prepare": before, "retention": before, "extend": after, "versions": halfway, "remove v1": after})
	for _, id := range []string{"v1", "v2", "v3"} {
		inner.versions = append(inner.versions, backend.Version{Handle: h, ID: id})
	}
	inner.locked["v3"] = true
	var events []retry.Event
	be := retry.Wrap(inner, fast(&events))
	if _, ok := be.(backend.ReaderAtOpener); !ok {
		t.Fatal("OpenFile lost next to the locking methods")
	}
	ls, ok := backend.As[backend.LockingStore](be)
	if !ok || ls == backend.LockingStore(inner) {
		t.Fatalf("As finds %T, want the wrapper's own methods", ls)
	}
	if ls.StoreID() != "fake" {
		t.Fatalf("StoreID %q", ls.StoreID())
	}
	if err := ls.PrepareObjectLock(ctx); err != nil {
		t.Fatal(err)
	}
	until := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := ls.ExtendRetention(ctx, h, until); err != nil {
		t.Fatalf("extension whose answer was lost: %v", err)
	}
	if r, err := ls.Retention(ctx, h, ""); err != nil || !r.Until.Equal(until) {
		t.Fatalf("Retention = %+v, %v", r, err)
	}
	var seen []string
	if err := ls.Versions(ctx, func(v backend.Version) error { seen = append(seen, v.ID); return nil }); err != nil || len(seen) != 3 {
		t.Fatalf("Versions gave %v, %v: want each of 3 once", seen, err)
	}
	if err := ls.RemoveVersion(ctx, inner.versions[0]); err != nil {
		t.Fatalf("removal whose answer was lost: %v", err)
	}
	var le *backend.LockedError
	if err := ls.RemoveVersion(ctx, inner.versions[2]); !errors.As(err, &le) || inner.calls["remove v3"] != 1 {
		t.Fatalf("removal refused by the lock: %v after %d calls; want the LockedError at once", err, inner.calls["remove v3"])
	}
	for _, m := range []string{"prepare", "retention", "extend", "versions", "remove v1"} {
		if inner.calls[m] != 2 {
			t.Errorf("%s: %d calls, want a failure and a retry", m, inner.calls[m])
		}
	}
	if len(events) != 5 {
		t.Errorf("%d retries logged, want 5: %v", len(events), events)
	}

	// Without OpenFile, and without either.
	type plain struct{ backend.Backend }
	if _, ok := retry.Wrap(plain{inner}, retry.Policy{}).(backend.LockingStore); ok {
		t.Fatal("Object Lock made up for a store without it")
	}
	only := struct {
		backend.LockingStore
	}{inner}
	w := retry.Wrap(only, retry.Policy{})
	if _, ok := w.(backend.LockingStore); !ok {
		t.Fatal("Object Lock lost")
	}
	if _, ok := w.(backend.ReaderAtOpener); ok {
		t.Fatal("OpenFile made up")
	}
}
