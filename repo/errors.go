package repo

import (
	"errors"
	"fmt"

	"snap/repo/backend"
)

// Sentinel errors callers map to exit codes with errors.Is.
var (
	// ErrNoRepository: there is no repository (no config file) at the location.
	ErrNoRepository = errors.New("no repository found")
	// ErrWrongKey: the passphrase or key file does not open this repository.
	ErrWrongKey = errors.New("wrong passphrase or key for this repository")
	// ErrVersion: the repository was written by a newer, incompatible snap.
	ErrVersion = errors.New("unsupported repository format version")
	// ErrWriteOnly: a write-only key was used for something that reads data.
	ErrWriteOnly = errors.New("this key cannot decrypt data: it is a write-only key; give the full key (the one kept offline) with --key-file FILE or SNAP_KEY_FILE, or its passphrase")
	// ErrDamaged: a repository file failed authentication or parsing.
	ErrDamaged = errors.New("repository damaged")
	// ErrNotFound: no snapshot or item matched.
	ErrNotFound = errors.New("not found")
	// ErrLocked: another process holds a conflicting lock.
	ErrLocked = errors.New("repository is locked")
)

// DamagedError names the file that failed authentication or parsing.
type DamagedError struct {
	File backend.Handle
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("repository damaged: %v: %v (this file failed its checksum or authentication: copy it back from another copy of the repository, or restore an earlier snapshot that does not need it)", e.File, e.Err)
}

// Unwrap lets errors.Is match ErrDamaged and the cause.
func (e *DamagedError) Unwrap() []error { return []error{ErrDamaged, e.Err} }
