package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"snap/repo/backend"
)

// Object Lock (docs/format.md "Object Lock"). A repository whose config
// has object_lock keeps every file a restore needs locked in its S3
// bucket: each is written with a retain-until date (now + the period, in
// the config's mode), and forget/prune and snap run move the dates of what
// kept snapshots still need forward before they run out. Nobody holding
// the host's credentials can then delete or overwrite those versions
// before their date: a delete only adds a delete marker, an overwrite a
// new version, and the repository as it was is still readable (the s3
// backend's AsOf view).

// ObjectLock is the config's object_lock setting.
type ObjectLock struct {
	Mode string `json:"mode"` // backend.ModeGovernance or backend.ModeCompliance
	Days int    `json:"days"`
}

// MaxLockDays is S3's own limit (100 years).
const MaxLockDays = 36500

// Validate checks mode and period.
func (l *ObjectLock) Validate() error {
	if l.Mode != backend.ModeGovernance && l.Mode != backend.ModeCompliance {
		return fmt.Errorf("object lock mode %q: want %s or %s", l.Mode, backend.ModeGovernance, backend.ModeCompliance)
	}
	if l.Days < 1 || l.Days > MaxLockDays {
		return fmt.Errorf("object lock period of %d days: want 1 to %d", l.Days, MaxLockDays)
	}
	return nil
}

// Period is how long each write is locked.
func (l *ObjectLock) Period() time.Duration { return time.Duration(l.Days) * 24 * time.Hour }

func (l *ObjectLock) String() string { return fmt.Sprintf("%dd, %s mode", l.Days, l.Mode) }

// lockedTypes are the files a restore needs; lock files and records of
// damaged packs are not locked (a lock file is rewritten every few
// minutes: locking each would keep thousands of versions for a period).
var lockedTypes = []backend.FileType{backend.ConfigFile, backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile}

// lockStore is a store that locks what it writes (package s3 on a bucket
// with Object Lock), found through wrappers (backend.As): a wrapper must
// implement backend.Wrapper, or writes go unlocked.
type lockStore interface {
	LockWrites(backend.ObjectLock)
	Retention(ctx context.Context, h backend.Handle, version string) (backend.Retention, error)
	ExtendRetention(ctx context.Context, h backend.Handle, until time.Time) error
}

// versionStore is a store that keeps earlier versions of files.
type versionStore interface {
	Versions(ctx context.Context, fn func(backend.Version) error) error
	RemoveVersion(ctx context.Context, v backend.Version) error
}

// applyObjectLock makes be lock what it writes, if it can and l is set.
func applyObjectLock(be backend.Backend, l *ObjectLock, now func() time.Time) bool {
	ls, ok := backend.As[lockStore](be)
	if !ok || l == nil {
		return false
	}
	if now == nil {
		now = time.Now
	}
	ls.LockWrites(backend.ObjectLock{Mode: l.Mode, Period: l.Period(), Now: now, Types: lockedTypes})
	return true
}

// LockStats say what an extension of object locks found and did.
type LockStats struct {
	Checked  int `json:"objects_checked"`
	Extended int `json:"locks_extended"`
	// Until is the earliest retain-until date of the files the kept
	// snapshots need, after extending: none of them can be deleted
	// before it.
	Until time.Time `json:"locked_until"`
}

// ExtendLocks moves the locks of every file the snapshots need forward
// (see extendLocks). It returns nil stats for a repository without Object
// Lock or on a store that cannot lock (a local copy). The caller holds a
// lock on the repository (a prune must not delete meanwhile what this
// extends, which is harmless, but the marking must be consistent).
func (r *Repository) ExtendLocks(ctx context.Context) (*LockStats, error) {
	ls, ok := r.lockStore()
	if !ok {
		return nil, nil
	}
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	r.refreshIndex()
	if _, err := r.Index(ctx); err != nil {
		return nil, err
	}
	sc, err := r.scanRepo(ctx, snaps)
	if err != nil {
		return nil, err
	}
	if len(sc.missing) > 0 {
		return nil, &MissingBlobsError{Blobs: sc.missing, Users: r.usersOf(ctx, snaps, sc.missing, 5)}
	}
	return r.extendLocks(ctx, ls, sc)
}

// OpExtendLocks is the lock operation of a lone ExtendLocks (snap run).
const OpExtendLocks = "extend-locks"

// lockWorkers bounds concurrent retention requests.
const lockWorkers = 8

// extendLocks reads the lock of every file the scan found needed (the
// config, key slots, the snapshots, the packs holding a needed blob that
// stay as they are, the index files listing them) and moves it to now + period when
// less than half the period is left. So what kept snapshots need is always
// locked for at least half the period after the last run that extended,
// and each file's lock is rewritten about once per half period. Packs
// nothing needs keep their dates and can be deleted once those pass.
func (r *Repository) extendLocks(ctx context.Context, ls lockStore, sc *repoScan) (*LockStats, error) {
	need := []backend.Handle{{Type: backend.ConfigFile}}
	keys, err := listNames(ctx, r.be, backend.KeyFile)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		need = append(need, backend.Handle{Type: backend.KeyFile, Name: k})
	}
	for _, s := range sc.snaps {
		need = append(need, backend.Handle{Type: backend.SnapshotFile, Name: s.ID.String()})
	}
	// Index files that list a needed pack, unless prune replaces them
	// (it writes new ones, locked afresh, for what stays).
	listsNeeded, replaced := map[int32]bool{}, map[int32]bool{}
	for _, p := range sc.packs {
		for _, f := range p.files {
			if p.action != packKeep {
				replaced[f] = true
			} else if p.live > 0 {
				listsNeeded[f] = true
			}
		}
		if p.live > 0 && p.action == packKeep {
			need = append(need, backend.Handle{Type: backend.PackFile, Name: p.id.String()})
		}
	}
	for i, f := range sc.files {
		if listsNeeded[int32(i)] && !replaced[int32(i)] {
			need = append(need, backend.Handle{Type: backend.IndexFile, Name: f})
		}
	}
	return r.extendHandles(ctx, ls, need)
}

// extendHandles moves the lock of each of need forward when less than half
// the period is left (see extendLocks).
func (r *Repository) extendHandles(ctx context.Context, ls lockStore, need []backend.Handle) (*LockStats, error) {
	l := r.cfg.ObjectLock
	now := r.opts.Now()
	st := &LockStats{}
	var mu sync.Mutex
	threshold := now.Add(l.Period() / 2)
	until := now.Add(l.Period())
	err := forEachParallel(ctx, need, lockWorkers, func(h backend.Handle) error {
		ret, err := ls.Retention(ctx, h, "")
		if errors.Is(err, backend.ErrNotExist) {
			return nil // removed meanwhile (a snapshot forgotten by another host)
		}
		if err != nil {
			return err
		}
		got := ret.Until
		if got.Before(threshold) {
			if err := ls.ExtendRetention(ctx, h, until); err != nil {
				if errors.Is(err, backend.ErrNotExist) {
					return nil
				}
				return err
			}
			got = until
		}
		mu.Lock()
		defer mu.Unlock()
		st.Checked++
		if !got.Equal(ret.Until) {
			st.Extended++
		}
		if st.Until.IsZero() || got.Before(st.Until) {
			st.Until = got
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("extending object locks: %w", err)
	}
	return st, nil
}

// VersionStats say what a prune did with earlier versions of files in a
// versioned bucket (what it deleted, and what their locks still hold).
type VersionStats struct {
	Deleted     int   `json:"deleted"`
	FreedBytes  int64 `json:"freed_bytes"`
	Locked      int   `json:"locked"`
	LockedBytes int64 `json:"locked_bytes"`
	// LockedFirst and LockedLast bound the locks' dates: from the first
	// a later prune can free some of them, from the last all.
	LockedFirst time.Time `json:"locked_first,omitzero"`
	LockedLast  time.Time `json:"locked_last,omitzero"`
	// Markers counts delete markers removed with the last version they
	// hid.
	Markers int `json:"delete_markers_removed"`
}

// reapVersions deletes for good the earlier versions of repository files
// (left by deletes, which only add delete markers in a versioned bucket,
// and by overwrites) whose lock has run out, and counts those whose lock
// still holds. Current versions are never touched: it changes nothing
// the repository reads, only how far back AsOf can see (never within the
// lock's window).
func (r *Repository) reapVersions(ctx context.Context) (*VersionStats, error) {
	vs, ok := backend.As[versionStore](r.be)
	if !ok {
		return nil, nil
	}
	ls, _ := backend.As[lockStore](r.be)
	byFile := map[backend.Handle][]backend.Version{}
	var order []backend.Handle
	err := vs.Versions(ctx, func(v backend.Version) error {
		if _, ok := byFile[v.Handle]; !ok {
			order = append(order, v.Handle)
		}
		byFile[v.Handle] = append(byFile[v.Handle], v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	now := r.opts.Now()
	st := &VersionStats{}
	for _, h := range order {
		left := 0 // data versions still there
		var markers []backend.Version
		for _, v := range byFile[h] {
			if v.DeleteMarker {
				markers = append(markers, v)
				continue
			}
			if v.Latest {
				left++
				continue
			}
			var ret backend.Retention
			if ls != nil {
				if ret, err = ls.Retention(ctx, h, v.ID); err != nil && !errors.Is(err, backend.ErrNotExist) {
					return st, err
				}
			}
			if ret.Until.After(now) {
				st.addLocked(v, ret.Until)
				left++
				continue
			}
			err := vs.RemoveVersion(ctx, v)
			var le *backend.LockedError
			switch {
			case errors.As(err, &le):
				st.addLocked(v, le.Until)
				left++
				continue
			case errors.Is(err, backend.ErrNotExist):
			case err != nil:
				return st, err
			}
			st.Deleted++
			st.FreedBytes += v.Size
		}
		if left > 0 {
			continue
		}
		// Only delete markers are left: they hide nothing any more.
		for _, m := range markers {
			if err := vs.RemoveVersion(ctx, m); err != nil && !errors.Is(err, backend.ErrNotExist) {
				return st, err
			}
			st.Markers++
		}
	}
	return st, nil
}

func (st *VersionStats) addLocked(v backend.Version, until time.Time) {
	st.Locked++
	st.LockedBytes += v.Size
	if until.IsZero() {
		return
	}
	if st.LockedFirst.IsZero() || until.Before(st.LockedFirst) {
		st.LockedFirst = until
	}
	if until.After(st.LockedLast) {
		st.LockedLast = until
	}
}

// lockStore returns the store's locking side when the repository is
// under Object Lock and the store can lock.
func (r *Repository) lockStore() (lockStore, bool) {
	ls, ok := backend.As[lockStore](r.be)
	return ls, ok && r.cfg.ObjectLock != nil
}
