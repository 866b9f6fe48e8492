package repo_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"snap/cache"
	"snap/crypt"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/local"
)

// Tests of issue 15 item 1: a pack found damaged is recorded, and damage
// never spreads through dedup into new snapshots.

// backupItems stores streams as the items of one snapshot, in one run, so
// their blobs share packs.
func backupItems(t *testing.T, r *repo.Repository, names []string, data [][]byte) *repo.Snapshot {
	t.Helper()
	ctx := context.Background()
	w, err := r.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := &repo.Snapshot{Time: time.Now(), Host: "test", Status: repo.StatusComplete}
	for i, n := range names {
		res, err := w.SaveStream(bytes.NewReader(data[i]))
		if err != nil {
			t.Fatal(err)
		}
		refs, err := w.SaveRefs(res.Chunks)
		if err != nil {
			t.Fatal(err)
		}
		s.Items = append(s.Items, repo.Item{Name: n, Kind: repo.KindStream, Size: res.Size, Refs: refs})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SaveSnapshot(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// needs returns every blob an item needs: its refs blobs and what they list.
func needs(t *testing.T, r *repo.Repository, it *repo.Item) []crypt.ID {
	t.Helper()
	ids, err := r.LoadRefs(context.Background(), it.Refs)
	if err != nil {
		t.Fatal(err)
	}
	return append(ids, it.Refs...)
}

// locations reads every index file and returns, per blob, the packs that
// hold it.
func locations(t *testing.T, r *repo.Repository) map[crypt.ID][]crypt.ID {
	t.Helper()
	out := map[crypt.ID][]crypt.ID{}
	for _, f := range listFiles(t, r.Backend(), backend.IndexFile) {
		packs, err := r.LoadIndexFile(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range packs {
			for _, b := range p.Blobs {
				out[b.ID] = append(out[b.ID], p.ID)
			}
		}
	}
	return out
}

// flipBlob flips a byte in the middle of the first blob of pack that is in
// each of sets (one blob per set), and returns the blobs it damaged.
func flipBlob(t *testing.T, r *repo.Repository, root, pack string, sets ...[]crypt.ID) (flipped []crypt.ID) {
	t.Helper()
	_, blobs, err := r.ReadPackHeader(context.Background(), pack)
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range sets {
		want := map[crypt.ID]bool{}
		for _, id := range ids {
			want[id] = true
		}
		n := len(flipped)
		for _, b := range blobs {
			if want[b.ID] {
				flipByte(t, filePath(root, backend.Handle{Type: backend.PackFile, Name: pack}), int64(b.Offset+b.Length/2))
				flipped = append(flipped, b.ID)
				break
			}
		}
		if len(flipped) == n {
			t.Fatalf("pack %.8s holds none of the blobs", pack)
		}
	}
	return flipped
}

// openAs opens the repository as check and repair do: a private cache, with
// local records of damage kept in the user's cache directory (f.cache).
func (f *fixture) openAs(m *crypt.Master) *repo.Repository {
	f.t.Helper()
	if m == nil {
		m = f.master
	}
	r, err := repo.Open(context.Background(), f.be, m, repo.Options{CacheDir: f.t.TempDir(), StateDir: f.cache, SkipDamagedIndex: true})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { r.Close() })
	return r
}

func damagedNames(t *testing.T, r *repo.Repository) map[string]bool {
	t.Helper()
	ds, err := r.DamagedPacks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range ds {
		out[d.Pack.String()] = true
	}
	return out
}

func mentions(list []string, snap *repo.Snapshot, item string) bool {
	for _, s := range list {
		if strings.Contains(s, snap.ID.Short()) && strings.Contains(s, `"`+item+`"`) {
			return true
		}
	}
	return false
}

// TestDamageDoesNotSpreadThroughDedup: a byte flipped in a pack, found by
// check, then a backup of the same data: the new snapshot must restore
// byte-exact from fresh copies in a new pack, never deduplicating against
// the damaged one.
func TestDamageDoesNotSpreadThroughDedup(t *testing.T) {
	ctx := context.Background()
	for _, writeOnly := range []bool{false, true} {
		name := "full key"
		if writeOnly {
			name = "write-only key"
		}
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			f := newFixture(t, local.New(root), testChunker())
			m := f.master
			if writeOnly {
				m = f.master.WriteOnly()
			}
			x, y := randBytes(61, 1<<20), randBytes(62, 1<<20)
			r := f.open(m)
			s1 := backupItems(t, r, []string{"x", "y"}, [][]byte{x, y})
			packs := listFiles(t, f.be, backend.PackFile)
			if len(packs) != 1 {
				t.Fatalf("%d packs, want the run's one", len(packs))
			}
			bad := packs[0]
			xNeeds, yNeeds := needs(t, r, &s1.Items[0]), needs(t, r, &s1.Items[1])
			// A data chunk of x and one of y (the refs blobs come last).
			flipBlob(t, r, root, bad, xNeeds[:len(xNeeds)-len(s1.Items[0].Refs)], yNeeds[:len(yNeeds)-len(s1.Items[1].Refs)])

			res := runCheckAs(t, f, m, repo.CheckOptions{ReadData: true})
			if len(res.Problems) == 0 || !strings.Contains(res.Problems[0].File, bad) {
				t.Fatalf("check did not find the damaged pack: %+v", res.Problems)
			}
			if !mentions(res.Affected, s1, "x") || !mentions(res.Affected, s1, "y") {
				t.Fatalf("check does not name the affected items: %v", res.Affected)
			}
			if len(listFiles(t, f.be, backend.DamagedFile)) != 1 {
				t.Fatal("check recorded nothing in the repository")
			}
			if !damagedNames(t, f.fresh(m))[bad] {
				t.Fatal("a fresh cache does not know the recorded pack")
			}

			// The next backup of the same data stores it again.
			_, added, err := backupStream(f.open(m), "x", bytes.NewReader(x))
			if err != nil {
				t.Fatal(err)
			}
			if added < int64(len(x)) {
				t.Fatalf("the backup after the damage added %d bytes: it deduplicated against the damaged pack", added)
			}
			snaps, _ := f.open(m).Snapshots(ctx)
			s2 := snaps[len(snaps)-1]
			if s2.ID == s1.ID {
				s2 = snaps[0]
			}
			where := locations(t, f.open(m))
			for _, id := range needs(t, f.open(m), &s2.Items[0]) {
				good := false
				for _, p := range where[id] {
					good = good || p.String() != bad
				}
				if !good {
					t.Fatalf("the new snapshot needs blob %v, whose only copy is in the damaged pack", id.Short())
				}
			}
			if got := listFiles(t, f.be, backend.PackFile); len(got) < 2 {
				t.Fatalf("no new pack: %v", got)
			}

			// Readers prefer the intact copy, also in a cache rebuilt from
			// scratch: the new snapshot restores, and so does the old
			// snapshot's item x (its blobs were all stored again).
			fr := f.fresh(f.master)
			c, err := fr.Index(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range needs(t, fr, &s2.Items[0]) {
				if e, ok, err := c.Lookup(id); err != nil || !ok || e.Pack.String() == bad {
					t.Fatalf("a rebuilt cache prefers the damaged pack for %v: %+v %v %v", id.Short(), e, ok, err)
				}
			}
			if got := streamHash(t, fr, s2, "x"); got != sha(x) {
				t.Fatal("the new snapshot does not restore byte-exact")
			}
			if got := streamHash(t, f.fresh(f.master), s1, "x"); got != sha(x) {
				t.Fatal("the old snapshot's item x is not mended by the new copies")
			}
			if _, err := f.fresh(f.master).StreamItem(ctx, &s1.Items[1], &bytes.Buffer{}); !errors.Is(err, repo.ErrDamaged) {
				t.Fatalf("the old snapshot's damaged item y: %v", err)
			}

			// check still reports the old snapshot's y, and no longer x.
			res = runCheckAs(t, f, m, repo.CheckOptions{ReadData: true})
			if !mentions(res.Affected, s1, "y") || mentions(res.Affected, s1, "x") || mentions(res.Affected, s2, "x") {
				t.Fatalf("affected after the new backup: %v", res.Affected)
			}
			// Without reading data, the record alone says the same of x.
			res = runCheckAs(t, f, m, repo.CheckOptions{})
			if len(res.Problems) == 0 || !mentions(res.Affected, s1, "y") || mentions(res.Affected, s2, "x") {
				t.Fatalf("structure check after the new backup: %+v", res)
			}

			// Prune keeps the damaged pack (the only copy of y's blobs) and
			// the good copies.
			if _, err := pruneRepo(f.open(m), repo.PruneOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := streamHash(t, f.fresh(f.master), s2, "x"); got != sha(x) {
				t.Fatal("the new snapshot does not restore after prune")
			}
			if _, err := f.be.Stat(ctx, backend.Handle{Type: backend.PackFile, Name: bad}); err != nil {
				t.Fatalf("prune removed the only copy of y's blobs: %v", err)
			}

			// repair packs salvages what verifies and clears the record,
			// in the repository and in the local cache.
			userCache := f.cache
			if writeOnly {
				// Salvage needs the full key.
				m = f.master
			}
			rr := f.openAs(m)
			lock, err := rr.Lock(ctx, repo.LockOptions{Op: repo.OpRepair, Exclusive: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rr.RepairPacks(ctx, repo.RepairPacksOptions{Lock: lock}); err != nil {
				t.Fatal(err)
			}
			lock.Unlock()
			if got := listFiles(t, f.be, backend.DamagedFile); len(got) != 0 {
				t.Fatalf("repair packs left records: %v", got)
			}
			f.cache = userCache
			if got := damagedNames(t, f.open(m)); len(got) != 0 {
				t.Fatalf("the local cache still records %v", got)
			}
		})
	}
}

func runCheckAs(t *testing.T, f *fixture, m *crypt.Master, o repo.CheckOptions) *repo.CheckResult {
	t.Helper()
	res, err := f.openAs(m).Check(context.Background(), o)
	if err != nil {
		t.Fatalf("check could not run: %v", err)
	}
	return res
}

// TestDamageFoundByReaders: a restore that hits a damaged blob records the
// pack, reads an intact copy of the blob when another pack has one, and a
// later backup stores fresh copies.
func TestDamageFoundByReaders(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f := newFixture(t, local.New(root), testChunker())
	x := randBytes(71, 1<<20)
	r := f.open(nil)
	s1, _, err := backupStream(r, "x", bytes.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	bad := listFiles(t, f.be, backend.PackFile)[0]
	flipBlob(t, r, root, bad, needs(t, r, &s1.Items[0]))
	var mu sync.Mutex
	var warned []string
	warn := func(m string) { mu.Lock(); warned = append(warned, m); mu.Unlock() }
	rr, err := repo.Open(ctx, f.be, f.master, repo.Options{CacheDir: t.TempDir(), Warn: warn})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rr.StreamItem(ctx, &s1.Items[0], &bytes.Buffer{}); !errors.Is(err, repo.ErrDamaged) {
		t.Fatalf("restore of a damaged blob: %v", err)
	}
	rr.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(warned) != 1 || !strings.Contains(warned[0], bad[:8]) || !strings.Contains(warned[0], "recorded") {
		t.Fatalf("the restore did not say it recorded the damage: %q", warned)
	}
	if !damagedNames(t, f.open(nil))[bad] || len(listFiles(t, f.be, backend.DamagedFile)) != 1 {
		t.Fatal("the restore did not record the damaged pack")
	}
	s2, added, err := backupStream(f.open(nil), "x", bytes.NewReader(x))
	if err != nil || added < int64(len(x)) {
		t.Fatalf("backup after a failed restore: added %d, %v", added, err)
	}
	for _, s := range []*repo.Snapshot{s1, s2} {
		if got := streamHash(t, f.fresh(nil), s, "x"); got != sha(x) {
			t.Fatalf("snapshot %s does not restore", s.ID.Short())
		}
	}
}

// TestDamageRecordFaults: when the repository record cannot be written (a
// read-only or full store), the local cache still records the pack, this
// host's backups avoid it, and a later open writes the record.
func TestDamageRecordFaults(t *testing.T) {
	for _, fault := range []backendtest.Fault{backendtest.FailAfter, backendtest.NoSpace} {
		root := t.TempDir()
		inner := local.New(root)
		f := newFixture(t, inner, testChunker())
		x := randBytes(81, 1<<20)
		s1, _, err := backupStream(f.open(nil), "x", bytes.NewReader(x))
		if err != nil {
			t.Fatal(err)
		}
		bad := listFiles(t, f.be, backend.PackFile)[0]
		flipBlob(t, f.open(nil), root, bad, needs(t, f.open(nil), &s1.Items[0]))

		// FailAfter: no record can be written at all; NoSpace: only the
		// first attempt fails.
		fb := &backendtest.Faulty{Backend: inner, N: 1, Fault: fault, Only: backend.DamagedFile}
		f.be = fb
		res := runCheckAs(t, f, nil, repo.CheckOptions{ReadData: true})
		if !fb.Hit() || len(res.Problems) == 0 {
			t.Fatalf("fault %v not hit (%v) or damage not found: %+v", fault, fb.Hit(), res.Problems)
		}
		if len(res.Warnings) == 0 {
			t.Fatal("check did not say the record could not be written")
		}
		if got := listFiles(t, inner, backend.DamagedFile); len(got) != 0 {
			t.Fatalf("a failed save left a record: %v", got)
		}
		_, added, err := backupStream(f.open(nil), "x", bytes.NewReader(x))
		if err != nil || added < int64(len(x)) {
			t.Fatalf("fault %v: a backup after a local-only record added %d bytes: %v", fault, added, err)
		}
		want := 0
		if fault == backendtest.NoSpace {
			want = 1 // the backup's open wrote it
		}
		if got := listFiles(t, inner, backend.DamagedFile); len(got) != want {
			t.Fatalf("fault %v: %d records, want %d", fault, len(got), want)
		}
		f.be = inner
		f.open(nil).Index(context.Background())
		if got := listFiles(t, inner, backend.DamagedFile); len(got) != 1 {
			t.Fatalf("the local record was not written to the repository on a later open: %v", got)
		}
		os.RemoveAll(f.cache)
		if !damagedNames(t, f.fresh(nil))[bad] {
			t.Fatal("the record written later is not read back")
		}
	}
}

// dataChunks is an item's data blobs (its needs without the refs blobs).
func dataChunks(t *testing.T, r *repo.Repository, it *repo.Item) []crypt.ID {
	t.Helper()
	ids := needs(t, r, it)
	return ids[:len(ids)-len(it.Refs)]
}

// newPacks returns the packs not in before.
func newPacks(t *testing.T, be backend.Backend, before []string) []string {
	t.Helper()
	old := map[string]bool{}
	for _, p := range before {
		old[p] = true
	}
	var out []string
	for _, p := range listFiles(t, be, backend.PackFile) {
		if !old[p] {
			out = append(out, p)
		}
	}
	return out
}

// TestPruneDropsDamagedPackOnceCopied: once every blob a damaged pack holds
// that snapshots need has an intact copy in another pack, prune deletes the
// damaged pack and its record, and every snapshot still restores.
func TestPruneDropsDamagedPackOnceCopied(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f := newFixture(t, local.New(root), testChunker())
	x := randBytes(91, 1<<20)
	s1, _, err := backupStream(f.open(nil), "x", bytes.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	bad := listFiles(t, f.be, backend.PackFile)[0]
	flipBlob(t, f.open(nil), root, bad, dataChunks(t, f.open(nil), &s1.Items[0]))
	runCheckAs(t, f, nil, repo.CheckOptions{ReadData: true})
	s2, _, err := backupStream(f.open(nil), "x", bytes.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pruneRepo(f.open(nil), repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.DamagedDeleted != 1 || st.DamagedKept != 0 {
		t.Fatalf("prune: %+v", st)
	}
	if _, err := f.be.Stat(ctx, backend.Handle{Type: backend.PackFile, Name: bad}); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("the damaged pack is still there: %v", err)
	}
	if got := listFiles(t, f.be, backend.DamagedFile); len(got) != 0 {
		t.Fatalf("the record of a removed pack stayed: %v", got)
	}
	for _, s := range []*repo.Snapshot{s1, s2} {
		if got := streamHash(t, f.fresh(nil), s, "x"); got != sha(x) {
			t.Fatalf("snapshot %s does not restore after prune", s.ID.Short())
		}
	}
	if res := runCheckAs(t, f, nil, repo.CheckOptions{ReadData: true}); len(res.Problems) != 0 || len(res.Damaged) != 0 {
		t.Fatalf("check after prune: %+v", res)
	}
}

// TestPruneKeepsEveryDamagedCopy: a blob whose copies are all in damaged
// packs may be intact in any of them; prune deletes none. Here each of two
// damaged packs holds the intact copy of a chunk the other lost, so the
// snapshot still restores byte-exact, reading each chunk where it is good.
func TestPruneKeepsEveryDamagedCopy(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f := newFixture(t, local.New(root), testChunker())
	x := randBytes(92, 1<<20)
	s1, _, err := backupStream(f.open(nil), "x", bytes.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	p1 := listFiles(t, f.be, backend.PackFile)[0]
	chunks := dataChunks(t, f.open(nil), &s1.Items[0])
	first := flipBlob(t, f.open(nil), root, p1, chunks)
	runCheckAs(t, f, nil, repo.CheckOptions{ReadData: true})
	if _, _, err := backupStream(f.open(nil), "x", bytes.NewReader(x)); err != nil {
		t.Fatal(err)
	}
	p2 := newPacks(t, f.be, []string{p1})
	if len(p2) != 1 {
		t.Fatalf("new packs %v", p2)
	}
	var others []crypt.ID
	for _, id := range chunks {
		if id != first[0] {
			others = append(others, id)
		}
	}
	flipBlob(t, f.open(nil), root, p2[0], others)
	res := runCheckAs(t, f, nil, repo.CheckOptions{ReadData: true})
	if len(res.Damaged) != 2 || len(res.Affected) != 0 {
		t.Fatalf("two damaged packs, each with an intact copy of what the other lost: %+v", res)
	}
	st, err := pruneRepo(f.open(nil), repo.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.DamagedKept != 2 || st.DamagedDeleted != 0 {
		t.Fatalf("prune: %+v", st)
	}
	for _, p := range []string{p1, p2[0]} {
		if _, err := f.be.Stat(ctx, backend.Handle{Type: backend.PackFile, Name: p}); err != nil {
			t.Fatalf("prune removed damaged pack %.8s, which holds a last intact copy: %v", p, err)
		}
	}
	if got := streamHash(t, f.fresh(nil), s1, "x"); got != sha(x) {
		t.Fatal("the snapshot does not restore from the two damaged packs")
	}
}

// TestSyncKeepsSourceLogOnlyDamage: a destination opened for sync has the
// source's repository id, so it shares this host's damage log. Clearing a
// destination-only record must not drop from that log a source pack that
// only the log knows is damaged (its record could not be written), even
// though the destination's copy of that pack is intact.
func TestSyncKeepsSourceLogOnlyDamage(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	inner := local.New(root)
	f := newFixture(t, inner, testChunker())
	if _, _, err := backupStream(f.open(nil), "x", bytes.NewReader(randBytes(91, 1<<20))); err != nil {
		t.Fatal(err)
	}
	p := listFiles(t, inner, backend.PackFile)[0]
	dst := local.New(t.TempDir())
	sync := func(del bool) {
		t.Helper()
		r := f.open(nil)
		l, err := r.Lock(ctx, repo.LockOptions{Op: repo.OpSync})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Unlock()
		// The command line opens the destination with the same cache
		// directory as the source.
		if _, err := r.Sync(ctx, dst, repo.SyncOptions{Delete: del, CacheDir: f.cache, Lock: repo.LockOptions{Wait: time.Minute, Poll: time.Millisecond}}); err != nil {
			t.Fatal(err)
		}
	}
	sync(false)
	// The source cannot write records; its pack p is damaged in this
	// host's log only. The destination has a record the source lacks.
	f.be = &backendtest.Faulty{Backend: inner, N: 1, Fault: backendtest.FailAfter, Only: backend.DamagedFile}
	logPath, err := repo.DamageLogPath(f.open(nil))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := crypt.ParseID(p)
	if err := cache.PutDamage(logPath, cache.Damage{Pack: pid, Reason: "flipped byte", FoundBy: repo.FoundByCheck, Host: "h", Time: f.clock}); err != nil {
		t.Fatal(err)
	}
	dr, err := repo.Open(ctx, dst, f.master, repo.Options{CacheDir: t.TempDir(), Now: func() time.Time { return f.clock }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.SaveDamageRecord(ctx, dr, crypt.Hash([]byte("a pack the destination no longer has"))); err != nil {
		t.Fatal(err)
	}
	dr.Close()
	sync(true)
	if got := listFiles(t, dst, backend.DamagedFile); len(got) != 0 {
		t.Fatalf("the destination's own record of a gone pack was kept: %v", got)
	}
	log, err := cache.ReadDamageLog(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := log[pid]; !ok {
		t.Fatal("sync --delete dropped the source's log-only damaged pack from this host's log")
	}
}
