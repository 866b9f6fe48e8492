// Package rdb reads a Redis RDB stream just far enough to count its keys:
// per database, how many keys it holds and how many of them have an expire
// time, plus the header facts (format version, the redis-ver and ctime AUX
// fields). A backup takes its key count from the RDB it stores rather than
// from a separate INFO call, which drifts on a busy server.
//
// The reader is strict and streaming. Every opcode and value type that
// Redis 2.x to 7.4 writes (RDB versions 1 to 12) is walked to its end; values are skipped, never held: the
// memory used does not depend on the input (a 64 KiB buffer, an 8 KiB LZF
// window and a few bounded tables). The stream must end with the EOF opcode
// and, from version 5 on, a CRC-64 that matches (zero means Redis ran with
// rdbchecksum no); nothing may follow it. The inside of encoded values
// (listpack, ziplist, intset, zipmap) is checked at its header and end byte,
// not entry by entry, and duplicate keys or members are not detected: both
// would need memory in proportion to the data.
package rdb

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"
)

// Summary is what an RDB holds, as far as counting goes.
type Summary struct {
	Version      int               // RDB format version: 9 Redis 5-6.x, 10 Redis 7.0, 11 Redis 7.2, 12 Redis 7.4+
	RedisVersion string            // the "redis-ver" AUX field; "" when absent (Redis < 4)
	CTime        time.Time         // the "ctime" AUX field, when the RDB was written; zero when absent
	Aux          map[string]string // AUX fields, at most maxAuxFields, each at most maxAuxKey/maxAuxValue bytes (longer ones are skipped)
	DBs          []DB              // databases with keys (or a RESIZEDB record), by index
	Types        map[Type]int64    // keys per value type, all databases
	Functions    int               // function libraries (FUNCTION LOAD)
	ModuleAux    int               // module AUX records (skipped)
	Checksum     uint64            // the stored CRC-64; 0 when checksums were off or Version < 5
	Size         int64             // bytes in the stream
}

// DB counts the keys of one database.
type DB struct {
	Index   int
	Keys    int64 // keys stored, whether or not their expire time has passed
	Expires int64 // of Keys, those with an expire time
	// Empty counts keys, of Keys, that are empty collections: Redis drops
	// them when it loads the RDB without counting them as loaded or
	// expired. Only old, buggy Redis versions wrote them.
	Empty int64
	// SizeHint and ExpiresHint are the RESIZEDB record's counts, -1 when
	// the RDB has none. Redis writes the exact counts of its snapshot, so
	// they equal Keys and Expires for an RDB that Redis wrote.
	SizeHint, ExpiresHint int64
}

// Keys is the number of keys over all databases.
func (s *Summary) Keys() int64 {
	var n int64
	for _, d := range s.DBs {
		n += d.Keys
	}
	return n
}

// Expires is the number of keys with an expire time over all databases.
func (s *Summary) Expires() int64 {
	var n int64
	for _, d := range s.DBs {
		n += d.Expires
	}
	return n
}

// Empty is the number of empty keys over all databases (see DB.Empty).
func (s *Summary) Empty() int64 {
	var n int64
	for _, d := range s.DBs {
		n += d.Empty
	}
	return n
}

// DB returns database i's counts (zero counts, no hints, when it has none).
func (s *Summary) DB(i int) DB {
	if k, ok := slices.BinarySearchFunc(s.DBs, i, func(d DB, i int) int { return d.Index - i }); ok {
		return s.DBs[k]
	}
	return DB{Index: i, SizeHint: -1, ExpiresHint: -1}
}

// Sentinel errors; every error from this package is an *Error wrapping one
// of them, or wrapping the source's own read error.
var (
	ErrTruncated   = errors.New("the RDB is truncated")
	ErrCorrupt     = errors.New("malformed RDB")
	ErrChecksum    = errors.New("RDB checksum mismatch")
	ErrUnsupported = errors.New("unsupported RDB content")
	ErrLimit       = errors.New("RDB over a limit")
	ErrClosed      = errors.New("rdb: write after Summary")
)

// Error says where in the stream a problem was found.
type Error struct {
	Offset int64 // byte offset in the stream where the problem was found
	// Key is the 0-based number of the key being read, over the whole
	// stream, or -1 outside a key; KeyOffset, DB and Type describe it.
	Key       int64
	KeyOffset int64
	DB        int
	Type      Type
	Msg       string
	Err       error // a sentinel above, or the source's read error
}

func (e *Error) Error() string {
	where := fmt.Sprintf("byte %d", e.Offset)
	if e.Key >= 0 {
		where += fmt.Sprintf(" (key #%d of the stream, db %d, a %s value from byte %d)", e.Key, e.DB, e.Type, e.KeyOffset)
	}
	return fmt.Sprintf("rdb: %s: %s: %v", where, e.Msg, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Count reads a whole RDB stream from r. It reads r to its end: bytes after
// the RDB's checksum are an error.
func Count(r io.Reader) (*Summary, error) {
	p := newParser(r)
	return p.run()
}

// Counter is an io.Writer that counts the RDB written through it, so a
// backup can tee the stream it stores. Write never fails while the stream
// is open, even after a parse error: the error is kept for Summary, so a
// tee never aborts the copy it watches. A Counter is for one goroutine.
type Counter struct {
	pw     *io.PipeWriter
	res    *result
	closed bool
}

type result struct {
	done chan struct{}
	sum  *Summary
	err  error
}

// NewCounter starts a Counter. Call Summary when the stream is done: it
// ends the goroutine that parses (one dropped without Summary is ended
// when the Counter is garbage collected).
func NewCounter() *Counter {
	pr, pw := io.Pipe()
	res := &result{done: make(chan struct{})}
	go func() {
		defer close(res.done)
		res.sum, res.err = Count(pr)
		// Keep accepting writes after an error, so Write never blocks.
		_, _ = io.Copy(io.Discard, pr)
		pr.Close()
	}()
	c := &Counter{pw: pw, res: res}
	runtime.AddCleanup(c, func(pw *io.PipeWriter) { pw.Close() }, pw)
	return c
}

// Write passes p to the parser; it returns when the parser has taken p.
func (c *Counter) Write(p []byte) (int, error) {
	if c.closed {
		return 0, ErrClosed
	}
	if _, err := c.pw.Write(p); err != nil {
		// Only after the parser's goroutine ended, which it does not
		// before the pipe is closed; report rather than hide it.
		return 0, fmt.Errorf("rdb: counter: %w", err)
	}
	return len(p), nil
}

// Summary ends the stream and returns what Count would have returned for
// the bytes written. It may be called more than once.
func (c *Counter) Summary() (*Summary, error) {
	if !c.closed {
		c.closed = true
		c.pw.Close()
	}
	<-c.res.done
	return c.res.sum, c.res.err
}
