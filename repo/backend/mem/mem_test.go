package mem_test

import (
	"context"
	"testing"

	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/mem"
)

func TestSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return mem.New() })
}

// Save copies: a caller reusing its buffer (the writer does) must not
// change what was stored.
func TestSaveCopies(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	buf := []byte("original")
	h := backend.Handle{Type: backend.SnapshotFile, Name: "s"}
	if err := be.Save(ctx, h, backend.NewByteReader(buf)); err != nil {
		t.Fatal(err)
	}
	copy(buf, "CHANGED!")
	rd, err := be.Open(ctx, h, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := make([]byte, 8)
	if _, err := rd.Read(got); err != nil || string(got) != "original" {
		t.Fatalf("stored %q, %v", got, err)
	}
}
