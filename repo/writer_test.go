package repo_test

import (
	"context"
	"sync"
	"testing"

	"snap/repo"
	"snap/repo/format"
)

// TestWriterSealsEachBlobOnce: saves of one blob racing on many goroutines
// seal it once, and a later run that saves it again seals nothing.
func TestWriterSealsEachBlobOnce(t *testing.T) {
	var mu sync.Mutex
	sealed := map[format.BlobType][]int{}
	defer repo.SetOnSeal(func(typ format.BlobType, n, _ int) {
		mu.Lock()
		defer mu.Unlock()
		sealed[typ] = append(sealed[typ], n)
	})()
	ctx := context.Background()
	r := newFixture(t, nil, testChunker()).open(nil)
	data := randBytes(7, 100<<10)
	for run := range 2 {
		w, err := r.NewWriter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := w.SaveBlob(format.TypeData, data); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := sealed[format.TypeData]; len(got) != 1 || got[0] != len(data) {
			t.Fatalf("after run %d: data blobs sealed with these lengths: %v, want one of %d", run+1, got, len(data))
		}
	}
	if len(sealed) != 1 {
		t.Fatalf("sealed blobs of other types: %v", sealed)
	}
}
