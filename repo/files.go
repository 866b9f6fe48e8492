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

func readAllLimit(rd io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

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
// storage when it fits, sized by a Stat first: growing a buffer while
// reading a 16 MiB pack would allocate about twice that.
func readWhole(ctx context.Context, be backend.Backend, h backend.Handle, buf ...[]byte) ([]byte, error) {
	fi, err := be.Stat(ctx, h)
	if err != nil {
		return nil, err
	}
	if fi.Size > maxPackFile {
		return nil, &DamagedError{File: h, Err: fmt.Errorf("larger than %d bytes", int64(maxPackFile))}
	}
	var b []byte
	if len(buf) > 0 && int64(cap(buf[0])) >= fi.Size {
		b = buf[0][:fi.Size]
	} else {
		b = make([]byte, fi.Size)
	}
	rd, err := be.Open(ctx, h, 0, 0)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	if _, err := io.ReadFull(rd, b); err != nil {
		return nil, fmt.Errorf("read %v: %w", h, err)
	}
	// A file that grew since the Stat is read in full anyway: the caller
	// checks the bytes against the name.
	rest, err := readAllLimit(rd, maxPackFile-fi.Size)
	if err != nil {
		return nil, fmt.Errorf("read %v: %w", h, err)
	}
	return append(b, rest...), nil
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
