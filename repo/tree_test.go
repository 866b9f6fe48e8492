package repo_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/repo"
)

// The walker, the tar reader and the restorer are tested on their own in
// repo/archiver; these tests go through the repository.

// TestTreeAndTarThroughRepo: a tree item dumped as tar and saved back with
// SaveTar restores to the same files (large ones through SaveStream).
func TestTreeAndTarThroughRepo(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	files := map[string][]byte{"big.bin": randBytes(5, 3<<20+123), "sub/small": []byte("small"), "zero": nil}
	for name, b := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	f := newFixture(t, nil, testChunker())
	r := f.open(nil)
	s, _, err := backupTree(r, "files", []string{src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tarBuf bytes.Buffer
	if err := f.open(nil).WriteTar(context.Background(), &s.Items[0], &tarBuf); err != nil {
		t.Fatal(err)
	}
	it, err := saveTar(r, tarBuf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if it.Size != s.Items[0].Size || it.Files != s.Items[0].Files {
		t.Fatalf("tar item: %d bytes in %d files, tree item %d in %d", it.Size, it.Files, s.Items[0].Size, s.Items[0].Files)
	}
	dst := t.TempDir()
	if _, err := f.open(nil).RestoreTree(context.Background(), it, dst); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dst, "src", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, want %d (%v)", name, len(got), len(want), err)
		}
	}
}

func TestTreeMissingPath(t *testing.T) {
	f := newFixture(t, nil, testChunker())
	r := f.open(nil)
	_, _, err := backupTree(r, "x", []string{filepath.Join(t.TempDir(), "nope")}, nil)
	var se *repo.SourceError
	if err == nil || !asSourceError(err, &se) {
		t.Fatalf("missing path: got %v, want a SourceError", err)
	}
	if all, _ := r.Snapshots(context.Background()); len(all) != 0 {
		t.Fatal("a snapshot was written")
	}
}

// TestTreeDedupOneChangedFile: in a 20k-file tree, one changed small file
// adds about that file, and the files cache avoids reading the others.
func TestTreeDedupOneChangedFile(t *testing.T) {
	nfiles := 20000
	if testing.Short() {
		nfiles = 2000
	}
	src := filepath.Join(t.TempDir(), "tree")
	for i := range nfiles {
		d := filepath.Join(src, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		body := fmt.Sprintf("file %d\n%s", i, strings.Repeat(fmt.Sprintf("line %d of some text\n", i), 20+i%50))
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d.txt", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := newFixture(t, nil, nil)
	r := f.open(nil)
	_, added1, err := backupTree(r, "tree", []string{src}, r.OpenFilesCache("k"))
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(src, "d007", "f00712.txt")
	newBody := bytes.Repeat([]byte("changed content\n"), 100)
	if err := os.WriteFile(changed, newBody, 0o644); err != nil {
		t.Fatal(err)
	}
	r = f.open(nil)
	s, added2, err := backupTree(r, "tree", []string{src}, r.OpenFilesCache("k"))
	if err != nil {
		t.Fatal(err)
	}
	// The file itself, plus the trees on its path (root, tree, d007) and
	// the refs blobs around the new ids.
	limit := int64(len(newBody)) + 64<<10
	if added2 > limit {
		t.Fatalf("one changed file added %d bytes (day 1: %d), want <= %d", added2, added1, limit)
	}
	dst := t.TempDir()
	if _, err := r.RestoreTree(context.Background(), &s.Items[0], dst); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dst, "tree", "d007", "f00712.txt"))
	if err != nil || !bytes.Equal(got, newBody) {
		t.Fatalf("changed file not restored: %v", err)
	}
}

func asSourceError(err error, target **repo.SourceError) bool {
	for e := err; e != nil; {
		if se, ok := e.(*repo.SourceError); ok {
			*target = se
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

func saveTar(r *repo.Repository, data []byte) (*repo.Item, error) {
	ctx := context.Background()
	w, err := r.NewWriter(ctx)
	if err != nil {
		return nil, err
	}
	res, err := w.SaveTar(bytes.NewReader(data))
	if err != nil {
		w.Abort()
		return nil, err
	}
	refs, err := w.SaveRefs(res.Refs)
	if err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	root := res.Root
	return &repo.Item{Name: "vol", Kind: repo.KindTree, Tree: &root, Refs: refs, Size: res.Size, Files: res.Files}, nil
}
