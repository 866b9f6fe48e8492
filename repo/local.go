package repo

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
)

// Local is a Backend on a local directory (or a mounted disk).
type Local struct {
	root string
}

// tmpPrefix marks files being written; List skips them and they are safe to
// delete once no process writes them.
const tmpPrefix = ".tmp-"

// NewLocal returns a backend rooted at dir. It does not create anything.
func NewLocal(dir string) *Local { return &Local{root: dir} }

// Root returns the directory.
func (l *Local) Root() string { return l.root }

func (l *Local) dir(t FileType, name string) string {
	switch t {
	case ConfigFile:
		return l.root
	case PackFile:
		if len(name) >= 2 {
			return filepath.Join(l.root, string(t), name[:2])
		}
	}
	return filepath.Join(l.root, string(t))
}

func (l *Local) path(h Handle) (string, error) {
	if h.Type == ConfigFile {
		return filepath.Join(l.root, "config"), nil
	}
	if h.Name == "" || strings.ContainsAny(h.Name, `/\`) || strings.HasPrefix(h.Name, ".") {
		return "", fmt.Errorf("invalid file name %q", h.Name)
	}
	return filepath.Join(l.dir(h.Type, h.Name), h.Name), nil
}

func wrapFSErr(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %v", ErrNoSpace, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %v", ErrNotExist, err)
	}
	return err
}

// Save writes to a temporary file, fsyncs it, renames it into place and
// fsyncs the directory, so the file is all there or not there at all.
func (l *Local) Save(ctx context.Context, h Handle, r io.Reader, size int64) (err error) {
	p, err := l.path(h)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := l.mkdirs(dir); err != nil {
		return wrapFSErr(err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, tmpPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return wrapFSErr(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, r)
	if err != nil {
		return wrapFSErr(fmt.Errorf("write %v: %w", h, err))
	}
	if n != size {
		return fmt.Errorf("write %v: wrote %d bytes, expected %d", h, n, size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return wrapFSErr(fmt.Errorf("fsync %v: %w", h, err))
	}
	if err := f.Close(); err != nil {
		return wrapFSErr(fmt.Errorf("close %v: %w", h, err))
	}
	if err := os.Rename(tmp, p); err != nil {
		return wrapFSErr(err)
	}
	return wrapFSErr(syncDir(dir))
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

type sectionReadCloser struct {
	io.Reader
	f *os.File
}

func (s *sectionReadCloser) Close() error { return s.f.Close() }

func (l *Local) open(h Handle) (*os.File, error) {
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

// Open implements Backend.
func (l *Local) Open(ctx context.Context, h Handle, off, length int64) (io.ReadCloser, error) {
	f, err := l.open(h)
	if err != nil {
		return nil, err
	}
	if off == 0 && length == 0 {
		return f, nil
	}
	if length == 0 {
		length = 1<<62 - off
	}
	return &sectionReadCloser{Reader: io.NewSectionReader(f, off, length), f: f}, nil
}

// OpenFile opens a file for random access (see ReaderAtOpener).
func (l *Local) OpenFile(ctx context.Context, h Handle) (ReaderAtCloser, error) {
	f, err := l.open(h)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return f, nil
}

// Stat implements Backend.
func (l *Local) Stat(ctx context.Context, h Handle) (FileInfo, error) {
	p, err := l.path(h)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return FileInfo{}, wrapFSErr(err)
	}
	return FileInfo{Name: h.Name, Size: fi.Size()}, nil
}

// List implements Backend.
func (l *Local) List(ctx context.Context, t FileType, fn func(FileInfo) error) error {
	base := filepath.Join(l.root, string(t))
	dirs := []string{base}
	if t == PackFile {
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
			if err := fn(FileInfo{Name: e.Name(), Size: fi.Size()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove implements Backend.
func (l *Local) Remove(ctx context.Context, h Handle) error {
	p, err := l.path(h)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return wrapFSErr(err)
	}
	return wrapFSErr(syncDir(filepath.Dir(p)))
}
