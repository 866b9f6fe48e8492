package backend

import (
	"errors"
	"fmt"
	"time"
)

// What a store with S3 Object Lock and versioning offers beyond Backend.
// The repository declares the interfaces it uses where it uses them
// (repo/objectlock.go); these are the values they pass. docs/format.md,
// "Object Lock", says what the repository does with them.

// Retention modes of S3 Object Lock: in governance mode a user with the
// s3:BypassGovernanceRetention permission may still delete or shorten; in
// compliance mode nobody may before the date.
const (
	ModeGovernance = "governance"
	ModeCompliance = "compliance"
)

// ObjectLock says how a store locks the files it writes.
type ObjectLock struct {
	Mode   string        // ModeGovernance or ModeCompliance
	Period time.Duration // each file is locked until Now()+Period when written
	Now    func() time.Time
	// Types are the file types locked; others (lock files, which are
	// rewritten every few minutes and needed by no restore) are not.
	Types []FileType
}

// Locks reports whether files of type t are locked.
func (l ObjectLock) Locks(t FileType) bool {
	for _, x := range l.Types {
		if x == t {
			return true
		}
	}
	return false
}

// Retention is one object version's lock: zero Until when it has none.
type Retention struct {
	Mode  string
	Until time.Time
}

// Version is one stored version of a repository file in a versioned store.
type Version struct {
	Handle       Handle
	ID           string // the store's version id
	Size         int64
	Time         time.Time // when it was written
	Latest       bool      // the current version (what Open reads)
	DeleteMarker bool      // a delete: the file is absent from then on
}

// ErrLocked is wrapped by a LockedError.
var ErrLocked = errors.New("protected by its object lock")

// LockedError is a delete or change the store refused because the
// object's retention lock still holds it.
type LockedError struct {
	Location string // the store, as errors name it
	File     string
	Version  string
	Mode     string
	Until    time.Time // zero when the store did not say
}

func (e *LockedError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Location, e.File)
	if e.Version != "" {
		msg += " (version " + e.Version + ")"
	}
	msg += " is " + ErrLocked.Error()
	if !e.Until.IsZero() {
		msg += fmt.Sprintf(" until %s (%s mode)", e.Until.UTC().Format(time.RFC3339), e.Mode)
	}
	return msg + ": the store refuses to delete it before then"
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// ErrNoObjectLock is wrapped when a store asked to lock cannot: a bucket
// without versioning or Object Lock.
var ErrNoObjectLock = errors.New("no Object Lock")

// ErrReadOnly is returned by the writing methods of a read-only view (a
// repository as of an earlier time).
var ErrReadOnly = errors.New("read-only view of the repository")
