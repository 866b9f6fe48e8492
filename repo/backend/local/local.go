// Package local is the backend on a local directory (or a mounted disk):
// one folder per file type, packs split into 256 subfolders by the first
// two characters of their names, each file written to a temporary name,
// fsynced and renamed into place.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"snap/repo/backend"
)

// Local is a backend.Backend on a local directory.
type Local struct {
	root string
}

var (
	_ backend.Backend        = (*Local)(nil)
	_ backend.ReaderAtOpener = (*Local)(nil)
)

// tmpPrefix marks files being written; List skips them and they are safe to
// delete once no process writes them.
const tmpPrefix = ".tmp-"

// New returns a backend rooted at dir. It does not create anything: Save
// creates the folders it needs below dir, and dir itself if its parent
// exists.
func New(dir string) *Local { return &Local{root: dir} }

// Root returns the directory.
func (l *Local) Root() string { return l.root }

func (l *Local) path(h backend.Handle) (string, error) {
	rel, err := backend.Path(h)
	if err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(rel)), nil
}

// wrapFSErr maps the errors of reading calls: a missing file, a full disk.
func wrapFSErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %v", backend.ErrNotExist, err)
	}
	return wrapNoSpace(err)
}

// wrapNoSpace maps a full disk or quota. Save uses it alone: a folder that
// vanished under it is a failed write, not a missing file.
func wrapNoSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %v", backend.ErrNoSpace, err)
	}
	return err
}

// Save writes to a temporary file, fsyncs it, renames it into place and
// fsyncs the directory, so the file is all there or not there at all.
func (l *Local) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := l.path(h)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := l.mkdirs(dir); err != nil {
		return wrapNoSpace(err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, tmpPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return wrapNoSpace(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Copied whole (a ByteReader writes in one call), then the count is
	// checked: a reader longer than promised fails too.
	n, err := io.Copy(f, rd)
	if err != nil {
		return wrapNoSpace(fmt.Errorf("write %v: %w", h, err))
	}
	if n != rd.Length() {
		return fmt.Errorf("write %v: read %d bytes, expected %d", h, n, rd.Length())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return wrapNoSpace(fmt.Errorf("fsync %v: %w", h, err))
	}
	if err := f.Close(); err != nil {
		return wrapNoSpace(fmt.Errorf("close %v: %w", h, err))
	}
	if err := os.Rename(tmp, p); err != nil {
		return wrapNoSpace(err)
	}
	return wrapNoSpace(syncDir(dir))
}

// mkdirs creates dir and its parents up to the root, fsyncing each parent so
// a new folder survives a crash.
func (l *Local) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && dir != l.root {
		if err := l.mkdirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

func (l *Local) open(h backend.Handle) (*os.File, error) {
	p, err := l.path(h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, wrapFSErr(err)
	}
	return f, nil
}

// Open implements backend.Backend.
func (l *Local) Open(ctx context.Context, h backend.Handle, off, length int64) (io.ReadCloser, error) {
	if off < 0 || length < 0 {
		return nil, fmt.Errorf("open %v: negative offset %d or length %d", h, off, length)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := l.open(h)
	if err != nil {
		return nil, err
	}
	if length == 0 {
		length = 1<<62 - off
	}
	return &fileReader{ctx: ctx, r: io.NewSectionReader(f, off, length), f: f}, nil
}

// fileReader stops reading once ctx is done, as a remote store's response
// body would.
type fileReader struct {
	ctx context.Context
	r   io.Reader
	f   *os.File
}

func (r *fileReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *fileReader) Close() error { return r.f.Close() }

// OpenFile opens a file for random access (see backend.ReaderAtOpener).
func (l *Local) OpenFile(ctx context.Context, h backend.Handle) (backend.ReaderAtCloser, error) {
	f, err := l.open(h)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return f, nil
}

// Stat implements backend.Backend.
func (l *Local) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, err
	}
	p, err := l.path(h)
	if err != nil {
		return backend.FileInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return backend.FileInfo{}, wrapFSErr(err)
	}
	return backend.FileInfo{Name: h.Name, Size: fi.Size()}, nil
}

// List implements backend.Backend.
func (l *Local) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	base := filepath.Join(l.root, string(t))
	dirs := []string{base}
	if t == backend.PackFile {
		ents, err := os.ReadDir(base)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		dirs = dirs[:0]
		for _, e := range ents {
			if e.IsDir() && len(e.Name()) == 2 {
				dirs = append(dirs, filepath.Join(base, e.Name()))
			}
		}
	}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed while listing
			}
			if err != nil {
				return err
			}
			if err := fn(backend.FileInfo{Name: e.Name(), Size: fi.Size()}); err != nil {
				return err
			}
		}
	}
	// Canceled during the last fn: the caller must not take the listing
	// for complete.
	return ctx.Err()
}

// Remove implements backend.Backend.
func (l *Local) Remove(ctx context.Context, h backend.Handle) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := l.path(h)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return wrapFSErr(err)
	}
	return wrapFSErr(syncDir(filepath.Dir(p)))
}

// FreeSpace is what an unprivileged writer may still store on the
// repository's filesystem (statfs f_bavail × f_bsize).
func (l *Local) FreeSpace(ctx context.Context) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(l.root, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
