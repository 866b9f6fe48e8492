package repo

import (
	"errors"
	"fmt"

	"snap/repo/backend"
	"snap/repo/format"
)

// Sentinel errors callers map to exit codes with errors.Is.
var (
	// ErrNoRepository: there is no repository (no config file) at the location.
	ErrNoRepository = errors.New("no repository found")
	// ErrWrongKey: the passphrase or key file does not open this repository.
	ErrWrongKey = errors.New("wrong passphrase or key for this repository")
	// ErrVersion: the repository was written by a newer, incompatible snap.
	ErrVersion = format.ErrVersion
	// ErrWriteOnly: a write-only key was used for something that reads data.
	ErrWriteOnly = errors.New("this key cannot decrypt data: it is a write-only key")
	// ErrDamaged: a repository file failed authentication or parsing.
	ErrDamaged = errors.New("repository damaged")
	// ErrNotFound: no snapshot or item matched.
	ErrNotFound = errors.New("not found")
	// ErrLocked: another process holds a conflicting lock.
	ErrLocked = errors.New("repository is locked")
)

// Sentinel errors that only say more precisely what happened (the caller
// may give advice for them); none has an exit code of its own.
var (
	// ErrRepositoryExists: Init found a repository (a config file) there.
	ErrRepositoryExists = errors.New("a repository already exists there (it has a config file)")
	// ErrNoKeySlots: OpenKey was given a passphrase, but only key files
	// open the repository. It comes wrapped with ErrWrongKey.
	ErrNoKeySlots = errors.New("the repository has no passphrase key slots")
	// ErrLastFullKey: RemoveKey refuses to lock everyone out.
	ErrLastFullKey = errors.New("refusing to remove the last full key slot")
	// ErrNoCacheDir: no cache directory was given and the user has none.
	ErrNoCacheDir = errors.New("no cache directory")
	// ErrSnapshotNotFound is ErrNotFound for a snapshot id (the same text).
	ErrSnapshotNotFound = fmt.Errorf("%w", ErrNotFound)
)

// Remedy names what mends a condition that an error (RemedyError) or a
// check (CheckResult.Hints) reports, in terms of the repository's own
// operations; the command line words it for its users.
type Remedy string

const (
	// RemedyCheck: check the repository, then make the repairs it names.
	RemedyCheck Remedy = "check"
	// RemedyCheckReadData: check, reading and verifying every pack.
	RemedyCheckReadData Remedy = "check-read-data"
	// RemedyRepairIndex: rebuild the index from the packs (RepairIndex).
	RemedyRepairIndex Remedy = "repair-index"
	// RemedyRepairPacks: salvage what damaged packs still hold (RepairPacks).
	RemedyRepairPacks Remedy = "repair-packs"
	// RemedyRepairPacksFrom: copy packs back from another copy of the
	// repository (RepairPacks with From); RemedyError.From names the copy
	// when it is known.
	RemedyRepairPacksFrom Remedy = "repair-packs-from"
	// RemedyMissingPacks: copy missing packs back from another copy that
	// has them; otherwise rebuild the index, then set the damaged items
	// aside.
	RemedyMissingPacks Remedy = "missing-packs"
	// RemedyDamagedPacks: copy damaged packs back from another copy that
	// has them; otherwise salvage them, then set the damaged items aside.
	RemedyDamagedPacks Remedy = "damaged-packs"
	// RemedyRepairSnapshots: set the items whose data is lost aside
	// (RepairSnapshots).
	RemedyRepairSnapshots Remedy = "repair-snapshots"
	// RemedyReplaceKeySlot: remove the damaged key slot and add it again.
	RemedyReplaceKeySlot Remedy = "replace-key-slot"
	// RemedyReplaceSnapshot: copy the snapshot file back from another copy
	// of the repository, or forget the snapshot.
	RemedyReplaceSnapshot Remedy = "replace-snapshot"
	// RemedyCopyBack: copy the damaged files back from another copy of
	// the repository.
	RemedyCopyBack Remedy = "copy-back"
	// RemedyPruneUnusedOnly: prune only wholly unused packs, which needs
	// no room for repacking.
	RemedyPruneUnusedOnly Remedy = "prune-unused-only"
)

// RemedyError is an error together with what mends it. Its text is Err's.
type RemedyError struct {
	Err    error
	Remedy Remedy
	From   string // for RemedyRepairPacksFrom: the copy that has the packs, if known
}

func (e *RemedyError) Error() string { return e.Err.Error() }
func (e *RemedyError) Unwrap() error { return e.Err }

// DamagedError names the file that failed authentication or parsing.
type DamagedError struct {
	File backend.Handle
	Err  error
	// packBytes: the pack's bytes are not what its name promises (a blob
	// failed to open, the file is short), as opposed to a missing file or
	// an index that disagrees with it.
	packBytes bool
}

func (e *DamagedError) Error() string {
	what := "this file failed its checksum or authentication"
	if errors.Is(e.Err, backend.ErrNotExist) {
		what = "this file is missing"
	}
	if e.File.Type == backend.DamagedFile {
		// A record of damage, not data: nothing is lost with it.
		return fmt.Sprintf("repository damaged: %v: %v (%s: copy it back from another copy of the repository, or remove it; 'snap check --read-data' records any damage again)", e.File, e.Err, what)
	}
	return fmt.Sprintf("repository damaged: %v: %v (%s: copy it back from another copy of the repository, or restore an earlier snapshot that does not need it)", e.File, e.Err, what)
}

// Unwrap lets errors.Is match ErrDamaged and the cause.
func (e *DamagedError) Unwrap() []error { return []error{ErrDamaged, e.Err} }
