package retry

import (
	"context"
	"errors"
	"time"

	"snap/repo/backend"
)

// locking passes on backend.LockingStore (S3 Object Lock and versions):
// each request is retried like the Backend's. All of them may be sent
// again safely: a retention read and a version listing change nothing, an
// extension sets the same date again, and a version already removed by
// an attempt whose answer was lost is taken as removed.
type locking struct {
	*Backend
	ls backend.LockingStore
}

// StoreID implements backend.LockingStore.
func (b locking) StoreID() string { return b.ls.StoreID() }

// LockWrites implements backend.LockingStore (no request: a setting).
func (b locking) LockWrites(l backend.ObjectLock) { b.ls.LockWrites(l) }

// PrepareObjectLock implements backend.LockingStore. A bucket made by an
// attempt whose answer was lost is found made by the next.
func (b locking) PrepareObjectLock(ctx context.Context) error {
	return b.p.Do(ctx, "prepare the bucket for Object Lock", func() error {
		return b.ls.PrepareObjectLock(ctx)
	})
}

// Retention implements backend.LockingStore.
func (b locking) Retention(ctx context.Context, h backend.Handle, version string) (backend.Retention, error) {
	var r backend.Retention
	err := b.p.Do(ctx, "read the lock of "+versionName(h, version), func() error {
		var err error
		r, err = b.ls.Retention(ctx, h, version)
		return err
	})
	return r, err
}

// ExtendRetention implements backend.LockingStore.
func (b locking) ExtendRetention(ctx context.Context, h backend.Handle, until time.Time) error {
	return b.p.Do(ctx, "extend the lock of "+h.String(), func() error {
		return b.ls.ExtendRetention(ctx, h, until)
	})
}

// Versions implements backend.LockingStore: as List, a listing that fails
// midway is retried and fn sees each version once.
func (b locking) Versions(ctx context.Context, fn func(backend.Version) error) error {
	type key struct {
		h  backend.Handle
		id string
	}
	seen := map[key]struct{}{}
	err := b.p.Do(ctx, "list versions", func() error {
		return b.ls.Versions(ctx, func(v backend.Version) error {
			k := key{v.Handle, v.ID}
			if _, ok := seen[k]; ok {
				return nil
			}
			if err := fn(v); err != nil {
				return &stopped{permanent{err}}
			}
			seen[k] = struct{}{}
			return nil
		})
	})
	var s *stopped
	if errors.As(err, &s) {
		return s.err
	}
	return err
}

// RemoveVersion implements backend.LockingStore; a refusal by the lock
// (*backend.LockedError) is permanent.
func (b locking) RemoveVersion(ctx context.Context, v backend.Version) error {
	failed := false
	return b.p.Do(ctx, "remove "+versionName(v.Handle, v.ID), func() error {
		err := b.ls.RemoveVersion(ctx, v)
		if failed && errors.Is(err, backend.ErrNotExist) {
			return nil // the failed attempt's delete landed
		}
		failed = err != nil
		return err
	})
}

func versionName(h backend.Handle, version string) string {
	if version == "" {
		return h.String()
	}
	return h.String() + " version " + version
}
