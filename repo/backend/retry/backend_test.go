package retry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/mem"
	"snap/repo/backend/retry"
)

var errReset = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}

// flaky fails every nth call to the store it wraps, by turns in three
// ways: before the work (a Save having sent half its body), after it (the
// answer lost), and half way (a listing or a read that breaks in the
// middle). A fake for fault injection; the real faults are in
// internal/faultproxy's tests.
type flaky struct {
	be     backend.Backend
	every  int
	perKey map[string]int // calls per method and file, when counted so

	mu     sync.Mutex
	calls  int
	faults int
	opens  []int64 // offsets Open was called with
}

type way int

const (
	none way = iota
	before
	after
	halfway
)

func (f *flaky) next(key string) way {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.perKey != nil {
		// Fail the 1st, 4th... call for each file: concurrent callers
		// cannot pile failures onto one request.
		f.perKey[key]++
		if f.perKey[key]%f.every != 1 {
			return none
		}
		f.faults++
		return way(f.faults%3) + before
	}
	if f.every == 0 || f.calls%f.every != 0 {
		return none
	}
	f.faults++
	return way(f.calls/f.every%3) + before
}

func (f *flaky) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	switch f.next("save " + h.String()) {
	case before, halfway:
		io.CopyN(io.Discard, rd, rd.Length()/2)
		return errReset
	case after:
		if err := f.be.Save(ctx, h, rd); err != nil {
			return err
		}
		return errReset
	}
	return f.be.Save(ctx, h, rd)
}

func (f *flaky) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if f.next("stat "+h.String()) != none {
		return backend.FileInfo{}, errReset
	}
	return f.be.Stat(ctx, h)
}

func (f *flaky) Remove(ctx context.Context, h backend.Handle) error {
	switch f.next("remove " + h.String()) {
	case before:
		return errReset
	case after, halfway:
		if err := f.be.Remove(ctx, h); err != nil {
			return err
		}
		return errReset
	}
	return f.be.Remove(ctx, h)
}

func (f *flaky) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	w := f.next("list " + string(t))
	if w == before {
		return errReset
	}
	n := 0
	err := f.be.List(ctx, t, func(fi backend.FileInfo) error {
		if w == halfway && n == 1 {
			return errReset
		}
		n++
		return fn(fi)
	})
	if err == nil && w != none {
		return errReset
	}
	return err
}

func (f *flaky) Open(ctx context.Context, h backend.Handle, off, length int64) (io.ReadCloser, error) {
	f.mu.Lock()
	f.opens = append(f.opens, off)
	f.mu.Unlock()
	w := f.next("open " + h.String())
	if w == before || w == after {
		return nil, errReset
	}
	rc, err := f.be.Open(ctx, h, off, length)
	if err != nil || w == none {
		return rc, err
	}
	return &breaking{rc: rc, left: 1000}, nil
}

// breaking is a body whose connection drops after left bytes.
type breaking struct {
	rc   io.ReadCloser
	left int
}

func (b *breaking) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= n
	return n, err
}

func (b *breaking) Close() error { return b.rc.Close() }

// OpenFile makes flaky a ReaderAtOpener whose files fail a read by turns.
func (f *flaky) OpenFile(ctx context.Context, h backend.Handle) (backend.ReaderAtCloser, error) {
	if f.next("openfile "+h.String()) != none {
		return nil, errReset
	}
	file, err := f.be.(backend.ReaderAtOpener).OpenFile(ctx, h)
	if err != nil {
		return nil, err
	}
	return &flakyFile{ReaderAtCloser: file, f: f}, nil
}

type flakyFile struct {
	backend.ReaderAtCloser
	f      *flaky
	broken bool // a session that dropped stays dropped
}

func (ff *flakyFile) ReadAt(p []byte, off int64) (int, error) {
	if ff.broken || ff.f.next("readat") != none {
		ff.broken = true
		return 0, errReset
	}
	return ff.ReaderAtCloser.ReadAt(p, off)
}

// fast is a policy that does not wait.
func fast(events *[]retry.Event) retry.Policy {
	var mu sync.Mutex
	return retry.Policy{
		MaxAttempts: 4,
		Sleep:       func(context.Context, time.Duration) error { return nil },
		Log: func(e retry.Event) {
			mu.Lock()
			defer mu.Unlock()
			if events != nil {
				*events = append(*events, e)
			}
		},
	}
}

// TestSuiteOnFlakyStore: the shared suite passes through the wrapper on a
// store that fails every third call for each file in every way: each failure is retried
// and none shows.
func TestSuiteOnFlakyStore(t *testing.T) {
	var total, faults int
	var mu sync.Mutex
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		f := &flaky{be: mem.New(), every: 3, perKey: map[string]int{}}
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			total += f.calls
			faults += f.faults
		})
		return retry.Wrap(f, fast(nil))
	})
	t.Logf("%d calls to the store, %d failed and were retried", total, faults)
	if faults == 0 {
		t.Fatal("no fault injected")
	}
}

// TestSuiteNoFaults: the wrapper itself passes the suite.
func TestSuiteNoFaults(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return retry.Wrap(mem.New(), retry.Policy{}) })
}

// TestResume: a read that breaks mid-body goes on from where it broke, not
// from the start, for a whole file and for a range.
func TestResume(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	h := backend.Handle{Type: backend.PackFile, Name: "ab"}
	inner := mem.New()
	if err := inner.Save(ctx, h, backend.NewByteReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ off, length int64 }{{0, 0}, {1234, 5000}, {10, 0}} {
		// Every open fails or breaks: after, half way, before, after...
		f := &flaky{be: inner, every: 1}
		var events []retry.Event
		rc, err := retry.Wrap(f, fast(&events)).Open(ctx, h, c.off, c.length)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		want := data[c.off:]
		if c.length > 0 {
			want = want[:c.length]
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read(%d, %d) through breaks: %d bytes, %v", c.off, c.length, len(got), err)
		}
		// Each open starts where the last stopped: progress is kept.
		for i := 1; i < len(f.opens); i++ {
			if f.opens[i] < f.opens[i-1] {
				t.Fatalf("opens at %v: a resume started over", f.opens)
			}
		}
		if len(events) == 0 || f.opens[len(f.opens)-1] <= c.off+1000 {
			t.Fatalf("read(%d, %d): opens at %v, %d retries: no resume happened", c.off, c.length, f.opens, len(events))
		}
		t.Logf("read(%d, %d): opened at %v", c.off, c.length, f.opens)
	}
}

// TestRemoveAnswerLost: a delete that landed but whose answer was lost is
// a success, not "not there".
func TestRemoveAnswerLost(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	h := backend.Handle{Type: backend.LockFile, Name: "l"}
	if err := inner.Save(ctx, h, backend.NewByteReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	f := &flaky{be: inner, every: 1} // the first call: "after"
	if err := retry.Wrap(f, fast(nil)).Remove(ctx, h); err != nil {
		t.Fatalf("remove whose answer was lost: %v", err)
	}
	if f.faults == 0 {
		t.Fatal("no fault injected")
	}
	if _, err := inner.Stat(ctx, h); !errors.Is(err, backend.ErrNotExist) {
		t.Fatal("not removed")
	}
	// A plain missing file is still reported.
	if err := retry.Wrap(inner, fast(nil)).Remove(ctx, h); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("remove of a missing file: %v", err)
	}
}

// TestListStopsOnFnError: fn's error ends the listing as it is, unretried,
// even when it looks like a network failure.
func TestListStopsOnFnError(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	for _, n := range []string{"a", "b", "c"} {
		if err := inner.Save(ctx, backend.Handle{Type: backend.IndexFile, Name: n}, backend.NewByteReader([]byte(n))); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	err := retry.Wrap(inner, fast(nil)).List(ctx, backend.IndexFile, func(backend.FileInfo) error { calls++; return errReset })
	if err != errReset || calls != 1 {
		t.Fatalf("List = %v after %d calls of fn", err, calls)
	}
}

// TestSaveRewindFails: a reader that cannot rewind ends the retries.
func TestSaveRewindFails(t *testing.T) {
	f := &flaky{be: mem.New(), every: 1}
	err := retry.Wrap(f, fast(nil)).Save(context.Background(), backend.Handle{Type: backend.KeyFile, Name: "k"}, noRewind{backend.NewByteReader([]byte("abc"))})
	if err == nil || f.calls != 1 {
		t.Fatalf("save with a reader that cannot rewind: %v after %d calls", err, f.calls)
	}
}

type noRewind struct{ *backend.ByteReader }

func (noRewind) Rewind() error { return errors.New("cannot rewind") }

// TestUnwrap: the store under the wrapper is reachable for its optional
// interfaces.
func TestUnwrap(t *testing.T) {
	inner := mem.New()
	b := retry.Wrap(inner, retry.Policy{})
	u, ok := b.(interface{ Unwrap() backend.Backend })
	if !ok || u.Unwrap() != inner {
		t.Fatal("no Unwrap to the inner store")
	}
	if _, ok := b.(backend.ReaderAtOpener); !ok {
		t.Fatal("mem keeps files open; the wrapper hides it")
	}
	if _, ok := retry.Wrap(struct{ backend.Backend }{inner}, retry.Policy{}).(backend.ReaderAtOpener); ok {
		t.Fatal("a ReaderAtOpener made up for a store without one")
	}
}
