// Package backendtest is the suite every backend.Backend passes, and Faulty,
// a wrapper that injects failures to prove a caller's crash safety.
//
// The suite checks what package backend documents, including what a remote
// store gets wrong first: listings of thousands of files (pagination),
// ranged reads, context cancellation in the middle of a List or a read,
// concurrent use, and not-found errors told apart from every other error.
package backendtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"snap/repo/backend"
)

// ListFiles is how many files the listing test saves: more than the 1000
// an S3 listing page holds, so a backend that drops or repeats entries at a
// page boundary fails.
const ListFiles = 2500

// Run runs the suite. newBackend returns a fresh, empty backend each time.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, backend.Backend)
	}{
		{"SaveOpenStat", testSaveOpenStat},
		{"RandomReads", testRandomReads},
		{"ReaderAt", testReaderAt},
		{"LengthMismatchLeavesNothing", testLengthMismatch},
		{"ReaderErrorLeavesNothing", testReaderError},
		{"SaveRetriedAfterRewind", testSaveRetried},
		{"SaveCanceled", testSaveCanceled},
		{"Replace", testReplace},
		{"ListRemove", testListRemove},
		{"ListMany", testListMany},
		{"ListCanceled", testListCanceled},
		{"ReadCanceled", testReadCanceled},
		{"Concurrent", testConcurrent},
		{"NotFound", testNotFound},
		{"RejectsBadNames", testBadNames},
		{"Config", testConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBackend(t)) })
	}
}

// randBytes returns n bytes from a seeded generator, logged so a failure
// can be replayed.
func randBytes(t *testing.T, n int) ([]byte, *rand.Rand) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b, rng
}

// packHandle names data as the repository would: by its hash.
func packHandle(data []byte) backend.Handle {
	sum := sha256.Sum256(data)
	return backend.Handle{Type: backend.PackFile, Name: hex.EncodeToString(sum[:])}
}

func save(t *testing.T, be backend.Backend, h backend.Handle, data []byte) {
	t.Helper()
	if err := be.Save(context.Background(), h, backend.NewByteReader(data)); err != nil {
		t.Fatalf("save %v: %v", h, err)
	}
}

func read(be backend.Backend, ctx context.Context, h backend.Handle, off, n int64) ([]byte, error) {
	rd, err := be.Open(ctx, h, off, n)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rd)
	if cerr := rd.Close(); err == nil {
		err = cerr
	}
	return b, err
}

func list(t *testing.T, be backend.Backend, ft backend.FileType) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := be.List(context.Background(), ft, func(fi backend.FileInfo) error {
		if _, dup := got[fi.Name]; dup {
			t.Errorf("list %s: %s seen twice", ft, fi.Name)
		}
		got[fi.Name] = fi.Size
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", ft, err)
	}
	return got
}

// absent fails unless h is neither stat-able nor listed.
func absent(t *testing.T, be backend.Backend, h backend.Handle) {
	t.Helper()
	if _, err := be.Stat(context.Background(), h); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("%v after a failed save: stat says %v, want ErrNotExist", h, err)
	}
	if _, ok := list(t, be, h.Type)[h.Name]; ok {
		t.Fatalf("%v listed after a failed save", h)
	}
}

func testSaveOpenStat(t *testing.T, be backend.Backend) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	h := packHandle(data)
	save(t, be, h, data)
	fi, err := be.Stat(ctx, h)
	if err != nil || fi.Size != int64(len(data)) {
		t.Fatalf("stat: %v %+v", err, fi)
	}
	for _, c := range []struct{ off, n int64 }{{0, 0}, {0, 10}, {5, 7}, {9990, 10}, {100, 0}, {9999, 0}, {9990, 100}} {
		got, err := read(be, ctx, h, c.off, c.n)
		if err != nil {
			t.Fatalf("open(%d,%d): %v", c.off, c.n, err)
		}
		want := data[c.off:]
		if c.n > 0 && c.off+c.n < int64(len(data)) {
			want = want[:c.n]
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("open(%d,%d): got %d bytes, want %d", c.off, c.n, len(got), len(want))
		}
	}
}

// testRandomReads compares ranged reads against the saved bytes, lengths
// running past the end included.
func testRandomReads(t *testing.T, be backend.Backend) {
	data, rng := randBytes(t, 300_000)
	h := packHandle(data)
	save(t, be, h, data)
	for range 200 {
		off := rng.Int64N(int64(len(data)))
		var n int64
		if rng.IntN(4) > 0 {
			n = 1 + rng.Int64N(int64(len(data))/4)
		}
		want := data[off:]
		if n > 0 && n < int64(len(want)) {
			want = want[:n]
		}
		got, err := read(be, context.Background(), h, off, n)
		if err != nil {
			t.Fatalf("open(%d,%d): %v", off, n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("open(%d,%d): %d bytes differ from the %d saved there", off, n, len(got), len(want))
		}
	}
}

func testReaderAt(t *testing.T, be backend.Backend) {
	op, ok := be.(backend.ReaderAtOpener)
	if !ok {
		t.Skip("no ReaderAtOpener")
	}
	data, rng := randBytes(t, 100_000)
	h := packHandle(data)
	save(t, be, h, data)
	f, err := op.OpenFile(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 100 {
		off := rng.IntN(len(data))
		buf := make([]byte, rng.IntN(len(data)-off)+1)
		if _, err := f.ReadAt(buf, int64(off)); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("ReadAt(%d, %d): %v", off, len(buf), err)
		}
		if !bytes.Equal(buf, data[off:off+len(buf)]) {
			t.Fatalf("ReadAt(%d, %d): wrong bytes", off, len(buf))
		}
	}
	if _, err := op.OpenFile(context.Background(), backend.Handle{Type: backend.PackFile, Name: "ab01"}); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("OpenFile of a missing file: %v, want ErrNotExist", err)
	}
}

// lyingReader claims a length its bytes do not have.
type lyingReader struct {
	*backend.ByteReader
	length int64
}

func (l lyingReader) Length() int64 { return l.length }

func testLengthMismatch(t *testing.T, be backend.Backend) {
	for _, c := range []struct {
		name   string
		length int64
	}{{"short", 10}, {"long", 2}} {
		h := backend.Handle{Type: backend.IndexFile, Name: c.name}
		err := be.Save(context.Background(), h, lyingReader{backend.NewByteReader([]byte("abc")), c.length})
		if err == nil {
			t.Fatalf("save of 3 bytes announced as %d succeeded", c.length)
		}
		absent(t, be, h)
	}
}

// failingReader fails once after failAt bytes, the first time through: a
// connection dropped mid-upload. Rewind starts it over, and the next pass
// succeeds.
type failingReader struct {
	*backend.ByteReader
	failAt, read int
	failed       bool
}

var errInjectedRead = errors.New("injected read error")

func (f *failingReader) Read(p []byte) (int, error) {
	if !f.failed && f.read+len(p) > f.failAt {
		p = p[:f.failAt-f.read]
		n, _ := f.ByteReader.Read(p)
		f.read += n
		f.failed = true
		return n, errInjectedRead
	}
	n, err := f.ByteReader.Read(p)
	f.read += n
	return n, err
}

// WriteTo hides the embedded bytes.Reader's, so a backend using io.Copy
// meets the failure too.
func (f *failingReader) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, struct{ io.Reader }{f})
}

func (f *failingReader) Rewind() error {
	f.read = 0
	return f.ByteReader.Rewind()
}

func testReaderError(t *testing.T, be backend.Backend) {
	data, _ := randBytes(t, 100_000)
	h := backend.Handle{Type: backend.SnapshotFile, Name: "x"}
	if err := be.Save(context.Background(), h, &failingReader{ByteReader: backend.NewByteReader(data), failAt: 50_000}); err == nil {
		t.Fatal("save succeeded although the reader failed")
	}
	absent(t, be, h)
}

// testSaveRetried is what a retrying wrapper does: rewind the reader after
// a failed Save and call Save again. The second Save must store every
// byte, not the rest after where the first stopped.
func testSaveRetried(t *testing.T, be backend.Backend) {
	ctx := context.Background()
	data, _ := randBytes(t, 100_000)
	h := packHandle(data)
	rd := &failingReader{ByteReader: backend.NewByteReader(data), failAt: 30_000}
	if err := be.Save(ctx, h, rd); !errors.Is(err, errInjectedRead) {
		t.Fatalf("first save: %v, want the reader's error", err)
	}
	absent(t, be, h)
	if err := rd.Rewind(); err != nil {
		t.Fatal(err)
	}
	if err := be.Save(ctx, h, rd); err != nil {
		t.Fatalf("save after rewind: %v", err)
	}
	if got, err := read(be, ctx, h, 0, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after a rewound save: %d bytes (%v), want the %d saved", len(got), err, len(data))
	}

	// A reader read part way and rewound gives everything too.
	data2 := data[:5000]
	h2 := packHandle(data2)
	br := backend.NewByteReader(data2)
	if _, err := io.ReadFull(br, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := br.Rewind(); err != nil {
		t.Fatal(err)
	}
	if br.Length() != int64(len(data2)) {
		t.Fatalf("Length after Rewind = %d, want %d", br.Length(), len(data2))
	}
	if err := be.Save(ctx, h2, br); err != nil {
		t.Fatal(err)
	}
	if got, err := read(be, ctx, h2, 0, 0); err != nil || !bytes.Equal(got, data2) {
		t.Fatalf("save of a rewound reader: %d bytes (%v), want %d", len(got), err, len(data2))
	}
}

func testSaveCanceled(t *testing.T, be backend.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h := backend.Handle{Type: backend.SnapshotFile, Name: "canceled"}
	if err := be.Save(ctx, h, backend.NewByteReader([]byte("x"))); !errors.Is(err, context.Canceled) {
		t.Fatalf("save with a canceled context: %v, want context.Canceled", err)
	}
	absent(t, be, h)
}

// testReplace: saving an existing name replaces it whole (repair mends a
// damaged pack so).
func testReplace(t *testing.T, be backend.Backend) {
	h := backend.Handle{Type: backend.PackFile, Name: "ab" + string(bytes.Repeat([]byte("1"), 62))}
	save(t, be, h, []byte("damaged and longer"))
	save(t, be, h, []byte("intact"))
	if got, err := read(be, context.Background(), h, 0, 0); err != nil || string(got) != "intact" {
		t.Fatalf("after replacing: %q, %v", got, err)
	}
	if got := list(t, be, backend.PackFile); len(got) != 1 || got[h.Name] != 6 {
		t.Fatalf("list after replacing: %v", got)
	}
}

func testListRemove(t *testing.T, be backend.Backend) {
	ctx := context.Background()
	names := []string{"aa01", "aa02", "bb03"}
	for _, n := range names {
		for _, ft := range []backend.FileType{backend.PackFile, backend.SnapshotFile} {
			save(t, be, backend.Handle{Type: ft, Name: n}, []byte(n))
		}
	}
	sorted := func(ft backend.FileType) []string {
		var out []string
		for n := range list(t, be, ft) {
			out = append(out, n)
		}
		sort.Strings(out)
		return out
	}
	if got := sorted(backend.PackFile); fmt.Sprint(got) != fmt.Sprint(names) {
		t.Fatalf("list packs: %v", got)
	}
	if got := sorted(backend.IndexFile); len(got) != 0 {
		t.Fatalf("list of empty type: %v", got)
	}
	if err := be.Remove(ctx, backend.Handle{Type: backend.PackFile, Name: "aa01"}); err != nil {
		t.Fatal(err)
	}
	if got := sorted(backend.PackFile); fmt.Sprint(got) != "[aa02 bb03]" {
		t.Fatalf("after remove: %v", got)
	}
	if got := sorted(backend.SnapshotFile); len(got) != 3 {
		t.Fatalf("remove of a pack changed the snapshots: %v", got)
	}
}

// testListMany saves ListFiles packs (in parallel, to be quick on a disk
// that fsyncs) and lists them: each exactly once, with its size.
func testListMany(t *testing.T, be backend.Backend) {
	want := map[string]int64{}
	var handles []backend.Handle
	var datas [][]byte
	for i := range ListFiles {
		data := []byte(fmt.Sprintf("file %d %s", i, bytes.Repeat([]byte("x"), i%97)))
		h := packHandle(data)
		handles, datas = append(handles, h), append(datas, data)
		want[h.Name] = int64(len(data))
	}
	var wg sync.WaitGroup
	errs := make(chan error, ListFiles)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if err := be.Save(context.Background(), handles[i], backend.NewByteReader(datas[i])); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range handles {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := list(t, be, backend.PackFile)
	if len(got) != len(want) {
		t.Errorf("listed %d files, saved %d", len(got), len(want))
	}
	for n, size := range want {
		if s, ok := got[n]; !ok {
			t.Errorf("%s not listed", n)
		} else if s != size {
			t.Errorf("%s listed with size %d, saved %d", n, s, size)
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			t.Errorf("%s listed, never saved", n)
		}
	}
}

// testListCanceled: once ctx is done List stops calling fn and returns the
// context's error, also when fn itself cancels.
func testListCanceled(t *testing.T, be backend.Backend) {
	for i := range 10 {
		save(t, be, backend.Handle{Type: backend.IndexFile, Name: fmt.Sprintf("f%02d", i)}, []byte{byte(i)})
	}
	for _, after := range []int{0, 1, 3, 10} {
		t.Run(fmt.Sprint(after), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if after == 0 {
				cancel()
			}
			calls := 0
			err := be.List(ctx, backend.IndexFile, func(backend.FileInfo) error {
				calls++
				if calls == after {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("List canceled after %d files returned %v, want context.Canceled", after, err)
			}
			if calls != after {
				t.Fatalf("fn called %d times, canceled after %d", calls, after)
			}
		})
	}
	// An error from fn ends the listing and comes back as it is.
	stop := errors.New("stop")
	calls := 0
	err := be.List(context.Background(), backend.IndexFile, func(backend.FileInfo) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("fn's error: List returned %v after %d calls, want it after 1", err, calls)
	}
}

// testReadCanceled: a read in progress when ctx is canceled fails with the
// context's error, and closing it leaves no goroutine behind.
func testReadCanceled(t *testing.T, be backend.Backend) {
	data, _ := randBytes(t, 1<<20)
	h := packHandle(data)
	save(t, be, h, data)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	rd, err := be.Open(ctx, h, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rd, make([]byte, 1000)); err != nil {
		t.Fatalf("read before cancel: %v", err)
	}
	cancel()
	_, err = io.Copy(io.Discard, rd)
	if cerr := rd.Close(); err == nil {
		err = cerr
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
	if _, err := be.Open(ctx, h, 0, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("open with a canceled context: %v, want context.Canceled", err)
	}
	noLeak(t, before)
}

// noLeak waits a little for goroutines a backend ended to exit, then fails
// if more are running than before.
func noLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines running, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testConcurrent saves, reads, stats, lists and removes from many
// goroutines at once; run it with -race.
func testConcurrent(t *testing.T, be backend.Backend) {
	ctx := context.Background()
	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*4)
	shared := []byte("read by everyone")
	sh := packHandle(shared)
	save(t, be, sh, shared)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				data := []byte(fmt.Sprintf("worker %d file %d", w, i))
				h := packHandle(data)
				if err := be.Save(ctx, h, backend.NewByteReader(data)); err != nil {
					errs <- err
					return
				}
				if got, err := read(be, ctx, h, 0, 0); err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("read back %v: %q, %v", h, got, err)
				}
				if got, err := read(be, ctx, sh, 5, 4); err != nil || string(got) != "by e" {
					errs <- fmt.Errorf("read shared: %q, %v", got, err)
				}
				if err := be.List(ctx, backend.PackFile, func(backend.FileInfo) error { return nil }); err != nil {
					errs <- err
				}
				if i%2 == 1 {
					if err := be.Remove(ctx, h); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := list(t, be, backend.PackFile); len(got) != workers*each/2+1 {
		t.Fatalf("%d files left, want %d", len(got), workers*each/2+1)
	}
}

// testNotFound: a missing file wraps ErrNotExist wherever it is met, and
// nothing else does.
func testNotFound(t *testing.T, be backend.Backend) {
	ctx := context.Background()
	missing := backend.Handle{Type: backend.PackFile, Name: "cd" + string(bytes.Repeat([]byte("2"), 62))}
	save(t, be, backend.Handle{Type: backend.PackFile, Name: "cd01"}, []byte("a neighbour"))
	if _, err := be.Stat(ctx, missing); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("stat of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := be.Open(ctx, missing, 0, 0); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("open of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := be.Open(ctx, missing, 10, 10); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("ranged open of a missing file: %v, want ErrNotExist", err)
	}
	if err := be.Remove(ctx, missing); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("remove of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("stat of a missing config: %v, want ErrNotExist", err)
	}

	// Other failures are not "not found", so callers never mistake them
	// for an absent file.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	bad := backend.Handle{Type: backend.PackFile, Name: "../x"}
	for what, err := range map[string]error{
		"stat with a canceled context":   second(be.Stat(canceled, missing)),
		"open with a canceled context":   second(be.Open(canceled, missing, 0, 0)),
		"remove with a canceled context": be.Remove(canceled, missing),
		"stat of a bad name":             second(be.Stat(ctx, bad)),
		"open of a bad name":             second(be.Open(ctx, bad, 0, 0)),
		"remove of a bad name":           be.Remove(ctx, bad),
		"open at a negative offset":      second(be.Open(ctx, backend.Handle{Type: backend.PackFile, Name: "cd01"}, -1, 0)),
	} {
		if err == nil {
			t.Errorf("%s succeeded", what)
		} else if errors.Is(err, backend.ErrNotExist) {
			t.Errorf("%s: %v wraps ErrNotExist", what, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func testBadNames(t *testing.T, be backend.Backend) {
	for _, n := range []string{"", "../x", "a/b", `a\b`, ".hidden", ".tmp-1234"} {
		if err := be.Save(context.Background(), backend.Handle{Type: backend.KeyFile, Name: n}, backend.NewByteReader(nil)); err == nil {
			t.Errorf("name %q accepted", n)
		}
	}
	if got := list(t, be, backend.KeyFile); len(got) != 0 {
		t.Errorf("bad names listed: %v", got)
	}
}

func testConfig(t *testing.T, be backend.Backend) {
	ctx := context.Background()
	h := backend.Handle{Type: backend.ConfigFile}
	if _, err := be.Stat(ctx, h); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("config in empty backend: %v", err)
	}
	save(t, be, h, []byte("{}"))
	if fi, err := be.Stat(ctx, h); err != nil || fi.Size != 2 {
		t.Fatalf("stat config: %+v, %v", fi, err)
	}
	// The config has one name whatever the handle says.
	if got, err := read(be, ctx, backend.Handle{Type: backend.ConfigFile, Name: "other"}, 0, 0); err != nil || string(got) != "{}" {
		t.Fatalf("config under another name: %q, %v", got, err)
	}
}
