package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// duBytes sums the sizes of the regular files under root: the repository
// size as a user's disk sees it, comparable across tools.
func duBytes(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

func hashFile(p string) ([32]byte, int64, error) {
	var sum [32]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return sum, n, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

type fileSum struct {
	size int64
	sum  [32]byte
}

// manifest maps each regular file's slash-separated relative path to its
// size and SHA-256.
func manifest(root string) (map[string]fileSum, int64, error) {
	m := map[string]fileSum{}
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		sum, n, err := hashFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		m[filepath.ToSlash(rel)] = fileSum{n, sum}
		total += n
		return nil
	})
	return m, total, err
}

// compareManifests returns "" when got equals want, else a short account.
func compareManifests(want, got map[string]fileSum) string {
	var missing, extra, differ []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			missing = append(missing, p)
		case g != w:
			differ = append(differ, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			extra = append(extra, p)
		}
	}
	if len(missing)+len(extra)+len(differ) == 0 {
		return ""
	}
	first := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		slices.Sort(s)
		return " (e.g. " + s[0] + ")"
	}
	return fmt.Sprintf("%d missing%s, %d extra%s, %d differ%s",
		len(missing), first(missing), len(extra), first(extra), len(differ), first(differ))
}

func copyFile(src, dst string, flag int, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, flag, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyTree makes dst a real copy of src (own inodes, same modes and
// mtimes). Only directories and regular files are expected.
func copyTree(src, dst string) error {
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, rel)
			return os.MkdirAll(to, fi.Mode().Perm()|0o700)
		case d.Type().IsRegular():
			if err := copyFile(p, to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm()); err != nil {
				return err
			}
			return os.Chtimes(to, fi.ModTime(), fi.ModTime())
		default:
			return fmt.Errorf("%s: unsupported file type %v", p, d.Type())
		}
	})
	if err != nil {
		return err
	}
	return copyDirTimes(src, dst, dirs)
}

// Directory mtimes go last: creating entries inside changes them.
func copyDirTimes(src, dst string, dirs []string) error {
	for _, rel := range dirs {
		fi, err := os.Stat(filepath.Join(src, rel))
		if err != nil {
			return err
		}
		if err := os.Chtimes(filepath.Join(dst, rel), fi.ModTime(), fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// delta is what turns a copy of tree1 into tree2, found by size and mtime
// the way a files cache would.
type delta struct {
	changed, added, removed []string
	dirs                    []string // every directory of tree2
	bytes                   int64    // bytes written by apply
}

func computeDelta(tree1, tree2 string) (*delta, error) {
	d := &delta{}
	seen := map[string]bool{}
	err := filepath.WalkDir(tree2, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tree2, p)
		if e.IsDir() {
			d.dirs = append(d.dirs, rel)
			return nil
		}
		seen[rel] = true
		fi2, err := e.Info()
		if err != nil {
			return err
		}
		fi1, err := os.Stat(filepath.Join(tree1, rel))
		switch {
		case os.IsNotExist(err):
			d.added = append(d.added, rel)
		case err != nil:
			return err
		case fi1.Size() != fi2.Size() || !fi1.ModTime().Equal(fi2.ModTime()):
			d.changed = append(d.changed, rel)
		default:
			return nil
		}
		d.bytes += fi2.Size()
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(tree1, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if rel, _ := filepath.Rel(tree1, p); !seen[rel] {
			d.removed = append(d.removed, rel)
		}
		return nil
	})
	return d, err
}

// apply edits cur (a copy of tree1) into tree2 in place: changed files are
// rewritten through the same inode, so everything else keeps its inode,
// ctime and mtime, as on a real machine between two nightly backups.
func (d *delta) apply(tree2, cur string) error {
	for _, rel := range d.removed {
		if err := os.Remove(filepath.Join(cur, rel)); err != nil {
			return err
		}
	}
	for _, rel := range d.dirs {
		if err := os.MkdirAll(filepath.Join(cur, rel), 0o755); err != nil {
			return err
		}
	}
	write := func(rel string, flag int) error {
		src, dst := filepath.Join(tree2, rel), filepath.Join(cur, rel)
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		if err := copyFile(src, dst, flag, fi.Mode().Perm()); err != nil {
			return err
		}
		return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
	}
	for _, rel := range d.changed {
		if err := write(rel, os.O_WRONLY|os.O_TRUNC); err != nil {
			return err
		}
	}
	for _, rel := range d.added {
		if err := write(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL); err != nil {
			return err
		}
	}
	return copyDirTimes(tree2, cur, d.dirs)
}

// warm reads every regular file under the paths so that all tools start
// with the inputs in the page cache (the same as cat FILES >/dev/null).
func warm(paths ...string) error {
	buf := make([]byte, 1<<20)
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tail returns about the last n lines of a file, for failure reports.
func tail(p string, n int) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	const limit = 8 << 10
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(0, fi.Size()-limit)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
