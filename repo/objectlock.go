package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"snap/cache"
	"snap/repo/backend"
)

// Object Lock (docs/format.md "Object Lock"). A repository whose config
// has object_lock keeps every file a restore needs locked in its S3
// bucket: each is written with a retain-until date (now + the period, in
// the config's mode), and forget/prune and snap run move the dates of what
// kept snapshots still need forward before they run out (asking the store
// only about files whose date this host's record, lockdates.go, does not
// show far enough ahead). Nobody holding
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
// pass it on (backend.LockingStore) or implement backend.Wrapper, or
// writes go unlocked.
type lockStore interface {
	StoreID() string
	LockWrites(backend.ObjectLock)
	Retention(ctx context.Context, h backend.Handle, version string) (backend.Retention, error)
	ExtendRetention(ctx context.Context, h backend.Handle, until time.Time) error
}

// versionStore is a store that keeps earlier versions of files.
type versionStore interface {
	Versions(ctx context.Context, fn func(backend.Version) error) error
	RemoveVersion(ctx context.Context, v backend.Version) error
}

// applyObjectLock makes be lock what it writes, if it can and l is set;
// written, if not nil, is told of each locked write (lockRecord.noted).
func applyObjectLock(be backend.Backend, l *ObjectLock, now func() time.Time, written func(backend.Handle, time.Time)) bool {
	ls, ok := backend.As[lockStore](be)
	if !ok || l == nil {
		return false
	}
	if now == nil {
		now = time.Now
	}
	ls.LockWrites(backend.ObjectLock{Mode: l.Mode, Period: l.Period(), Now: now, Types: lockedTypes, Written: written})
	return true
}

// LockStats say what an extension of object locks found and did.
type LockStats struct {
	Checked int `json:"objects_checked"`
	// Asked were read from the store: the others' dates this host's
	// record showed far enough ahead.
	Asked    int `json:"locks_read"`
	Extended int `json:"locks_extended"`
	// Until is the earliest retain-until date of the files the kept
	// snapshots need, after extending: none of them can be deleted
	// before it.
	Until time.Time `json:"locked_until"`
}

// ExtendLocks moves the locks of every file the snapshots need forward
// (see extendLocks). It returns nil stats for a repository without Object
// Lock or on a store that cannot lock (a local copy). Blobs missing from
// every pack do not stop it: what is there is extended, then the damage
// is reported. The caller holds a lock on the repository (a prune must
// not delete meanwhile what this extends, which is harmless, but the
// marking must be consistent).
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
	st, err := r.extendLocks(ctx, ls, sc)
	if err == nil && len(sc.missing) > 0 {
		err = &MissingBlobsError{Blobs: sc.missing, Users: r.usersOf(ctx, snaps, sc.missing, 5)}
	}
	return st, err
}

// OpExtendLocks is the lock operation of a lone ExtendLocks (snap run).
const OpExtendLocks = "extend-locks"

// lockWorkers bounds concurrent retention requests.
const lockWorkers = 8

// extendLocks moves forward the lock of every file the scan found needed:
// the config, key slots, the snapshots, every pack holding a blob they
// need (or a damaged pack kept for its copies) whatever prune plans for
// it, and every index file listing one of those. A pack prune will
// repack and an index file it will replace are extended too: if the
// prune stops before it deletes them, they are still what the snapshots
// read (a prune that runs to its end leaves them with a date the next
// prunes let pass). Extending a file whose date is far enough ahead
// costs nothing (extendHandles).
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
	var packs []*packInfo
	for _, p := range sc.packs {
		if p.live > 0 || p.lastCopies {
			packs = append(packs, p)
		}
	}
	need = append(need, packHandles(sc, packs)...)
	return r.extendHandles(ctx, ls, need)
}

// packHandles are packs and the index files listing them, each once.
func packHandles(sc *repoScan, packs []*packInfo) []backend.Handle {
	var out []backend.Handle
	lists := map[int32]bool{}
	for _, p := range packs {
		out = append(out, backend.Handle{Type: backend.PackFile, Name: p.id.String()})
		for _, f := range p.files {
			lists[f] = true
		}
	}
	for i, f := range sc.files {
		if lists[int32(i)] {
			out = append(out, backend.Handle{Type: backend.IndexFile, Name: f})
		}
	}
	return out
}

// extendHandles moves the lock of each of need to now + period when less
// than half the period is left. So what kept snapshots need is always
// locked for at least half the period after the last run that extended,
// and each file's lock is rewritten about once per half period. A file
// whose date this host's record (lockRecord) shows past the threshold is
// not asked about; the others are read from the store first (never
// shortened: S3 refuses that), and what was read or set is recorded.
func (r *Repository) extendHandles(ctx context.Context, ls lockStore, need []backend.Handle) (*LockStats, error) {
	l := r.cfg.ObjectLock
	now := r.opts.Now()
	st := &LockStats{}
	var mu sync.Mutex
	threshold := now.Add(l.Period() / 2)
	until := now.Add(l.Period())
	rec := r.lockRecord(ls)
	known := rec.read().Current
	learnt := cache.LockDates{Current: map[string]time.Time{}}
	count := func(got time.Time, asked, extended bool) {
		mu.Lock()
		defer mu.Unlock()
		st.Checked++
		if asked {
			st.Asked++
		}
		if extended {
			st.Extended++
		}
		if st.Until.IsZero() || got.Before(st.Until) {
			st.Until = got
		}
	}
	err := forEachParallel(ctx, need, lockWorkers, func(h backend.Handle) error {
		if d, ok := known[h.String()]; ok && !d.Before(threshold) {
			count(d, false, false)
			return nil
		}
		ret, err := ls.Retention(ctx, h, "")
		if errors.Is(err, backend.ErrNotExist) {
			return nil // removed meanwhile (a snapshot forgotten by another host)
		}
		if err != nil {
			return err
		}
		got, extended := ret.Until, false
		if got.Before(threshold) {
			if err := ls.ExtendRetention(ctx, h, until); err != nil {
				if errors.Is(err, backend.ErrNotExist) {
					return nil
				}
				return err
			}
			got, extended = until, true
		}
		mu.Lock()
		learnt.Current[h.String()] = got
		mu.Unlock()
		count(got, true, extended)
		return nil
	})
	// What was learnt is kept even when a request failed.
	rec.save(learnt, now)
	if err != nil {
		return st, fmt.Errorf("extending object locks: %w", err)
	}
	return st, nil
}

// lockRecord is the record of lock dates in the store ls: the one made at
// Open for the repository's own store, else (a store opened otherwise) a
// new one.
func (r *Repository) lockRecord(ls lockStore) *lockRecord {
	if r.locks != nil && r.locks.store == ls.StoreID() {
		return r.locks
	}
	return r.newLockRecord(ls)
}

// add counts what a second extension in the same run did.
func (st *LockStats) add(o *LockStats) {
	if st == nil || o == nil {
		return
	}
	st.Checked += o.Checked
	st.Asked += o.Asked
	st.Extended += o.Extended
	if !o.Until.IsZero() && (st.Until.IsZero() || o.Until.Before(st.Until)) {
		st.Until = o.Until
	}
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
//
// Each earlier version is simply deleted: the store refuses one its lock
// still holds and says until when (a *backend.LockedError), which this
// host's record keeps, so later prunes send no request for it until that
// date has passed. The record never causes a delete, only spares one.
func (r *Repository) reapVersions(ctx context.Context) (*VersionStats, error) {
	vs, ok := backend.As[versionStore](r.be)
	if !ok {
		return nil, nil
	}
	var rec *lockRecord
	known := map[string]time.Time{}
	if ls, ok := backend.As[lockStore](r.be); ok {
		rec = r.lockRecord(ls)
		known = rec.read().Versions
	}
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
	learnt := cache.LockDates{Versions: map[string]time.Time{}}
	defer func() { rec.save(learnt, now) }()
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
			key := cache.VersionKey(h.String(), v.ID)
			if d, ok := known[key]; ok && d.After(now) {
				st.addLocked(v, d)
				left++
				continue
			}
			err := vs.RemoveVersion(ctx, v)
			var le *backend.LockedError
			switch {
			case errors.As(err, &le):
				st.addLocked(v, le.Until)
				if !le.Until.IsZero() {
					learnt.Versions[key] = le.Until
				}
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
