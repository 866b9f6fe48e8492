package meter_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

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

// locker is a store with Object Lock and versions (a stub: package s3 is
// the real one).
type locker struct{ *mem.Mem }

func (locker) StoreID() string                         { return "stub" }
func (locker) LockWrites(backend.ObjectLock)           {}
func (locker) PrepareObjectLock(context.Context) error { return nil }
func (locker) Retention(context.Context, backend.Handle, string) (backend.Retention, error) {
	return backend.Retention{}, nil
}
func (locker) ExtendRetention(context.Context, backend.Handle, time.Time) error { return nil }
func (locker) Versions(_ context.Context, fn func(backend.Version) error) error {
	return fn(backend.Version{ID: "v"})
}
func (locker) RemoveVersion(context.Context, backend.Version) error { return nil }

// TestCountsObjectLock: the meter passes Object Lock and versions on and
// counts their requests (lock reads and writes of their own, a listing
// of versions as a list, a removal of one as a remove).
func TestCountsObjectLock(t *testing.T) {
	ctx := context.Background()
	be := meter.Wrap(locker{mem.New()})
	if _, ok := be.(backend.ReaderAtOpener); !ok {
		t.Fatal("OpenFile lost")
	}
	ls, ok := be.(backend.LockingStore)
	if !ok {
		t.Fatal("Object Lock lost")
	}
	h := backend.Handle{Type: backend.PackFile, Name: "p"}
	ls.Retention(ctx, h, "")
	ls.Retention(ctx, h, "v")
	ls.ExtendRetention(ctx, h, time.Now())
	ls.Versions(ctx, func(backend.Version) error { return nil })
	ls.RemoveVersion(ctx, backend.Version{Handle: h, ID: "v"})
	got := meter.Of(be).Counts()
	want := meter.Counts{RetentionReads: 2, RetentionWrites: 1, Lists: 1, Removes: 1}
	if got != want || got.Requests() != 5 {
		t.Fatalf("counts %+v (%d requests), want %+v", got, got.Requests(), want)
	}
	if _, ok := meter.Wrap(mem.New()).(backend.LockingStore); ok {
		t.Fatal("Object Lock made up")
	}
}
