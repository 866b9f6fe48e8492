package repo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"snap/crypt"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/local"
)

// pruneRepo prunes the way 'snap prune' does: a shared prune lock,
// upgraded for the second phase.
func pruneRepo(r *repo.Repository, o repo.PruneOptions) (*repo.PruneStats, error) {
	ctx := context.Background()
	l, err := r.Lock(ctx, repo.LockOptions{Op: repo.OpPrune, Wait: time.Minute, Poll: time.Millisecond})
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	o.Lock = l
	o.UpgradeWait = repo.LockOptions{Wait: time.Minute, Poll: time.Millisecond}
	if o.MaxUnused == (repo.MaxUnused{}) {
		o.MaxUnused = repo.DefaultMaxUnused
	}
	return r.Prune(ctx, o)
}

func mustPrune(t *testing.T, r *repo.Repository, o repo.PruneOptions) *repo.PruneStats {
	t.Helper()
	st, err := pruneRepo(r, o)
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	return st
}

func packBytes(t *testing.T, be backend.Backend) (n int, size int64) {
	t.Helper()
	err := be.List(context.Background(), backend.PackFile, func(fi backend.FileInfo) error { n++; size += fi.Size; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n, size
}

// fresh opens the repository with an empty cache: what a new process on
// another machine would see.
func (f *fixture) fresh(m *crypt.Master) *repo.Repository {
	f.t.Helper()
	f.cache = f.t.TempDir()
	return f.open(m)
}

// expectRestores checks that every snapshot restores byte-exact to the
// stream recorded for it (want: snapshot id → item name → sha256).
func expectRestores(t *testing.T, r *repo.Repository, want map[crypt.ID]map[string][32]byte) {
	t.Helper()
	snaps, err := r.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != len(want) {
		t.Fatalf("%d snapshots, want %d", len(snaps), len(want))
	}
	for _, s := range snaps {
		items, ok := want[s.ID]
		if !ok {
			t.Fatalf("unexpected snapshot %v", s.ID.Short())
		}
		for name, h := range items {
			if got := streamHash(t, r, s, name); got != h {
				t.Fatalf("snapshot %v item %s restores different bytes", s.ID.Short(), name)
			}
		}
	}
}

// forgetFirstOfTwo backs up two random streams of size bytes as two
// snapshots and forgets the first: its packs are then wholly unused.
func forgetFirstOfTwo(t *testing.T, f *fixture, seed uint64, size int) (a, b []byte, kept *repo.Snapshot) {
	t.Helper()
	r := f.open(nil)
	a, b = randBytes(seed, size), randBytes(seed+1, size)
	sa, _, err := backupStream(r, "s", bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if kept, _, err = backupStream(r, "s", bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := r.ForgetSnapshot(context.Background(), sa.ID); err != nil {
		t.Fatal(err)
	}
	return a, b, kept
}

func TestPruneDeletesUnusedPacks(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	_, b, sb := forgetFirstOfTwo(t, f, 1, 10<<20)
	_, before := packBytes(t, f.be) // forget only removed a snapshot file
	dry := mustPrune(t, f.open(nil), repo.PruneOptions{DryRun: true})
	if n, size := packBytes(t, f.be); size != before || n == 0 {
		t.Fatal("a dry run changed the repository")
	}
	st := mustPrune(t, f.open(nil), repo.PruneOptions{})
	if st.PacksDeleted != dry.PacksDeleted || st.PacksRepacked != dry.PacksRepacked || st.PacksDeleted < 2 {
		t.Fatalf("prune %+v, dry run %+v", st, dry)
	}
	_, after := packBytes(t, f.be)
	if st.FreedBytes != before-after || after > before-9<<20 {
		t.Fatalf("freed %d, on disk %d → %d", st.FreedBytes, before, after)
	}
	expectRestores(t, f.fresh(nil), map[crypt.ID]map[string][32]byte{sb.ID: {"s": sha(b)}})
	// Nothing more to do: a second prune changes nothing.
	st2 := mustPrune(t, f.open(nil), repo.PruneOptions{})
	if st2.PacksDeleted+st2.PacksRepacked+st2.IndexWritten+st2.IndexDeleted != 0 {
		t.Fatalf("second prune did something: %+v", st2)
	}
}

// mixedRepo makes packs that mix blobs of two items: item "a" and item "b"
// saved alternately in one run (snapshot 1), then "a" alone (snapshot 2).
// Forgetting snapshot 1 leaves every pack about half unused.
func mixedRepo(t *testing.T, f *fixture) (s1, s2 *repo.Snapshot, a []byte) {
	t.Helper()
	ctx := context.Background()
	r := f.open(nil)
	a, b := randBytes(3, 12<<20), randBytes(4, 12<<20)
	w, err := r.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ca, cb []crypt.ID
	for off := 0; off < len(a); off += 1 << 20 {
		ra, err := w.SaveStream(bytes.NewReader(a[off : off+1<<20]))
		if err != nil {
			t.Fatal(err)
		}
		rb, err := w.SaveStream(bytes.NewReader(b[off : off+1<<20]))
		if err != nil {
			t.Fatal(err)
		}
		ca, cb = append(ca, ra.Chunks...), append(cb, rb.Chunks...)
	}
	refsA, err := w.SaveRefs(ca)
	if err != nil {
		t.Fatal(err)
	}
	refsB, err := w.SaveRefs(cb)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	itemA := repo.Item{Name: "a", Kind: repo.KindStream, Size: int64(len(a)), Refs: refsA}
	s1 = &repo.Snapshot{Time: f.clock, Host: "test", Status: repo.StatusComplete, Items: []repo.Item{itemA, {Name: "b", Kind: repo.KindStream, Size: int64(len(b)), Refs: refsB}}}
	if _, err := r.SaveSnapshot(ctx, s1); err != nil {
		t.Fatal(err)
	}
	s2 = &repo.Snapshot{Time: f.clock.Add(time.Hour), Host: "test", Status: repo.StatusComplete, Items: []repo.Item{itemA}}
	if _, err := r.SaveSnapshot(ctx, s2); err != nil {
		t.Fatal(err)
	}
	return s1, s2, a
}

// TestPruneRepacksWithWriteOnlyKey: packs half full of unneeded blobs are
// repacked by copying the needed blobs' ciphertext, which a write-only key
// can do; the full key then restores byte-exact.
func TestPruneRepacksWithWriteOnlyKey(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	s1, s2, a := mixedRepo(t, f)
	ctx := context.Background()
	wo := f.master.WriteOnly()
	r := f.open(wo)
	if err := r.ForgetSnapshot(ctx, s1.ID); err != nil {
		t.Fatal(err)
	}
	nBefore, before := packBytes(t, f.be)
	// Unlimited unused space: nothing to repack, and no pack is empty.
	st := mustPrune(t, f.open(wo), repo.PruneOptions{MaxUnused: repo.MaxUnused{Unlimited: true}})
	if st.PacksRepacked != 0 || st.PacksDeleted != 0 {
		t.Fatalf("prune with unlimited unused space: %+v", st)
	}
	st = mustPrune(t, f.open(wo), repo.PruneOptions{})
	if st.PacksRepacked < nBefore-1 || st.PacksWritten == 0 || st.UnusedAfter > st.UsedBytes/19 {
		t.Fatalf("prune of half-used packs: %+v (packs before: %d)", st, nBefore)
	}
	_, after := packBytes(t, f.be)
	if after > before*6/10 {
		t.Fatalf("on disk %d → %d: the unneeded half was not freed", before, after)
	}
	if _, err := f.open(wo).StreamItem(ctx, &s2.Items[0], new(bytes.Buffer)); !errors.Is(err, repo.ErrWriteOnly) {
		t.Fatalf("write-only key read data: %v", err)
	}
	expectRestores(t, f.fresh(nil), map[crypt.ID]map[string][32]byte{s2.ID: {"a": sha(a)}})
}

// TestPruneKeepsWhatAConcurrentBackupNeeds: a backup that commits while
// prune is between its phases dedups against blobs prune judged unused;
// prune must keep their packs.
func TestPruneKeepsWhatAConcurrentBackupNeeds(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	ctx := context.Background()
	a, b, sb := forgetFirstOfTwo(t, f, 5, 8<<20)
	var s3 *repo.Snapshot
	var added int64
	o := repo.PruneOptions{}
	repo.SetAfterRepack(&o, func() {
		// A backup in another process: its lock shares the repository
		// with prune's first phase.
		other := f.open(nil)
		l, err := other.Lock(ctx, repo.LockOptions{Op: repo.OpBackup})
		if err != nil {
			t.Errorf("backup lock during prune's first phase: %v", err)
			return
		}
		defer l.Unlock()
		s3, added, err = backupStream(other, "s", bytes.NewReader(a))
		if err != nil {
			t.Error(err)
		}
	})
	st := mustPrune(t, f.open(nil), o)
	if s3 == nil {
		t.Fatal("no concurrent backup")
	}
	if added != 0 || st.PacksKeptForNew == 0 {
		t.Fatalf("the concurrent backup added %d bytes (want 0: all deduplicated); packs kept for it: %d", added, st.PacksKeptForNew)
	}
	expectRestores(t, f.fresh(nil), map[crypt.ID]map[string][32]byte{sb.ID: {"s": sha(b)}, s3.ID: {"s": sha(a)}})
	// The next prune has nothing to free: the kept packs are needed.
	if st := mustPrune(t, f.open(nil), repo.PruneOptions{}); st.PacksDeleted != 0 {
		t.Fatalf("next prune deleted %d packs", st.PacksDeleted)
	}
}

// TestPruneConcurrentWithBackups runs backups and forget+prune concurrently
// in a loop, with locks as the commands take them, then checks that every
// snapshot restores. Run it with -race.
func TestPruneConcurrentWithBackups(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	ctx := context.Background()
	pool := make([][]byte, 6)
	for i := range pool {
		pool[i] = randBytes(uint64(100+i), 1<<20+i*4099)
	}
	var mu sync.Mutex
	want := map[crypt.ID]map[string][32]byte{}
	rounds := 6
	if testing.Short() {
		rounds = 3
	}
	lockOpts := func(op string) repo.LockOptions {
		return repo.LockOptions{Op: op, Wait: time.Minute, Poll: time.Millisecond}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range rounds * 2 {
				var data []byte
				for range 3 {
					data = append(data, pool[rng.IntN(len(pool))]...)
				}
				r := f.open(nil)
				l, err := r.Lock(ctx, lockOpts(repo.OpBackup))
				if err != nil {
					errs <- err
					return
				}
				s, _, err := backupStreamLocked(r, l, fmt.Sprintf("w%d-%d", w, i), bytes.NewReader(data))
				l.Unlock()
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				want[s.ID] = map[string][32]byte{s.Items[0].Name: sha(data)}
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range rounds {
			r := f.open(nil)
			l, err := r.Lock(ctx, lockOpts(repo.OpForget))
			if err != nil {
				errs <- err
				return
			}
			snaps, err := r.Snapshots(ctx)
			if err == nil && len(snaps) > 2 {
				for _, s := range snaps[:len(snaps)-2] {
					if err = r.ForgetSnapshot(ctx, s.ID); err != nil {
						break
					}
					mu.Lock()
					delete(want, s.ID)
					mu.Unlock()
				}
			}
			l.Unlock()
			if err != nil {
				errs <- err
				return
			}
			if _, err := pruneRepo(f.open(nil), repo.PruneOptions{MaxUnused: repo.MaxUnused{Percent: 1}}); err != nil {
				errs <- fmt.Errorf("prune: %w", err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	expectRestores(t, f.fresh(nil), want)
	if st := mustPrune(t, f.open(nil), repo.PruneOptions{}); st.PacksUnindexed != 0 {
		t.Fatalf("locked runs left %d unindexed packs", st.PacksUnindexed)
	}
	expectRestores(t, f.fresh(nil), want)
}

// TestPruneFaultInjection fails, or crashes, prune at every write and every
// delete. After each, the kept snapshots restore byte-exact, and the next
// prune finishes the job.
func TestPruneFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("exhaustive fault cases run in the full (non -short) test run")
	}
	ctx := context.Background()
	modes := []struct {
		name  string
		fault backendtest.Fault
	}{{"fail", backendtest.FailSave}, {"nospace", backendtest.NoSpace}, {"crash-write", backendtest.FailAfter}, {"crash-delete", backendtest.CrashRemove}}
	// One setup, copied for every case: mixed packs (repack) and a
	// forgotten snapshot's own packs (delete).
	template := t.TempDir()
	tf := newFixture(t, local.New(template), testChunker())
	s1, s2, a := mixedRepo(t, tf)
	tr := tf.open(nil)
	extra, _, err := backupStream(tr, "x", bytes.NewReader(randBytes(9, 5<<20)))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []crypt.ID{s1.ID, extra.ID} {
		if err := tr.ForgetSnapshot(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	want := map[crypt.ID]map[string][32]byte{s2.ID: {"a": sha(a)}}
	_, clean := packBytes(t, tf.be)
	tried, passed := 0, 0
	for _, mode := range modes {
		for n := 1; ; n++ {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(template)); err != nil {
				t.Fatal(err)
			}
			inner := local.New(dir)
			f := &fixture{t: t, be: inner, master: tf.master, cache: t.TempDir(), clock: tf.clock}
			fb := &backendtest.Faulty{Backend: inner, N: n, Fault: mode.fault}
			f.be = fb
			_, err := pruneRepo(f.open(nil), repo.PruneOptions{})
			if !fb.Hit() {
				if err != nil {
					t.Fatalf("%s: no fault injected but prune failed: %v", mode.name, err)
				}
				break
			}
			tried++
			if err == nil && mode.fault != backendtest.CrashRemove {
				t.Fatalf("%s at %d: prune reported success", mode.name, n)
			}
			f.be = inner
			// A crashed prune's lock is stale (its pid is dead); this
			// test's pid lives on, so remove it as 'snap unlock' would.
			if _, _, err := f.open(nil).RemoveLocks(ctx, true); err != nil {
				t.Fatal(err)
			}
			expectRestores(t, f.fresh(nil), want)
			st := mustPrune(t, f.open(nil), repo.PruneOptions{})
			expectRestores(t, f.fresh(nil), want)
			if _, size := packBytes(t, inner); size > clean*6/10 {
				t.Fatalf("%s at %d: the next prune did not finish the job (%d bytes of packs, %+v)", mode.name, n, size, st)
			}
			passed++
		}
	}
	if tried < 10 {
		t.Fatalf("only %d fault cases", tried)
	}
	t.Logf("prune fault injection: %d cases tried, %d passed", tried, passed)
}

// TestPruneRefusesWhenDamaged: a missing pack that a snapshot needs, or a
// damaged pack to repack, stops prune before it deletes anything.
func TestPruneRefusesWhenDamaged(t *testing.T) {
	ctx := context.Background()
	for _, harm := range []string{"missing", "flipped"} {
		t.Run(harm, func(t *testing.T) {
			root := t.TempDir()
			f := newFixture(t, local.New(root), testChunker())
			s1, s2, _ := mixedRepo(t, f)
			r := f.open(nil)
			if err := r.ForgetSnapshot(ctx, s1.ID); err != nil {
				t.Fatal(err)
			}
			// A pack holding a blob the kept snapshot needs.
			needed, err := r.LoadRefs(ctx, s2.Items[0].Refs)
			if err != nil {
				t.Fatal(err)
			}
			want := map[crypt.ID]bool{}
			for _, id := range needed {
				want[id] = true
			}
			var packs []string
			for _, name := range listFiles(t, f.be, backend.PackFile) {
				_, blobs, err := r.ReadPackHeader(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range blobs {
					if want[b.ID] {
						packs = append(packs, name)
						break
					}
				}
			}
			sort.Strings(packs)
			h := backend.Handle{Type: backend.PackFile, Name: packs[0]}
			if harm == "missing" {
				if err := f.be.Remove(ctx, h); err != nil {
					t.Fatal(err)
				}
			} else {
				flipByte(t, filePath(root, h), 10)
			}
			before := listAll(t, f.be)
			_, err = pruneRepo(f.open(nil), repo.PruneOptions{})
			if !errors.Is(err, repo.ErrDamaged) {
				t.Fatalf("prune of a damaged repository: %v", err)
			}
			if harm == "missing" {
				// A lost data blob is named with its users; a lost refs
				// blob stops the marking at the snapshot that needs it.
				var me *repo.MissingBlobsError
				var se *repo.SnapshotError
				if !(errors.As(err, &me) && len(me.Users) > 0 || errors.As(err, &se)) || !bytes.Contains([]byte(err.Error()), []byte(s2.ID.Short())) {
					t.Fatalf("error does not name the snapshot: %v", err)
				}
			} else if !bytes.Contains([]byte(err.Error()), []byte(packs[0][:8])) {
				t.Fatalf("error does not name the pack: %v", err)
			}
			after := listAll(t, f.be)
			for name := range before {
				if !after[name] {
					t.Fatalf("prune of a damaged repository deleted %s", name)
				}
			}
		})
	}
}

// listAll returns every pack, index and snapshot file name.
func listAll(t *testing.T, be backend.Backend) map[string]bool {
	out := map[string]bool{}
	for _, ft := range []backend.FileType{backend.PackFile, backend.IndexFile, backend.SnapshotFile} {
		for _, n := range listFiles(t, be, ft) {
			out[string(ft)+"/"+n] = true
		}
	}
	return out
}

// notifyingBackend reports each saved pack.
type notifyingBackend struct {
	backend.Backend
	packs chan string
}

func (n *notifyingBackend) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	err := n.Backend.Save(ctx, h, rd)
	if err == nil && h.Type == backend.PackFile {
		select {
		case n.packs <- h.Name:
		default:
		}
	}
	return err
}

// TestPruneKeepsPacksOfARunningBackup: packs a running backup has uploaded
// but not yet indexed look like a crashed run's leftovers when prune scans;
// if the backup commits before prune's second phase, they must stay.
func TestPruneKeepsPacksOfARunningBackup(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, testChunker())
	nb := &notifyingBackend{Backend: f.be, packs: make(chan string, 1)}
	f.be = nb
	r := f.open(nil)
	l, err := r.Lock(ctx, repo.LockOptions{Op: repo.OpBackup})
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(77, 10<<20)
	res, err := w.SaveStream(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	<-nb.packs // at least one pack is on disk, and no index file lists it yet
	var snap *repo.Snapshot
	o := repo.PruneOptions{}
	repo.SetAfterRepack(&o, func() {
		refs, err := w.SaveRefs(res.Chunks)
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			t.Error(err)
			return
		}
		snap = &repo.Snapshot{Time: f.clock, Host: "test", Status: repo.StatusComplete,
			Items: []repo.Item{{Name: "s", Kind: repo.KindStream, Size: res.Size, Refs: refs}}}
		if _, err := r.SaveSnapshot(ctx, snap); err != nil {
			t.Error(err)
		}
		l.Unlock()
	})
	st := mustPrune(t, f.open(nil), o)
	if snap == nil {
		t.Fatal("backup did not commit")
	}
	if st.PacksUnindexed != 0 {
		t.Fatalf("prune deleted %d packs of a backup that committed meanwhile", st.PacksUnindexed)
	}
	expectRestores(t, f.fresh(nil), map[crypt.ID]map[string][32]byte{snap.ID: {"s": sha(data)}})
}
