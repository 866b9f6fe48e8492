package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"snap/repo/backend"
)

// Backend retries the requests of the backend it wraps.
//
//   - Save rewinds the reader and sends it again whole (the backend
//     contract allows it). A Save whose first attempt reached the store
//     and whose answer was lost is sent again: names are content hashes,
//     so the second PUT stores the same bytes.
//   - Open retries the open, and a read that breaks mid-body is resumed:
//     the file is opened again at the offset reached, so a 16 MiB pack is
//     not read again from its first byte.
//   - List retries the listing and hands fn only names it has not had yet,
//     so fn still sees each file once. That costs a set of the names
//     listed (about 100 bytes a file) while the listing runs.
//   - Remove that fails after an earlier attempt may have deleted the file
//     takes "not there" as done.
//   - An error from fn, from the reader Save reads, or of a done context is
//     never retried.
//
// The optional interfaces of the store that are requests of their own
// (backend.ReaderAtOpener, backend.LockingStore) are passed on, retried
// the same way (lock.go); other optional interfaces are found under the
// wrapper through Unwrap (backend.As), unretried.
type Backend struct {
	be backend.Backend
	p  Policy
}

// Wrap returns be with p's retries. The result is a backend.ReaderAtOpener
// when be is one, and a backend.LockingStore when be is one.
func Wrap(be backend.Backend, p Policy) backend.Backend {
	b := &Backend{be: be, p: p}
	ra, isRA := be.(backend.ReaderAtOpener)
	ls, isLS := be.(backend.LockingStore)
	switch {
	case isRA && isLS:
		return &readerAtLockingBackend{b, readerAt{b, ra}, locking{b, ls}}
	case isRA:
		return &readerAtBackend{b, readerAt{b, ra}}
	case isLS:
		return &lockingBackend{b, locking{b, ls}}
	}
	return b
}

// The wrapper's types, one per set of optional interfaces passed on.
type (
	readerAtBackend struct {
		*Backend
		readerAt
	}
	lockingBackend struct {
		*Backend
		locking
	}
	readerAtLockingBackend struct {
		*Backend
		readerAt
		locking
	}
)

// Unwrap returns the backend under the retries, for the optional
// interfaces of a store that the wrapper does not pass on.
func (b *Backend) Unwrap() backend.Backend { return b.be }

// Save implements backend.Backend.
func (b *Backend) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	sent := false
	return b.p.Do(ctx, "write "+h.String(), func() error {
		if sent {
			if err := rd.Rewind(); err != nil {
				return &permanent{fmt.Errorf("write %v: rewind to send again: %w", h, err)}
			}
		}
		sent = true
		return b.be.Save(ctx, h, rd)
	})
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	var fi backend.FileInfo
	err := b.p.Do(ctx, "stat "+h.String(), func() error {
		var err error
		fi, err = b.be.Stat(ctx, h)
		return err
	})
	return fi, err
}

// Remove implements backend.Backend.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	failed := false
	return b.p.Do(ctx, "remove "+h.String(), func() error {
		err := b.be.Remove(ctx, h)
		if failed && errors.Is(err, backend.ErrNotExist) {
			return nil // the failed attempt's delete landed; its answer was lost
		}
		failed = err != nil
		return err
	})
}

// stopped carries fn's error through Do unretried.
type stopped struct{ permanent }

// List implements backend.Backend.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	seen := map[string]struct{}{}
	err := b.p.Do(ctx, "list "+string(t), func() error {
		return b.be.List(ctx, t, func(fi backend.FileInfo) error {
			if _, ok := seen[fi.Name]; ok {
				return nil
			}
			if err := fn(fi); err != nil {
				return &stopped{permanent{err}}
			}
			seen[fi.Name] = struct{}{}
			return nil
		})
	})
	var s *stopped
	if errors.As(err, &s) {
		return s.err
	}
	return err
}

// Open implements backend.Backend.
func (b *Backend) Open(ctx context.Context, h backend.Handle, off, length int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := b.p.Do(ctx, "open "+h.String(), func() error {
		var err error
		rc, err = b.be.Open(ctx, h, off, length)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &resumer{b: b, ctx: ctx, h: h, off: off, left: length, whole: length == 0, rc: rc}, nil
}

// resumer reads an opened range and opens the rest again when a read
// breaks with a transient error.
type resumer struct {
	b     *Backend
	ctx   context.Context
	h     backend.Handle
	off   int64 // the next byte's offset
	left  int64 // bytes still wanted, unless whole
	whole bool  // read to the end
	rc    io.ReadCloser
	err   error // sticky, once the rest could not be opened
}

func (r *resumer) Read(p []byte) (int, error) {
	for {
		if r.err != nil {
			return 0, r.err
		}
		n, err := r.rc.Read(p)
		r.off += int64(n)
		r.left -= int64(n)
		if err == nil || err == io.EOF || !r.b.p.transient(err) {
			return n, err
		}
		if cerr := r.ctx.Err(); cerr != nil {
			return n, withCtx(cerr, err)
		}
		if !r.whole && r.left <= 0 {
			return n, io.EOF // all that was asked for arrived
		}
		r.rc.Close()
		rerr := r.b.p.do(r.ctx, fmt.Sprintf("read %v from offset %d", r.h, r.off), err, func() error {
			length := r.left
			if r.whole {
				length = 0
			}
			rc, err := r.b.be.Open(r.ctx, r.h, r.off, length)
			if err == nil {
				r.rc = rc
			}
			return err
		})
		if rerr != nil {
			r.err, r.rc = rerr, nil
			return n, rerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *resumer) Close() error {
	if r.rc == nil {
		return nil
	}
	return r.rc.Close()
}

// readerAt passes on backend.ReaderAtOpener: a store that keeps files
// open.
type readerAt struct {
	*Backend
	ra backend.ReaderAtOpener
}

// OpenFile implements backend.ReaderAtOpener: the open is retried, and so
// is a ReadAt that fails, on the file opened again.
func (b readerAt) OpenFile(ctx context.Context, h backend.Handle) (backend.ReaderAtCloser, error) {
	var f backend.ReaderAtCloser
	err := b.p.Do(ctx, "open "+h.String(), func() error {
		var err error
		f, err = b.ra.OpenFile(ctx, h)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &reopener{b: b, h: h, f: f}, nil
}

// reopener is an open file that is opened again when a read of it fails
// with a transient error (a dropped SFTP session leaves its handles dead).
type reopener struct {
	b  readerAt
	h  backend.Handle
	mu sync.Mutex
	f  backend.ReaderAtCloser
	n  int // times opened again: a failed read reopens only the file it read
}

func (r *reopener) current() (backend.ReaderAtCloser, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f, r.n
}

func (r *reopener) ReadAt(p []byte, off int64) (int, error) {
	f, gen := r.current()
	n, err := f.ReadAt(p, off)
	if err == nil || err == io.EOF || !r.b.p.transient(err) {
		return n, err
	}
	// The file outlives the context of its open: the policy's bounds and
	// the store's own timeouts bound the reopening.
	ctx := context.Background()
	err = r.b.p.do(ctx, fmt.Sprintf("read %v at offset %d", r.h, off), err, func() error {
		r.mu.Lock()
		if r.n == gen {
			nf, err := r.b.ra.OpenFile(ctx, r.h)
			if err != nil {
				r.mu.Unlock()
				return err
			}
			r.f.Close()
			r.f, r.n = nf, r.n+1
		}
		f, gen = r.f, r.n
		r.mu.Unlock()
		n, err = f.ReadAt(p, off)
		if err == io.EOF {
			return nil
		}
		return err
	})
	if err != nil {
		return n, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *reopener) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Close()
}
