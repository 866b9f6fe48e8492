package repo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/format"
)

// packInfo is what a scan learns of one indexed pack: one small record per
// pack, never per blob, so a scan's memory is the live set plus this.
type packInfo struct {
	id        crypt.ID
	size      int64   // as indexed
	diskSize  int64   // as listed; -1 when the file is missing
	files     []int32 // index files (positions in repoScan.files) listing it
	blobs     int32
	live      int32 // blobs whose kept copy is here
	liveBytes int64 // their stored bytes
	unused    int64 // stored bytes of blobs not needed, or needed but kept elsewhere
	action    packAction
	// damaged: the pack is known to be damaged. Its copies are used only
	// for blobs no other usable pack holds, and it is never repacked.
	damaged bool
	// lastCopies: a damaged pack holding a needed blob whose other copies
	// are all in damaged packs too. Any of them may be the intact one, so
	// none is deleted.
	lastCopies bool
}

type packAction uint8

const (
	packKeep packAction = iota
	packDelete
	packRepack
	packDropMissing // indexed but gone, and nothing needed was in it: only leaves the index
)

// usable reports whether the pack's blobs can be read: it exists with the
// size the index gives.
func (p *packInfo) usable() bool { return p.diskSize == p.size }

// repoScan is a consistent picture of what the snapshots need and where it
// is: the input of prune, stats and check.
type repoScan struct {
	snaps     []*Snapshot
	files     []string // index files, sorted
	packs     []*packInfo
	byID      map[crypt.ID]int32
	live      *liveSet
	unindexed []backend.FileInfo // pack files no index file lists
	missing   []crypt.ID         // needed blobs in no usable pack
	plainLive int64              // plaintext bytes of needed blobs
}

// scanRepo marks every blob the snapshots need, then reads every index file
// once and assigns each needed blob to one usable pack holding it (the first
// in index-file order, packs known to be damaged last; copies elsewhere
// count as unused there).
func (r *Repository) scanRepo(ctx context.Context, snaps []*Snapshot) (*repoScan, error) {
	m := newMarker(r)
	for _, s := range snaps {
		if err := m.snapshot(ctx, s); err != nil {
			return nil, err
		}
	}
	m.set.freeze()
	sc := &repoScan{snaps: snaps, byID: map[crypt.ID]int32{}, live: &m.set}

	// Index files are listed before packs, in the repository's write
	// order: a pack an index file lists was durable before that file
	// was written, so it is in the pack listing unless it is really gone.
	// (Packs listed before a backup's new index file are merely
	// unindexed here; phase 2 looks again.)
	files, err := listNames(ctx, r.be, backend.IndexFile)
	if err != nil {
		return nil, err
	}
	sc.files = files
	disk := map[crypt.ID]int64{}
	var diskNames []backend.FileInfo
	err = r.be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		id, err := crypt.ParseID(fi.Name)
		if err != nil {
			return nil // not a pack name: not ours to judge here (check reports it)
		}
		disk[id] = fi.Size
		diskNames = append(diskNames, fi)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	sort.Strings(sc.files)
	// Packs known to be damaged are assigned blobs last, so a blob stored
	// again since keeps its intact copy (few packs: held in memory).
	type listed struct {
		file int
		pack format.Pack
	}
	var damaged []listed
	add := func(fi int, p format.Pack, isDamaged bool) {
		if k, ok := sc.byID[p.ID]; ok {
			sc.packs[k].files = append(sc.packs[k].files, int32(fi))
			return // listed twice (a prune interrupted after writing its index): counted once
		}
		pi := &packInfo{id: p.ID, size: p.Size, diskSize: -1, files: []int32{int32(fi)}, blobs: int32(len(p.Blobs)), damaged: isDamaged}
		if s, ok := disk[p.ID]; ok {
			pi.diskSize = s
		}
		k := int32(len(sc.packs))
		sc.byID[p.ID] = k
		sc.packs = append(sc.packs, pi)
		for _, b := range p.Blobs {
			pos, ok := sc.live.find(b.ID)
			switch {
			case ok && pi.usable() && sc.live.owner[pos] < 0:
				sc.live.owner[pos] = k
				pi.live++
				pi.liveBytes += int64(b.Length)
				sc.plainLive += int64(b.PlainLen)
			default:
				if ok && isDamaged && pi.usable() && sc.packs[sc.live.owner[pos]].damaged {
					pi.lastCopies = true
				}
				pi.unused += int64(b.Length)
			}
		}
	}
	for fi, name := range sc.files {
		packs, err := r.LoadIndexFile(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, p := range packs {
			if r.isDamaged(p.ID) {
				damaged = append(damaged, listed{fi, p})
				continue
			}
			add(fi, p, false)
		}
	}
	for _, d := range damaged {
		add(d.file, d.pack, true)
	}
	for _, fi := range diskNames {
		id, _ := crypt.ParseID(fi.Name)
		if _, ok := sc.byID[id]; !ok {
			sc.unindexed = append(sc.unindexed, fi)
		}
	}
	for i, o := range sc.live.owner {
		if o < 0 {
			sc.missing = append(sc.missing, sc.live.ids[i])
		}
	}
	return sc, nil
}

// MissingBlobsError lists blobs that snapshots need and no usable pack
// holds, with the snapshots and items that need them.
type MissingBlobsError struct {
	Blobs []crypt.ID
	Users []string // "snapshot 1a2b3c4d item \"db\"", at most a few
}

func (e *MissingBlobsError) Error() string {
	return fmt.Sprintf("%d blobs that snapshots need are in no readable pack (first %v; needed by %s): the repository is damaged",
		len(e.Blobs), e.Blobs[0].Short(), strings.Join(e.Users, ", "))
}

func (e *MissingBlobsError) Unwrap() error { return ErrDamaged }

// usersOf names the snapshot items that need any of ids (at most limit).
func (r *Repository) usersOf(ctx context.Context, snaps []*Snapshot, ids []crypt.ID, limit int) []string {
	want := make(map[crypt.ID]struct{}, len(ids))
	for _, id := range ids {
		want[id] = struct{}{}
	}
	var out []string
	for _, s := range snaps {
		for i := range s.Items {
			it := &s.Items[i]
			if uses(ctx, r, it, want) {
				out = append(out, fmt.Sprintf("snapshot %s item %q", s.ID.Short(), it.Name))
				if len(out) >= limit {
					return append(out, "…")
				}
			}
		}
	}
	return out
}

func uses(ctx context.Context, r *Repository, it *Item, want map[crypt.ID]struct{}) bool {
	if it.Tree != nil {
		if _, ok := want[*it.Tree]; ok {
			return true
		}
	}
	for _, ref := range it.Refs {
		if _, ok := want[ref]; ok {
			return true
		}
		ids, err := r.LoadRefs(ctx, []crypt.ID{ref})
		if err != nil {
			return errors.Is(err, ErrBlobNotFound) || errors.Is(err, ErrDamaged)
		}
		for _, id := range ids {
			if _, ok := want[id]; ok {
				return true
			}
		}
	}
	return false
}
