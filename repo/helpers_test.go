package repo_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"snap/chunk"
	"snap/crypt"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/local"
	"snap/sources"
	"snap/stack"
)

// testChunker uses small bounds so boundary tests stay fast; the seed is
// fixed for reproducible tests.
func testChunker() *chunk.Params {
	p := chunk.NewParams([32]byte{42})
	p.Min, p.Max, p.AvgBits = 64<<10, 1<<20, 17
	return &p
}

type fixture struct {
	t      testing.TB
	be     backend.Backend
	master *crypt.Master
	cache  string
	clock  time.Time
	// realClock makes repositories opened afterwards use time.Now instead
	// of clock, for tests whose lock waits must end.
	realClock bool
}

func newFixture(t testing.TB, be backend.Backend, params *chunk.Params) *fixture {
	t.Helper()
	if be == nil {
		be = local.New(t.TempDir())
	}
	m, err := repo.Init(context.Background(), be, repo.InitOptions{Chunker: params, PackSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, be: be, master: m, cache: t.TempDir(), clock: time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)}
}

func (f *fixture) open(m *crypt.Master) *repo.Repository {
	f.t.Helper()
	if m == nil {
		m = f.master
	}
	now := func() time.Time { return f.clock }
	if f.realClock {
		now = time.Now
	}
	r, err := repo.Open(context.Background(), f.be, m, repo.Options{CacheDir: f.cache, Now: now})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { r.Close() })
	return r
}

// backupStream stores one stream item as a snapshot, as snap backup does
// (package stack), and returns it and the bytes the run added (plaintext
// of new blobs).
func backupStream(r *repo.Repository, name string, rd io.Reader) (*repo.Snapshot, int64, error) {
	return backupStreamLocked(r, nil, name, rd)
}

// backupStreamLocked is a backup under l, a lock the caller holds (nil:
// none), checked before the commit.
func backupStreamLocked(r *repo.Repository, l *repo.Lock, name string, rd io.Reader) (*repo.Snapshot, int64, error) {
	return backupItem(testRepo{r, nil}, l, name, readerSource{rd})
}

// backupTree stores paths as one tree item with files cache fc (nil:
// none).
func backupTree(r *repo.Repository, name string, paths []string, fc *repo.FilesCache) (*repo.Snapshot, int64, error) {
	return backupItem(testRepo{r, fc}, nil, name, pathsSource(paths))
}

func backupItem(r testRepo, l *repo.Lock, name string, src sources.Source) (*repo.Snapshot, int64, error) {
	plan := &sources.Plan{Items: []*sources.PlanItem{{Name: name, Source: src}}}
	s, err := stack.Backup(context.Background(), r, plan, stack.BackupOptions{Host: "test",
		Lock: func(context.Context) (stack.Lock, error) { return heldLock{l}, nil }})
	if err != nil {
		return nil, 0, err
	}
	return s, s.Items[0].Added, nil
}

// testRepo hands the backup the files cache the test chose.
type testRepo struct {
	*repo.Repository
	fc *repo.FilesCache
}

func (r testRepo) OpenFilesCache(string) *repo.FilesCache { return r.fc }

// heldLock is a lock the test holds (or none): checked, never released.
type heldLock struct{ l *repo.Lock }

func (h heldLock) Check() error {
	if h.l == nil {
		return nil
	}
	return h.l.Check()
}

func (heldLock) Unlock() {}

type readerSource struct{ rd io.Reader }

func (readerSource) Kind() string            { return "test" }
func (readerSource) Describe() string        { return "test stream" }
func (readerSource) Meta() map[string]string { return nil }

func (s readerSource) Stream(_ context.Context, w io.Writer) (map[string]string, error) {
	_, err := io.Copy(w, s.rd)
	return nil, err
}

type pathsSource []string

func (pathsSource) Kind() string            { return "test" }
func (pathsSource) Describe() string        { return "test paths" }
func (pathsSource) Meta() map[string]string { return nil }
func (p pathsSource) Paths() []string       { return p }

// streamHash restores a stream item and returns its SHA-256.
func streamHash(t *testing.T, r *repo.Repository, s *repo.Snapshot, name string) [32]byte {
	t.Helper()
	it, err := s.Item(name)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := r.StreamItem(context.Background(), it, h); err != nil {
		t.Fatalf("restore %s: %v", name, err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// randReader returns n deterministic pseudo-random bytes.
func randReader(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}), n)
}

func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(randReader(seed, int64(n)), b)
	return b
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

func hashReader(rd io.Reader) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, rd)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

var _ = bytes.Equal
