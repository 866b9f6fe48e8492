package repo

import "context"

// Usage is the repository's space accounting: what the snapshots hold,
// what that costs after dedup and compression, and what a prune would free.
type Usage struct {
	Snapshots int `json:"snapshots"`
	// RawBytes is what restoring every snapshot would write: the sum of
	// their items' sizes.
	RawBytes int64 `json:"raw_bytes"`
	// Blobs the snapshots need, their plaintext (after dedup, before
	// compression) and their stored size (compressed and sealed).
	Blobs       int   `json:"blobs"`
	PlainBytes  int64 `json:"deduplicated_bytes"`
	StoredBytes int64 `json:"stored_bytes"`
	// Packs on disk and their size; Reclaimable is what 'snap prune
	// --max-unused 0' would free.
	Packs       int   `json:"packs"`
	PackBytes   int64 `json:"pack_bytes"`
	Reclaimable int64 `json:"reclaimable_bytes"`
	// Unindexed packs are left by interrupted runs (prune removes them).
	Unindexed      int   `json:"unindexed_packs"`
	UnindexedBytes int64 `json:"unindexed_bytes"`
	IndexFiles     int   `json:"index_files"`
}

// DedupRatio is raw bytes per stored byte.
func (u *Usage) DedupRatio() float64 {
	if u.StoredBytes == 0 {
		return 1
	}
	return float64(u.RawBytes) / float64(u.StoredBytes)
}

// Usage scans the repository (needing only the metadata key).
func (r *Repository) Usage(ctx context.Context) (*Usage, error) {
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := r.Index(ctx); err != nil {
		return nil, err
	}
	sc, err := r.scanRepo(ctx, snaps)
	if err != nil {
		return nil, err
	}
	u := &Usage{Snapshots: len(snaps), Blobs: sc.live.len(), PlainBytes: sc.plainLive, IndexFiles: len(sc.files), Unindexed: len(sc.unindexed)}
	if len(sc.missing) > 0 {
		return nil, &MissingBlobsError{Blobs: sc.missing, Users: r.usersOf(ctx, snaps, sc.missing, 5)}
	}
	for _, s := range snaps {
		for _, it := range s.Items {
			u.RawBytes += it.Size
		}
	}
	for _, p := range sc.packs {
		u.StoredBytes += p.liveBytes
	}
	for _, fi := range sc.unindexed {
		u.UnindexedBytes += fi.Size
	}
	st := sc.plan(MaxUnused{Percent: 0})
	u.Packs = len(sc.packs) + len(sc.unindexed)
	u.PackBytes = st.PackBytes + u.UnindexedBytes
	u.Reclaimable = st.FreedBytes
	return u, nil
}

// SnapshotUsage is one snapshot's share: the blobs it needs, their
// plaintext and stored size (shared blobs count in full for each snapshot).
type SnapshotUsage struct {
	Blobs       int   `json:"blobs"`
	PlainBytes  int64 `json:"deduplicated_bytes"`
	StoredBytes int64 `json:"stored_bytes"`
}

// SnapshotUsage marks one snapshot's blobs and sums their sizes.
func (r *Repository) SnapshotUsage(ctx context.Context, s *Snapshot) (*SnapshotUsage, error) {
	c, err := r.Index(ctx)
	if err != nil {
		return nil, err
	}
	m := newMarker(r)
	if err := m.snapshot(ctx, s); err != nil {
		return nil, err
	}
	m.set.compact()
	u := &SnapshotUsage{Blobs: m.set.len()}
	for _, id := range m.set.ids {
		e, ok, err := c.Lookup(id)
		if err != nil {
			return nil, err
		}
		if ok {
			u.PlainBytes += int64(e.PlainLen)
			u.StoredBytes += int64(e.Length)
		}
	}
	return u, nil
}
