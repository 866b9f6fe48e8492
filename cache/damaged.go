package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"snap/crypt"
)

// The damage log is this host's record of packs found damaged, kept beside
// the index cache in a small bbolt file of its own (damaged.db, bucket
// "damaged": pack id → JSON of Damage). It is separate from index.db
// because every running snap process holds index.db open read-only after
// its first sync, so a process that finds damage in the middle of a
// restore could not write there; this file is opened only for a moment per
// read or update. The repository's own records (damaged/ files) are what
// other hosts see; this log is what this host knows even when the
// repository could not be written.

var bucketDamaged = []byte("damaged")

// Damage is one pack found damaged.
type Damage struct {
	Pack    crypt.ID  `json:"-"`
	Reason  string    `json:"reason"`
	FoundBy string    `json:"found_by"`
	Host    string    `json:"host"`
	Time    time.Time `json:"time"`
	// Record names the repository record (damaged/<name>) that holds
	// this pack, "" while none could be written.
	Record string `json:"record,omitempty"`
}

// damageLogWait bounds how long an update waits for another process's.
const damageLogWait = 10 * time.Second

// openStateFile opens one of the small bbolt files of this host's state
// beside the index cache, for a moment: waiting up to wait for another
// process, and starting an unreadable one anew.
func openStateFile(path string, readOnly bool, wait time.Duration) (*bolt.DB, error) {
	if !readOnly { // readers look only where the file is
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("%w: %v", errCacheLocal, err)
		}
	}
	opts := &bolt.Options{Timeout: wait, ReadOnly: readOnly}
	db, err := openOrReset(path, opts)
	if errors.Is(err, ErrBusy) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", errCacheLocal, path, err)
	}
	return db, nil
}

// ReadDamageLog returns the packs the log at path records; a missing log
// records none.
func ReadDamageLog(path string) (map[crypt.ID]Damage, error) {
	out := map[crypt.ID]Damage{}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	db, err := openStateFile(path, true, damageLogWait)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDamaged)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var d Damage
			if len(k) != len(d.Pack) || json.Unmarshal(v, &d) != nil {
				return nil // not ours to judge: an entry that does not parse is left out
			}
			copy(d.Pack[:], k)
			out[d.Pack] = d
			return nil
		})
	})
	return out, err
}

// PutDamage adds or replaces entries of the log at path.
func PutDamage(path string, ds ...Damage) error {
	return updateDamageLog(path, func(b *bolt.Bucket) error {
		for _, d := range ds {
			v, err := json.Marshal(d)
			if err != nil {
				return err
			}
			if err := b.Put(d.Pack[:], v); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteDamage removes packs from the log at path.
func DeleteDamage(path string, packs ...crypt.ID) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return updateDamageLog(path, func(b *bolt.Bucket) error {
		for _, p := range packs {
			if err := b.Delete(p[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

func updateDamageLog(path string, fn func(*bolt.Bucket) error) error {
	db, err := openStateFile(path, false, damageLogWait) // an unreadable log starts anew: the repository's records hold most of it
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDamaged)
		if err != nil {
			return err
		}
		return fn(b)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}
