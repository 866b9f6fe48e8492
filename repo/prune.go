package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/format"
)

// Prune removes what no snapshot needs (docs/format.md "Prune").
//
// It runs in two phases so that it never blocks a backup for long:
//
//  1. Under a shared lock (backups keep running): mark every blob the
//     snapshots need (under Object Lock, extend the lock of every file
//     holding or listing one: objectlock.go), decide per pack, and copy the
//     needed blobs of packs worth repacking into new packs. Nothing is
//     deleted or indexed, so a crash leaves only unindexed packs, which the
//     next prune removes.
//  2. Under an exclusive lock (waiting for running backups to finish, with
//     new ones queued behind it): mark the snapshots committed meanwhile and
//     keep any pack they need (extending its lock), write index files for
//     what stays, then delete the superseded index files, then the packs.
//     A crash at any point leaves a repository whose snapshots all
//     restore; the next prune finishes the job.
//
// Prune never decrypts a data blob: a write-only key can prune.

// MaxUnused is how much unused space prune tolerates in packs it keeps.
type MaxUnused struct {
	Percent float64 // of the used space, when Bytes is 0 and !Unlimited
	Bytes   int64
	// Unlimited never repacks: only packs with nothing needed are deleted.
	Unlimited bool
}

// DefaultMaxUnused is restic's default: 5%.
var DefaultMaxUnused = MaxUnused{Percent: 5}

func (m MaxUnused) limit(used int64) int64 {
	switch {
	case m.Unlimited:
		return 1<<63 - 1
	case m.Bytes > 0:
		return m.Bytes
	case m.Percent >= 100:
		return 1<<63 - 1
	}
	// unused/(used+unused) ≤ p  ⇔  unused ≤ used·p/(1-p)
	p := m.Percent / 100
	return int64(float64(used) * p / (1 - p))
}

func (m MaxUnused) String() string {
	switch {
	case m.Unlimited:
		return "unlimited"
	case m.Bytes > 0:
		return fmt.Sprintf("%d bytes", m.Bytes)
	}
	return fmt.Sprintf("%g%%", m.Percent)
}

// PruneOptions control a prune.
type PruneOptions struct {
	MaxUnused MaxUnused
	DryRun    bool
	// Lock is the caller's shared lock with op prune; prune upgrades it
	// to exclusive for phase 2 with UpgradeWait (see LockOptions).
	Lock        *Lock
	UpgradeWait LockOptions
	// Progress, if set, is told what prune is doing.
	Progress func(step string)
	// Forgotten snapshots are left out as if already removed: for a dry
	// run of forget --prune.
	Forgotten map[crypt.ID]bool
	// afterRepack is a test hook between the phases.
	afterRepack func()
}

// PruneStats say what a prune found and did (or, dry, would do).
type PruneStats struct {
	Snapshots       int   `json:"snapshots"`
	Packs           int   `json:"packs"`
	PackBytes       int64 `json:"pack_bytes"`
	UsedBytes       int64 `json:"used_bytes"`
	UnusedBytes     int64 `json:"unused_bytes"`
	PacksDeleted    int   `json:"packs_deleted"`
	PacksRepacked   int   `json:"packs_repacked"`
	PacksWritten    int   `json:"packs_written"`
	PacksUnindexed  int   `json:"packs_unindexed_deleted"`
	PacksKeptForNew int   `json:"packs_kept_for_new_snapshots"`
	RepackedBytes   int64 `json:"repacked_bytes"`
	WrittenBytes    int64 `json:"written_bytes"`
	DeletedBytes    int64 `json:"deleted_bytes"`
	FreedBytes      int64 `json:"freed_bytes"` // deleted minus written
	IndexDeleted    int   `json:"index_files_deleted"`
	IndexWritten    int   `json:"index_files_written"`
	UnusedAfter     int64 `json:"unused_bytes_after"`
	// Packs known to be damaged: kept because they hold the only copies
	// of needed blobs (never repacked: their bytes may be bad), or deleted
	// because every needed blob they hold has an intact copy elsewhere.
	DamagedKept    int  `json:"damaged_packs_kept"`
	DamagedDeleted int  `json:"damaged_packs_deleted"`
	DryRun         bool `json:"dry_run"`
	// Under Object Lock (objectlock.go): the locks extended before
	// anything was deleted, and the earlier versions of files deleted
	// for good or still held by their locks. Deleting a file in a
	// versioned bucket only hides it: its bytes stay stored as an
	// earlier version until its lock ends and a prune (or the bucket's
	// lifecycle rule) deletes that.
	Locks    *LockStats    `json:"object_locks,omitempty"`
	Versions *VersionStats `json:"earlier_versions,omitempty"`
}

// Prune runs both phases (see above). With DryRun it only plans.
func (r *Repository) Prune(ctx context.Context, o PruneOptions) (*PruneStats, error) {
	say := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	if o.Lock == nil && !o.DryRun {
		return nil, errors.New("prune needs a lock")
	}
	say("loading snapshots")
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	snaps = slices.DeleteFunc(snaps, func(s *Snapshot) bool { return o.Forgotten[s.ID] })
	r.refreshIndex()
	if _, err := r.Index(ctx); err != nil {
		return nil, err
	}
	say("marking what the snapshots need")
	sc, err := r.scanRepo(ctx, snaps)
	if errors.Is(err, ErrDamaged) || errors.Is(err, ErrBlobNotFound) {
		return nil, &RemedyError{Err: fmt.Errorf("prune deleted nothing: %w", err), Remedy: RemedyCheck}
	}
	if err != nil {
		return nil, err
	}
	// Everything the snapshots need has its lock extended first, before
	// anything that may fail: whatever the prune does next, or fails to
	// do, what they read stays locked (snap run leaves the extension to
	// prune when one is due).
	ls, locked := r.lockStore()
	var locks *LockStats
	if locked && !o.DryRun {
		say("extending object locks")
		if locks, err = r.extendLocks(ctx, ls, sc); err != nil {
			return nil, fmt.Errorf("prune deleted nothing: %w", err)
		}
	}
	if len(sc.missing) > 0 {
		return nil, &MissingBlobsError{Blobs: sc.missing, Users: r.usersOf(ctx, snaps, sc.missing, 5)}
	}
	st := sc.plan(o.MaxUnused)
	st.DryRun = o.DryRun
	st.Locks = locks
	if o.DryRun {
		return st, nil
	}

	say(fmt.Sprintf("repacking %d packs", st.PacksRepacked))
	pb := newPackBuilder(r)
	var buf []byte
	for _, p := range sc.packs {
		if p.action != packRepack {
			continue
		}
		if buf, err = r.repack(ctx, sc, p, pb, buf); err != nil {
			return nil, repackError(err)
		}
	}
	if err := pb.flush(ctx); err != nil {
		return nil, repackError(err)
	}
	st.PacksWritten, st.WrittenBytes = len(pb.written), pb.bytes
	if o.afterRepack != nil {
		o.afterRepack()
	}

	say("waiting for running backups to finish")
	if err := o.Lock.Upgrade(ctx, o.UpgradeWait); err != nil {
		return nil, fmt.Errorf("%w (nothing was deleted; the %d packs repacked so far are removed by the next prune)", err, st.PacksWritten)
	}
	say("deleting")
	if err := r.pruneCommit(ctx, sc, pb.written, st, o.Lock); err != nil {
		return nil, err
	}
	st.FreedBytes = st.DeletedBytes - st.WrittenBytes
	if locked {
		say("deleting earlier versions whose lock has run out")
		vst, err := r.reapVersions(ctx)
		st.Versions = vst
		if err != nil {
			// The prune itself is done; the next one, or the bucket's
			// lifecycle rule, deletes them.
			r.warn("prune is done, but deleting earlier versions of files failed: %v", err)
		}
	}
	return st, nil
}

// repackError says what a full disk during repacking means.
func repackError(err error) error {
	if errors.Is(err, backend.ErrNoSpace) {
		return &RemedyError{Err: fmt.Errorf("%w (nothing was deleted)", err), Remedy: RemedyPruneUnusedOnly}
	}
	return err
}

// plan decides per pack: delete those with nothing needed, repack the
// emptiest partly used ones until the unused space left is within limit.
func (sc *repoScan) plan(maxUnused MaxUnused) *PruneStats {
	st := &PruneStats{Snapshots: len(sc.snaps), Packs: len(sc.packs)}
	var candidates []*packInfo
	var unused int64
	for _, p := range sc.packs {
		st.PackBytes += max(p.diskSize, 0)
		switch {
		case p.diskSize < 0:
			p.action = packDropMissing
		case p.damaged && p.usable() && (p.live > 0 || p.lastCopies):
			// Holds the only copies (any of which may be the intact
			// one): kept as it is, never repacked from bytes that may
			// be bad.
			st.UsedBytes += p.liveBytes
			st.DamagedKept++
		case p.live == 0 || !p.usable():
			p.action = packDelete
			if p.damaged {
				st.DamagedDeleted++
			}
		default:
			st.UsedBytes += p.liveBytes
			if p.unused > 0 {
				candidates = append(candidates, p)
				unused += p.unused
			}
		}
		switch {
		case p.action == packDelete:
			st.UnusedBytes += p.diskSize
		case p.action == packKeep:
			st.UnusedBytes += p.unused
		}
	}
	// Emptiest first: each repacked byte frees the most.
	sort.SliceStable(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		return float64(a.unused)/float64(a.size) > float64(b.unused)/float64(b.size)
	})
	limit := maxUnused.limit(st.UsedBytes)
	for _, p := range candidates {
		if unused <= limit {
			break
		}
		p.action = packRepack
		unused -= p.unused
	}
	for _, p := range sc.packs {
		switch p.action {
		case packDelete:
			st.PacksDeleted++
			st.DeletedBytes += p.diskSize
		case packRepack:
			st.PacksRepacked++
			st.RepackedBytes += p.liveBytes
			st.DeletedBytes += p.diskSize
		}
	}
	st.PacksUnindexed = len(sc.unindexed)
	for _, fi := range sc.unindexed {
		st.DeletedBytes += fi.Size
	}
	st.UnusedAfter = unused
	st.FreedBytes = st.DeletedBytes - st.RepackedBytes
	return st
}

// repack copies the blobs whose kept copy is in p into new packs, verbatim:
// the stored bytes and the session key they were sealed with. The source
// pack is read whole and checked against its name first, so prune never
// copies damaged bytes.
func (r *Repository) repack(ctx context.Context, sc *repoScan, p *packInfo, pb *packBuilder, buf []byte) ([]byte, error) {
	raw, keys, blobs, err := r.readVerifiedPack(ctx, p.id.String(), buf)
	if err != nil {
		var de *DamagedError
		if errors.As(err, &de) && !errors.Is(err, backend.ErrNotExist) {
			// The next prune keeps it as it is and goes on.
			r.recordOrWarn(ctx, FoundByPrune, map[crypt.ID]string{p.id: errText(err)})
		}
		return buf, &RemedyError{Err: fmt.Errorf("%w (prune stopped before deleting anything)", err), Remedy: RemedyCheckReadData}
	}
	k := sc.byID[p.id]
	for _, b := range blobs {
		pos, ok := sc.live.find(b.ID)
		if !ok || sc.live.owner[pos] != k {
			continue
		}
		var wrapped []byte
		if b.Type != format.TypeRefs {
			wrapped = keys[b.KeySlot]
		}
		if err := pb.add(ctx, raw[b.Offset:b.Offset+b.Length], b, wrapped); err != nil {
			return raw, err
		}
	}
	return raw, nil
}

// pruneCommit is phase 2, under the exclusive lock.
func (r *Repository) pruneCommit(ctx context.Context, sc *repoScan, written []format.Pack, st *PruneStats, lock *Lock) error {
	// Snapshots committed since the scan may need blobs it judged unused
	// (a backup dedups against whatever the index lists): keep their
	// packs, and extend their locks (with the index files listing them)
	// before anything is deleted.
	kept, err := r.protectNewSnapshots(ctx, sc, st)
	if err != nil {
		return err
	}
	if ls, locked := r.lockStore(); locked && len(kept) > 0 {
		ks, err := r.extendHandles(ctx, ls, packHandles(sc, kept))
		if err != nil {
			return err
		}
		st.Locks.add(ks)
	}
	// Index files to replace: every one that lists a pack that goes.
	superseded := map[int32]bool{}
	for _, p := range sc.packs {
		if p.action != packKeep {
			for _, f := range p.files {
				superseded[f] = true
			}
		}
	}
	if len(superseded) == 0 && len(written) == 0 && len(sc.unindexed) == 0 {
		return nil
	}
	// Packs no index listed at the scan may have been indexed since by a
	// backup that was uploading them then: only those still unindexed now,
	// with no backup running, are leftovers of crashed runs. (Looked up
	// before this prune writes index files of its own.)
	indexedNow, err := r.packsOfNewIndexFiles(ctx, sc)
	if err != nil {
		return err
	}
	if err := lock.Check(); err != nil {
		return err
	}
	// New index files for what stays, then the superseded ones go.
	var files []string
	for f := range superseded {
		files = append(files, sc.files[f])
	}
	sort.Strings(files)
	keep := func(p format.Pack) bool { return sc.packs[sc.byID[p.ID]].action == packKeep }
	st.IndexWritten, st.IndexDeleted, err = r.rewriteIndex(ctx, files, keep, written, lock)
	if err != nil {
		return err
	}
	// Then the packs no index lists any more.
	gone := map[crypt.ID]bool{}
	for _, p := range sc.packs {
		if p.action == packDelete || p.action == packRepack {
			if err := r.removePack(ctx, p.id.String(), lock); err != nil {
				return err
			}
			if p.damaged {
				gone[p.id] = true
			}
		}
	}
	// Records of damaged packs that are gone now.
	if len(gone) > 0 {
		if _, err := r.clearDamage(ctx, func(id crypt.ID) bool { return gone[id] }); err != nil {
			return err
		}
	}
	deleted := 0
	for _, fi := range sc.unindexed {
		id, _ := crypt.ParseID(fi.Name)
		if indexedNow[id] {
			st.DeletedBytes -= fi.Size
			continue
		}
		if err := r.removePack(ctx, fi.Name, lock); err != nil {
			return err
		}
		deleted++
	}
	st.PacksUnindexed = deleted
	return nil
}

// packsOfNewIndexFiles returns the packs listed by index files written
// since the scan.
func (r *Repository) packsOfNewIndexFiles(ctx context.Context, sc *repoScan) (map[crypt.ID]bool, error) {
	known := map[string]bool{}
	for _, f := range sc.files {
		known[f] = true
	}
	names, err := listNames(ctx, r.be, backend.IndexFile)
	if err != nil {
		return nil, err
	}
	return r.packsListedBy(ctx, slices.DeleteFunc(names, func(n string) bool { return known[n] }))
}

// packsListedBy returns the packs the named index files list.
func (r *Repository) packsListedBy(ctx context.Context, files []string) (map[crypt.ID]bool, error) {
	out := map[crypt.ID]bool{}
	for _, f := range files {
		packs, err := r.LoadIndexFile(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, p := range packs {
			out[p.ID] = true
		}
	}
	return out, nil
}

func (r *Repository) removePack(ctx context.Context, name string, lock *Lock) error {
	if err := lock.Check(); err != nil {
		return err
	}
	if err := r.be.Remove(ctx, backend.Handle{Type: backend.PackFile, Name: name}); err != nil && !errors.Is(err, backend.ErrNotExist) {
		return fmt.Errorf("remove pack: %w", err)
	}
	return nil
}

// protectNewSnapshots marks the snapshots that appeared since the scan and
// keeps every pack holding a blob they need that the plan would delete; it
// returns those packs.
func (r *Repository) protectNewSnapshots(ctx context.Context, sc *repoScan, st *PruneStats) ([]*packInfo, error) {
	known := map[crypt.ID]bool{}
	for _, s := range sc.snaps {
		known[s.ID] = true
	}
	var fresh []*Snapshot
	err := r.be.List(ctx, backend.SnapshotFile, func(fi backend.FileInfo) error {
		id, err := crypt.ParseID(fi.Name)
		if err == nil && known[id] {
			return nil
		}
		s, err := r.LoadSnapshot(ctx, fi.Name)
		if err != nil {
			return err
		}
		fresh = append(fresh, s)
		return nil
	})
	if err != nil || len(fresh) == 0 {
		return nil, err
	}
	// The new snapshots' blobs are in packs of index files written since
	// the scan; this process must see those too.
	if err := r.syncIndex(ctx, r.cache, true); err != nil {
		return nil, err
	}
	m := newMarker(r)
	for _, s := range fresh {
		if err := m.snapshot(ctx, s); err != nil {
			return nil, err
		}
	}
	m.set.freeze()
	var kept []*packInfo
	for _, id := range m.set.ids {
		if pos, ok := sc.live.find(id); ok && sc.live.owner[pos] >= 0 {
			continue // needed before too: its kept copy stays (or was copied)
		}
		e, ok, err := r.cache.Lookup(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // the new snapshot is broken on its own; check reports it
		}
		if k, ok := sc.byID[e.Pack]; ok && sc.packs[k].action != packKeep && sc.packs[k].usable() {
			p := sc.packs[k]
			switch p.action {
			case packDelete:
				st.PacksDeleted--
			case packRepack:
				st.PacksRepacked--
			}
			st.DeletedBytes -= p.diskSize
			p.action = packKeep
			st.PacksKeptForNew++
			kept = append(kept, p)
		}
	}
	return kept, nil
}

// readVerifiedPack reads a whole pack, checks its bytes against its name and
// parses its header. It needs only the metadata key.
func (r *Repository) readVerifiedPack(ctx context.Context, name string, buf ...[]byte) ([]byte, [][]byte, []format.Blob, error) {
	h := backend.Handle{Type: backend.PackFile, Name: name}
	b, err := readVerified(ctx, r.be, h, buf...)
	if errors.Is(err, backend.ErrNotExist) {
		return nil, nil, nil, &DamagedError{File: h, Err: err}
	}
	if err != nil {
		return nil, nil, nil, err
	}
	keys, blobs, err := r.parsePack(b)
	if err != nil {
		return nil, nil, nil, &DamagedError{File: h, Err: err}
	}
	return b, keys, blobs, nil
}

var errHashMismatch = errors.New("contents do not match the file name (hash mismatch: truncated or altered)")

// maxPackFile bounds how much of a pack is read into memory at once.
const maxPackFile = 1 << 30

// packBuilder fills new packs with stored blobs copied verbatim, with the
// key table entries they need.
type packBuilder struct {
	r       *Repository
	buf     []byte
	keys    [][]byte
	slots   map[string]uint32
	blobs   []format.Blob
	written []format.Pack
	bytes   int64
}

func newPackBuilder(r *Repository) *packBuilder {
	return &packBuilder{r: r, slots: map[string]uint32{}}
}

// add appends one stored blob; wrapped is its session key (nil for refs
// blobs, which the metadata key seals).
func (pb *packBuilder) add(ctx context.Context, stored []byte, b format.Blob, wrapped []byte) error {
	if wrapped != nil {
		slot, ok := pb.slots[string(wrapped)]
		if !ok {
			if len(pb.keys) >= format.MaxKeysPerPack {
				if err := pb.flush(ctx); err != nil {
					return err
				}
			}
			slot = uint32(len(pb.keys))
			pb.keys = append(pb.keys, wrapped)
			pb.slots[string(wrapped)] = slot
		}
		b.KeySlot = slot
	} else {
		b.KeySlot = 0
	}
	if pb.buf == nil {
		pb.buf = make([]byte, 0, pb.r.cfg.PackSize+1<<20)
	}
	b.Offset = uint64(len(pb.buf))
	pb.blobs = append(pb.blobs, b)
	pb.buf = append(pb.buf, stored...)
	if len(pb.buf) >= pb.r.cfg.PackSize {
		return pb.flush(ctx)
	}
	return nil
}

func (pb *packBuilder) flush(ctx context.Context) error {
	if len(pb.blobs) == 0 {
		return nil
	}
	buf := sealPack(pb.r.meta, pb.buf, pb.keys, pb.blobs)
	id := crypt.Hash(buf)
	if err := pb.r.be.Save(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()}, backend.NewByteReader(buf)); err != nil {
		return fmt.Errorf("save pack: %w", err)
	}
	pb.written = append(pb.written, format.Pack{ID: id, Size: int64(len(buf)), Keys: pb.keys, Blobs: pb.blobs})
	pb.bytes += int64(len(buf))
	pb.buf, pb.keys, pb.blobs = buf[:0], nil, nil
	pb.slots = map[string]uint32{}
	return nil
}

// indexWriter writes index files of at most maxIndexBlobs blobs each, so
// no index file grows past what a reader holds in memory comfortably.
type indexWriter struct {
	r     *Repository
	packs []format.Pack
	blobs int
	files int
}

const maxIndexBlobs = 1 << 17

func (iw *indexWriter) add(ctx context.Context, p format.Pack) error {
	iw.packs = append(iw.packs, p)
	iw.blobs += len(p.Blobs)
	if iw.blobs >= maxIndexBlobs {
		return iw.flush(ctx)
	}
	return nil
}

func (iw *indexWriter) flush(ctx context.Context) error {
	if len(iw.packs) == 0 {
		return nil
	}
	if _, err := iw.r.saveSealedFile(ctx, backend.IndexFile, format.MarshalIndex(iw.packs), format.ADIndex); err != nil {
		return fmt.Errorf("save index: %w", err)
	}
	iw.files++
	iw.packs, iw.blobs = nil, 0
	return nil
}
