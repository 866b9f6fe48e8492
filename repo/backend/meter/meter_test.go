package meter_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/local"
	"snap/repo/backend/mem"
	"snap/repo/backend/meter"
)

// TestSuite: counting changes nothing a backend promises.
func TestSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return meter.Wrap(mem.New()) })
}

func TestCounts(t *testing.T) {
	ctx := context.Background()
	be := meter.Wrap(local.New(t.TempDir()))
	if _, ok := be.(backend.ReaderAtOpener); !ok {
		t.Fatal("a wrapped local backend lost OpenFile")
	}
	h := backend.Handle{Type: backend.SnapshotFile, Name: "s1"}
	data := bytes.Repeat([]byte("x"), 1000)
	if err := be.Save(ctx, h, backend.NewByteReader(data)); err != nil {
		t.Fatal(err)
	}
	rc, err := be.Open(ctx, h, 10, 100)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	f, err := be.(backend.ReaderAtOpener).OpenFile(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	f.ReadAt(make([]byte, 50), 0)
	f.Close()
	be.Stat(ctx, h)
	be.List(ctx, backend.SnapshotFile, func(backend.FileInfo) error { return nil })
	be.Remove(ctx, h)
	got := meter.Of(be).Counts()
	want := meter.Counts{BytesSent: 1000, BytesReceived: 150, Saves: 1, Opens: 2, Stats: 1, Lists: 1, Removes: 1}
	if got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	if meter.Of(mem.New()) != nil || (meter.Of(mem.New()).Counts() != meter.Counts{}) {
		t.Fatal("Of on an unwrapped backend")
	}
}
