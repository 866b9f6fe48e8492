// Reading whole repository files through a backend: the size limits and
// hash checks every reader of the repository shares.

package repo

import (
	"context"
	"fmt"
	"io"

	"snap/crypt"
	"snap/repo/backend"
)

// maxMetaFile bounds how much of a metadata file (config, key, index,
// snapshot, lock) is read into memory.
const maxMetaFile = 256 << 20

// readFile reads a whole file of at most maxMetaFile bytes.
func readFile(ctx context.Context, be backend.Backend, h backend.Handle) ([]byte, error) {
	rd, err := be.Open(ctx, h, 0, 0)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	b, err := io.ReadAll(io.LimitReader(rd, maxMetaFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %v: %w", h, err)
	}
	if len(b) > maxMetaFile {
		return nil, &DamagedError{File: h, Err: fmt.Errorf("larger than %d bytes", maxMetaFile)}
	}
	return b, nil
}

// readWhole reads a whole file (at most maxPackFile bytes) into buf's
// storage, or into a buffer sized for a whole pack: growing a buffer while
// reading a 16 MiB pack would allocate about twice that. It asks for the
// file once (no Stat first): on a remote store every request is a round
// trip and a billed request.
func readWhole(ctx context.Context, be backend.Backend, h backend.Handle, buf ...[]byte) ([]byte, error) {
	rd, err := be.Open(ctx, h, 0, 0)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var b []byte
	if len(buf) > 0 {
		b = buf[0][:0]
	}
	if cap(b) == 0 {
		b = make([]byte, 0, wholeFileCap(h))
	}
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > maxPackFile {
				return nil, &DamagedError{File: h, Err: fmt.Errorf("larger than %d bytes", int64(maxPackFile))}
			}
			b = append(b, 0)[:len(b)] // grow (rare: larger than expected)
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %v: %w", h, err)
		}
	}
	if int64(len(b)) > maxPackFile {
		return nil, &DamagedError{File: h, Err: fmt.Errorf("larger than %d bytes", int64(maxPackFile))}
	}
	return b, nil
}

// wholeFileCap is the buffer a whole read of h starts with: a pack is the
// target size plus at most one chunk and its header; other files are small.
func wholeFileCap(h backend.Handle) int {
	if h.Type == backend.PackFile {
		return DefaultPackSize + 5<<20
	}
	return 64 << 10
}

// listNames returns the names of every file of type t.
func listNames(ctx context.Context, be backend.Backend, t backend.FileType) ([]string, error) {
	var names []string
	err := be.List(ctx, t, func(fi backend.FileInfo) error { names = append(names, fi.Name); return nil })
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t, err)
	}
	return names, nil
}

// readVerified reads a whole content-named file and checks its bytes against
// its name. On a mismatch it returns the bytes too, with a DamagedError, for
// callers that look further (check, salvage).
func readVerified(ctx context.Context, be backend.Backend, h backend.Handle, buf ...[]byte) ([]byte, error) {
	b, err := readWhole(ctx, be, h, buf...)
	if err != nil {
		return nil, err
	}
	if crypt.Hash(b).String() != h.Name {
		return b, &DamagedError{File: h, Err: errHashMismatch}
	}
	return b, nil
}
