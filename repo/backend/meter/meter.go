// Package meter counts what a command asks of its store: bytes sent and
// received and requests by kind. On paid object storage these are the
// bill (PUT/GET/LIST are priced per request), and on a slow link they are
// the time; --json reports them.
package meter

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"snap/repo/backend"
)

// Counts are the totals so far.
type Counts struct {
	BytesSent     int64 `json:"bytes_sent"`
	BytesReceived int64 `json:"bytes_received"`
	Saves         int64 `json:"saves"`
	Opens         int64 `json:"opens"`
	Stats         int64 `json:"stats"`
	Lists         int64 `json:"lists"`
	Removes       int64 `json:"removes"`
	// Object Lock (a bucket under it): reads of an object's lock date
	// (GET ?retention) and extensions of it (PUT ?retention). Listings
	// of versions count as Lists, deletes of versions as Removes.
	RetentionReads  int64 `json:"retention_reads"`
	RetentionWrites int64 `json:"retention_writes"`
}

// Requests is the number of requests of every kind.
func (c Counts) Requests() int64 {
	return c.Saves + c.Opens + c.Stats + c.Lists + c.Removes + c.RetentionReads + c.RetentionWrites
}

// Meter is a counting backend.Backend around another.
type Meter struct {
	be backend.Backend

	sent, received                      atomic.Int64
	saves, opens, stats, lists, removes atomic.Int64
	retReads, retWrites                 atomic.Int64
}

// Wrap counts what is asked of be. The result also implements
// backend.ReaderAtOpener and backend.LockingStore when be does.
func Wrap(be backend.Backend) backend.Backend {
	m := &Meter{be: be}
	o, isRA := be.(backend.ReaderAtOpener)
	ls, isLS := be.(backend.LockingStore)
	switch {
	case isRA && isLS:
		return &meterAtLocking{m, meterAt{m, o}, locking{m, ls}}
	case isRA:
		return &meterAtOnly{m, meterAt{m, o}}
	case isLS:
		return &meterLocking{m, locking{m, ls}}
	}
	return m
}

// The wrapper's types, one per set of optional interfaces passed on.
type (
	meterAtOnly struct {
		*Meter
		meterAt
	}
	meterLocking struct {
		*Meter
		locking
	}
	meterAtLocking struct {
		*Meter
		meterAt
		locking
	}
)

// Of returns the Meter inside a backend Wrap returned, or nil.
func Of(be backend.Backend) *Meter {
	switch m := be.(type) {
	case *Meter:
		return m
	case *meterAtOnly:
		return m.Meter
	case *meterLocking:
		return m.Meter
	case *meterAtLocking:
		return m.Meter
	}
	return nil
}

// Counts returns the totals so far; a nil Meter counts nothing.
func (m *Meter) Counts() Counts {
	if m == nil {
		return Counts{}
	}
	return Counts{
		BytesSent: m.sent.Load(), BytesReceived: m.received.Load(),
		Saves: m.saves.Load(), Opens: m.opens.Load(), Stats: m.stats.Load(), Lists: m.lists.Load(), Removes: m.removes.Load(),
		RetentionReads: m.retReads.Load(), RetentionWrites: m.retWrites.Load(),
	}
}

// Unwrap returns the counted backend.
func (m *Meter) Unwrap() backend.Backend { return m.be }

// Save counts the bytes of a save that succeeded.
func (m *Meter) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	m.saves.Add(1)
	err := m.be.Save(ctx, h, rd)
	if err == nil {
		m.sent.Add(rd.Length())
	}
	return err
}

func (m *Meter) Open(ctx context.Context, h backend.Handle, off, length int64) (io.ReadCloser, error) {
	m.opens.Add(1)
	rc, err := m.be.Open(ctx, h, off, length)
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: rc, n: &m.received}, nil
}

func (m *Meter) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	m.stats.Add(1)
	return m.be.Stat(ctx, h)
}

func (m *Meter) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	m.lists.Add(1)
	return m.be.List(ctx, t, fn)
}

func (m *Meter) Remove(ctx context.Context, h backend.Handle) error {
	m.removes.Add(1)
	return m.be.Remove(ctx, h)
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// meterAt passes on backend.ReaderAtOpener: a store that opens files for
// random reads.
type meterAt struct {
	*Meter
	o backend.ReaderAtOpener
}

func (m meterAt) OpenFile(ctx context.Context, h backend.Handle) (backend.ReaderAtCloser, error) {
	m.opens.Add(1)
	f, err := m.o.OpenFile(ctx, h)
	if err != nil {
		return nil, err
	}
	return &countingReaderAt{ReaderAtCloser: f, n: &m.received}, nil
}

type countingReaderAt struct {
	backend.ReaderAtCloser
	n *atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.ReaderAtCloser.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// locking passes on backend.LockingStore, counting its requests.
type locking struct {
	*Meter
	ls backend.LockingStore
}

func (m locking) StoreID() string                 { return m.ls.StoreID() }
func (m locking) LockWrites(l backend.ObjectLock) { m.ls.LockWrites(l) }

func (m locking) PrepareObjectLock(ctx context.Context) error { return m.ls.PrepareObjectLock(ctx) }

func (m locking) Retention(ctx context.Context, h backend.Handle, version string) (backend.Retention, error) {
	m.retReads.Add(1)
	return m.ls.Retention(ctx, h, version)
}

func (m locking) ExtendRetention(ctx context.Context, h backend.Handle, until time.Time) error {
	m.retWrites.Add(1)
	return m.ls.ExtendRetention(ctx, h, until)
}

func (m locking) Versions(ctx context.Context, fn func(backend.Version) error) error {
	m.lists.Add(1)
	return m.ls.Versions(ctx, fn)
}

func (m locking) RemoveVersion(ctx context.Context, v backend.Version) error {
	m.removes.Add(1)
	return m.ls.RemoveVersion(ctx, v)
}
