// Package mem is an in-memory backend for fast tests. It keeps the promises
// of package backend that a test can observe (atomic Save, exact lengths,
// ErrNotExist, context cancellation, concurrent use) and none of durability.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"snap/repo/backend"
)

// Mem is a backend.Backend in memory. The zero value is not usable: call New.
type Mem struct {
	mu    sync.RWMutex
	files map[backend.Handle][]byte // never modified once stored
}

var (
	_ backend.Backend        = (*Mem)(nil)
	_ backend.ReaderAtOpener = (*Mem)(nil)
)

// New returns an empty backend.
func New() *Mem { return &Mem{files: map[backend.Handle][]byte{}} }

// key checks h's name as the local backend does, so a test passing here
// does not fail there, and folds every config name into one.
func key(h backend.Handle) (backend.Handle, error) {
	if h.Type == backend.ConfigFile {
		return backend.Handle{Type: backend.ConfigFile}, nil
	}
	if err := backend.CheckName(h); err != nil {
		return h, err
	}
	return h, nil
}

func (m *Mem) get(ctx context.Context, h backend.Handle) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := key(h)
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	b, ok := m.files[k]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %v", backend.ErrNotExist, h)
	}
	return b, nil
}

// Save implements backend.Backend. The bytes are copied: the caller may
// reuse its buffer once Save returns.
func (m *Mem) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := key(h)
	if err != nil {
		return err
	}
	n := rd.Length()
	b, err := io.ReadAll(io.LimitReader(rd, n+1))
	if err != nil {
		return fmt.Errorf("write %v: %w", h, err)
	}
	if int64(len(b)) != n {
		return fmt.Errorf("write %v: read %d bytes, expected %d", h, len(b), n)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	m.files[k] = b
	m.mu.Unlock()
	return nil
}

// Open implements backend.Backend.
func (m *Mem) Open(ctx context.Context, h backend.Handle, off, length int64) (io.ReadCloser, error) {
	if off < 0 || length < 0 {
		return nil, fmt.Errorf("open %v: negative offset %d or length %d", h, off, length)
	}
	b, err := m.get(ctx, h)
	if err != nil {
		return nil, err
	}
	b = b[min(off, int64(len(b))):]
	if length > 0 && length < int64(len(b)) {
		b = b[:length]
	}
	return &reader{ctx: ctx, r: bytes.NewReader(b)}, nil
}

// reader stops once ctx is done, as a remote store's response body would.
type reader struct {
	ctx context.Context
	r   *bytes.Reader
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *reader) Close() error { return nil }

// OpenFile implements backend.ReaderAtOpener.
func (m *Mem) OpenFile(ctx context.Context, h backend.Handle) (backend.ReaderAtCloser, error) {
	b, err := m.get(ctx, h)
	if err != nil {
		return nil, err
	}
	return readerAt{bytes.NewReader(b)}, nil
}

type readerAt struct{ *bytes.Reader }

func (readerAt) Close() error { return nil }

// Stat implements backend.Backend.
func (m *Mem) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	b, err := m.get(ctx, h)
	if err != nil {
		return backend.FileInfo{}, err
	}
	return backend.FileInfo{Name: h.Name, Size: int64(len(b))}, nil
}

// List implements backend.Backend. It calls fn without holding its lock,
// so fn may use the backend.
func (m *Mem) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var list []backend.FileInfo
	m.mu.RLock()
	for k, b := range m.files {
		if k.Type == t {
			list = append(list, backend.FileInfo{Name: k.Name, Size: int64(len(b))})
		}
	}
	m.mu.RUnlock()
	for _, fi := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	// Canceled during the last fn: the caller must not take the listing
	// for complete.
	return ctx.Err()
}

// Remove implements backend.Backend.
func (m *Mem) Remove(ctx context.Context, h backend.Handle) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := key(h)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[k]; !ok {
		return fmt.Errorf("%w: %v", backend.ErrNotExist, h)
	}
	delete(m.files, k)
	return nil
}
