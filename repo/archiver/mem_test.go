package archiver_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"snap/chunk"
	"snap/crypt"
	"snap/repo/archiver"
	"snap/repo/format"
)

// memStore keeps blobs in memory: the archiver's Saver and the restorer's
// Loader without a repository, so the walker and the restorer are tested
// on their own.
type memStore struct {
	mu     sync.Mutex
	blobs  map[crypt.ID][]byte
	types  map[crypt.ID]format.BlobType
	unsafe map[crypt.ID]bool // stored, but not usable (as if only in a damaged pack)
	reads  int               // data blobs handed to Save, new or not
}

func newMemStore() *memStore {
	return &memStore{blobs: map[crypt.ID][]byte{}, types: map[crypt.ID]format.BlobType{}, unsafe: map[crypt.ID]bool{}}
}

// testOptions uses small chunker bounds so a 3 MiB file has several chunks.
func testOptions() archiver.Options {
	p := chunk.NewParams([32]byte{42})
	p.Min, p.Max, p.AvgBits = 64<<10, 1<<20, 17
	return archiver.Options{Chunker: p, Workers: 2}
}

func (m *memStore) ID(data []byte) crypt.ID { return crypt.Hash(data) }

func (m *memStore) Buffer(n int) ([]byte, func()) { return make([]byte, 0, n), func() {} }

func (m *memStore) Save(typ format.BlobType, id crypt.ID, data []byte, release func()) error {
	m.mu.Lock()
	if typ == format.TypeData {
		m.reads++
	}
	m.blobs[id] = slices.Clone(data)
	m.types[id] = typ
	delete(m.unsafe, id)
	m.mu.Unlock()
	if release != nil {
		release()
	}
	return nil
}

func (m *memStore) SaveBlob(typ format.BlobType, data []byte) (crypt.ID, error) {
	id := m.ID(data)
	return id, m.Save(typ, id, data, nil)
}

func (m *memStore) Known(id crypt.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.blobs[id]
	return ok && !m.unsafe[id]
}

func (m *memStore) SaveChunks(rd io.Reader) ([]crypt.ID, int64, error) {
	p := testOptions().Chunker
	c := chunk.New(rd, p)
	var ids []crypt.ID
	var n int64
	for {
		data, err := c.Next(make([]byte, 0, p.Max))
		if err == io.EOF {
			return ids, n, nil
		}
		if err != nil {
			return ids, n, &archiver.SourceError{Err: err}
		}
		id, err := m.SaveBlob(format.TypeData, data)
		if err != nil {
			return ids, n, err
		}
		ids = append(ids, id)
		n += int64(len(data))
	}
}

func (m *memStore) LoadBlob(_ context.Context, id crypt.ID, buf []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[id]
	if !ok {
		return nil, fmt.Errorf("blob %v not stored", id.Short())
	}
	return append(buf[:0], b...), nil
}

func (m *memStore) LoadOrdered(ctx context.Context, ids []crypt.ID, fn func(crypt.ID, []byte) error) error {
	for _, id := range ids {
		b, err := m.LoadBlob(ctx, id, nil)
		if err != nil {
			return err
		}
		if err := fn(id, b); err != nil {
			return err
		}
	}
	return nil
}

// checkRefs: the refs list names every stored blob once, the chunks
// before the trees, the root last.
func (m *memStore) checkRefs(t *testing.T, res archiver.TreeResult) {
	t.Helper()
	seen := map[crypt.ID]bool{}
	trees := false
	for _, id := range res.Refs {
		if seen[id] {
			t.Fatalf("refs list %v twice", id.Short())
		}
		seen[id] = true
		m.mu.Lock()
		typ := m.types[id]
		m.mu.Unlock()
		if trees && typ != format.TypeTree {
			t.Fatalf("refs list chunk %v after a tree", id.Short())
		}
		trees = typ == format.TypeTree
	}
	if len(seen) != len(m.blobs) {
		t.Fatalf("refs list %d blobs, %d stored", len(seen), len(m.blobs))
	}
	if res.Refs[len(res.Refs)-1] != res.Root {
		t.Fatal("the root tree is not the last ref")
	}
}

func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}), int64(n)), b)
	return b
}
