// Package backend is the storage interface under a snap repository: a flat
// store of named files, grouped by type, that knows nothing of keys, packs or
// snapshots. One package per store implements it (local, mem, s3, sftp),
// location turns a --repo string into one, and backendtest is the
// suite every implementation passes.
//
// # What the repository assumes of a backend
//
// Save is atomic. After Save returns an error, or the process or machine
// crashes during it, the file is either absent or complete, never partly
// written: readers never see a prefix. Saving a name that exists replaces
// it the same way (readers see the old bytes or the new); the repository
// does so only to mend a damaged file with the bytes its name promises, and
// for config.
//
// Save may be retried. Save reads exactly rd.Length() bytes from rd and
// fails if the reader ends early or has more. A wrapper (a retrying one for a
// remote store) may call Save again with the same reader after rd.Rewind();
// a backend must not keep rd past its return, must not close it, and may
// itself rewind and resend within one call.
//
// Names are content hashes (lowercase hex), except the config file (whose
// name is ignored) and lock files (random names). A backend rejects empty
// names, names with a slash or backslash and names starting with a dot; it
// may store the names of a type in any layout (local splits packs into 256
// folders by their first two characters).
//
// List has no order, calls fn once for every complete file of the type,
// never for a file being written, and stops at the first error fn returns.
// Once ctx is done it calls fn no more and returns ctx's error, also when
// ctx ended during the last call: a nil error means a complete listing.
// Consistency is strong: a List that starts after a Save or Remove returned
// sees its effect (remote stores that are only eventually consistent need a
// wrapper that makes them so). A file saved or removed during a List may or
// may not be seen.
//
// Open with length 0 reads from off to the end; with a length beyond the end
// it reads to the end. The reader stops with the context's error once ctx is
// done.
//
// A missing file is reported by Stat, Open, OpenFile and Remove with an
// error wrapping ErrNotExist, so callers tell "not there" from "could not
// ask"; no other error wraps it. A full store wraps ErrNoSpace.
//
// Implementations are safe for concurrent use by many goroutines, on the
// same file too (a Remove racing an Open may make the Open fail with
// ErrNotExist, never return other bytes).
package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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
	// DamagedFile records packs found damaged (an additive v1 file type:
	// readers that do not know it never list it).
	DamagedFile FileType = "damaged"
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

// Backend stores repository files. The package documentation says what
// callers may assume; every implementation passes the suite in backendtest.
type Backend interface {
	// Save stores exactly rd.Length() bytes from rd under h, atomically.
	Save(ctx context.Context, h Handle, rd RewindReader) error
	// Open reads length bytes at offset off; length 0 reads to the end.
	Open(ctx context.Context, h Handle, off, length int64) (io.ReadCloser, error)
	// Stat returns the file's size.
	Stat(ctx context.Context, h Handle) (FileInfo, error)
	// List calls fn for every complete file of type t, in no set order.
	List(ctx context.Context, t FileType, fn func(FileInfo) error) error
	// Remove deletes the file.
	Remove(ctx context.Context, h Handle) error
}

// ReaderAtCloser is an open file for random access.
type ReaderAtCloser interface {
	io.ReaderAt
	io.Closer
}

// ReaderAtOpener is an optional Backend interface: backends that can keep a
// file open for random reads let restore read many blobs of a pack without
// reopening it for each. The file outlives ctx, which only bounds the open.
type ReaderAtOpener interface {
	OpenFile(ctx context.Context, h Handle) (ReaderAtCloser, error)
}

// ErrNotExist is returned (wrapped) for a missing file.
var ErrNotExist = errors.New("file does not exist")

// ErrLength is returned (wrapped) by Save when rd's bytes do not match
// rd.Length(): nothing was stored.
var ErrLength = errors.New("reader length differs from its Length()")

// ErrNoSpace is returned (wrapped) when the storage is full.
var ErrNoSpace = errors.New("no space left on the repository's storage")

// CheckName refuses a handle whose name no store may use: empty, with a
// path separator, or starting with a dot (temporary files). Every backend
// checks names with it, so a test passing on one does not fail on another.
func CheckName(h Handle) error {
	if h.Type == ConfigFile {
		return nil
	}
	if h.Name == "" || strings.ContainsAny(h.Name, `/\`) || strings.HasPrefix(h.Name, ".") {
		return fmt.Errorf("invalid file name %q", h.Name)
	}
	return nil
}

// Wrapper is a backend around another (a meter, a retrier): optional
// interfaces of the inner one are found through Unwrap.
type Wrapper interface {
	Unwrap() Backend
}

// As returns the first backend in be's chain of wrappers, be first, that
// implements T: wrappers need not repeat every optional interface.
func As[T any](be Backend) (T, bool) {
	for be != nil {
		if t, ok := be.(T); ok {
			return t, true
		}
		w, ok := be.(Wrapper)
		if !ok {
			break
		}
		be = w.Unwrap()
	}
	var zero T
	return zero, false
}

// Path is where h lives below a store's root, slash-separated: the layout
// every store shares (config, keys/NAME, data/AB/NAME, ...; docs/format.md
// "Layout"), for a name CheckName accepts.
func Path(h Handle) (string, error) {
	if err := CheckName(h); err != nil {
		return "", err
	}
	return h.String(), nil
}

// ListConfig is List of ConfigFile for a store that keeps the config as
// one file: fn once if it is there, nothing if not.
func ListConfig(ctx context.Context, be Backend, fn func(FileInfo) error) error {
	fi, err := be.Stat(ctx, Handle{Type: ConfigFile})
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := fn(fi); err != nil {
		return err
	}
	return ctx.Err()
}
