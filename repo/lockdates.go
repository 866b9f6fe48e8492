package repo

import (
	"path/filepath"
	"sync"
	"time"

	"snap/cache"
	"snap/repo/backend"
)

// lockRecord is this host's record of the lock dates of the repository's
// files in the store it is opened on (package cache, locks.db), so that
// extending locks asks the store only about files whose date is unknown
// or near (docs/format.md "Object Lock"). Writes are noted in memory as
// the store reports them and saved at Close and with each extension: a
// process that dies first loses only the economy.
type lockRecord struct {
	path  string // "" without a cache directory: nothing is remembered
	store string // the store's StoreID
	warn  func(format string, a ...any)

	mu      sync.Mutex
	written map[string]time.Time // locked writes not saved yet
}

// lockRecordFile is the record's name in the repository's cache directory.
const lockRecordFile = "locks.db"

// newLockRecord returns the record of the store ls; it is kept where the
// damage log is (the user's cache directory even when the index cache
// is a private one).
func (r *Repository) newLockRecord(ls lockStore) *lockRecord {
	rec := &lockRecord{store: ls.StoreID(), warn: r.warn, written: map[string]time.Time{}}
	if p, err := r.damageLogPath(); err == nil {
		rec.path = filepath.Join(filepath.Dir(p), lockRecordFile)
	}
	return rec
}

// noted is backend.ObjectLock.Written: the store wrote h locked until
// until.
func (rec *lockRecord) noted(h backend.Handle, until time.Time) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.written[h.String()] = until
}

// read returns what the record holds, with the writes of this process
// not saved yet (which are newer). Without a record, or with one that
// cannot be read, nothing is known: everything is asked.
func (rec *lockRecord) read() cache.LockDates {
	d := cache.LockDates{Current: map[string]time.Time{}, Versions: map[string]time.Time{}}
	if rec.path != "" {
		got, err := cache.ReadLockDates(rec.path, rec.store)
		if err != nil {
			rec.warn("asking the store for every lock date: %v", err)
		} else {
			d = got
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for k, t := range rec.written {
		d.Current[k] = t
	}
	return d
}

// save records learnt (dates read from the store or set by this process)
// and the writes noted so far.
func (rec *lockRecord) save(learnt cache.LockDates, now time.Time) {
	if rec == nil || rec.path == "" {
		return
	}
	put := cache.LockDates{Current: map[string]time.Time{}, Versions: learnt.Versions}
	for k, t := range learnt.Current {
		put.Current[k] = t
	}
	rec.mu.Lock()
	written := rec.written
	rec.written = map[string]time.Time{}
	rec.mu.Unlock()
	for k, t := range written {
		// A write noted after the date was learnt is the newer version.
		put.Current[k] = t
	}
	if len(put.Current) == 0 && len(put.Versions) == 0 {
		return
	}
	if err := cache.UpdateLockDates(rec.path, rec.store, put, now); err != nil {
		rec.warn("could not record lock dates (the next extension asks the store again): %v", err)
		rec.mu.Lock()
		for k, t := range written {
			if _, newer := rec.written[k]; !newer {
				rec.written[k] = t
			}
		}
		rec.mu.Unlock()
	}
}
