package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"snap/crypt"
	"snap/repo/backend"
)

// Sync copies a repository file by file to another place (a mounted disk):
// the copy is the same repository, opened by the same keys. Files are
// immutable and named by their hash, so a file the destination has is the
// file the source has, and only missing files are copied:
//
//   - into an empty destination, key slots and then the config first; then
//     the key slots, packs, index files and snapshots it lacks, in the repository's own write order,
//     so the destination is a consistent repository at every moment and an
//     interrupted sync resumes where it stopped;
//   - every file is checked against its name before it is copied (damage
//     at the source is reported, never spread) and read back after (from a
//     directory; a remote store's transport already proves the upload);
//   - with Delete, files the source no longer has (a prune ran there) are
//     removed afterwards, newest kind first: snapshots, index, packs, keys.
//
// It needs the metadata key only to lock both sides.

// SyncOptions control a sync.
type SyncOptions struct {
	Delete bool
	// CacheDir is for opening the destination (its lock); "" is the
	// user's cache directory.
	CacheDir string
	// Lock is how to lock the destination (exclusive, op sync).
	Lock LockOptions
	// Progress, if set, is called after each file with the totals so far.
	Progress func(SyncStats)
	// Workers copying packs at once; 0 means the repository's
	// connections (Options.Connections).
	Workers int
	// DestName names the destination in messages.
	DestName string
}

// SyncStats count what a sync did.
type SyncStats struct {
	FilesToCopy  int      `json:"files_to_copy"`
	BytesToCopy  int64    `json:"bytes_to_copy"`
	FilesCopied  int      `json:"files_copied"`
	BytesCopied  int64    `json:"bytes_copied"`
	FilesPresent int      `json:"files_present"`
	FilesDeleted int      `json:"files_deleted"`
	Damaged      []string `json:"damaged_at_source"`
	// Locks: at a destination bucket under Object Lock, the locks of the
	// files it already had and the source still has, extended.
	Locks *LockStats `json:"object_locks,omitempty"`
}

// ErrOtherRepository means the destination holds a different repository.
var ErrOtherRepository = errors.New("the destination holds another repository")

// syncOrder is the order files are copied in: what a file refers to is
// always copied before it. Records of damaged packs go first: a backup to
// the destination avoids those packs from the start.
var syncOrder = []backend.FileType{backend.DamagedFile, backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile}

// Sync copies r's files to dst (see above). The caller holds a shared lock
// on r (op sync) so no prune removes files while they are copied.
func (r *Repository) Sync(ctx context.Context, dst backend.Backend, o SyncOptions) (*SyncStats, error) {
	st := &SyncStats{Damaged: []string{}}
	// A destination bucket locks what it gets from the first file on.
	// (The destination's own Open, below, records the dates of what
	// it writes from then on.)
	applyObjectLock(dst, r.cfg.ObjectLock, r.opts.Now, nil)
	if err := r.syncConfig(ctx, dst, st); err != nil {
		return st, err
	}
	dr, err := Open(ctx, dst, r.master, Options{CacheDir: o.CacheDir, Now: r.opts.Now})
	if err != nil {
		return st, fmt.Errorf("destination: %w", err)
	}
	defer dr.Close()
	lo := o.Lock
	lo.Exclusive, lo.Op = true, OpSync
	lock, err := dr.Lock(ctx, lo)
	if err != nil {
		return st, fmt.Errorf("destination: %w", err)
	}
	defer lock.Unlock()

	type plan struct {
		missing []backend.FileInfo
		extra   []string
		present []string
	}
	plans := map[backend.FileType]*plan{}
	// The source is listed in the reverse of the write order (snapshots
	// first): a backup committing meanwhile adds files the listing misses
	// at worst, never a snapshot whose packs it missed.
	for i := len(syncOrder) - 1; i >= 0; i-- {
		t := syncOrder[i]
		have := map[string]int64{}
		if err := dst.List(ctx, t, func(fi backend.FileInfo) error { have[fi.Name] = fi.Size; return nil }); err != nil {
			return st, fmt.Errorf("list destination %s: %w", t, err)
		}
		p := &plan{}
		err := r.be.List(ctx, t, func(fi backend.FileInfo) error {
			size, ok := have[fi.Name]
			delete(have, fi.Name)
			if ok && size == fi.Size {
				st.FilesPresent++
				p.present = append(p.present, fi.Name)
				return nil
			}
			// Missing, or a different size: a damaged or half-made copy.
			p.missing = append(p.missing, fi)
			st.FilesToCopy++
			st.BytesToCopy += fi.Size
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("list %s: %w", t, err)
		}
		for name := range have {
			p.extra = append(p.extra, name)
		}
		plans[t] = p
	}
	var mu sync.Mutex
	report := func(n int64) {
		mu.Lock()
		st.FilesCopied++
		st.BytesCopied += n
		s := *st
		mu.Unlock()
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	for _, t := range syncOrder {
		if err := lock.Check(); err != nil {
			return st, err
		}
		workers := 1
		if t == backend.PackFile {
			workers = o.Workers
			if workers <= 0 {
				workers = r.connections()
			}
		}
		err := forEachParallel(ctx, plans[t].missing, workers, func(fi backend.FileInfo) error {
			h := backend.Handle{Type: t, Name: fi.Name}
			n, err := copyVerified(ctx, r.be, dst, h)
			if errors.Is(err, ErrDamaged) {
				mu.Lock()
				st.Damaged = append(st.Damaged, h.String())
				mu.Unlock()
				if id, perr := crypt.ParseID(fi.Name); perr == nil && t == backend.PackFile {
					r.recordOrWarn(ctx, FoundBySync, map[crypt.ID]string{id: errText(err)})
				}
				return nil
			}
			if errors.Is(err, backend.ErrNotExist) {
				return nil // removed at the source meanwhile (forgotten or pruned)
			}
			if err != nil {
				return err
			}
			report(n)
			return nil
		})
		if err != nil {
			return st, err
		}
	}
	// What both sides have keeps its lock at the destination (what was
	// copied just now is locked afresh).
	if ls, ok := dr.lockStore(); ok {
		need := []backend.Handle{{Type: backend.ConfigFile}}
		for _, t := range syncOrder {
			if t == backend.DamagedFile {
				continue
			}
			for _, name := range plans[t].present {
				need = append(need, backend.Handle{Type: t, Name: name})
			}
		}
		if st.Locks, err = dr.extendHandles(ctx, ls, need); err != nil {
			return st, fmt.Errorf("destination: %w", err)
		}
	}
	if o.Delete {
		if len(st.Damaged) > 0 {
			return st, fmt.Errorf("%w: not deleting anything at the destination while the source has damaged files", ErrDamaged)
		}
		// A pack the source's index lists but its disk lacks is lost at
		// the source: the copy here is what mends it, never delete it.
		indexed, err := r.indexedPacks(ctx)
		if err != nil {
			return st, err
		}
		var lost []string
		for _, name := range plans[backend.PackFile].extra {
			if id, err := crypt.ParseID(name); err == nil && indexed[id] {
				lost = append(lost, name)
			}
		}
		if len(lost) > 0 {
			return st, &RemedyError{Err: fmt.Errorf("%w: %d packs the source's index lists are missing at the source (first: %s); not deleting anything at the destination, which still has them", ErrDamaged, len(lost), lost[0]),
				Remedy: RemedyRepairPacksFrom, From: o.DestName}
		}
		for i := len(syncOrder) - 1; i >= 0; i-- {
			t := syncOrder[i]
			if t == backend.DamagedFile {
				n, err := r.syncDeleteRecords(ctx, dr, plans[t].extra)
				st.FilesDeleted += n
				if err != nil {
					return st, fmt.Errorf("destination: %w", err)
				}
				continue
			}
			for _, name := range plans[t].extra {
				if err := lock.Check(); err != nil {
					return st, err
				}
				if err := dst.Remove(ctx, backend.Handle{Type: t, Name: name}); err != nil && !errors.Is(err, backend.ErrNotExist) {
					return st, fmt.Errorf("destination: %w", err)
				}
				st.FilesDeleted++
			}
		}
	}
	if len(st.Damaged) > 0 {
		return st, &RemedyError{Err: fmt.Errorf("%w: %d files at the source failed their checksum and were not copied (first: %s)", ErrDamaged, len(st.Damaged), st.Damaged[0]),
			Remedy: RemedyCheckReadData}
	}
	return st, nil
}

// syncDeleteRecords handles the destination's records of damaged packs that
// the source does not have (it repaired them): such a record may be about
// damage found at the destination itself, so it goes only once every pack it
// names hashes to its name at the destination or is gone there.
func (r *Repository) syncDeleteRecords(ctx context.Context, dr *Repository, extra []string) (int, error) {
	if len(extra) == 0 {
		return 0, nil
	}
	var indexed map[crypt.ID]bool
	judged := map[crypt.ID]bool{}
	cleared := func(id crypt.ID) bool {
		if v, ok := judged[id]; ok {
			return v
		}
		_, err := readVerified(ctx, dr.be, backend.Handle{Type: backend.PackFile, Name: id.String()})
		switch {
		case err == nil:
			judged[id] = true
		case !errors.Is(err, backend.ErrNotExist):
			judged[id] = false
		default:
			if indexed == nil {
				if indexed, err = dr.indexedPacks(ctx); err != nil {
					indexed = map[crypt.ID]bool{id: true} // unsure: keep
				}
			}
			judged[id] = !indexed[id]
		}
		return judged[id]
	}
	removed, _, err := dr.clearRecords(ctx, slices.Clone(extra), cleared)
	return removed, err
}

// syncConfig copies the config into an empty destination, or checks that
// the destination's is this repository's.
func (r *Repository) syncConfig(ctx context.Context, dst backend.Backend, st *SyncStats) error {
	dc, err := loadConfigFile(ctx, dst)
	switch {
	case err == nil:
		if dc.ID != r.cfg.ID {
			return fmt.Errorf("%w (%.8s, this is %.8s): give an empty directory or a copy of this repository", ErrOtherRepository, dc.ID, r.cfg.ID)
		}
		return nil
	case !errors.Is(err, ErrNoRepository):
		return fmt.Errorf("destination: %w", err)
	}
	// Key slots go before the config: a destination that has a config
	// opens with the same passphrases as the source, even if the sync
	// stops right after.
	keys, err := listNames(ctx, r.be, backend.KeyFile)
	if err != nil {
		return err
	}
	for _, k := range keys {
		n, err := copyVerified(ctx, r.be, dst, backend.Handle{Type: backend.KeyFile, Name: k})
		if err != nil && !errors.Is(err, backend.ErrNotExist) {
			return err
		}
		st.FilesToCopy++
		st.FilesCopied++
		st.BytesToCopy += n
		st.BytesCopied += n
	}
	b, err := readFile(ctx, r.be, backend.Handle{Type: backend.ConfigFile})
	if err != nil {
		return err
	}
	if err := dst.Save(ctx, backend.Handle{Type: backend.ConfigFile}, backend.NewByteReader(b)); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	return nil
}

// copyVerified copies one content-named file: it must hash to its name at
// the source, and again when read back from the destination.
// uploadVerifier is a store whose transport proves that what arrived is
// what was sent (TLS, SigV4 payload signatures, SSH's MAC): reading each
// copied file back would double the requests and the paid egress of a
// nightly offsite sync and prove nothing more, since the read would come
// from the server's cache, not its disks. 'check --keyless --read-data'
// on the copy is what reads the disks.
type uploadVerifier interface {
	VerifiesUploads() bool
}

func copyVerified(ctx context.Context, src, dst backend.Backend, h backend.Handle) (int64, error) {
	b, err := readVerified(ctx, src, h)
	if err != nil {
		return 0, err
	}
	if err := dst.Save(ctx, h, backend.NewByteReader(b)); err != nil {
		return 0, fmt.Errorf("destination: %w", err)
	}
	if v, ok := backend.As[uploadVerifier](dst); ok && v.VerifiesUploads() {
		return int64(len(b)), nil
	}
	if _, err := readVerified(ctx, dst, h, b); errors.Is(err, ErrDamaged) {
		return 0, fmt.Errorf("destination: %v reads back different bytes than were written (a failing disk?)", h)
	} else if err != nil {
		return 0, fmt.Errorf("destination: read back %v: %w", h, err)
	}
	return int64(len(b)), nil
}

// forEachParallel calls fn for each item on n goroutines and returns the
// first error (and stops handing out work after it).
func forEachParallel[T any](ctx context.Context, items []T, n int, fn func(T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan T)
	var wg sync.WaitGroup
	for range min(n, max(len(items), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := fn(it); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// indexedPacks returns every pack the index files list.
func (r *Repository) indexedPacks(ctx context.Context) (map[crypt.ID]bool, error) {
	files, err := listNames(ctx, r.be, backend.IndexFile)
	if err != nil {
		return nil, err
	}
	return r.packsListedBy(ctx, files)
}
