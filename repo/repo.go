// Package repo is snap's repository: config, storage backends, packs, index
// files, snapshots, the backup writer and the restore reader. The on-disk
// format is specified in docs/format.md; this package is its reference.
package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"snap/cache"
	"snap/chunk"
	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/compress"
	"snap/repo/format"
)

// Options tune how a repository is opened.
type Options struct {
	// CacheDir holds the local index cache; empty means the user's cache
	// directory (SNAP_CACHE_DIR is handled by the caller).
	CacheDir string
	// Now is the repository's one clock: lock times, staleness and how
	// long a lock wait has lasted are all read from it. nil means
	// time.Now. A clock that stands still never ends a lock wait
	// (LockOptions.Wait); one that jumps ahead ends it early.
	Now func() time.Time
	// Workers bounds CPU-heavy goroutines (hashing, compression,
	// encryption); 0 means GOMAXPROCS.
	Workers int
	// Connections bounds the packs a backup uploads at once (and a sync
	// copies); 0 means 2. Remote stores want more: each request waits
	// a round trip, and one stream rarely fills the link.
	Connections int
	// SkipDamagedIndex leaves out index files that fail to load instead
	// of failing (check and repair; see DamagedIndexFiles).
	SkipDamagedIndex bool
	// StateDir is the user's cache directory when CacheDir is a private,
	// throwaway one (check, repair): this host's record of damaged packs
	// is kept there so it outlives the private cache. Empty: CacheDir.
	StateDir string
	// Warn, if set, is told what the repository could not do that the
	// operation does not fail for (a record of damage it could not write).
	Warn func(msg string)
}

// Repository is an opened repository.
type Repository struct {
	be     backend.Backend
	cfg    *Config
	master *crypt.Master
	meta   *crypt.Sealer
	cache  *cache.Cache
	opts   Options

	cacheTmp string // a private cache file to delete at Close

	locks *lockRecord // lock dates in the store (objectlock.go), nil unless it locks

	keysMu sync.Mutex
	keys   map[crypt.ID]*crypt.Sealer // unwrapped session keys by hash of the wrapped bytes

	dec *compress.Decoder

	packsMu    sync.Mutex
	packs      map[string]*openPack // open packs for reading
	storedBufs sync.Pool            // recycled buffers of blobs being read (*[]byte)

	damagedIndex map[string]error // index files left out (SkipDamagedIndex)

	damageMu         sync.Mutex
	damage           map[crypt.ID]DamagedPack // packs known to be damaged (see damaged.go)
	damageRecordErrs map[string]error         // damaged/ files that could not be read
}

// DamagedIndexFiles returns the index files that failed to load and were
// left out of the index (only with Options.SkipDamagedIndex).
func (r *Repository) DamagedIndexFiles() map[string]error { return r.damagedIndex }

// InitOptions are the settings of a new repository.
type InitOptions struct {
	Chunker  *chunk.Params // nil: defaults with a random seed
	PackSize int           // 0: DefaultPackSize
	Level    string        // "": DefaultLevel
	// ObjectLock, if set, is recorded in the config, and every file
	// written from then on is locked where the store can lock (an S3
	// bucket with Object Lock; a local directory records it only, for
	// the buckets the repository is synced to).
	ObjectLock *ObjectLock
	Now        func() time.Time // the clock of lock dates; nil: time.Now
}

// Init creates a repository in be and returns its new full master key. The
// caller stores the key (AddKey with a passphrase, or a key file).
func Init(ctx context.Context, be backend.Backend, o InitOptions) (*crypt.Master, error) {
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); err == nil {
		return nil, ErrRepositoryExists
	}
	id := newRepoID()
	m, err := crypt.NewMaster(id)
	if err != nil {
		return nil, err
	}
	cfg := &Config{ID: id, PackSize: o.PackSize, IDKey: crypt.NewRandomKey(), Level: o.Level}
	if cfg.Level == "" {
		cfg.Level = DefaultLevel
	}
	if !compress.Known(cfg.Level) {
		return nil, fmt.Errorf("%w %q: use one of %v", compress.ErrUnknownLevel, cfg.Level, compress.Levels)
	}
	if cfg.PackSize == 0 {
		cfg.PackSize = DefaultPackSize
	}
	if o.Chunker != nil {
		cfg.Chunker = *o.Chunker
	} else {
		cfg.Chunker = chunk.NewParams(crypt.NewRandomKey())
	}
	cfg.Recipient = m.DataIdentity.Recipient()
	if o.ObjectLock != nil {
		if err := o.ObjectLock.Validate(); err != nil {
			return nil, err
		}
		l := *o.ObjectLock
		cfg.ObjectLock = &l
		applyObjectLock(be, cfg.ObjectLock, o.Now, nil)
	}
	b := marshalConfig(cfg, crypt.NewSealer(m.MetaKey))
	if err := be.Save(ctx, backend.Handle{Type: backend.ConfigFile}, backend.NewByteReader(b)); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	return m, nil
}

// Open opens the repository in be with master key m and brings the local
// index cache up to date.
func Open(ctx context.Context, be backend.Backend, m *crypt.Master, o Options) (*Repository, error) {
	f, err := loadConfigFile(ctx, be)
	if err != nil {
		return nil, err
	}
	if m.RepoID != "" && m.RepoID != f.ID {
		return nil, fmt.Errorf("%w: the key belongs to repository %.8s, this is repository %.8s", ErrWrongKey, m.RepoID, f.ID)
	}
	meta := crypt.NewSealer(m.MetaKey)
	cfg, err := openConfig(f, meta)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dec, err := compress.NewDecoder(format.MaxBlobLength)
	if err != nil {
		return nil, err
	}
	r := &Repository{be: be, cfg: cfg, master: m, meta: meta, opts: o, keys: map[crypt.ID]*crypt.Sealer{}, dec: dec, packs: map[string]*openPack{}}
	if ls, ok := backend.As[lockStore](be); ok && cfg.ObjectLock != nil {
		r.locks = r.newLockRecord(ls)
		applyObjectLock(be, cfg.ObjectLock, o.Now, r.locks.noted)
	}
	return r, nil
}

// Close releases the cache, and records the lock dates of what was
// written.
func (r *Repository) Close() error {
	if r.locks != nil {
		r.locks.save(cache.LockDates{}, r.opts.Now())
	}
	var err error
	if r.cache != nil {
		err = r.cache.Close()
		r.cache = nil
	}
	if r.cacheTmp != "" {
		os.Remove(r.cacheTmp)
	}
	r.packsMu.Lock()
	for _, p := range r.packs {
		p.f.Close()
	}
	r.packs = map[string]*openPack{}
	r.packsMu.Unlock()
	r.dec.Close()
	return err
}

// Config returns the opened config.
func (r *Repository) Config() *Config { return r.cfg }

// Backend returns the storage.
func (r *Repository) Backend() backend.Backend { return r.be }

// Master returns the key the repository was opened with.
func (r *Repository) Master() *crypt.Master { return r.master }

// CanRead reports whether the key can decrypt data.
func (r *Repository) CanRead() bool { return r.master.DataIdentity != nil }

// CacheDir is this repository's local cache directory (for state that may
// be lost without harm).
func (r *Repository) CacheDir() (string, error) { return r.cacheDir() }

func (r *Repository) cacheDir() (string, error) {
	d := r.opts.CacheDir
	if d == "" {
		var err error
		if d, err = DefaultCacheDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(d, r.cfg.ID), nil
}

// DefaultCacheDir is the cache directory used when Options.CacheDir is
// empty: snap under the user's cache directory.
func DefaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoCacheDir, err)
	}
	return filepath.Join(base, "snap"), nil
}

// Index returns the local index cache, syncing it with the repository's
// index files the first time. Commands that only list snapshots never pay
// for it.
//
// The cache file is written only while no other snap process has it open;
// otherwise this process opens it read-only and keeps what the file lacks
// in memory, so processes never wait on each other's cache.
func (r *Repository) Index(ctx context.Context) (*cache.Cache, error) {
	if r.cache != nil {
		return r.cache, nil
	}
	dir, err := r.cacheDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "index.db")
	c, err := cache.Open(path, r.cfg.ID, false, 100*time.Millisecond)
	switch {
	case err == nil:
		err = r.syncIndex(ctx, c, false)
		if cerr := c.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		if c, err = cache.Open(path, r.cfg.ID, true, time.Minute); err != nil {
			return nil, err
		}
		// Another process may have added files between close and reopen:
		// no harm, they are read into the overlay.
		fallthrough
	case errors.Is(err, cache.ErrBusy):
		if c == nil {
			if c, err = cache.Open(path, r.cfg.ID, true, time.Minute); err != nil {
				return nil, err
			}
		}
		err := r.syncIndex(ctx, c, true)
		if errors.Is(err, errCacheStale) {
			c.Close()
			return r.privateIndex(ctx, dir)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
	default:
		return nil, err
	}
	if err := r.loadDamage(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	r.cache = c
	return c, nil
}

// refreshIndex forgets the memoized cache so the next Index call syncs it
// again: for an operation that has just taken its lock, since another
// process may have pruned since this one last looked.
func (r *Repository) refreshIndex() {
	if r.cache != nil {
		r.cache.Close()
		r.cache = nil
	}
	if r.cacheTmp != "" {
		os.Remove(r.cacheTmp)
		r.cacheTmp = ""
	}
}

// privateIndex builds a cache of this process's own from scratch: for when
// the shared one is stale and in use.
func (r *Repository) privateIndex(ctx context.Context, dir string) (*cache.Cache, error) {
	path := filepath.Join(dir, fmt.Sprintf("index-%d.db.tmp", os.Getpid()))
	os.Remove(path)
	c, err := cache.Open(path, r.cfg.ID, false, time.Second)
	if err != nil {
		return nil, err
	}
	r.cacheTmp = path
	if err := r.syncIndex(ctx, c, false); err != nil {
		c.Close()
		return nil, err
	}
	if err := r.loadDamage(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	r.cache = c
	return c, nil
}

var errCacheStale = errors.New("index cache refers to removed index files")

// syncIndex reads the index files the cache does not know, into the file or
// (overlay) into memory. If the cache knows a file that is gone (prune
// replaced it), a writable cache starts over; an overlay gives errCacheStale.
func (r *Repository) syncIndex(ctx context.Context, c *cache.Cache, overlay bool) error {
	have, err := c.IndexFiles()
	if err != nil {
		return err
	}
	var names []string
	listed := map[string]bool{}
	var newBytes, totalBytes int64
	err = r.be.List(ctx, backend.IndexFile, func(fi backend.FileInfo) error {
		listed[fi.Name] = true
		totalBytes += fi.Size
		if !have[fi.Name] {
			names = append(names, fi.Name)
			newBytes += fi.Size
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list index files: %w", err)
	}
	stale := false
	for name := range have {
		if !listed[name] {
			stale = true
			break
		}
	}
	if stale && overlay {
		return errCacheStale
	}
	load := func(name string) ([]format.Pack, error) {
		packs, err := r.LoadIndexFile(ctx, name)
		if err != nil && r.opts.SkipDamagedIndex && (errors.Is(err, ErrDamaged) || errors.Is(err, backend.ErrNotExist)) {
			if r.damagedIndex == nil {
				r.damagedIndex = map[string]error{}
			}
			r.damagedIndex[name] = err
			return nil, cache.ErrSkip
		}
		return packs, err
	}
	// Many new entries (a first open, a large first backup, a prune that
	// replaced index files) are bulk loaded into an empty cache: inserting
	// them at random into a large tree would hold most of it in memory.
	const bytesPerBlob = 48
	if !overlay && (stale || newBytes/bytesPerBlob > 1<<16 && newBytes/bytesPerBlob > int64(c.Count()/4)) {
		if err := c.Reset(); err != nil {
			return err
		}
		all := make([]string, 0, len(listed))
		for n := range listed {
			all = append(all, n)
		}
		return c.BulkLoad(all, load, int(totalBytes/bytesPerBlob))
	}
	for _, name := range names {
		packs, err := load(name)
		if errors.Is(err, cache.ErrSkip) {
			continue
		}
		if err != nil {
			return err
		}
		if overlay {
			c.AddOverlay(packs)
		} else if err := c.AddIndexFile(name, packs); err != nil {
			return err
		}
	}
	return nil
}

// LoadIndexFile reads, verifies and parses one index file.
func (r *Repository) LoadIndexFile(ctx context.Context, name string) ([]format.Pack, error) {
	h := backend.Handle{Type: backend.IndexFile, Name: name}
	plain, err := r.loadSealedFile(ctx, h, format.ADIndex)
	if err != nil {
		return nil, err
	}
	packs, err := format.ParseIndex(plain)
	if err != nil {
		if errors.Is(err, ErrVersion) {
			return nil, err
		}
		return nil, &DamagedError{File: h, Err: err}
	}
	return packs, nil
}

// loadSealedFile reads a content-named metadata file, checks its name
// against its hash and opens it with the metadata key.
func (r *Repository) loadSealedFile(ctx context.Context, h backend.Handle, ad []byte) ([]byte, error) {
	b, err := readFile(ctx, r.be, h)
	if err != nil {
		return nil, err
	}
	if crypt.Hash(b).String() != h.Name {
		return nil, &DamagedError{File: h, Err: errHashMismatch}
	}
	plain, err := r.meta.OpenInPlace(b, ad)
	if err != nil {
		return nil, &DamagedError{File: h, Err: err}
	}
	return plain, nil
}

// saveSealedFile seals plain with the metadata key and saves it under the
// hash of the sealed bytes.
func (r *Repository) saveSealedFile(ctx context.Context, t backend.FileType, plain, ad []byte) (crypt.ID, error) {
	b := r.meta.Seal(nil, plain, ad)
	id := crypt.Hash(b)
	if err := r.be.Save(ctx, backend.Handle{Type: t, Name: id.String()}, backend.NewByteReader(b)); err != nil {
		return id, err
	}
	return id, nil
}

// sessionSealer returns the sealer for a pack's wrapped session key.
func (r *Repository) sessionSealer(wrapped []byte) (*crypt.Sealer, error) {
	if r.master.DataIdentity == nil {
		return nil, ErrWriteOnly
	}
	h := crypt.Hash(wrapped)
	r.keysMu.Lock()
	defer r.keysMu.Unlock()
	if s, ok := r.keys[h]; ok {
		return s, nil
	}
	k, err := crypt.UnwrapKey(wrapped, r.master.DataIdentity)
	if err != nil {
		return nil, err
	}
	s := crypt.NewSealer(k)
	r.keys[h] = s
	return s, nil
}
