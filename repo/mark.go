package repo

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"snap/crypt"
	"snap/repo/format"
)

// liveSet is the set of blob ids that snapshots need, as a sorted slice:
// 36 bytes per id where a map would take about three times that, so marking
// a repository of a million blobs needs about 36 MB plus the unsorted tail.
// It also records which pack holds the copy of each blob that prune keeps.
type liveSet struct {
	ids    []crypt.ID // ids[:sorted] sorted and unique; the rest appended since
	sorted int
	owner  []int32 // per sorted id: index of the pack whose copy is kept, -1 none
}

func (s *liveSet) add(id crypt.ID) {
	s.ids = append(s.ids, id)
	// Compact when the tail is half the sorted part: amortised
	// O(n log n), and the slice holds at most 1.5 times the set.
	if tail := len(s.ids) - s.sorted; tail >= 1<<16 && tail >= s.sorted/2 {
		s.compact()
	}
}

func compareIDs(a, b crypt.ID) int { return bytes.Compare(a[:], b[:]) }

// compact sorts and deduplicates, and resets owners.
func (s *liveSet) compact() {
	slices.SortFunc(s.ids, compareIDs)
	s.ids = slices.Compact(s.ids)
	s.ids = slices.Clip(s.ids)
	s.sorted = len(s.ids)
	s.owner = nil
}

// freeze makes the set ready for lookups.
func (s *liveSet) freeze() {
	if s.sorted != len(s.ids) || s.owner == nil {
		s.compact()
		s.owner = make([]int32, len(s.ids))
		for i := range s.owner {
			s.owner[i] = -1
		}
	}
}

// find returns the position of id in a frozen set.
func (s *liveSet) find(id crypt.ID) (int, bool) {
	return slices.BinarySearchFunc(s.ids, id, compareIDs)
}

// marker adds every blob that snapshots need to a liveSet, reading each
// refs blob once however many snapshots share it. It needs only the
// metadata key: refs blobs list tree and data blobs alike.
type marker struct {
	r    *Repository
	set  liveSet
	refs map[crypt.ID]struct{} // refs blobs already read
	buf  []byte
}

func newMarker(r *Repository) *marker {
	return &marker{r: r, refs: map[crypt.ID]struct{}{}}
}

func (m *marker) snapshot(ctx context.Context, s *Snapshot) error {
	for i := range s.Items {
		it := &s.Items[i]
		if it.Tree != nil {
			m.set.add(*it.Tree)
		}
		for _, ref := range it.Refs {
			if _, ok := m.refs[ref]; ok {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			m.refs[ref] = struct{}{}
			m.set.add(ref)
			b, err := m.r.LoadBlob(ctx, ref, m.buf)
			if err != nil {
				return &SnapshotError{Snapshot: s.ID, Item: it.Name, Err: err}
			}
			ids, err := format.ParseRefs(b)
			if err != nil {
				return &SnapshotError{Snapshot: s.ID, Item: it.Name, Err: fmt.Errorf("refs blob %v: %w", ref.Short(), err)}
			}
			for _, id := range ids {
				m.set.add(id)
			}
			m.buf = b
		}
	}
	return nil
}

// SnapshotError says which snapshot and item could not be read.
type SnapshotError struct {
	Snapshot crypt.ID
	Item     string
	Err      error
}

func (e *SnapshotError) Error() string {
	return fmt.Sprintf("snapshot %s, item %q: %v", e.Snapshot.Short(), e.Item, e.Err)
}

func (e *SnapshotError) Unwrap() error { return e.Err }

func (s *liveSet) len() int { return len(s.ids) }
