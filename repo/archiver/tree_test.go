package archiver_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"snap/crypt"
	"snap/repo/archiver"
	"snap/repo/restorer"
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
	m := newMemStore()
	res, err := archiver.SaveTree(m, testOptions(), []string{src, envFile}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files == 0 {
		t.Fatal("no files counted")
	}
	m.checkRefs(t, res)
	dst := t.TempDir()
	if _, err := restorer.RestoreTree(context.Background(), m, res.Root, dst, 2); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, want, treeState(t, filepath.Join(dst, "src")))
	if b, err := os.ReadFile(filepath.Join(dst, ".env")); err != nil || string(b) != "SECRET=1\n" {
		t.Fatalf("file given as a path: %q %v", b, err)
	}

	// The tar dump holds every path, including the odd names.
	var tarBuf bytes.Buffer
	if err := restorer.WriteTar(context.Background(), m, res.Root, &tarBuf); err != nil {
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
	m := newMemStore()
	res, err := archiver.SaveTree(m, testOptions(), []string{src}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := restorer.RestoreTree(context.Background(), m, res.Root, dst, 2); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(dst, filepath.Base(src)))
	if err != nil || len(ents) != 0 {
		t.Fatalf("restored empty dir: %v %v", ents, err)
	}
}

// TestPreStatSameTree: the background stat walk changes nothing but speed.
func TestPreStatSameTree(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	makeSpecialTree(t, src)
	roots := map[bool]string{}
	for _, usePre := range []bool{false, true} {
		var pre *archiver.PreStat
		if usePre {
			pre = archiver.StartPreStat([]string{src}, 2)
		}
		res, err := archiver.SaveTree(newMemStore(), testOptions(), []string{src}, nil, pre)
		if err != nil {
			t.Fatal(err)
		}
		roots[usePre] = res.Root.String()
	}
	if roots[false] != roots[true] {
		t.Fatal("a tree saved with the prestat walk differs from one without")
	}
}

func TestSaveTreeMissingPath(t *testing.T) {
	_, err := archiver.SaveTree(newMemStore(), testOptions(), []string{filepath.Join(t.TempDir(), "nope")}, nil, nil)
	var se *archiver.SourceError
	if !errors.As(err, &se) {
		t.Fatalf("missing path: got %v, want a SourceError", err)
	}
}

// TestFilesCacheAsksSaver: an unchanged file is not read again, unless the
// saver says one of its chunks is not usable (stored only in a damaged
// pack): then that file, and only it, is read and stored again.
func TestFilesCacheAsksSaver(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"a": []byte("aaa"), "b": []byte("bbb"), "big": randBytes(9, 300<<10)}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cachePath := filepath.Join(t.TempDir(), "files")
	m := newMemStore()
	save := func() (archiver.TreeResult, int) {
		t.Helper()
		fc := archiver.OpenFilesCache(cachePath)
		m.reads = 0
		res, err := archiver.SaveTree(m, testOptions(), []string{src}, fc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := fc.Save(); err != nil {
			t.Fatal(err)
		}
		return res, m.reads
	}
	first, reads := save()
	if reads < 4 { // a, b and at least two chunks of big
		t.Fatalf("first run saved %d data blobs", reads)
	}
	second, reads := save()
	if reads != 0 || second.Root != first.Root {
		t.Fatalf("unchanged tree: %d data blobs read, same root %v", reads, second.Root == first.Root)
	}
	m.unsafe[crypt.Hash(files["a"])] = true
	third, reads := save()
	if reads != 1 || third.Root != first.Root {
		t.Fatalf("one unusable chunk: %d data blobs read (want 1), same root %v", reads, third.Root == first.Root)
	}
	if !m.Known(crypt.Hash(files["a"])) {
		t.Fatal("the unusable chunk was not stored again")
	}
}
