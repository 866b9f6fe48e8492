package cache

import (
	"encoding/binary"
	"errors"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The lock-date record is this host's memory of the Object Lock
// retain-until dates of a repository's files in each bucket it is stored
// in (docs/format.md "Object Lock"), kept beside the index cache in a
// small bbolt file of its own (locks.db): one bucket per store (its
// StoreID), holding "current" (file → date of its current version) and
// "versions" (file and version id → date of an earlier version). Dates
// are whole seconds, rounded down.
//
// It only saves requests: a date it holds was, when recorded, a lower
// bound of the lock of that version in that bucket (written by snap with
// that lock, read from the store, or extended to it). A file the record
// lacks, or whose date is near, is asked of the store again; a record
// lost or reset costs requests, never a lock.

var (
	bucketCurrent  = []byte("current")
	bucketVersions = []byte("versions")
)

// LockDates are dates of the record of one store: Current by file
// (backend.Handle.String()), Versions by VersionKey.
type LockDates struct {
	Current  map[string]time.Time
	Versions map[string]time.Time
}

// VersionKey is the Versions key of one version of a file.
func VersionKey(file, version string) string { return file + " " + version }

// lockRecordWait bounds how long a read or an update waits for another
// process's: the record is only an economy, a busy one is done without.
const lockRecordWait = 5 * time.Second

// ReadLockDates returns what the record at path holds for store; a
// missing record holds nothing.
func ReadLockDates(path, store string) (LockDates, error) {
	out := LockDates{Current: map[string]time.Time{}, Versions: map[string]time.Time{}}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	db, err := openStateFile(path, true, lockRecordWait)
	if err != nil {
		return out, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		sb := tx.Bucket([]byte(store))
		if sb == nil {
			return nil
		}
		read := func(name []byte, into map[string]time.Time) error {
			b := sb.Bucket(name)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				if len(v) == 8 { // an entry that does not parse is left out: asked again
					into[string(k)] = time.Unix(int64(binary.BigEndian.Uint64(v)), 0)
				}
				return nil
			})
		}
		if err := read(bucketCurrent, out.Current); err != nil {
			return err
		}
		return read(bucketVersions, out.Versions)
	})
	return out, err
}

// UpdateLockDates records put for store, replacing what the record held
// for the same keys (the newest knowledge of a file's current version is
// what it holds now), and drops every date of store that is not after
// now: a lock that has run out saves no request.
func UpdateLockDates(path, store string, put LockDates, now time.Time) error {
	db, err := openStateFile(path, false, lockRecordWait)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		sb, err := tx.CreateBucketIfNotExists([]byte(store))
		if err != nil {
			return err
		}
		for _, part := range []struct {
			name  []byte
			dates map[string]time.Time
		}{{bucketCurrent, put.Current}, {bucketVersions, put.Versions}} {
			b, err := sb.CreateBucketIfNotExists(part.name)
			if err != nil {
				return err
			}
			for k, t := range part.dates {
				var v [8]byte
				binary.BigEndian.PutUint64(v[:], uint64(t.Unix()))
				if err := b.Put([]byte(k), v[:]); err != nil {
					return err
				}
			}
			var gone [][]byte
			err = b.ForEach(func(k, v []byte) error {
				if len(v) != 8 || !time.Unix(int64(binary.BigEndian.Uint64(v)), 0).After(now) {
					gone = append(gone, k)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range gone {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}
