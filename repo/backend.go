package repo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"snap/crypt"
)

// FileType is a kind of repository file; it names a folder.
type FileType string

// Repository file types.
const (
	ConfigFile   FileType = "config"
	KeyFile      FileType = "keys"
	PackFile     FileType = "data"
	IndexFile    FileType = "index"
	SnapshotFile FileType = "snapshots"
	LockFile     FileType = "locks"
)

// Handle names one repository file.
type Handle struct {
	Type FileType
	Name string
}

func (h Handle) String() string {
	if h.Type == ConfigFile {
		return "config"
	}
	if h.Type == PackFile && len(h.Name) > 2 {
		return fmt.Sprintf("data/%s/%s", h.Name[:2], h.Name)
	}
	return string(h.Type) + "/" + h.Name
}

// FileInfo describes a stored file.
type FileInfo struct {
	Name string
	Size int64
}

// Backend stores repository files. Every implementation must pass the shared
// suite in backendtest. Save is atomic: after an error or a crash the file is
// either absent or complete.
type Backend interface {
	// Save stores exactly size bytes from r under h, replacing nothing that
	// a reader could see half-written.
	Save(ctx context.Context, h Handle, r io.Reader, size int64) error
	// Open reads length bytes at offset off; length 0 reads to the end.
	Open(ctx context.Context, h Handle, off, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, h Handle) (FileInfo, error)
	// List calls fn for every complete file of type t, in no set order.
	List(ctx context.Context, t FileType, fn func(FileInfo) error) error
	Remove(ctx context.Context, h Handle) error
}

// ReaderAtCloser is an open file for random access.
type ReaderAtCloser interface {
	io.ReaderAt
	io.Closer
}

// ReaderAtOpener is an optional Backend interface: backends that can keep a
// file open for random reads let restore read many blobs of a pack without
// reopening it for each.
type ReaderAtOpener interface {
	OpenFile(ctx context.Context, h Handle) (ReaderAtCloser, error)
}

// ErrNotExist is returned (wrapped) for a missing file.
var ErrNotExist = errors.New("file does not exist")

// ErrNoSpace is returned (wrapped) when the storage is full.
var ErrNoSpace = errors.New("no space left on the repository's storage")

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
func readFile(ctx context.Context, be Backend, h Handle) ([]byte, error) {
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
func readWhole(ctx context.Context, be Backend, h Handle, buf ...[]byte) ([]byte, error) {
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
func listNames(ctx context.Context, be Backend, t FileType) ([]string, error) {
	var names []string
	err := be.List(ctx, t, func(fi FileInfo) error { names = append(names, fi.Name); return nil })
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t, err)
	}
	return names, nil
}

// readVerified reads a whole content-named file and checks its bytes against
// its name. On a mismatch it returns the bytes too, with a DamagedError, for
// callers that look further (check, salvage).
func readVerified(ctx context.Context, be Backend, h Handle, buf ...[]byte) ([]byte, error) {
	b, err := readWhole(ctx, be, h, buf...)
	if err != nil {
		return nil, err
	}
	if crypt.Hash(b).String() != h.Name {
		return b, &DamagedError{File: h, Err: errHashMismatch}
	}
	return b, nil
}
