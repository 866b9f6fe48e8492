package repo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"snap/cache"
	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/format"
)

// ErrBlobNotFound means the index has no such blob.
var ErrBlobNotFound = errors.New("blob not in the index")

// LoadBlob returns the plaintext of blob id, appended to dst[:0]. It reads
// the blob's preferred copy (one in a pack not known to be damaged); when
// that copy is damaged it records the pack as damaged and tries the blob's
// other copies, and fails with the first copy's error only if none opens.
func (r *Repository) LoadBlob(ctx context.Context, id crypt.ID, dst []byte) ([]byte, error) {
	c, err := r.Index(ctx)
	if err != nil {
		return nil, err
	}
	locs, err := c.Locations(id)
	if err != nil {
		return nil, err
	}
	if len(locs) == 0 {
		return nil, fmt.Errorf("%w: %v: a pack or index file is missing from the repository; restore from another copy of it, or try an earlier snapshot", ErrBlobNotFound, id.Short())
	}
	var first error
	for _, e := range locs {
		b, err := r.loadEntry(ctx, c, e, dst)
		if err == nil {
			return b, nil
		}
		var de *DamagedError
		if !errors.As(err, &de) || de.File.Type != backend.PackFile {
			return nil, err // not damage (a write-only key, a read error): no other copy helps
		}
		if de.packBytes {
			r.recordOrWarn(ctx, FoundByRead, map[crypt.ID]string{e.Pack: de.Err.Error()})
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

func (r *Repository) loadEntry(ctx context.Context, c *cache.Cache, e cache.Entry, dst []byte) ([]byte, error) {
	h := backend.Handle{Type: backend.PackFile, Name: e.Pack.String()}
	s, err := r.sealerFor(c, h, e)
	if err != nil {
		return nil, err
	}
	stored, err := r.readPack(ctx, h, e)
	defer r.putStored(stored)
	if err != nil {
		// A missing or short pack is damage; any other read error (a
		// disk that went away, too many open files) may pass, and must
		// not make 'repair snapshots' give up on data.
		if errors.Is(err, backend.ErrNotExist) {
			// Not recorded as damage by a reader: a reader without a
			// lock may race a prune (check finds missing packs).
			return nil, &DamagedError{File: h, Err: fmt.Errorf("blob %v at offset %d: %v", e.ID.Short(), e.Offset, err)}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &DamagedError{File: h, Err: fmt.Errorf("blob %v at offset %d: %v", e.ID.Short(), e.Offset, err), packBytes: true}
		}
		return nil, fmt.Errorf("read %v, blob %v: %w", h, e.ID.Short(), err)
	}
	return r.openWith(s, h, e, stored, dst)
}

// sealerFor returns the key that opens e: the metadata key for reference
// lists, else the session key of e's key slot in its pack.
func (r *Repository) sealerFor(c *cache.Cache, h backend.Handle, e cache.Entry) (*crypt.Sealer, error) {
	var s *crypt.Sealer
	if e.Type == format.TypeRefs {
		s = r.meta
	} else {
		_, keys, ok, err := c.PackKeys(e.Pack)
		if err != nil {
			return nil, err
		}
		if !ok || int(e.KeySlot) >= len(keys) {
			return nil, &DamagedError{File: h, Err: fmt.Errorf("no key slot %d for blob %v", e.KeySlot, e.ID.Short())}
		}
		if s, err = r.sessionSealer(keys[e.KeySlot]); err != nil {
			if errors.Is(err, ErrWriteOnly) {
				return nil, err
			}
			return nil, &DamagedError{File: h, Err: err}
		}
	}
	return s, nil
}

// openStored opens a blob's stored bytes read some other way (a span of
// several blobs, restore.go); stored is decrypted in place.
func (r *Repository) openStored(c *cache.Cache, e cache.Entry, stored, dst []byte) ([]byte, error) {
	h := backend.Handle{Type: backend.PackFile, Name: e.Pack.String()}
	s, err := r.sealerFor(c, h, e)
	if err != nil {
		return nil, err
	}
	return r.openWith(s, h, e, stored, dst)
}

// openWith authenticates, decrypts (in place: a restore's blobs cost one
// buffer each, recycled) and decodes a blob's stored bytes.
func (r *Repository) openWith(s *crypt.Sealer, h backend.Handle, e cache.Entry, stored, dst []byte) ([]byte, error) {
	plain, err := s.OpenInPlace(stored, format.BlobAD(e.Type, e.ID))
	if err != nil {
		return nil, &DamagedError{packBytes: true, File: h, Err: fmt.Errorf("blob %v: %w", e.ID.Short(), err)}
	}
	return r.decodeBlob(h, e.Blob, plain, dst)
}

// storedBuf returns a recycled buffer of n bytes for a blob's stored bytes.
func (r *Repository) storedBuf(n uint64) []byte {
	if b, ok := r.storedBufs.Get().(*[]byte); ok && uint64(cap(*b)) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

func (r *Repository) putStored(b []byte) {
	if b != nil {
		r.storedBufs.Put(&b)
	}
}

// readPack reads a blob's stored bytes, through a cache of open packs when
// the backend supports random access.
func (r *Repository) readPack(ctx context.Context, h backend.Handle, e cache.Entry) ([]byte, error) {
	stored := r.storedBuf(e.Length)
	if op, ok := r.be.(backend.ReaderAtOpener); ok {
		f, release, err := r.packFile(ctx, op, h)
		if err != nil {
			return nil, fmt.Errorf("blob %v: %w", e.ID.Short(), err)
		}
		defer release()
		_, err = f.ReadAt(stored, int64(e.Offset))
		return stored, err
	}
	rd, err := r.be.Open(ctx, h, int64(e.Offset), int64(e.Length))
	if err != nil {
		return nil, fmt.Errorf("blob %v: %w", e.ID.Short(), err)
	}
	defer rd.Close()
	_, err = io.ReadFull(rd, stored)
	return stored, err
}

// maxOpenPacks bounds the open pack files of a restore.
const maxOpenPacks = 32

// openPack is a cached open pack; refs counts readers so an evicted file is
// closed only when the last one is done.
type openPack struct {
	f       backend.ReaderAtCloser
	refs    int
	evicted bool
}

func (r *Repository) packFile(ctx context.Context, op backend.ReaderAtOpener, h backend.Handle) (backend.ReaderAtCloser, func(), error) {
	r.packsMu.Lock()
	defer r.packsMu.Unlock()
	p, ok := r.packs[h.Name]
	if !ok {
		if len(r.packs) >= maxOpenPacks {
			// Evict one at random (map order): restores read packs
			// mostly in order, so any victim is as good as another.
			for name, v := range r.packs {
				delete(r.packs, name)
				v.evicted = true
				if v.refs == 0 {
					v.f.Close()
				}
				break
			}
		}
		f, err := op.OpenFile(ctx, h)
		if err != nil {
			return nil, nil, err
		}
		p = &openPack{f: f}
		r.packs[h.Name] = p
	}
	p.refs++
	return p.f, func() {
		r.packsMu.Lock()
		p.refs--
		if p.evicted && p.refs == 0 {
			p.f.Close()
		}
		r.packsMu.Unlock()
	}, nil
}

// openBlob authenticates, decrypts and decompresses one stored blob.
func (r *Repository) openBlob(h backend.Handle, b format.Blob, s *crypt.Sealer, stored, dst []byte) ([]byte, error) {
	plain, err := s.Open(nil, stored, format.BlobAD(b.Type, b.ID))
	if err != nil {
		return nil, &DamagedError{packBytes: true, File: h, Err: fmt.Errorf("blob %v: %w", b.ID.Short(), err)}
	}
	return r.decodeBlob(h, b, plain, dst)
}

// decodeBlob decompresses an opened payload into dst[:0].
func (r *Repository) decodeBlob(h backend.Handle, b format.Blob, plain, dst []byte) ([]byte, error) {
	dst, err := r.dec.Decode(dst, plain, b.PlainLen)
	if err != nil {
		return nil, &DamagedError{packBytes: true, File: h, Err: fmt.Errorf("blob %v: %w", b.ID.Short(), err)}
	}
	return dst, nil
}
