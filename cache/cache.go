// Package cache is snap's local cache of where blobs are: blob id → pack,
// offset and length, the packs' key tables, and which repository index files
// have been read. It lives in bbolt under the user's cache directory and is
// never the source of truth: it can always be rebuilt from the repository's
// index files (or pack headers).
package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"snap/crypt"
	"snap/repo/format"
)

// Entry is what a lookup returns.
type Entry struct {
	format.Blob
	Pack crypt.ID
}

var (
	bucketBlobs   = []byte("blobs")
	bucketPacks   = []byte("packs")
	bucketFiles   = []byte("indexfiles")
	bucketMeta    = []byte("meta")
	keyRepoID     = []byte("repo")
	keyVersion    = []byte("version")
	keyLoading    = []byte("loading") // set while an index file is added in several transactions
	cacheVersion  = []byte{1}
	errCacheLocal = errors.New("index cache")
)

// ErrSkip, from BulkLoad's load function, leaves a file out (not recorded
// as read).
var ErrSkip = errors.New("skip this index file")

// ErrBusy means another snap process holds the cache for writing.
var ErrBusy = errors.New("index cache is in use by another snap process")

// Cache is the on-disk index cache, plus an in-memory overlay for index
// files learnt while the file was shared read-only with other processes.
type Cache struct {
	db       *bolt.DB
	path     string
	readOnly bool

	mu           sync.RWMutex
	overlay      map[crypt.ID][]Entry
	overlayPacks map[crypt.ID][]byte // encoded pack info
	damaged      map[crypt.ID]bool   // packs whose copies are used last and never deduplicated against

	// A read-only cache never changes under us, so one read transaction
	// serves every lookup: a transaction per lookup cost ~8 µs, most of a
	// day-2 backup of an unchanged tree.
	rmu sync.Mutex
	rtx *bolt.Tx
}

// Open opens (creating if needed) the cache at path. A read-only cache can
// be shared by several processes; a writable one is exclusive, and Open waits
// up to timeout for it.
func Open(path, repoID string, readOnly bool, timeout time.Duration) (*Cache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", errCacheLocal, err)
	}
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w: %v", errCacheLocal, err)
		}
	}
	// NoSync: this is a cache, rebuilt from the repository at will, so it
	// need not survive a crash; a file a crash left unreadable is deleted
	// and rebuilt below.
	opts := &bolt.Options{Timeout: timeout, ReadOnly: readOnly, NoFreelistSync: true, NoSync: true}
	db, err := openOrReset(path, opts)
	if errors.Is(err, ErrBusy) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v (it is only a cache: delete it and snap rebuilds it)", errCacheLocal, path, err)
	}
	c := &Cache{db: db, path: path, readOnly: readOnly}
	if readOnly {
		if c.rtx, err = db.Begin(false); err != nil {
			db.Close()
			return nil, fmt.Errorf("%w: %v", errCacheLocal, err)
		}
		return c, nil
	}
	// A cache of another repository or version is dropped, not trusted.
	err = db.Update(func(tx *bolt.Tx) error {
		// A cache of another repository or version is dropped, and so
		// is one whose last load was cut short: it may hold entries of an
		// index file it does not record, which a prune could remove
		// without the cache ever noticing.
		m := tx.Bucket(bucketMeta)
		if m != nil && (string(m.Get(keyRepoID)) != repoID || string(m.Get(keyVersion)) != string(cacheVersion) || m.Get(keyLoading) != nil) {
			for _, b := range [][]byte{bucketBlobs, bucketPacks, bucketFiles, bucketMeta} {
				if tx.Bucket(b) != nil {
					if err := tx.DeleteBucket(b); err != nil {
						return err
					}
				}
			}
		}
		for _, b := range [][]byte{bucketBlobs, bucketPacks, bucketFiles, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m = tx.Bucket(bucketMeta)
		if err := m.Delete(keyLoading); err != nil {
			return err
		}
		if err := m.Put(keyRepoID, []byte(repoID)); err != nil {
			return err
		}
		return m.Put(keyVersion, cacheVersion)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: %v", errCacheLocal, err)
	}
	return c, nil
}

// Close closes the cache.
func (c *Cache) Close() error {
	if c.rtx != nil {
		_ = c.rtx.Rollback()
	}
	return c.db.Close()
}

// view runs fn in the long-lived read transaction of a read-only cache, or
// in a new one.
func (c *Cache) view(fn func(tx *bolt.Tx) error) error {
	if c.rtx != nil {
		c.rmu.Lock()
		defer c.rmu.Unlock()
		return fn(c.rtx)
	}
	return c.db.View(fn)
}

// Reset empties the cache.
func (c *Cache) Reset() error {
	return c.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketBlobs, bucketPacks, bucketFiles} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// IndexFiles returns the names of the index files the cache holds.
func (c *Cache) IndexFiles() (map[string]bool, error) {
	out := map[string]bool{}
	err := c.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFiles)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error { out[string(k)] = true; return nil })
	})
	return out, err
}

// insertBatch bounds the entries one transaction inserts: blob ids are
// random, so each entry may dirty its own leaf page of a large tree, and a
// transaction holds every dirty page in memory until it commits.
const insertBatch = 8192

type kv struct{ k, v []byte }

// AddIndexFile records the packs of one repository index file. Entries go
// in sorted batches (sorted inserts fill B+tree pages in order, several
// times faster than random ones); the file is recorded with the last batch,
// so an interrupted add is redone whole by the next sync.
func (c *Cache) AddIndexFile(name string, packs []format.Pack) error {
	var entries []kv
	for _, p := range packs {
		for _, b := range p.Blobs {
			entries = append(entries, kv{b.ID[:], encodeEntry(p.ID, b)})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return bytes.Compare(entries[i].k, entries[j].k) < 0 })
	err := c.db.Update(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bucketPacks)
		for _, p := range packs {
			if err := pb.Put(p.ID[:], encodePackInfo(p)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyLoading, []byte(name))
	})
	if err != nil {
		return err
	}
	for first := true; first || len(entries) > 0; first = false {
		batch := entries[:min(len(entries), insertBatch)]
		entries = entries[len(batch):]
		last := len(entries) == 0
		err := c.db.Update(func(tx *bolt.Tx) error {
			if err := putEntries(tx, batch, 0.5, true); err != nil {
				return err
			}
			if last {
				return recordLoaded(tx, name)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// recordLoaded records index files as read and ends the load.
func recordLoaded(tx *bolt.Tx, names ...string) error {
	fb := tx.Bucket(bucketFiles)
	for _, n := range names {
		if err := fb.Put([]byte(n), nil); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Delete(keyLoading)
}

// putEntries stores entries; with merge, a blob already known keeps its
// other locations (a blob stored again in another pack has both).
func putEntries(tx *bolt.Tx, entries []kv, fill float64, merge bool) error {
	bb := tx.Bucket(bucketBlobs)
	bb.FillPercent = fill
	for _, e := range entries {
		v := e.v
		if old := bb.Get(e.k); merge && old != nil {
			v = mergeLocations(old, v)
		}
		if err := bb.Put(e.k, v); err != nil {
			return err
		}
	}
	return nil
}

// bulkPerPass bounds the entries BulkLoad holds in memory at once.
const bulkPerPass = 1 << 17

// BulkLoad fills an empty cache with the index files names, which hold
// about total blobs: in passes over the files, each taking the ids in one
// range of the key space, sorted and appended in order. Appending to the
// right edge of the tree dirties only new pages, so memory stays at about
// bulkPerPass entries however large the repository; random inserts into a
// large tree would dirty all of it. load returns ErrSkip to leave a file
// out (it is then not recorded as read).
func (c *Cache) BulkLoad(names []string, load func(name string) ([]format.Pack, error), total int) error {
	passes := max(1, (total+bulkPerPass-1)/bulkPerPass)
	skipped := map[string]bool{}
	err := c.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyLoading, []byte("bulk")) })
	if err != nil {
		return err
	}
	for pass := range passes {
		lo, hi := pass*65536/passes, (pass+1)*65536/passes
		var entries []kv
		var infos []kv
		for _, name := range names {
			packs, err := load(name)
			if errors.Is(err, ErrSkip) {
				skipped[name] = true
				continue
			}
			if err != nil {
				return err
			}
			for _, p := range packs {
				if pass == 0 {
					infos = append(infos, kv{append([]byte(nil), p.ID[:]...), encodePackInfo(p)})
				}
				for _, b := range p.Blobs {
					if k := int(b.ID[0])<<8 | int(b.ID[1]); k >= lo && k < hi {
						entries = append(entries, kv{append([]byte(nil), b.ID[:]...), encodeEntry(p.ID, b)})
					}
				}
			}
		}
		sort.Slice(entries, func(i, j int) bool { return bytes.Compare(entries[i].k, entries[j].k) < 0 })
		entries = mergeDuplicates(entries)
		sort.Slice(infos, func(i, j int) bool { return bytes.Compare(infos[i].k, infos[j].k) < 0 })
		for len(entries) > 0 || len(infos) > 0 {
			batch := entries[:min(len(entries), 4*insertBatch)]
			entries = entries[len(batch):]
			packBatch := infos[:min(len(infos), insertBatch)]
			infos = infos[len(packBatch):]
			err := c.db.Update(func(tx *bolt.Tx) error {
				pb := tx.Bucket(bucketPacks)
				pb.FillPercent = 1
				for _, e := range packBatch {
					if err := pb.Put(e.k, e.v); err != nil {
						return err
					}
				}
				return putEntries(tx, batch, 1, false)
			})
			if err != nil {
				return err
			}
		}
	}
	var loaded []string
	for _, n := range names {
		if !skipped[n] {
			loaded = append(loaded, n)
		}
	}
	return c.db.Update(func(tx *bolt.Tx) error { return recordLoaded(tx, loaded...) })
}

// AddOverlay records packs in memory only (the cache file is untouched):
// for index files written or found while the cache is open read-only.
func (c *Cache) AddOverlay(packs []format.Pack) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.overlay == nil {
		c.overlay, c.overlayPacks = map[crypt.ID][]Entry{}, map[crypt.ID][]byte{}
	}
	for _, p := range packs {
		c.overlayPacks[p.ID] = encodePackInfo(p)
		for _, b := range p.Blobs {
			c.overlay[b.ID] = addLocation(c.overlay[b.ID], Entry{Blob: b, Pack: p.ID})
		}
	}
}

// Lookup returns where blob id is stored: its preferred location (see
// Locations).
func (c *Cache) Lookup(id crypt.ID) (Entry, bool, error) {
	locs, err := c.Locations(id)
	if err != nil || len(locs) == 0 {
		return Entry{}, false, err
	}
	return locs[0], true, nil
}

// Locations returns every known location of blob id, the preferred first:
// those in packs not marked damaged before those in damaged ones, and
// otherwise by pack id. The order depends only on the locations and the
// damaged set, never on the order index files were read in, so every
// reader picks the same copy.
func (c *Cache) Locations(id crypt.ID) ([]Entry, error) {
	c.mu.RLock()
	locs := append([]Entry(nil), c.overlay[id]...)
	damaged := c.damaged
	c.mu.RUnlock()
	err := c.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlobs).Get(id[:])
		if v == nil {
			return nil
		}
		stored, err := decodeEntries(id, v)
		for _, e := range stored {
			locs = addLocation(locs, e)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(locs) < 2 {
		return locs, nil // one copy, the usual case: nothing to order
	}
	slices.SortStableFunc(locs, func(a, b Entry) int {
		if da, db := damaged[a.Pack], damaged[b.Pack]; da != db {
			if da {
				return 1
			}
			return -1
		}
		return bytes.Compare(a.Pack[:], b.Pack[:])
	})
	return locs, nil
}

// Has reports whether blob id is known, in any pack.
func (c *Cache) Has(id crypt.ID) bool {
	return c.has(id, false)
}

// HasUndamaged reports whether blob id is known in a pack not marked
// damaged: what a backup may deduplicate against.
func (c *Cache) HasUndamaged(id crypt.ID) bool {
	return c.has(id, true)
}

func (c *Cache) has(id crypt.ID, undamaged bool) bool {
	c.mu.RLock()
	damaged := c.damaged
	ok := false
	for _, e := range c.overlay[id] {
		ok = ok || !undamaged || !damaged[e.Pack]
	}
	c.mu.RUnlock()
	if ok {
		return true
	}
	_ = c.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlobs).Get(id[:])
		if v == nil || !undamaged || len(damaged) == 0 {
			ok = v != nil
			return nil
		}
		// One location at a time, without building a slice: this runs
		// per chunk of a backup while any pack is marked damaged.
		for len(v) > 0 && !ok {
			e, n, err := decodeOne(id, v)
			if err != nil {
				return err
			}
			ok, v = !damaged[e.Pack], v[n:]
		}
		return nil
	})
	return ok
}

// SetDamaged sets the packs known to be damaged: lookups use their copies
// of a blob last, and HasUndamaged ignores them. It replaces the set.
func (c *Cache) SetDamaged(packs map[crypt.ID]bool) {
	m := make(map[crypt.ID]bool, len(packs))
	for id, ok := range packs {
		if ok {
			m[id] = true
		}
	}
	c.mu.Lock()
	c.damaged = m
	c.mu.Unlock()
}

// MarkDamaged adds packs to the damaged set.
func (c *Cache) MarkDamaged(packs ...crypt.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[crypt.ID]bool, len(c.damaged)+len(packs))
	for id := range c.damaged {
		m[id] = true
	}
	for _, id := range packs {
		m[id] = true
	}
	// A new map: readers that took the old one keep a consistent view.
	c.damaged = m
}

// PackKeys returns a pack's size and key table.
func (c *Cache) PackKeys(id crypt.ID) (int64, [][]byte, bool, error) {
	c.mu.RLock()
	v, ok := c.overlayPacks[id]
	c.mu.RUnlock()
	if ok {
		size, keys, err := decodePackInfo(v)
		return size, keys, err == nil, err
	}
	var size int64
	var keys [][]byte
	err := c.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPacks).Get(id[:])
		if v == nil {
			return nil
		}
		var err error
		size, keys, err = decodePackInfo(v)
		ok = err == nil
		return err
	})
	return size, keys, ok, err
}

// Count returns the number of known blobs.
func (c *Cache) Count() (n int) {
	_ = c.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketBlobs).Stats().KeyN
		return nil
	})
	return n
}

func encodeEntry(pack crypt.ID, b format.Blob) []byte {
	buf := make([]byte, 0, 32+1+4*binary.MaxVarintLen64)
	buf = append(buf, pack[:]...)
	buf = append(buf, byte(b.Type)) // the repository format's byte: caches of earlier builds still open
	buf = binary.AppendUvarint(buf, uint64(b.KeySlot))
	buf = binary.AppendUvarint(buf, b.Offset)
	buf = binary.AppendUvarint(buf, b.Length)
	buf = binary.AppendUvarint(buf, b.PlainLen)
	return buf
}

var errCorrupt = errors.New("index cache entry is corrupt (delete the cache)")

// A blob's value is one encoded entry per location, sorted by pack id, one
// per pack. A cache of earlier builds holds one entry per blob, which
// decodes as a list of one.

// decodeEntries decodes every location of a value.
func decodeEntries(id crypt.ID, v []byte) ([]Entry, error) {
	var out []Entry
	for len(v) > 0 {
		e, n, err := decodeOne(id, v)
		if err != nil {
			return out, err
		}
		out = append(out, e)
		v = v[n:]
	}
	return out, nil
}

// addLocation adds e to locs, replacing an entry of the same pack.
func addLocation(locs []Entry, e Entry) []Entry {
	for i := range locs {
		if locs[i].Pack == e.Pack {
			locs[i] = e
			return locs
		}
	}
	return append(locs, e)
}

// mergeLocations merges two encoded values (b's entries win for a pack
// both hold) into a new one, sorted by pack id.
func mergeLocations(a, b []byte) []byte {
	var id crypt.ID // not stored in values; any will do for re-encoding
	ea, errA := decodeEntries(id, a)
	eb, errB := decodeEntries(id, b)
	if errA != nil || errB != nil {
		return append([]byte(nil), b...) // a corrupt old value is replaced
	}
	for _, e := range eb {
		ea = addLocation(ea, e)
	}
	sort.Slice(ea, func(i, j int) bool { return bytes.Compare(ea[i].Pack[:], ea[j].Pack[:]) < 0 })
	var out []byte
	for _, e := range ea {
		out = append(out, encodeEntry(e.Pack, e.Blob)...)
	}
	return out
}

// mergeDuplicates joins the values of equal keys in sorted entries.
func mergeDuplicates(entries []kv) []kv {
	out := entries[:0]
	for _, e := range entries {
		if n := len(out); n > 0 && bytes.Equal(out[n-1].k, e.k) {
			out[n-1].v = mergeLocations(out[n-1].v, e.v)
			continue
		}
		out = append(out, e)
	}
	return out
}

// decodeOne decodes the entry at the start of v and returns its length.
func decodeOne(id crypt.ID, v []byte) (Entry, int, error) {
	var e Entry
	if len(v) < 33 {
		return e, 0, errCorrupt
	}
	copy(e.Pack[:], v)
	e.ID = id
	e.Type = format.BlobType(v[32])
	used := 33
	var vals [4]uint64
	for i := range vals {
		x, n := binary.Uvarint(v[used:])
		if n <= 0 {
			return e, 0, errCorrupt
		}
		vals[i] = x
		used += n
	}
	e.KeySlot, e.Offset, e.Length, e.PlainLen = uint32(vals[0]), vals[1], vals[2], vals[3]
	return e, used, nil
}

func encodePackInfo(p format.Pack) []byte {
	buf := binary.AppendUvarint(nil, uint64(p.Size))
	buf = binary.AppendUvarint(buf, uint64(len(p.Keys)))
	for _, k := range p.Keys {
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
	}
	return buf
}

func decodePackInfo(v []byte) (int64, [][]byte, error) {
	size, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, nil, errCorrupt
	}
	v = v[n:]
	nk, n := binary.Uvarint(v)
	if n <= 0 || nk > 1<<16 {
		return 0, nil, errCorrupt
	}
	v = v[n:]
	keys := make([][]byte, 0, nk)
	for range nk {
		l, n := binary.Uvarint(v)
		if n <= 0 || uint64(len(v)-n) < l {
			return 0, nil, errCorrupt
		}
		keys = append(keys, append([]byte(nil), v[n:n+int(l)]...))
		v = v[n+int(l):]
	}
	return int64(size), keys, nil
}

// openOrReset opens a bbolt file; one another process holds past the
// timeout is ErrBusy; one that cannot be read (a crash mid-write: these
// files are written without fsync, being rebuildable) is deleted and
// started anew, unless it is opened read-only.
func openOrReset(path string, opts *bolt.Options) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, opts)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w (%s)", ErrBusy, path)
	}
	if err != nil && !opts.ReadOnly {
		os.Remove(path)
		db, err = bolt.Open(path, 0o600, opts)
	}
	return db, err
}
