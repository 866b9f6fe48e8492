package repo_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/crypt"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/local"
)

// openCheck opens the repository as 'snap check' does: a fresh cache, and
// damaged index files left out rather than fatal.
func (f *fixture) openCheck(m *crypt.Master) *repo.Repository {
	f.t.Helper()
	if m == nil {
		m = f.master
	}
	r, err := repo.Open(context.Background(), f.be, m, repo.Options{CacheDir: f.t.TempDir(), SkipDamagedIndex: true})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { r.Close() })
	return r
}

func runCheck(t *testing.T, f *fixture, m *crypt.Master, o repo.CheckOptions) *repo.CheckResult {
	t.Helper()
	res, err := f.openCheck(m).Check(context.Background(), o)
	if err != nil {
		t.Fatalf("check could not run: %v", err)
	}
	return res
}

// twoRuns makes a repository with a stream snapshot and a tree snapshot,
// each from its own run (own packs, own index file).
func twoRuns(t *testing.T, f *fixture) (stream, tree *repo.Snapshot, data []byte, dir string) {
	t.Helper()
	r := f.open(nil)
	data = randBytes(31, 3<<20)
	stream, _, err := backupStream(r, "s", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	for i := range 20 {
		os.WriteFile(filepath.Join(dir, strings.Repeat("f", i+1)), randBytes(uint64(40+i), 10000*(i+1)), 0o644)
	}
	tree, _, err = backupTree(r, "t", []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return stream, tree, data, dir
}

func TestCheckClean(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	twoRuns(t, f)
	res := runCheck(t, f, nil, repo.CheckOptions{ReadData: true})
	if len(res.Problems) != 0 || len(res.Warnings) != 0 {
		t.Fatalf("clean repository: %+v", res)
	}
	if res.Snapshots != 2 || res.IndexFiles != 2 || res.PacksRead != res.Packs || res.BlobsRead != res.Blobs || res.Blobs < 20 {
		t.Fatalf("counts: %+v", res)
	}
	// A write-only key checks structure and pack hashes, and says what it
	// could not decrypt.
	res = runCheck(t, f, f.master.WriteOnly(), repo.CheckOptions{ReadData: true})
	if len(res.Problems) != 0 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "write-only") {
		t.Fatalf("write-only check: %+v", res)
	}
	kl, err := repo.CheckKeyless(context.Background(), f.be, true, nil)
	if err != nil || len(kl.Problems) != 0 || kl.PacksRead != res.Packs {
		t.Fatalf("keyless: %v %+v", err, kl)
	}
}

func TestSubset(t *testing.T) {
	for _, bad := range []string{"", "0/3", "4/3", "1/0", "x", "0%", "101%", "-5%", "1/2/3"} {
		if _, err := repo.ParseSubset(bad); err == nil {
			t.Errorf("subset %q accepted", bad)
		}
	}
	s, err := repo.ParseSubset("2.5%")
	if err != nil || s.Fraction != 0.025 || s.String() != "2.5%" {
		t.Fatalf("2.5%%: %+v %v", s, err)
	}
	// Groups 1/m … m/m read every pack exactly once.
	f := newFixture(t, nil, testChunker())
	twoRuns(t, f)
	total, read := 0, 0
	for n := 1; n <= 3; n++ {
		sub, err := repo.ParseSubset(strings.Join([]string{string(rune('0' + n)), "3"}, "/"))
		if err != nil {
			t.Fatal(err)
		}
		res := runCheck(t, f, nil, repo.CheckOptions{ReadData: true, Subset: sub})
		total, read = res.Packs, read+res.PacksRead
	}
	if read != total {
		t.Fatalf("groups 1/3..3/3 read %d packs of %d", read, total)
	}
}

// damage is one way a repository file gets hurt.
type damage struct {
	name     string
	ft       backend.FileType
	harm     func(t *testing.T, root string, h backend.Handle)
	readData bool // found only by reading data
	keyless  bool // a keyless check finds it too
}

func flipAt(off int64) func(*testing.T, string, backend.Handle) {
	return func(t *testing.T, root string, h backend.Handle) { flipByte(t, filePath(root, h), off) }
}

func truncateTo(n int64) func(*testing.T, string, backend.Handle) {
	return func(t *testing.T, root string, h backend.Handle) {
		if err := os.Truncate(filePath(root, h), n); err != nil {
			t.Fatal(err)
		}
	}
}

func deleteFile(t *testing.T, root string, h backend.Handle) {
	if err := os.Remove(filePath(root, h)); err != nil {
		t.Fatal(err)
	}
}

var damages = []damage{
	{"pack blob byte", backend.PackFile, flipAt(100), true, true},
	{"pack header byte", backend.PackFile, flipAt(-10), true, true},
	{"pack truncated", backend.PackFile, truncateTo(1000), false, true},
	{"pack deleted", backend.PackFile, deleteFile, false, false},
	{"index byte", backend.IndexFile, flipAt(50), false, true},
	{"index truncated", backend.IndexFile, truncateTo(20), false, true},
	{"index deleted", backend.IndexFile, deleteFile, false, false},
	{"snapshot byte", backend.SnapshotFile, flipAt(40), false, true},
	{"snapshot truncated", backend.SnapshotFile, truncateTo(30), false, true},
	{"key slot byte", backend.KeyFile, flipAt(30), false, true},
}

// TestCheckFindsDamage hurts each kind of file in each way, in each file of
// that kind, and expects check to name the damage, a keyless check to find
// what hashing can, and every snapshot that does not need the damaged file
// to restore byte-exact.
func TestCheckFindsDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("exhaustive fault cases run in the full (non -short) test run")
	}
	ctx := context.Background()
	tried, passed := 0, 0
	for _, d := range damages {
		for k := 0; ; k++ {
			root := t.TempDir()
			f := newFixture(t, local.New(root), testChunker())
			if d.ft == backend.KeyFile {
				if _, err := repo.AddKey(ctx, f.be, f.master, repo.KeyParams{Passphrase: "x", WorkFactor: 10}); err != nil {
					t.Fatal(err)
				}
			}
			stream, tree, data, dir := twoRuns(t, f)
			names := listFiles(t, f.be, d.ft)
			if k >= len(names) {
				break
			}
			tried++
			h := backend.Handle{Type: d.ft, Name: names[k]}
			d.harm(t, root, h)

			res := runCheck(t, f, nil, repo.CheckOptions{ReadData: d.readData})
			if len(res.Problems) == 0 {
				t.Fatalf("%s (%s): check found nothing: %+v", d.name, h, res)
			}
			named := false
			for _, p := range res.Problems {
				named = named || strings.Contains(p.String(), h.Name[:8]) || d.name == "index deleted" || d.name == "pack deleted"
			}
			if !named {
				t.Fatalf("%s: no problem names %s: %v", d.name, h, res.Problems)
			}
			if len(res.Hints) == 0 {
				t.Fatalf("%s: no hint what to do", d.name)
			}
			if d.keyless {
				kl, err := repo.CheckKeyless(ctx, f.be, true, nil)
				if err != nil || len(kl.Problems) == 0 || !strings.Contains(kl.Problems[0].File, h.Name) {
					t.Fatalf("%s: keyless check: %v %+v", d.name, err, kl)
				}
			}
			// What the damage did not touch still restores; what it
			// touched fails loudly, never with wrong bytes.
			restored := restoreBoth(t, f, stream, tree, data, dir)
			if restored == 0 && d.ft != backend.KeyFile {
				t.Fatalf("%s: neither snapshot restores", d.name)
			}
			if d.ft == backend.KeyFile && restored != 2 {
				t.Fatalf("%s: a damaged key slot broke restores", d.name)
			}
			passed++
		}
	}
	t.Logf("damage cases: %d tried, %d passed", tried, passed)
}

// restoreBoth restores what it can of the two runs and returns how many
// came back byte-exact; wrong bytes fail the test.
func restoreBoth(t *testing.T, f *fixture, stream, tree *repo.Snapshot, data []byte, dir string) int {
	t.Helper()
	ctx := context.Background()
	r, err := repo.Open(ctx, f.be, f.master, repo.Options{CacheDir: t.TempDir(), SkipDamagedIndex: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer r.Close()
	ok := 0
	var buf bytes.Buffer
	if _, err := r.StreamItem(ctx, &stream.Items[0], &buf); err == nil {
		if !bytes.Equal(buf.Bytes(), data) {
			t.Fatal("stream restored with wrong bytes")
		}
		ok++
	}
	dst := t.TempDir()
	if _, err := r.RestoreTree(ctx, &tree.Items[0], dst); err == nil {
		for i := range 20 {
			name := strings.Repeat("f", i+1)
			want, _ := os.ReadFile(filepath.Join(dir, name))
			got, _ := os.ReadFile(filepath.Join(dst, filepath.Base(dir), name))
			if !bytes.Equal(got, want) {
				t.Fatalf("tree restored with wrong bytes in %s", name)
			}
		}
		ok++
	}
	return ok
}

// TestRepairAfterDamage hurts each kind of file, then runs the repairs the
// check's hints name: afterwards check finds nothing, prune runs, every
// snapshot the damage did not touch restores byte-exact, and a touched one
// is marked partial with its damaged item set aside. With an intact copy
// of the repository, 'repair packs --from' brings everything back.
func TestRepairAfterDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("exhaustive fault cases run in the full (non -short) test run")
	}
	ctx := context.Background()
	tried, passed := 0, 0
	for _, d := range damages {
		if d.ft == backend.KeyFile {
			continue
		}
		for _, withCopy := range []bool{false, true} {
			if withCopy && d.ft != backend.PackFile {
				continue
			}
			tried++
			root := t.TempDir()
			f := newFixture(t, local.New(root), testChunker())
			stream, tree, data, dir := twoRuns(t, f)
			copyDir := t.TempDir()
			if err := os.CopyFS(copyDir, os.DirFS(root)); err != nil {
				t.Fatal(err)
			}
			names := listFiles(t, f.be, d.ft)
			h := backend.Handle{Type: d.ft, Name: names[len(names)-1]}
			d.harm(t, root, h)

			var held *repo.Lock
			lock := func(r *repo.Repository) *repo.Lock {
				if held != nil {
					held.Unlock()
				}
				l, err := r.Lock(ctx, repo.LockOptions{Op: repo.OpRepair, Exclusive: true})
				if err != nil {
					t.Fatal(err)
				}
				held = l
				return l
			}
			r := f.openCheck(nil)
			if _, err := r.RepairIndex(ctx, lock(r)); err != nil {
				t.Fatalf("%s: repair index: %v", d.name, err)
			}
			r = f.openCheck(nil)
			o := repo.RepairPacksOptions{Lock: lock(r)}
			if withCopy {
				o.From = local.New(copyDir)
			}
			fixed, err := r.RepairPacks(ctx, o)
			if err != nil {
				t.Fatalf("%s: repair packs: %v", d.name, err)
			}
			if withCopy && d.name != "pack deleted" && (len(fixed) != 1 || !fixed[0].FromCopy) {
				t.Fatalf("%s: repair packs --from: %+v", d.name, fixed)
			}
			r = f.openCheck(nil)
			if _, err := r.RepairSnapshots(ctx, repo.RepairSnapshotsOptions{Lock: lock(r)}); err != nil {
				t.Fatalf("%s: repair snapshots: %v", d.name, err)
			}
			held.Unlock()
			if d.ft == backend.SnapshotFile {
				// The hint: copy it back, or forget it.
				if err := f.be.Remove(ctx, h); err != nil {
					t.Fatal(err)
				}
			}
			res := runCheck(t, f, nil, repo.CheckOptions{ReadData: true})
			if len(res.Problems) != 0 {
				t.Fatalf("%s (copy %v): problems after repair: %v", d.name, withCopy, res.Problems)
			}
			if _, err := pruneRepo(f.fresh(nil), repo.PruneOptions{}); err != nil {
				t.Fatalf("%s: prune after repair: %v", d.name, err)
			}
			restored := restoreBoth(t, f, stream, tree, data, dir)
			snaps, _ := f.fresh(nil).Snapshots(ctx)
			partial := 0
			for _, s := range snaps {
				if s.Status == repo.StatusPartial {
					partial++
					if s.RepairedFrom == nil || s.Items[0].Error == "" {
						t.Fatalf("%s: repaired snapshot %+v", d.name, s)
					}
				}
			}
			switch {
			case withCopy && d.name != "pack deleted" && restored != 2:
				t.Fatalf("%s: with an intact copy only %d snapshots restore", d.name, restored)
			case d.ft == backend.IndexFile && (restored != 2 || partial != 0):
				t.Fatalf("%s: an index file is only a summary, yet %d restore, %d partial", d.name, restored, partial)
			case restored == 0:
				t.Fatalf("%s: nothing restores after repair", d.name)
			case restored+partial < 2 && d.ft != backend.SnapshotFile:
				t.Fatalf("%s: a snapshot neither restores nor is marked partial", d.name)
			}
			passed++
		}
	}
	t.Logf("repair cases: %d tried, %d passed", tried, passed)
}
