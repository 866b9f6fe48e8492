package repo_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/mem"
	"snap/repo/backend/meter"
)

// objectStore hides mem's random access, as an S3 bucket has none.
type objectStore struct{ backend.Backend }

// TestRestoreSpans: on a store without random access, a stream restore
// reads neighbouring blobs of a pack in one ranged read (far fewer reads
// than blobs) and is byte-exact; a damaged blob in a span fails the
// restore as damage, as a read of that blob alone does.
func TestRestoreSpans(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	counted := meter.Wrap(objectStore{store})
	f := newFixture(t, counted, testChunker())
	data := make([]byte, 12<<20)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(data)
	r := f.open(nil)
	s, _, err := backupStream(r, "db", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	before := meter.Of(counted).Counts().Opens
	var out bytes.Buffer
	if _, err := r.StreamItem(ctx, &s.Items[0], &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("restore through spans differs")
	}
	ids, err := r.LoadRefs(ctx, s.Items[0].Refs)
	if err != nil {
		t.Fatal(err)
	}
	reads := meter.Of(counted).Counts().Opens - before
	if reads*3 > int64(len(ids)) {
		t.Fatalf("%d reads for %d blobs: neighbours are not read together", reads, len(ids))
	}
	t.Logf("%d blobs restored in %d reads", len(ids), reads)

	// Flip a byte in the middle of a pack: the blob there fails to open
	// in its span, LoadBlob reads it alone and reports the damage.
	var packs []string
	_ = store.List(ctx, backend.PackFile, func(fi backend.FileInfo) error { packs = append(packs, fi.Name); return nil })
	h := backend.Handle{Type: backend.PackFile, Name: packs[0]}
	rd, _ := store.Open(ctx, h, 0, 0)
	var pack bytes.Buffer
	_, _ = pack.ReadFrom(rd)
	rd.Close()
	b := pack.Bytes()
	b[len(b)/3] ^= 1
	if err := store.Save(ctx, h, backend.NewByteReader(b)); err != nil {
		t.Fatal(err)
	}
	fresh := f.open(nil)
	if _, err := fresh.StreamItem(ctx, &s.Items[0], &bytes.Buffer{}); !errors.Is(err, repo.ErrDamaged) {
		t.Fatalf("restore of a damaged pack through spans: %v", err)
	}
}
