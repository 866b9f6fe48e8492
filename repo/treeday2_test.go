package repo_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"snap/internal/shapes"
	"snap/repo"
	"snap/repo/format"
)

// genTree writes top×sub directories (root/dNN/sMM) of files small text
// files each, 1–8 KiB, with fixed mtimes.
func genTree(t testing.TB, root string, top, sub, files int) []string {
	var paths []string
	mt := time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range top {
		for j := range sub {
			d := filepath.Join(root, fmt.Sprintf("d%02d", i), fmt.Sprintf("s%02d", j))
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			for k := range files {
				p := filepath.Join(d, "file-"+strconv.Itoa(k)+".txt")
				if err := os.WriteFile(p, shapes.TextDump(r.Uint64(), 1024+r.IntN(7<<10)), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, mt, mt); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
		}
	}
	return paths
}

// day2 edits edit files in place and adds add new ones, spread over the
// tree, as the bench's day 2 does.
func day2(t testing.TB, root string, paths []string, edit, add int) {
	r := rand.New(rand.NewPCG(2, 2))
	mt := time.Date(2025, 6, 2, 3, 0, 0, 0, time.UTC)
	for _, i := range r.Perm(len(paths))[:edit] {
		b, _ := os.ReadFile(paths[i])
		copy(b[r.IntN(len(b)-20):], "EDITED ON DAY TWO\n")
		if err := os.WriteFile(paths[i], b, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(paths[i], mt, mt)
	}
	for k := range add {
		d := filepath.Dir(paths[r.IntN(len(paths))])
		p := filepath.Join(d, "new-"+strconv.Itoa(k)+".txt")
		if err := os.WriteFile(p, shapes.TextDump(r.Uint64(), 1024+r.IntN(7<<10)), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mt, mt)
	}
}

// TestTreeDay2Refs: a day-2 backup of a tree where 2.5% of the files
// changed, spread over every directory, rewrites about half of the reference
// list, not all of it: the tree ids, which all change, are together at its
// end, and refs blobs are cut fine enough that a changed file does not
// rewrite the ids of 127 unchanged ones (it did: every refs blob was new).
func TestTreeDay2Refs(t *testing.T) {
	var mu sync.Mutex
	refs := 0
	defer repo.SetOnSeal(func(typ format.BlobType, _, stored int) {
		if typ == format.TypeRefs {
			mu.Lock()
			refs += stored
			mu.Unlock()
		}
	})()
	root := filepath.Join(t.TempDir(), "tree")
	paths := genTree(t, root, 2, 10, 100)
	r := newFixture(t, nil, nil).open(nil)
	var day1 int
	for day := 1; day <= 2; day++ {
		if day == 2 {
			day2(t, root, paths, 30, 20)
		}
		refs = 0
		s, _, err := backupTree(r, "tree", []string{root}, r.OpenFilesCache("k"))
		if err != nil {
			t.Fatal(err)
		}
		if day == 1 {
			day1 = refs
			continue
		}
		t.Logf("refs stored: day 1 %d bytes in %d blobs, day 2 %d", day1, len(s.Items[0].Refs), refs)
		if refs*4 > day1*3 {
			t.Errorf("day 2 stored %d bytes of refs blobs, day 1 %d", refs, day1)
		}
	}
}

// applyTree makes dst like src: changed and new files copied with their
// mtimes, missing ones removed, directory mtimes set.
func applyTree(t testing.TB, src, dst string) {
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		d := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(d, 0o755)
		}
		fi, _ := e.Info()
		if di, err := os.Stat(d); err == nil && di.Size() == fi.Size() && di.ModTime().Equal(fi.ModTime()) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(d, b, fi.Mode().Perm()); err != nil {
			return err
		}
		return os.Chtimes(d, fi.ModTime(), fi.ModTime())
	})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	filepath.WalkDir(dst, func(p string, e fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dst, p)
		if _, err := os.Lstat(filepath.Join(src, rel)); os.IsNotExist(err) {
			os.RemoveAll(p)
			return filepath.SkipDir
		}
		if e.IsDir() {
			dirs = append(dirs, rel)
		}
		return nil
	})
	for _, rel := range dirs {
		fi, _ := os.Stat(filepath.Join(src, rel))
		os.Chtimes(filepath.Join(dst, rel), fi.ModTime(), fi.ModTime())
	}
}

// TestMeasureTreeDay2 reports what a tree's day 2 stores, by blob type:
// SNAP_MEASURE_TREE=1 on a generated tree (20,000 files in 200
// directories; 300 edited and 200 added), or =DIR on the bench workload.
func TestMeasureTreeDay2(t *testing.T) {
	if os.Getenv("SNAP_MEASURE_TREE") == "" {
		t.Skip("set SNAP_MEASURE_TREE=1")
	}
	var mu sync.Mutex
	var large [][2]int
	stored := map[format.BlobType][3]int{}
	defer repo.SetOnSeal(func(typ format.BlobType, plain, st int) {
		mu.Lock()
		if typ == format.TypeData && plain >= 128<<10 {
			typ = 0 // chunks of large files, apart
			large = append(large, [2]int{plain, st})
		}
		v := stored[typ]
		v[0] += st
		v[1]++
		v[2] += plain
		stored[typ] = v
		mu.Unlock()
	})()
	root := filepath.Join(t.TempDir(), "tree")
	bw := os.Getenv("SNAP_MEASURE_TREE")
	var paths []string
	if fi, err := os.Stat(bw); err == nil && fi.IsDir() {
		// The bench workload (go run ./bench/gen -out DIR): tree1, then
		// tree2 applied over it.
		if err := exec.Command("cp", "-a", filepath.Join(bw, "tree1"), root).Run(); err != nil {
			t.Fatal(err)
		}
	} else {
		paths = genTree(t, root, 10, 20, 100)
	}
	f := newFixture(t, nil, nil)
	r := f.open(nil)
	for day := 1; day <= 2; day++ {
		if day == 2 && paths == nil {
			applyTree(t, filepath.Join(bw, "tree2"), root)
		} else if day == 2 {
			day2(t, root, paths, 300, 200)
		}
		stored = map[format.BlobType][3]int{}
		s, added, err := backupTree(r, "tree", []string{root}, r.OpenFilesCache("k"))
		if err != nil {
			t.Fatal(err)
		}
		if day == 2 {
			t.Logf("large chunks [plain stored]: %v", large)
		}
		large = nil
		snapBytes, _ := json.Marshal(s)
		t.Logf("snapshot JSON %d bytes", len(snapBytes))
		t.Logf("day %d: stored %d bytes (added plaintext %d), refs blobs in item %d; [bytes blobs] of small files %v, large files %v, trees %v, refs %v",
			day, s.Stored, added, len(s.Items[0].Refs), stored[format.TypeData], stored[0], stored[format.TypeTree], stored[format.TypeRefs])
	}
}
