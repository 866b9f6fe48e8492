package cache

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"snap/crypt"
	"snap/repo/format"
)

func samplePack(seed byte, n int) format.Pack {
	p := format.Pack{ID: crypt.Hash([]byte{seed}), Size: 1 << 20, Keys: [][]byte{[]byte("wrapped key")}}
	for i := range n {
		p.Blobs = append(p.Blobs, format.Blob{ID: crypt.Hash([]byte{seed, byte(i), byte(i >> 8)}), Type: format.TypeData, Offset: uint64(i * 100), Length: 100, PlainLen: 300})
	}
	return p
}

func TestCacheAddLookupReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	c, err := Open(path, "repo-a", false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := samplePack(1, 1000)
	if err := c.AddIndexFile("idx1", []format.Pack{p}); err != nil {
		t.Fatal(err)
	}
	e, ok, err := c.Lookup(p.Blobs[500].ID)
	if err != nil || !ok || e.Pack != p.ID || e.Offset != 50000 || e.PlainLen != 300 {
		t.Fatalf("lookup: %+v %v %v", e, ok, err)
	}
	if c.Has(crypt.Hash([]byte("nope"))) {
		t.Fatal("unknown blob found")
	}
	size, keys, ok, err := c.PackKeys(p.ID)
	if err != nil || !ok || size != 1<<20 || string(keys[0]) != "wrapped key" {
		t.Fatalf("pack keys: %v %v %v", size, keys, err)
	}
	files, _ := c.IndexFiles()
	if !files["idx1"] || c.Count() != 1000 {
		t.Fatalf("files %v count %d", files, c.Count())
	}
	c.Close()

	// Another repository's cache at the same path is dropped, not trusted.
	c, err = Open(path, "repo-b", false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.Has(p.Blobs[0].ID) {
		t.Fatal("cache of another repository was trusted")
	}
	c.Close()
}

func TestCacheSharedReadOnlyAndOverlay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	c, err := Open(path, "r", false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p1 := samplePack(1, 10)
	c.AddIndexFile("i1", []format.Pack{p1})
	c.Close()

	ro1, err := Open(path, "r", true, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ro1.Close()
	ro2, err := Open(path, "r", true, time.Second)
	if err != nil {
		t.Fatalf("second reader blocked: %v", err)
	}
	defer ro2.Close()
	// A writer cannot get in while readers hold it: it must not wait long.
	if _, err := Open(path, "r", false, 50*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("writer while readers hold the cache: %v", err)
	}
	p2 := samplePack(2, 10)
	ro1.AddOverlay([]format.Pack{p2})
	if !ro1.Has(p2.Blobs[3].ID) || !ro1.Has(p1.Blobs[3].ID) {
		t.Fatal("overlay or file entries missing")
	}
	if ro2.Has(p2.Blobs[3].ID) {
		t.Fatal("overlay leaked into another reader")
	}
	if _, _, ok, _ := ro1.PackKeys(p2.ID); !ok {
		t.Fatal("overlay pack keys missing")
	}
}

func TestCorruptCacheIsRebuilt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	if err := os.WriteFile(path, []byte("not a bbolt file, e.g. left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path, "r", false, time.Second)
	if err != nil {
		t.Fatalf("a corrupt cache was not rebuilt: %v", err)
	}
	defer c.Close()
	if files, _ := c.IndexFiles(); len(files) != 0 {
		t.Fatal("rebuilt cache is not empty")
	}
}

// TestInterruptedLoadResets: a process killed while adding an index file in
// batches leaves entries of a file the cache does not record; a prune could
// remove that file's packs without the cache noticing. The next writable
// open must start over.
func TestInterruptedLoadResets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	c, err := Open(path, "repo1", false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddIndexFile("f1", []format.Pack{samplePack(1, 10)}); err != nil {
		t.Fatal(err)
	}
	// What a kill after the first batch of "f2" leaves: its entries, the
	// loading mark, no record of f2.
	p2 := samplePack(2, 10)
	err = c.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keyLoading, []byte("f2")); err != nil {
			return err
		}
		return tx.Bucket(bucketBlobs).Put(p2.Blobs[0].ID[:], encodeEntry(p2.ID, p2.Blobs[0]))
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = Open(path, "repo1", false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	files, _ := c.IndexFiles()
	if len(files) != 0 || c.Has(p2.Blobs[0].ID) || c.Count() != 0 {
		t.Fatalf("an interrupted load survived: files %v, count %d", files, c.Count())
	}
	// A complete load leaves no mark.
	if err := c.AddIndexFile("f1", []format.Pack{samplePack(1, 10)}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c2, err := Open(path, "repo1", false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if files, _ := c2.IndexFiles(); !files["f1"] || c2.Count() != 10 {
		t.Fatalf("a finished load was dropped: %v %d", files, c2.Count())
	}
}

// TestBulkLoad fills a cache in several key-range passes and finds every
// entry, skipping files the loader refuses.
func TestBulkLoad(t *testing.T) {
	c, err := Open(filepath.Join(t.TempDir(), "index.db"), "repo1", false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	files := map[string][]format.Pack{}
	for i := range 20 {
		files[string(rune('a'+i))] = []format.Pack{samplePack(byte(i), 300)}
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	loads := 0
	load := func(n string) ([]format.Pack, error) {
		loads++
		if n == "c" {
			return nil, ErrSkip
		}
		return files[n], nil
	}
	if err := c.BulkLoad(names, load, 3*bulkPerPass); err != nil {
		t.Fatal(err)
	}
	if loads != 3*len(names) {
		t.Fatalf("%d loads for 3 passes over %d files", loads, len(names))
	}
	have, _ := c.IndexFiles()
	if len(have) != 19 || have["c"] {
		t.Fatalf("recorded files: %v", have)
	}
	for n, packs := range files {
		for _, b := range packs[0].Blobs {
			e, ok, err := c.Lookup(b.ID)
			if (n == "c") == ok || err != nil || (ok && (e.Pack != packs[0].ID || e.Offset != b.Offset)) {
				t.Fatalf("file %s blob %v: %+v %v %v", n, b.ID.Short(), e, ok, err)
			}
		}
		if _, _, ok, _ := c.PackKeys(packs[0].ID); ok == (n == "c") {
			t.Fatalf("pack of file %s: known %v", n, ok)
		}
	}
}
