package repo_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"snap/repo"
)

// treeState describes a tree for comparison: path → type, mode, owner,
// mtime, content hash or link target, and hard-link group.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v uid=%d gid=%d", fi.Mode(), st.Uid, st.Gid)
		if !fi.IsDir() && fi.Mode()&os.ModeSymlink == 0 {
			desc += fmt.Sprintf(" mtime=%d", fi.ModTime().UnixNano())
		}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha=%x", sha256.Sum256(b))
			if st.Nlink > 1 {
				if first, ok := inodes[st.Ino]; ok {
					desc += " link=" + first
				} else {
					inodes[st.Ino] = rel
				}
			}
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.IsDir() && rel != ".":
			desc += fmt.Sprintf(" mtime=%d", fi.ModTime().UnixNano())
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compareTrees(t *testing.T, want, got map[string]string) {
	t.Helper()
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("missing after restore: %q", p)
		} else if g != w {
			t.Errorf("%q differs:\n want %s\n  got %s", p, w, g)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("extra after restore: %q", p)
		}
	}
}

func makeSpecialTree(t *testing.T, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "empty"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "a/b/c/d"), 0o750))
	must(os.WriteFile(filepath.Join(dir, "a/b/c/d/deep.txt"), []byte("deep"), 0o640))
	must(os.WriteFile(filepath.Join(dir, "zero"), nil, 0o600))
	must(os.WriteFile(filepath.Join(dir, "big.bin"), randBytes(5, 3<<20+123), 0o644))
	must(os.WriteFile(filepath.Join(dir, "setuid"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Chmod(filepath.Join(dir, "setuid"), 0o4755|os.ModeSetuid))
	must(unix.Chmod(filepath.Join(dir, "setuid"), 0o4755))
	must(os.MkdirAll(filepath.Join(dir, "sticky"), 0o755))
	must(unix.Chmod(filepath.Join(dir, "sticky"), 0o1777))
	must(os.WriteFile(filepath.Join(dir, "noperm"), []byte("x"), 0o000))
	must(os.Symlink("a/b/c/d/deep.txt", filepath.Join(dir, "link")))
	must(os.Symlink("/nonexistent/target", filepath.Join(dir, "dangling")))
	must(os.WriteFile(filepath.Join(dir, "hard1"), []byte("shared content"), 0o644))
	must(os.Link(filepath.Join(dir, "hard1"), filepath.Join(dir, "a/hard2")))
	long := strings.Repeat("n", 255)
	must(os.WriteFile(filepath.Join(dir, long), []byte("long name"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "bad-utf8-\xff\xfe"), []byte("latin1"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "ünïcødé ✓"), []byte("utf8"), 0o644))
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	if os.Geteuid() == 0 {
		must(os.Chown(filepath.Join(dir, "a/b/c/d/deep.txt"), 1000, 1000))
		must(os.Lchown(filepath.Join(dir, "link"), 1001, 1002))
	}
	// Fixed mtimes, set last (children change their parent's mtime).
	ts := time.Date(2020, 2, 3, 4, 5, 6, 789, time.UTC)
	must(filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.Mode()&os.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(p, ts, ts)
	}))
}

func TestTreeRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeSpecialTree(t, src)
	want := treeState(t, src)
	// A file given directly as a path, beside the directory.
	envFile := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(envFile, []byte("SECRET=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil, testChunker())
	r := f.open(nil)
	s, _, err := backupTree(r, "files", []string{src, envFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Items[0].Files == 0 {
		t.Fatal("no files counted")
	}
	dst := t.TempDir()
	if _, err := f.open(nil).RestoreTree(context.Background(), &s.Items[0], dst); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, want, treeState(t, filepath.Join(dst, "src")))
	if b, err := os.ReadFile(filepath.Join(dst, ".env")); err != nil || string(b) != "SECRET=1\n" {
		t.Fatalf("file given as a path: %q %v", b, err)
	}

	// The tar dump holds every path, including the odd names.
	var tarBuf bytes.Buffer
	if err := f.open(nil).WriteTar(context.Background(), &s.Items[0], &tarBuf); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"src/a/b/c/d/deep.txt", "src/bad-utf8-\xff\xfe", "src/" + strings.Repeat("n", 255)} {
		if !bytes.Contains(tarBuf.Bytes(), []byte(name)) {
			t.Errorf("tar lacks %q", name)
		}
	}
}

func TestTreeEmptyDir(t *testing.T) {
	src := t.TempDir()
	f := newFixture(t, nil, testChunker())
	r := f.open(nil)
	s, _, err := backupTree(r, "e", []string{src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := r.RestoreTree(context.Background(), &s.Items[0], dst); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(dst, filepath.Base(src)))
	if err != nil || len(ents) != 0 {
		t.Fatalf("restored empty dir: %v %v", ents, err)
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

// TestPreStatSameTree: the background stat walk changes nothing but speed.
func TestPreStatSameTree(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeSpecialTree(t, src)
	f := newFixture(t, nil, testChunker())
	r := f.open(nil)
	ctx := context.Background()
	roots := map[bool]string{}
	for _, usePre := range []bool{false, true} {
		w, err := r.NewWriter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var pre *repo.PreStat
		if usePre {
			pre = repo.StartPreStat([]string{src}, 2)
		}
		res, err := w.SaveTree([]string{src}, nil, pre)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		roots[usePre] = res.Root.String()
	}
	if roots[false] != roots[true] {
		t.Fatal("a tree saved with the prestat walk differs from one without")
	}
}
