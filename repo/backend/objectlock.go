package backend

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// What a store with S3 Object Lock and versioning offers beyond Backend.
// The repository declares the parts it uses where it uses them
// (repo/objectlock.go, cmd/snap); these are the values they pass.
// docs/format.md, "Object Lock", says what the repository does with them.

// LockingStore is the whole set (package s3). Wrappers (retry, meter)
// pass it on when the store they wrap has it, so that these requests are
// retried and counted like the others: backend.As finds a wrapper's own
// methods before the store's.
type LockingStore interface {
	Backend
	// StoreID names the bucket and prefix: what the repository's record
	// of lock dates is kept by.
	StoreID() string
	// LockWrites makes later writes of the types l locks carry a lock.
	LockWrites(l ObjectLock)
	// PrepareObjectLock makes the bucket with Object Lock when it is
	// missing, and refuses one without versioning or Object Lock.
	PrepareObjectLock(ctx context.Context) error
	// Retention returns one version's lock ("": the current version).
	Retention(ctx context.Context, h Handle, version string) (Retention, error)
	// ExtendRetention moves the current version's lock to until.
	ExtendRetention(ctx context.Context, h Handle, until time.Time) error
	// Versions calls fn for every version of every repository file.
	Versions(ctx context.Context, fn func(Version) error) error
	// RemoveVersion deletes one version for good; a *LockedError when its
	// lock still holds it.
	RemoveVersion(ctx context.Context, v Version) error
}

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
	// Written, if set, is told of each write of a locked file that
	// succeeded, with the retain-until date it carries (the repository's
	// record of lock dates). It may be called from many goroutines.
	Written func(h Handle, until time.Time)
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
