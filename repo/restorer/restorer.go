// Package restorer writes tree items back out: as files on disk (modes,
// mtimes, owners as root, hard links, special files) or as a tar stream.
// It loads blobs through Loader, declared here and implemented by the
// repository, so it knows nothing of packs, keys or storage (restic's
// internal/restorer).
package restorer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"snap/crypt"
	"snap/repo/format"
)

// Loader loads plaintext blobs by id from a repository that can read them.
type Loader interface {
	// LoadBlob returns blob id's plaintext, reusing buf when it can.
	LoadBlob(ctx context.Context, id crypt.ID, buf []byte) ([]byte, error)
	// LoadOrdered loads ids in parallel and calls fn with each plaintext
	// in order; fn must not keep the slice.
	LoadOrdered(ctx context.Context, ids []crypt.ID, fn func(crypt.ID, []byte) error) error
}

// Walk calls fn for every node under root, depth first, parents before
// children, with the node's item-relative path ('/'-separated).
func Walk(ctx context.Context, l Loader, root crypt.ID, fn func(p string, n *format.Node) error) error {
	return walk(ctx, l, root, "", fn, 0)
}

func walk(ctx context.Context, r Loader, id crypt.ID, dir string, fn func(string, *format.Node) error, depth int) error {
	if depth > 512 {
		return fmt.Errorf("tree %v: nested more than 512 levels", id.Short())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := r.LoadBlob(ctx, id, nil)
	if err != nil {
		return err
	}
	nodes, err := format.ParseTree(b)
	if err != nil {
		return fmt.Errorf("tree blob %v: %w", id.Short(), err)
	}
	for i := range nodes {
		n := &nodes[i]
		p := path.Join(dir, n.Name)
		if err := fn(p, n); err != nil {
			return err
		}
		if n.Type == format.NodeDir {
			if err := walk(ctx, r, n.Subtree, p, fn, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// Stats count what a restore wrote.
type Stats struct {
	Files, Dirs, Other int64
	Bytes              int64
	Skipped            []string // nodes that could not be made (devices as non-root)
}

// RestoreTree writes the tree at root under target, keeping modes, mtimes
// and, when running as root, owners, with up to workers files written at
// once. Existing files are overwritten.
func RestoreTree(ctx context.Context, r Loader, root crypt.ID, target string, workers int) (*Stats, error) {
	if err := os.MkdirAll(target, 0o700); err != nil {
		return nil, err
	}
	asRoot := os.Geteuid() == 0
	st := &Stats{}
	var mu sync.Mutex
	type later struct {
		p string
		n format.Node
	}
	var dirs, links []later
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	var firstErr error
	setErr := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := walk(ctx, r, root, "", func(p string, n *format.Node) error {
		dst := filepath.Join(target, filepath.FromSlash(p))
		switch n.Type {
		case format.NodeDir:
			if err := os.Mkdir(dst, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			if fi, err := os.Lstat(dst); err != nil || !fi.IsDir() {
				return fmt.Errorf("%s exists and is not a directory", dst)
			}
			dirs = append(dirs, later{dst, *n})
			st.Dirs++
			return nil
		case format.NodeFile:
			sem <- struct{}{}
			wg.Add(1)
			node := *n
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := restoreFile(ctx, r, dst, &node, asRoot); err != nil {
					setErr(err)
					cancel()
					return
				}
				mu.Lock()
				st.Files++
				st.Bytes += int64(node.Size)
				mu.Unlock()
			}()
			return nil
		case format.NodeHardlink:
			links = append(links, later{dst, *n})
			return nil
		}
		os.Remove(dst)
		var err error
		switch n.Type {
		case format.NodeSymlink:
			err = os.Symlink(n.Target, dst)
		case format.NodeFIFO:
			err = unix.Mkfifo(dst, n.Mode&0o7777)
		case format.NodeCharDev, format.NodeBlockDev, format.NodeSocket:
			if !asRoot {
				mu.Lock()
				st.Skipped = append(st.Skipped, p)
				mu.Unlock()
				return nil
			}
			mode := uint32(unix.S_IFCHR)
			switch n.Type {
			case format.NodeBlockDev:
				mode = unix.S_IFBLK
			case format.NodeSocket:
				mode = unix.S_IFSOCK
			}
			err = unix.Mknod(dst, mode|n.Mode&0o7777, int(unix.Mkdev(n.DevMajor, n.DevMinor)))
		}
		if err != nil {
			return err
		}
		st.Other++
		return setMeta(dst, n, asRoot)
	}, 0)
	wg.Wait()
	if err == nil {
		err = firstErr
	}
	if err != nil {
		return st, err
	}
	for _, l := range links {
		os.Remove(l.p)
		src := filepath.Join(target, filepath.FromSlash(l.n.Target))
		if err := os.Link(src, l.p); err != nil {
			return st, fmt.Errorf("hard link: %w", err)
		}
		st.Files++
	}
	// Directories last, deepest first: their mtimes change while filling
	// them, and a read-only directory could not be filled.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setMeta(dirs[i].p, &dirs[i].n, asRoot); err != nil {
			return st, err
		}
	}
	return st, nil
}

func restoreFile(ctx context.Context, r Loader, dst string, n *format.Node, root bool) error {
	os.Remove(dst)
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	var total int64
	var buf []byte
	for _, id := range n.Content {
		b, err := r.LoadBlob(ctx, id, buf)
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", dst, err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		total += int64(len(b))
		buf = b
	}
	if err := f.Close(); err != nil {
		return err
	}
	if uint64(total) != n.Size {
		return fmt.Errorf("%s: restored %d bytes, snapshot says %d", dst, total, n.Size)
	}
	return setMeta(dst, n, root)
}

// setMeta applies owner (as root), mode and mtime, without following links.
func setMeta(p string, n *format.Node, root bool) error {
	if root {
		if err := os.Lchown(p, int(n.UID), int(n.GID)); err != nil {
			return err
		}
	}
	if n.Type != format.NodeSymlink {
		// chmod after chown: chown clears setuid and setgid.
		if err := unix.Chmod(p, n.Mode&0o7777); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(n.MTime.UnixNano()), unix.NsecToTimespec(n.MTime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set mtime %s: %w", p, err)
	}
	return nil
}

// WriteTar writes the tree at root as a tar stream (PAX where needed).
func WriteTar(ctx context.Context, r Loader, root crypt.ID, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := Walk(ctx, r, root, func(p string, n *format.Node) error {
		h := &tar.Header{Name: p, Mode: int64(n.Mode), Uid: int(n.UID), Gid: int(n.GID), ModTime: n.MTime, Format: tar.FormatPAX}
		switch n.Type {
		case format.NodeFile:
			h.Typeflag, h.Size = tar.TypeReg, int64(n.Size)
		case format.NodeDir:
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		case format.NodeSymlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, n.Target
		case format.NodeHardlink:
			h.Typeflag, h.Linkname = tar.TypeLink, n.Target
		case format.NodeCharDev, format.NodeBlockDev:
			h.Typeflag = tar.TypeChar
			if n.Type == format.NodeBlockDev {
				h.Typeflag = tar.TypeBlock
			}
			h.Devmajor, h.Devminor = int64(n.DevMajor), int64(n.DevMinor)
		case format.NodeFIFO:
			h.Typeflag = tar.TypeFifo
		default:
			return nil // sockets cannot be archived
		}
		if err := tw.WriteHeader(h); err != nil {
			h.Format = tar.FormatGNU // non-UTF-8 names are not valid PAX
			if err2 := tw.WriteHeader(h); err2 != nil {
				return fmt.Errorf("tar %q: %w", p, err)
			}
		}
		if n.Type == format.NodeFile {
			return r.LoadOrdered(ctx, n.Content, func(_ crypt.ID, b []byte) error {
				_, err := tw.Write(b)
				return err
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
