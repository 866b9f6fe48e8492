package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/format"
)

// Snapshot statuses.
const (
	StatusComplete = "complete"
	StatusPartial  = "partial" // some item failed: never "latest", never kept by retention
)

// Item kinds.
const (
	KindStream = "stream" // one byte stream: ordered chunks
	KindTree   = "tree"   // a directory tree: tree blobs, per-file chunks
)

// Snapshot is a manifest (docs/format.md "Snapshots").
type Snapshot struct {
	Version  int       `json:"version"`
	Time     time.Time `json:"time"`
	Host     string    `json:"host"`
	Profile  string    `json:"profile,omitempty"`
	Tags     []string  `json:"tags,omitempty"`
	Program  string    `json:"program"`
	Status   string    `json:"status"`
	Items    []Item    `json:"items"`
	Duration float64   `json:"duration_seconds,omitempty"`
	// Stored is what the run added to the repository, as stored
	// (compressed, sealed): the disk space this snapshot cost.
	Stored int64 `json:"stored,omitempty"`
	// RepairedFrom is the snapshot 'snap repair snapshots' rewrote into
	// this one (setting damaged items aside).
	RepairedFrom *crypt.ID `json:"repaired_from,omitempty"`
	// CopiedFrom is the snapshot 'snap copy' copied into this repository.
	CopiedFrom *crypt.ID `json:"copied_from,omitempty"`

	ID crypt.ID `json:"-"` // the file name, set when loaded or saved
}

// Item is one named thing a snapshot holds.
type Item struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Size is the plaintext bytes of the stream, or of all regular files.
	Size int64 `json:"size"`
	// Refs are refs blob ids. Concatenated: for a stream, its chunk ids in
	// order; for a tree, every blob id the item needs, once each, in walk
	// order.
	Refs []crypt.ID `json:"refs"`
	// Tree is the root tree blob of a tree item.
	Tree  *crypt.ID `json:"tree,omitempty"`
	Files int64     `json:"files,omitempty"`
	Dirs  int64     `json:"dirs,omitempty"`
	// Added is the plaintext bytes of blobs this item added (before
	// compression; blobs shared with another item of the run count once).
	Added int64 `json:"added,omitempty"`
	// Meta is restore metadata recorded by the item's source.
	Meta map[string]string `json:"meta,omitempty"`
	// Error is set for an item that failed (partial snapshots only).
	Error string `json:"error,omitempty"`
}

// ErrItemUnavailable: an item that failed at backup time or that 'snap
// repair snapshots' set aside has nothing to restore. It is damage.
var ErrItemUnavailable = fmt.Errorf("%w: item set aside", ErrDamaged)

// available says whether an item has data to read.
func (it *Item) available() error {
	if it.Error != "" {
		return fmt.Errorf("%w: item %q has nothing to restore: %s", ErrItemUnavailable, it.Name, it.Error)
	}
	return nil
}

// ItemUnavailableError is an item of a snapshot with nothing to restore,
// with the snapshot's items that can be restored instead.
type ItemUnavailableError struct {
	Snapshot string // short id
	Item     string
	Reason   string   // the item's Error
	Intact   []string // the snapshot's items with data
}

func (e *ItemUnavailableError) Error() string {
	intact := "no item of this snapshot is intact"
	if len(e.Intact) > 0 {
		intact = "its intact items: " + strings.Join(e.Intact, ", ")
	}
	return fmt.Sprintf("%v: snapshot %s, item %q has nothing to restore (%s); %s", ErrItemUnavailable, e.Snapshot, e.Item, e.Reason, intact)
}

func (e *ItemUnavailableError) Unwrap() error { return ErrItemUnavailable }

// CheckItem is nil for an item with data; otherwise an
// *ItemUnavailableError that names the snapshot's intact items.
func (s *Snapshot) CheckItem(it *Item) error {
	if it.Error == "" {
		return nil
	}
	e := &ItemUnavailableError{Snapshot: s.ID.Short(), Item: it.Name, Reason: it.Error}
	for _, o := range s.Items {
		if o.Error == "" {
			e.Intact = append(e.Intact, o.Name)
		}
	}
	return e
}

// Item returns the named item.
func (s *Snapshot) Item(name string) (*Item, error) {
	var names []string
	for i := range s.Items {
		if s.Items[i].Name == name {
			return &s.Items[i], nil
		}
		names = append(names, s.Items[i].Name)
	}
	return nil, fmt.Errorf("%w: snapshot %s has no item %q (items: %s)", ErrNotFound, s.ID.Short(), name, strings.Join(names, ", "))
}

// SaveSnapshot writes a manifest. Call it only after Flush: the manifest is
// the commit point of a run.
func (r *Repository) SaveSnapshot(ctx context.Context, s *Snapshot) (crypt.ID, error) {
	s.Version = format.Version
	plain, err := json.Marshal(s)
	if err != nil {
		return crypt.ID{}, err
	}
	id, err := r.saveSealedFile(ctx, backend.SnapshotFile, plain, format.ADSnapshot)
	if err != nil {
		return id, fmt.Errorf("save snapshot: %w", err)
	}
	s.ID = id
	return id, nil
}

// LoadSnapshot reads one snapshot by full id.
func (r *Repository) LoadSnapshot(ctx context.Context, name string) (*Snapshot, error) {
	h := backend.Handle{Type: backend.SnapshotFile, Name: name}
	plain, err := r.loadSealedFile(ctx, h, format.ADSnapshot)
	if err != nil {
		return nil, err
	}
	return parseSnapshot(h, plain)
}

func parseSnapshot(h backend.Handle, plain []byte) (*Snapshot, error) {
	var s Snapshot
	dec := json.NewDecoder(bytes.NewReader(plain))
	if err := dec.Decode(&s); err != nil {
		return nil, &DamagedError{File: h, Err: err}
	}
	if s.Version != format.Version {
		return nil, fmt.Errorf("%w: snapshot %s has version %d", ErrVersion, h.Name, s.Version)
	}
	for _, it := range s.Items {
		if it.Kind != KindStream && it.Kind != KindTree {
			return nil, &DamagedError{File: h, Err: fmt.Errorf("item %q has unknown kind %q", it.Name, it.Kind)}
		}
		if it.Kind == KindTree && it.Tree == nil && it.Error == "" {
			return nil, &DamagedError{File: h, Err: fmt.Errorf("tree item %q has no tree", it.Name)}
		}
	}
	id, err := crypt.ParseID(h.Name)
	if err != nil {
		return nil, &DamagedError{File: h, Err: err}
	}
	s.ID = id
	return &s, nil
}

// Snapshots loads every snapshot, oldest first. A damaged snapshot is an
// error naming it: listing never silently hides one.
func (r *Repository) Snapshots(ctx context.Context) ([]*Snapshot, error) {
	names, err := listNames(ctx, r.be, backend.SnapshotFile)
	if err != nil {
		return nil, err
	}
	out := make([]*Snapshot, 0, len(names))
	for _, n := range names {
		s, err := r.LoadSnapshot(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ID.String() < out[j].ID.String()
	})
	return out, nil
}

// FindSnapshot resolves "latest" (the newest complete snapshot) or a
// unique id prefix.
func (r *Repository) FindSnapshot(ctx context.Context, ref string) (*Snapshot, error) {
	if ref == "" {
		return nil, errors.New("no snapshot given: use an id, an id prefix or 'latest'")
	}
	if ref == "latest" {
		all, err := r.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		for i := len(all) - 1; i >= 0; i-- {
			if all[i].Status == StatusComplete {
				return all[i], nil
			}
		}
		if len(all) > 0 {
			return nil, fmt.Errorf("%w: the repository has no complete snapshot, only %d partial ones (the newest: %s); give its id to restore its intact items", ErrNotFound, len(all), all[len(all)-1].ID.Short())
		}
		return nil, fmt.Errorf("%w: the repository has no complete snapshot", ErrNotFound)
	}
	name, err := r.SnapshotName(ctx, ref)
	if err != nil {
		return nil, err
	}
	return r.LoadSnapshot(ctx, name)
}

// SnapshotName resolves a unique id prefix to a snapshot's file name
// without reading it (so a damaged snapshot can still be forgotten).
func (r *Repository) SnapshotName(ctx context.Context, ref string) (string, error) {
	var match []string
	err := r.be.List(ctx, backend.SnapshotFile, func(fi backend.FileInfo) error {
		if strings.HasPrefix(fi.Name, ref) {
			match = append(match, fi.Name)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("%w: no snapshot with id %q", ErrSnapshotNotFound, ref)
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("snapshot id prefix %q is ambiguous: %d snapshots match", ref, len(match))
}

// LoadRefs returns the concatenated id list of an item's refs blobs.
func (r *Repository) LoadRefs(ctx context.Context, refs []crypt.ID) ([]crypt.ID, error) {
	var out []crypt.ID
	var buf []byte
	for _, id := range refs {
		b, err := r.LoadBlob(ctx, id, buf)
		if err != nil {
			return nil, err
		}
		ids, err := format.ParseRefs(b)
		if err != nil {
			return nil, fmt.Errorf("refs blob %v: %w", id.Short(), err)
		}
		out = append(out, ids...)
		buf = b
	}
	return out, nil
}

// ForgetSnapshot removes a snapshot manifest. The blobs only it needed stay
// until a prune.
func (r *Repository) ForgetSnapshot(ctx context.Context, id crypt.ID) error {
	if err := r.be.Remove(ctx, backend.Handle{Type: backend.SnapshotFile, Name: id.String()}); err != nil {
		return fmt.Errorf("remove snapshot %s: %w", id.Short(), err)
	}
	return nil
}
