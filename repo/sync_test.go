package repo_test

import (
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"snap/crypt"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/local"
	"snap/repo/backend/mem"
	"snap/repo/backend/meter"
)

func syncTo(f *fixture, dst backend.Backend, o repo.SyncOptions) (*repo.SyncStats, error) {
	ctx := context.Background()
	r := f.open(nil)
	l, err := r.Lock(ctx, repo.LockOptions{Op: repo.OpSync})
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	o.CacheDir = f.t.TempDir()
	o.Lock = repo.LockOptions{Wait: time.Minute, Poll: time.Millisecond}
	return r.Sync(ctx, dst, o)
}

// fileSet lists every repository file with its size.
func fileSet(t *testing.T, be backend.Backend) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, ft := range []backend.FileType{backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.DamagedFile} {
		err := be.List(context.Background(), ft, func(fi backend.FileInfo) error { out[string(ft)+"/"+fi.Name] = fi.Size; return nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// copyFixture is the destination opened as a repository of its own.
func copyFixture(f *fixture, dst backend.Backend) *fixture {
	return &fixture{t: f.t, be: dst, master: f.master, cache: f.t.TempDir(), clock: f.clock}
}

// TestSyncCopiesAndDeletes syncs into a directory and into memory: the
// repository logic runs on any backend.
func TestSyncCopiesAndDeletes(t *testing.T) {
	for name, newDst := range map[string]func(t *testing.T) backend.Backend{
		"local": func(t *testing.T) backend.Backend { return local.New(t.TempDir()) },
		"mem":   func(*testing.T) backend.Backend { return mem.New() },
	} {
		t.Run(name, func(t *testing.T) { testSyncCopiesAndDeletes(t, newDst(t)) })
	}
}

func testSyncCopiesAndDeletes(t *testing.T, dst backend.Backend) {
	ctx := context.Background()
	f := newFixture(t, nil, testChunker())
	if _, err := repo.AddKey(ctx, f.be, f.master, repo.KeyParams{Passphrase: "pw", WorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	s1, s2, a := mixedRepo(t, f)
	st, err := syncTo(f, dst, repo.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.FilesCopied != len(fileSet(t, f.be)) || st.FilesCopied != st.FilesToCopy || st.BytesCopied == 0 {
		t.Fatalf("first sync: %+v", st)
	}
	// The copy is the same repository: the passphrase opens it, check
	// passes, both snapshots restore.
	m, _, err := repo.OpenKey(ctx, dst, "pw")
	if err != nil {
		t.Fatalf("passphrase at the destination: %v", err)
	}
	cf := copyFixture(f, dst)
	if res := runCheck(t, cf, m, repo.CheckOptions{ReadData: true}); len(res.Problems) != 0 {
		t.Fatalf("check of the copy: %v", res.Problems)
	}
	expectRestores(t, cf.open(m), map[crypt.ID]map[string][32]byte{s1.ID: {"a": sha(a)}, s2.ID: {"a": sha(a)}})
	// Nothing new: nothing copied.
	if st, err := syncTo(f, dst, repo.SyncOptions{}); err != nil || st.FilesCopied != 0 {
		t.Fatalf("second sync: %+v %v", st, err)
	}
	// Prune at the source; --delete follows it once the new state is there.
	if err := f.open(nil).ForgetSnapshot(ctx, s1.ID); err != nil {
		t.Fatal(err)
	}
	mustPrune(t, f.open(nil), repo.PruneOptions{})
	st, err = syncTo(f, dst, repo.SyncOptions{})
	if err != nil || st.FilesDeleted != 0 {
		t.Fatalf("sync without --delete: %+v %v", st, err)
	}
	st, err = syncTo(f, dst, repo.SyncOptions{Delete: true})
	if err != nil || st.FilesDeleted == 0 {
		t.Fatalf("sync --delete: %+v %v", st, err)
	}
	if src, got := fileSet(t, f.be), fileSet(t, dst); len(src) != len(got) {
		t.Fatalf("after --delete: %d files at the source, %d at the destination", len(src), len(got))
	}
	expectRestores(t, copyFixture(f, dst).open(nil), map[crypt.ID]map[string][32]byte{s2.ID: {"a": sha(a)}})

	// Another repository is refused.
	other := newFixture(t, nil, testChunker())
	if _, err := syncTo(other, dst, repo.SyncOptions{}); !errors.Is(err, repo.ErrOtherRepository) {
		t.Fatalf("sync into another repository: %v", err)
	}
}

// TestSyncInterrupted crashes the destination at every write of a sync.
// After each crash the destination is a consistent repository (check finds
// no problem: what a snapshot needs is copied before the snapshot), and the
// next sync completes it.
func TestSyncInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("exhaustive fault cases run in the full (non -short) test run")
	}
	ctx := context.Background()
	f := newFixture(t, nil, testChunker())
	s1, s2, a := mixedRepo(t, f)
	tree, _, err := backupTree(f.open(nil), "t", []string{t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[crypt.ID]map[string][32]byte{s1.ID: {"a": sha(a)}, s2.ID: {"a": sha(a)}, tree.ID: {}}
	tried, passed := 0, 0
	for _, mode := range []backendtest.Fault{backendtest.FailAfter, backendtest.NoSpace, backendtest.TruncateSave} {
		for n := 1; ; n++ {
			inner := local.New(t.TempDir())
			fb := &backendtest.Faulty{Backend: inner, N: n, Fault: mode}
			if mode == backendtest.TruncateSave {
				fb.Only = backend.PackFile // an atomic store never shows a truncated metadata file
			}
			_, err := syncTo(f, fb, repo.SyncOptions{})
			if !fb.Hit() {
				if err != nil {
					t.Fatalf("no fault, yet: %v", err)
				}
				break
			}
			tried++
			if err == nil {
				t.Fatalf("fault %d at write %d: sync reported success", mode, n)
			}
			if mode == backendtest.NoSpace && !errors.Is(err, backend.ErrNoSpace) {
				t.Fatalf("no space: %v", err)
			}
			cf := copyFixture(f, inner)
			if _, err := inner.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); err == nil {
				// Whatever got there is a repository with no problems:
				// truncated files (a non-atomic store) aside, which
				// the next sync replaces.
				if _, _, err := cf.open(nil).RemoveLocks(ctx, true); err != nil {
					t.Fatal(err)
				}
				res := runCheck(t, cf, nil, repo.CheckOptions{})
				if len(res.Problems) != 0 && mode != backendtest.TruncateSave {
					t.Fatalf("fault %d at write %d: the interrupted copy has problems: %v", mode, n, res.Problems)
				}
			}
			st, err := syncTo(f, inner, repo.SyncOptions{})
			if err != nil {
				t.Fatalf("resumed sync: %v", err)
			}
			if st.FilesPresent == 0 && n > 6 { // config, lock, then 4 packs in parallel
				t.Fatalf("fault %d at write %d: resumed sync copied everything again: %+v", mode, n, st)
			}
			if res := runCheck(t, cf, nil, repo.CheckOptions{ReadData: true}); len(res.Problems) != 0 {
				t.Fatalf("after resuming: %v", res.Problems)
			}
			expectRestores(t, cf.fresh(nil), want)
			passed++
		}
	}
	t.Logf("sync fault injection: %d cases tried, %d passed", tried, passed)
}

// TestSyncDoesNotSpreadDamage: a damaged file at the source is reported and
// not copied; the rest is.
func TestSyncDoesNotSpreadDamage(t *testing.T) {
	root := t.TempDir()
	f := newFixture(t, local.New(root), testChunker())
	mixedRepo(t, f)
	packs := listFiles(t, f.be, backend.PackFile)
	sort.Strings(packs)
	flipByte(t, filePath(root, backend.Handle{Type: backend.PackFile, Name: packs[0]}), 7)
	dst := local.New(t.TempDir())
	st, err := syncTo(f, dst, repo.SyncOptions{Delete: true})
	if !errors.Is(err, repo.ErrDamaged) || len(st.Damaged) != 1 {
		t.Fatalf("sync of a damaged source: %v %+v", err, st)
	}
	got := fileSet(t, dst)
	if _, ok := got["data/"+packs[0]]; ok {
		t.Fatal("a damaged pack was copied")
	}
	// Everything but the damaged pack, and the source's record of it,
	// which this sync wrote (the next one copies it).
	if len(got) != len(fileSet(t, f.be))-2 {
		t.Fatalf("%d files copied", len(got))
	}
	if len(listFiles(t, f.be, backend.DamagedFile)) != 1 {
		t.Fatal("sync did not record the damaged pack at the source")
	}
	// A destination file of the wrong size (a half-made copy) is replaced.
	other := listFiles(t, dst, backend.IndexFile)[0]
	p := filePath(dst.Root(), backend.Handle{Type: backend.IndexFile, Name: other})
	if err := os.Truncate(p, 10); err != nil {
		t.Fatal(err)
	}
	st, _ = syncTo(f, dst, repo.SyncOptions{})
	if st.FilesCopied != 2 || len(listFiles(t, dst, backend.DamagedFile)) != 1 {
		t.Fatalf("truncated copy not replaced, or the record not copied: %+v", st)
	}
}

// verifyingStore is a store whose transport proves uploads (as s3 and
// sftp say they do).
type verifyingStore struct{ backend.Backend }

func (verifyingStore) VerifiesUploads() bool { return true }

// TestSyncReadsBackOnlyFromDisks: a directory is read back after each
// copy (a failing disk shows there); a remote store that proves its
// uploads is not (the read would double requests and paid egress). The
// store is found through a wrapper, as the command line wraps it.
func TestSyncReadsBackOnlyFromDisks(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	mixedRepo(t, f)
	for _, verifies := range []bool{false, true} {
		var dst backend.Backend = mem.New()
		if verifies {
			dst = verifyingStore{dst}
		}
		counted := meter.Wrap(dst)
		if _, err := syncTo(f, counted, repo.SyncOptions{}); err != nil {
			t.Fatal(err)
		}
		opens := meter.Of(counted).Counts().Opens
		packs := 0
		for name := range fileSet(t, dst) {
			if strings.HasPrefix(name, "data/") {
				packs++
			}
		}
		if verifies && opens >= int64(packs) {
			t.Errorf("a store that proves uploads was read %d times for %d packs", opens, packs)
		}
		if !verifies && opens < int64(packs) {
			t.Errorf("a directory was read back %d times for %d packs", opens, packs)
		}
	}
}
