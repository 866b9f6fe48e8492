package repo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/format"
)

// The repairs, each under an exclusive lock and each ordered so that a
// crash leaves the repository no worse than before: new files are written
// before old ones are removed (docs/format.md "Repair").

// rewriteIndex replaces the index files named in supersede by new ones that
// list the packs of theirs that keep accepts (each once) plus add, then
// removes the superseded files. Until the removal, packs are listed twice,
// which is harmless.
func (r *Repository) rewriteIndex(ctx context.Context, supersede []string, keep func(format.Pack) bool, add []format.Pack, lock *Lock) (written, deleted int, err error) {
	iw := &indexWriter{r: r}
	emitted := map[crypt.ID]bool{}
	for _, name := range supersede {
		packs, err := r.LoadIndexFile(ctx, name)
		if err != nil {
			return 0, 0, err
		}
		for _, p := range packs {
			if !emitted[p.ID] && keep(p) {
				emitted[p.ID] = true
				if err := iw.add(ctx, p); err != nil {
					return 0, 0, err
				}
			}
		}
	}
	for _, p := range add {
		if err := iw.add(ctx, p); err != nil {
			return 0, 0, err
		}
	}
	if err := iw.flush(ctx); err != nil {
		return 0, 0, err
	}
	if err := lock.Check(); err != nil {
		return iw.files, 0, err
	}
	for _, name := range supersede {
		if err := r.be.Remove(ctx, backend.Handle{Type: backend.IndexFile, Name: name}); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return iw.files, deleted, fmt.Errorf("remove index file: %w", err)
		}
		deleted++
	}
	return iw.files, deleted, nil
}

// RepairIndexStats say what 'repair index' did.
type RepairIndexStats struct {
	Packs        int      `json:"packs"`
	Blobs        int      `json:"blobs"`
	Unreadable   []string `json:"unreadable_packs"`
	IndexWritten int      `json:"index_files_written"`
	IndexDeleted int      `json:"index_files_deleted"`
}

// RepairIndex rebuilds the index from the pack headers alone: for lost or
// damaged index files. Packs whose header cannot be read are reported and
// left in place ('snap repair packs' deals with them). Hold an exclusive
// lock.
func (r *Repository) RepairIndex(ctx context.Context, lock *Lock) (*RepairIndexStats, error) {
	old, err := listNames(ctx, r.be, backend.IndexFile)
	if err != nil {
		return nil, err
	}
	var packs []backend.FileInfo
	if err := r.be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error { packs = append(packs, fi); return nil }); err != nil {
		return nil, err
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].Name < packs[j].Name })
	st := &RepairIndexStats{Unreadable: []string{}}
	var found []format.Pack
	for _, fi := range packs {
		id, err := crypt.ParseID(fi.Name)
		if err != nil {
			continue
		}
		keys, blobs, err := r.readPackTrailer(ctx, fi.Name, fi.Size)
		if err != nil {
			if errors.Is(err, ErrDamaged) {
				st.Unreadable = append(st.Unreadable, fi.Name)
				continue
			}
			return nil, err
		}
		found = append(found, format.Pack{ID: id, Size: fi.Size, Keys: keys, Blobs: blobs})
		st.Packs++
		st.Blobs += len(blobs)
	}
	st.IndexWritten, st.IndexDeleted, err = r.rewriteIndex(ctx, nil, nil, found, lock)
	if err != nil {
		return st, err
	}
	if err := lock.Check(); err != nil {
		return st, err
	}
	for _, name := range old {
		if err := r.be.Remove(ctx, backend.Handle{Type: backend.IndexFile, Name: name}); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return st, fmt.Errorf("remove index file: %w", err)
		}
		st.IndexDeleted++
	}
	return st, nil
}

// readPackTrailer reads only a pack's header (by its length field at the
// end), not its blobs.
func (r *Repository) readPackTrailer(ctx context.Context, name string, size int64) ([][]byte, []format.Blob, error) {
	h := backend.Handle{Type: backend.PackFile, Name: name}
	read := func(off, n int64) ([]byte, error) {
		rd, err := r.be.Open(ctx, h, off, n)
		if err != nil {
			return nil, err
		}
		defer rd.Close()
		b := make([]byte, n)
		_, err = io.ReadFull(rd, b)
		return b, err
	}
	if size < 4+crypt.Overhead {
		return nil, nil, &DamagedError{File: h, Err: fmt.Errorf("only %d bytes", size)}
	}
	lb, err := read(size-4, 4)
	if err != nil {
		return nil, nil, &DamagedError{File: h, Err: err}
	}
	hl := int64(binary.LittleEndian.Uint32(lb))
	if hl > size-4 || hl < crypt.Overhead {
		return nil, nil, &DamagedError{File: h, Err: fmt.Errorf("header length %d does not fit in %d bytes", hl, size)}
	}
	sealed, err := read(size-4-hl, hl)
	if err != nil {
		return nil, nil, &DamagedError{File: h, Err: err}
	}
	plain, err := r.meta.Open(nil, sealed, format.ADPackHeader)
	if err != nil {
		return nil, nil, &DamagedError{File: h, Err: fmt.Errorf("header: %w", err)}
	}
	keys, blobs, err := format.ParsePackHeader(plain, size-4-hl)
	if err != nil {
		return nil, nil, &DamagedError{File: h, Err: err}
	}
	return keys, blobs, nil
}

// RepairPacksOptions control 'repair packs'.
type RepairPacksOptions struct {
	// Packs to repair; empty means every pack, each read and checked
	// against its name.
	Packs []string
	// From is another copy of the repository (a sync destination) to take
	// intact copies of damaged packs from.
	From backend.Backend
	Lock *Lock
}

// RepairedPack says what happened to one damaged pack.
type RepairedPack struct {
	Pack       string   `json:"pack"`
	FromCopy   bool     `json:"from_copy"`
	Salvaged   int      `json:"blobs_salvaged"`
	Lost       []string `json:"blobs_lost"`
	Unverified int      `json:"blobs_unverified,omitempty"`
}

// RepairPacks mends damaged packs: each is replaced by an intact copy of
// the same name from o.From when there is one (names are hashes, so a copy
// that hashes right is the original); otherwise the blobs that still verify
// are copied into new packs, the pack is dropped from the index and
// deleted, and the lost blobs are listed ('snap repair snapshots' then sets
// aside the items that needed them). Salvage needs the full key to tell a
// damaged data blob from an intact one.
func (r *Repository) RepairPacks(ctx context.Context, o RepairPacksOptions) ([]RepairedPack, error) {
	// Every pack on disk, and every indexed pack that is missing.
	seen := map[string]bool{}
	{
		if err := r.be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error { seen[fi.Name] = true; return nil }); err != nil {
			return nil, err
		}
		files, err := listNames(ctx, r.be, backend.IndexFile)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			packs, err := r.LoadIndexFile(ctx, f)
			if err != nil {
				return nil, &RemedyError{Err: err, Remedy: RemedyRepairIndex}
			}
			for _, p := range packs {
				seen[p.ID.String()] = true
			}
		}
	}
	listed := seen
	names := o.Packs
	if len(names) == 0 {
		for n := range seen {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []RepairedPack
	var restored []crypt.ID
	drop := map[crypt.ID]bool{}
	// Records of damage end for packs read intact, replaced by a copy,
	// salvaged and removed, or gone from the disk and the index.
	intact := map[crypt.ID]bool{}
	clearRecords := func() error {
		back := map[crypt.ID]bool{}
		for _, id := range restored {
			back[id] = true
		}
		_, err := r.clearDamage(ctx, func(id crypt.ID) bool {
			return intact[id] || back[id] || drop[id] || !listed[id.String()]
		})
		return err
	}
	pb := newPackBuilder(r)
	h := r.cfg.IDKey.NewHasher()
	for _, name := range names {
		id, err := crypt.ParseID(name)
		if err != nil {
			return nil, fmt.Errorf("%q is not a pack name: give the 64-hex names that check reports (data/ab/NAME)", name)
		}
		raw, err := readVerified(ctx, r.be, backend.Handle{Type: backend.PackFile, Name: name})
		switch {
		case err == nil:
			intact[id] = true
			continue
		case errors.Is(err, backend.ErrNotExist):
			if !listed[name] {
				return out, fmt.Errorf("%w: no pack %s on disk or in the index (a typo?)", ErrNotFound, name)
			}
			raw = nil // missing: a copy may have it
		case errors.Is(err, ErrDamaged) && raw != nil:
		default:
			return out, err
		}
		rp := RepairedPack{Pack: name, Lost: []string{}}
		if o.From != nil {
			if ok, err := r.copyFrom(ctx, o.From, backend.Handle{Type: backend.PackFile, Name: name}); err != nil {
				return out, err
			} else if ok {
				rp.FromCopy = true
				restored = append(restored, id)
				out = append(out, rp)
				continue
			}
		}
		if !r.CanRead() {
			return out, &RemedyError{Err: fmt.Errorf("pack %s is damaged and no intact copy was found; salvaging its blobs needs the full key: %w", name, ErrWriteOnly), Remedy: RemedyRepairPacksFrom}
		}
		if raw != nil {
			r.salvage(ctx, raw, h, pb, &rp)
		} else {
			rp.Lost = append(rp.Lost, "all (the pack is missing)")
		}
		if err := pb.flush(ctx); err != nil {
			return out, err
		}
		drop[id] = true
		out = append(out, rp)
	}
	if len(drop) == 0 && len(restored) == 0 {
		return out, clearRecords()
	}
	// The salvaged blobs are in new packs: index them, drop the damaged
	// packs from the index, then delete the damaged files. A pack copied
	// back that no index lists (its header was unreadable when the index
	// was rebuilt) is indexed again.
	files, err := listNames(ctx, r.be, backend.IndexFile)
	if err != nil {
		return out, err
	}
	var supersede []string
	indexed := map[crypt.ID]bool{}
	for _, f := range files {
		packs, err := r.LoadIndexFile(ctx, f)
		if err != nil {
			return out, &RemedyError{Err: err, Remedy: RemedyRepairIndex}
		}
		touches := false
		for _, p := range packs {
			indexed[p.ID] = true
			touches = touches || drop[p.ID]
		}
		if touches {
			supersede = append(supersede, f)
		}
	}
	for _, id := range restored {
		if indexed[id] {
			continue
		}
		fi, err := r.be.Stat(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()})
		if err != nil {
			return out, err
		}
		keys, blobs, err := r.readPackTrailer(ctx, id.String(), fi.Size)
		if err != nil {
			return out, err
		}
		pb.written = append(pb.written, format.Pack{ID: id, Size: fi.Size, Keys: keys, Blobs: blobs})
	}
	keep := func(p format.Pack) bool { return !drop[p.ID] }
	if _, _, err := r.rewriteIndex(ctx, supersede, keep, pb.written, o.Lock); err != nil {
		return out, err
	}
	for id := range drop {
		if err := r.removePack(ctx, id.String(), o.Lock); err != nil {
			return out, err
		}
	}
	return out, clearRecords()
}

// salvage copies the blobs of a damaged pack that still verify.
func (r *Repository) salvage(ctx context.Context, raw []byte, h *crypt.Hasher, pb *packBuilder, rp *RepairedPack) {
	keys, blobs, err := r.parsePack(raw)
	if err != nil {
		rp.Lost = append(rp.Lost, "all (header unreadable)")
		return
	}
	file := backend.Handle{Type: backend.PackFile, Name: rp.Pack}
	for _, b := range blobs {
		s := r.meta
		var wrapped []byte
		if b.Type != format.TypeRefs {
			wrapped = keys[b.KeySlot]
			if s, err = r.sessionSealer(wrapped); err != nil {
				rp.Lost = append(rp.Lost, b.ID.String())
				continue
			}
		}
		stored := raw[b.Offset : b.Offset+b.Length]
		plain, err := r.openBlob(file, b, s, stored, nil)
		if err != nil || h.ID(plain) != b.ID {
			rp.Lost = append(rp.Lost, b.ID.String())
			continue
		}
		if err := pb.add(ctx, stored, b, wrapped); err != nil {
			rp.Lost = append(rp.Lost, b.ID.String())
			continue
		}
		rp.Salvaged++
	}
}

// copyFrom copies file h from another copy of the repository if that copy
// hashes to its name, and reports whether it did.
func (r *Repository) copyFrom(ctx context.Context, from backend.Backend, h backend.Handle) (bool, error) {
	b, err := readVerified(ctx, from, h)
	if errors.Is(err, backend.ErrNotExist) || errors.Is(err, ErrDamaged) {
		return false, nil // not there, or damaged there too
	}
	if err != nil {
		return false, err
	}
	if err := r.be.Save(ctx, h, backend.NewByteReader(b)); err != nil {
		return false, err
	}
	return true, nil
}

// RepairSnapshotsOptions control 'repair snapshots'.
type RepairSnapshotsOptions struct {
	DryRun bool
	Lock   *Lock
}

// RepairedSnapshot says what happened to one snapshot.
type RepairedSnapshot struct {
	Old   string   `json:"old"`
	New   string   `json:"new,omitempty"`
	Items []string `json:"damaged_items"`
}

// RepairSnapshotsResult says what 'repair snapshots' did.
type RepairSnapshotsResult struct {
	Rewritten []RepairedSnapshot `json:"rewritten"`
	// Unreadable snapshot files are left as they are: copy them back from
	// another copy of the repository, or remove them.
	Unreadable []string `json:"unreadable"`
}

// RepairSnapshots sets aside the items of each snapshot that need blobs no
// pack holds any more: the snapshot is rewritten (new file first, then the
// old one removed) with those items marked with an error and without their
// references, status partial, so the rest stays restorable, check passes
// and prune can run. Retention never counts a partial snapshot.
func (r *Repository) RepairSnapshots(ctx context.Context, o RepairSnapshotsOptions) (*RepairSnapshotsResult, error) {
	present, err := r.presentBlobs(ctx)
	if err != nil {
		return nil, err
	}
	ic := newItemChecker(r, present)
	names, err := listNames(ctx, r.be, backend.SnapshotFile)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	res := &RepairSnapshotsResult{Rewritten: []RepairedSnapshot{}, Unreadable: []string{}}
	for _, name := range names {
		s, err := r.LoadSnapshot(ctx, name)
		if errors.Is(err, ErrDamaged) {
			res.Unreadable = append(res.Unreadable, name)
			continue
		}
		if err != nil {
			return res, err
		}
		var damaged []string
		for i := range s.Items {
			it := &s.Items[i]
			if it.Error != "" {
				continue
			}
			missing, err := ic.missing(ctx, it)
			lost := len(missing)
			switch {
			case errors.Is(err, ErrBlobNotFound) || errors.Is(err, ErrDamaged):
				lost++ // a refs blob that cannot be read: its ids are lost
			case err != nil:
				return res, fmt.Errorf("snapshot %s item %q: %w (nothing was changed for it; run repair again when the repository reads)", s.ID.Short(), it.Name, err)
			}
			if lost > 0 {
				damaged = append(damaged, it.Name)
				it.Error = fmt.Sprintf("damaged: %d blobs it needs were lost; set aside by snap repair snapshots on %s", lost, r.opts.Now().UTC().Format(time.DateOnly))
				it.Refs, it.Tree = nil, nil
			}
		}
		if len(damaged) == 0 {
			continue
		}
		rs := RepairedSnapshot{Old: s.ID.String(), Items: damaged}
		if !o.DryRun {
			if err := o.Lock.Check(); err != nil {
				return res, err
			}
			old := s.ID
			s.Status = StatusPartial
			s.RepairedFrom = &old
			id, err := r.SaveSnapshot(ctx, s)
			if err != nil {
				return res, err
			}
			rs.New = id.String()
			if err := r.ForgetSnapshot(ctx, old); err != nil {
				return res, err
			}
		}
		res.Rewritten = append(res.Rewritten, rs)
	}
	return res, nil
}

// presentBlobs returns the ids of blobs in indexed packs that exist with
// their indexed size.
func (r *Repository) presentBlobs(ctx context.Context) (*liveSet, error) {
	disk := map[string]int64{}
	if err := r.be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error { disk[fi.Name] = fi.Size; return nil }); err != nil {
		return nil, err
	}
	files, err := listNames(ctx, r.be, backend.IndexFile)
	if err != nil {
		return nil, err
	}
	set := &liveSet{}
	for _, f := range files {
		packs, err := r.LoadIndexFile(ctx, f)
		if err != nil {
			return nil, &RemedyError{Err: err, Remedy: RemedyRepairIndex}
		}
		for _, p := range packs {
			if size, ok := disk[p.ID.String()]; ok && size == p.Size {
				for _, b := range p.Blobs {
					set.add(b.ID)
				}
			}
		}
	}
	set.compact()
	return set, nil
}
