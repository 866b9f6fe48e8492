// Package sources is the contract between snap's orchestration (package
// stack) and the kinds of things it backs up: a Source is one planned
// item's origin, a Kind is registered by name so that profiles, --dry-run,
// backup, restore and verify reach it without a switch anywhere. Each kind
// lives in its own package (sources/postgres, sources/redis, ...) and
// registers itself in init; sources/all imports them all.
//
// The base interface never grows: what a source can do beyond describing
// itself is found by type assertion, as age does with its optional
// recipient interfaces.
package sources

import (
	"context"
	"errors"
	"io"
)

// ErrDiscrepancy marks what a check after a restore found that is not
// damage: the live data differs from a figure the backup recorded (a key
// count on a busy server, a table count) while the data itself was put
// back whole. Once a restore has touched live data such a finding never
// aborts it: the other items are restored, the apps started, and then
// every discrepancy is reported (exit non-zero). Wrap it with %w.
var ErrDiscrepancy = errors.New("differs from what the backup recorded")

// Source is where one planned item comes from.
type Source interface {
	// Kind is the registered kind name, recorded as Meta["source"].
	Kind() string
	// Describe is one line for --dry-run and error messages.
	Describe() string
	// Meta is what restore needs to find the item's place again,
	// recorded in the snapshot with Meta["source"] = Kind().
	Meta() map[string]string
}

// A Source backs up in exactly one of three ways.

// Streamer writes the item as one byte stream (a database dump). extra is
// metadata gathered with it (server version, table list), recorded beside
// Meta. On error w may have received part of a stream: the run fails.
type Streamer interface {
	Stream(ctx context.Context, w io.Writer) (extra map[string]string, err error)
}

// Tarrer gives the item as a tar stream (a Docker volume), stored as a
// tree.
type Tarrer interface {
	Tar(ctx context.Context) (io.ReadCloser, error)
}

// PathLister names host paths that the repository's archiver walks, with
// its files cache, as one tree item.
type PathLister interface {
	Paths() []string
}

// Stored is a snapshot item read back for a restore or a drill. It is
// implemented by the orchestration over the repository.
type Stored interface {
	Name() string
	// Size is the plaintext size of the stream, or of a tree's files.
	Size() int64
	// Meta is what the backup recorded (Source.Meta plus the extra of a
	// Streamer).
	Meta() map[string]string
	// Open reads the item from the repository again: a stream item's
	// bytes, a tree item as a tar stream. A repository error ends the
	// stream with that error. Close it, also after an error.
	Open(ctx context.Context) io.ReadCloser
	// Extract writes a tree item's files under dir (modes, times, and
	// owners as root).
	Extract(ctx context.Context, dir string) error
}

// Optional restore behaviours. Every method returns, on success, a short
// line for the log ("database "n8n" replaced: ...").

// Preparer loads a stored item into scratch space and checks it without
// touching live data: a restore first prepares every item, and only when all
// are proven does it stop anything and Commit.
type Preparer interface {
	Prepare(ctx context.Context, st Stored) (Swap, string, error)
}

// Swap is a prepared item waiting to replace the live data.
type Swap interface {
	// Commit puts the prepared data in place of the live data.
	Commit(ctx context.Context) (string, error)
	// Abort throws the prepared data away; after Commit it does nothing.
	Abort(ctx context.Context) error
}

// Restorer puts a stored item back in one step, while the containers the
// restore stops are stopped (roles, a volume, host files).
type Restorer interface {
	Restore(ctx context.Context, st Stored) (string, error)
}

// Driller is a restore drill for 'snap verify --restore': load the item
// into scratch space, check it, throw it away. Nothing live is touched.
type Driller interface {
	Drill(ctx context.Context, st Stored) (string, error)
}

// Stopper names containers (ids or names) that must not run while the
// item is restored; the restore stops those that run and starts them again
// afterwards, also on failure.
type Stopper interface {
	MustStop(ctx context.Context) ([]string, error)
}

// Orderer places an item in the restore: lower first. Items without an
// order go last (OrderLast).
type Orderer interface {
	RestoreOrder() int
}

// Restore order of the built-in kinds: roles before the database that
// refers to them, data stores before the files that configure the app.
const (
	OrderRoles    = 0
	OrderDatabase = 10
	OrderCache    = 20
	OrderVolume   = 30
	OrderFiles    = 40
	OrderLast     = 100
)

// RestoreOrder is src's place in a restore.
func RestoreOrder(src Source) int {
	if o, ok := src.(Orderer); ok {
		return o.RestoreOrder()
	}
	return OrderLast
}

// Previewer says exactly what restoring st would replace ("database "n8n"
// (12 tables) replaced; 3 of 40 files differ"), for 'snap restore
// --dry-run'. It reads, never writes.
type Previewer interface {
	Preview(ctx context.Context, st Stored) (string, error)
}

// Plan-level checks: an application's own consistency across its items
// (n8n's credentials must decrypt with the key n8n will run with), proven
// on the prepared data before anything live is touched.

// Querier runs a read-only SQL query in a prepared item's scratch copy
// (the postgres Swap's scratch database; a SQLite swap's scratch file) and
// returns its rows as text fields, NULL as "". A plan check reaches the
// restored rows through it without knowing the database kind.
type Querier interface {
	QueryRows(ctx context.Context, sql string) ([][]string, error)
}

// Prepared is what a plan check sees: every item being restored or
// drilled has been prepared, nothing live has been touched yet.
type Prepared struct {
	// Stored are the snapshot's items of the restore or drill, by name.
	Stored map[string]Stored
	// Swaps are the prepared items by name; one may be a Querier.
	Swaps map[string]Swap
	// Restore is true for a restore (the live stack will run on this
	// data), false for a drill.
	Restore bool
	// Force: the user chose to restore even if a check refuses; the check
	// reports what it would have refused instead.
	Force bool
}

// PlanChecker is a check over the prepared items of a plan. Needs names
// the items it reads through Prepared.Swaps: a drill prepares those
// (instead of its load-and-drop drill) and aborts them after the check.
// An error refuses the restore, or fails the drill; report lines say what
// was proven. A check never prints, logs or returns secrets it decrypts.
type PlanChecker interface {
	Needs() []string
	CheckPrepared(ctx context.Context, p *Prepared) (report []string, err error)
}

// ErrRefused is wrapped by a plan check's error that Prepared.Force would
// have overridden.
var ErrRefused = errors.New("restore refused")
