package repo_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"snap/repo"
)

func TestStreamRoundTripSizes(t *testing.T) {
	p := testChunker()
	f := newFixture(t, nil, p)
	r := f.open(nil)
	min, max := int(p.Min), int(p.Max)
	sizes := []int{0, 1, 2, min - 1, min, min + 1, 2 * min, max - 1, max, max + 1, 3*max + 17, 5 << 20}
	for i, n := range sizes {
		data := randBytes(uint64(i), n)
		s, _, err := backupStream(r, "s", bytes.NewReader(data))
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		r2 := f.open(nil) // a fresh open proves the index files are complete
		if got := streamHash(t, r2, s, "s"); got != sha(data) {
			t.Fatalf("size %d: restored stream differs", n)
		}
		if s.Items[0].Size != int64(n) {
			t.Fatalf("size %d: item size %d", n, s.Items[0].Size)
		}
	}
}

func TestStreamCompressibleAndRepeated(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	r := f.open(nil)
	// All-zero and repeated text: compression and in-run dedup both apply.
	data := append(make([]byte, 3<<20), bytes.Repeat([]byte("INSERT INTO t VALUES (1, 'x');\n"), 100000)...)
	s, added, err := backupStream(r, "z", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := streamHash(t, f.open(nil), s, "z"); got != sha(data) {
		t.Fatal("restored stream differs")
	}
	if added >= int64(len(data)) {
		t.Fatalf("repeated chunks were not deduplicated within the run: added %d of %d", added, len(data))
	}
}

// TestLargeStreamBoundedMemory streams 1 GiB through backup and restore
// without holding it: the heap must stay far below the stream size.
func TestLargeStreamBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB stream: skipped with -short")
	}
	f := newFixture(t, nil, nil)
	r := f.open(nil)
	const n = 1 << 30
	// Sample the heap in use while the stream flows: HeapSys would also
	// count what earlier tests in this process left reserved.
	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		var ms runtime.MemStats
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > max {
				max = ms.HeapInuse
			}
			select {
			case <-stop:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	s, _, err := backupStream(r, "big", randReader(7, n))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := streamHash(t, f.open(nil), s, "big"), hashReader(randReader(7, n)); got != want {
		t.Fatal("restored 1 GiB stream differs")
	}
	close(stop)
	if max := <-peak; max > 400<<20 {
		t.Fatalf("heap in use grew to %d MiB for a 1 GiB stream", max>>20)
	}
}

func TestDedupSameStream(t *testing.T) {
	size := int64(500 << 20)
	if testing.Short() {
		size = 50 << 20
	}
	f := newFixture(t, nil, nil)
	r := f.open(nil)
	if _, _, err := backupStream(r, "a", randReader(1, size)); err != nil {
		t.Fatal(err)
	}
	r = f.open(nil)
	_, added, err := backupStream(r, "a", randReader(1, size))
	if err != nil {
		t.Fatal(err)
	}
	if added > size/100 {
		t.Fatalf("the same %d MB again added %d bytes (>1%%)", size>>20, added)
	}
}

func TestDedupChangedRegions(t *testing.T) {
	p := testChunker()
	f := newFixture(t, nil, p)
	r := f.open(nil)
	data := randBytes(3, 32<<20)
	if _, _, err := backupStream(r, "a", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	changed := append([]byte(nil), data...)
	for _, off := range []int{1 << 20, 10 << 20, 20 << 20} {
		copy(changed[off:], bytes.Repeat([]byte{0xAB}, 100))
	}
	// An insertion shifts everything after it: content-defined chunking
	// must resynchronise.
	changed = append(changed[:25<<20], append([]byte("inserted bytes"), changed[25<<20:]...)...)
	r = f.open(nil)
	s, added, err := backupStream(r, "a", bytes.NewReader(changed))
	if err != nil {
		t.Fatal(err)
	}
	// Each change spoils about the chunk around it (and maybe its
	// neighbour): 4 changes, at most 2 max-size chunks each.
	if limit := int64(4 * 2 * p.Max); added > limit {
		t.Fatalf("4 small changes added %d bytes, want <= %d", added, limit)
	}
	if got := streamHash(t, r, s, "a"); got != sha(changed) {
		t.Fatal("restored stream differs")
	}
}

func TestWriteOnlyKey(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	wo := f.master.WriteOnly()
	r := f.open(wo)
	data := randBytes(9, 3<<20)
	s, _, err := backupStream(r, "secret", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("write-only backup: %v", err)
	}
	// Listing works: snapshots and refs are metadata-sealed.
	all, err := r.Snapshots(context.Background())
	if err != nil || len(all) != 1 {
		t.Fatalf("write-only list: %v %d", err, len(all))
	}
	if _, err := r.LoadRefs(context.Background(), s.Items[0].Refs); err != nil {
		t.Fatalf("write-only key cannot read refs: %v", err)
	}
	var out bytes.Buffer
	it, _ := s.Item("secret")
	if _, err := r.StreamItem(context.Background(), it, &out); !errors.Is(err, repo.ErrWriteOnly) {
		t.Fatalf("write-only restore: got %v, want ErrWriteOnly", err)
	}
	if out.Len() != 0 {
		t.Fatalf("write-only restore wrote %d bytes", out.Len())
	}
	// The full key reads what the write-only key wrote.
	if got := streamHash(t, f.open(nil), s, "secret"); got != sha(data) {
		t.Fatal("full key restore differs")
	}
}
