package main

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
	"snap/repo/format"
)

// openForTest opens the test's repository through the library, with a
// cache of its own, to look at what the command line wrote.
func openForTest(t *testing.T, e *env) *repo.Repository {
	t.Helper()
	ctx := context.Background()
	be := local.New(e.vars["SNAP_REPO"])
	m, _, err := repo.OpenKey(ctx, be, e.vars["SNAP_PASSWORD"])
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, be, m, repo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// fileChunks returns the chunk ids of file name in directory dir of a tree
// item (the item's root holds dir).
func fileChunks(t *testing.T, r *repo.Repository, it *repo.Item, dir, name string) []crypt.ID {
	t.Helper()
	ctx := context.Background()
	tree := func(id crypt.ID) []format.Node {
		b, err := r.LoadBlob(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := format.ParseTree(b)
		if err != nil {
			t.Fatal(err)
		}
		return nodes
	}
	for _, d := range tree(*it.Tree) {
		if d.Name == dir {
			for _, f := range tree(d.Subtree) {
				if f.Name == name {
					return f.Content
				}
			}
		}
	}
	t.Fatalf("no %s/%s in the tree", dir, name)
	return nil
}

// TestDamagedPackCLI is issue 15 item 1 as a new user meets it: a byte
// flipped in a pack, check --read-data finds it (exit 14); the next backup
// of the same data must not deduplicate against the damaged pack: it
// stores fresh copies, its snapshot dumps and restores byte-exact, and
// check says which older snapshot is still affected.
func TestDamagedPackCLI(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.ok(nil, "init")
	app := filepath.Join(e.dir, "app")
	os.Mkdir(app, 0o755)
	a, b := randData(31, 1<<20), randData(32, 1<<20)
	os.WriteFile(filepath.Join(app, "a"), a, 0o644)
	os.WriteFile(filepath.Join(app, "b"), b, 0o644)
	db := randData(33, 2<<20)
	e.ok(bytes.NewReader(db), "backup", "--stdin", "--item", "db.sql", app)
	packs := packFiles(t, e.vars["SNAP_REPO"])
	if len(packs) != 1 {
		t.Fatalf("packs: %v", packs)
	}
	bad := filepath.Base(packs[0])
	s1 := e.snapshots()[0]

	// Damage one chunk of db.sql and one of app/b.
	r := openForTest(t, e)
	snap1, err := r.FindSnapshot(ctx, s1.ID)
	if err != nil {
		t.Fatal(err)
	}
	dbChunks, err := r.LoadRefs(ctx, snap1.Items[0].Refs)
	if err != nil {
		t.Fatal(err)
	}
	bChunks := fileChunks(t, r, &snap1.Items[1], "app", "b")
	_, blobs, err := r.ReadPackHeader(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(packs[0])
	// The chunker's seed is random per repository, so the stream has one
	// chunk or several: damage the middle one.
	mid := len(dbChunks) / 2
	for _, want := range [][]crypt.ID{dbChunks[mid : mid+1], bChunks[:1]} {
		for _, bl := range blobs {
			if bl.ID == want[0] {
				raw[bl.Offset+bl.Length/2] ^= 0x10
			}
		}
	}
	os.WriteFile(packs[0], raw, 0o644)
	r.Close()

	out := e.expect(ExitDamaged, nil, "check", "--read-data")
	if !strings.Contains(out.stderr, bad[:8]) || !strings.Contains(out.stderr, "affected:") || !strings.Contains(out.stderr, s1.ShortID) {
		t.Fatalf("check of a flipped byte:\n%s", out.stderr)
	}
	if !strings.Contains(out.stderr, "store fresh copies") {
		t.Fatalf("check does not say what new backups do:\n%s", out.stderr)
	}
	// Without reading data, the record says the same.
	if out := e.expect(ExitDamaged, nil, "check"); !strings.Contains(out.stderr, "recorded as damaged") {
		t.Fatalf("structure check after the record:\n%s", out.stderr)
	}

	// The next backup: the same db.sql and app/a, a changed app/b.
	b2 := randData(34, 1<<20)
	os.WriteFile(filepath.Join(app, "b"), b2, 0o644)
	e.ok(bytes.NewReader(db), "backup", "--stdin", "--item", "db.sql", app)
	snaps := e.snapshots()
	s2 := snaps[len(snaps)-1]
	if s2.ID == s1.ID {
		s2 = snaps[0]
	}
	if s2.Added < int64(len(db)+len(a))/2 {
		t.Fatalf("the backup after the damage added %d bytes: it reused the damaged pack", s2.Added)
	}
	if got := e.ok(nil, "dump", s2.ID, "db.sql").stdout; got != string(db) {
		t.Fatal("the new snapshot's db.sql is not byte-exact")
	}
	dst := filepath.Join(e.dir, "restored")
	e.ok(nil, "restore", s2.ID, "--item", "app", "--target", dst)
	for name, want := range map[string][]byte{"a": a, "b": b2} {
		if got, _ := os.ReadFile(filepath.Join(dst, "app", name)); !bytes.Equal(got, want) {
			t.Fatalf("restored app/%s differs", name)
		}
	}
	// No blob the new snapshot needs is only in the damaged pack.
	r = openForTest(t, e)
	inPack := map[crypt.ID]map[string]bool{}
	for _, f := range mustList(t, r, backend.IndexFile) {
		ps, err := r.LoadIndexFile(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			for _, bl := range p.Blobs {
				if inPack[bl.ID] == nil {
					inPack[bl.ID] = map[string]bool{}
				}
				inPack[bl.ID][p.ID.String()] = true
			}
		}
	}
	snap2, _ := r.FindSnapshot(ctx, s2.ID)
	for _, it := range snap2.Items {
		ids, err := r.LoadRefs(ctx, it.Refs)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range append(ids, it.Refs...) {
			if len(inPack[id]) == 1 && inPack[id][bad] {
				t.Fatalf("item %q needs blob %v, whose only copy is in the damaged pack", it.Name, id.Short())
			}
		}
	}
	r.Close()
	// The old db.sql is mended by the fresh copies; the old app/b is not.
	if got := e.ok(nil, "dump", s1.ID, "db.sql").stdout; got != string(db) {
		t.Fatal("the old snapshot's db.sql is not mended")
	}
	out = e.expect(ExitDamaged, nil, "check", "--read-data")
	affected := out.stderr[strings.Index(out.stderr, "affected:"):]
	if !strings.Contains(affected, s1.ShortID+` item "app"`) || strings.Contains(affected, `item "db.sql"`) || strings.Contains(affected, s2.ShortID) {
		t.Fatalf("what is still affected:\n%s", out.stderr)
	}

	// repair packs salvages what verifies and clears the record;
	// repair snapshots sets the old app item aside.
	e.ok(nil, "repair", "packs")
	if recs, _ := filepath.Glob(filepath.Join(e.vars["SNAP_REPO"], "damaged", "*")); len(recs) != 0 {
		t.Fatalf("records left after repair packs: %v", recs)
	}
	e.ok(nil, "repair", "snapshots")
	if out := e.ok(nil, "check", "--read-data"); strings.Contains(out.stderr, "recorded: new backups") {
		t.Fatalf("check after repair:\n%s", out.stderr)
	}
	if got := e.ok(nil, "dump", s2.ID, "db.sql").stdout; got != string(db) {
		t.Fatal("the new snapshot's db.sql after repair")
	}
}

func mustList(t *testing.T, r *repo.Repository, ft backend.FileType) []string {
	t.Helper()
	var out []string
	err := r.Backend().List(context.Background(), ft, func(fi backend.FileInfo) error { out = append(out, fi.Name); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}
