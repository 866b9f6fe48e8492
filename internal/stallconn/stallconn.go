// Package stallconn bounds network I/O by progress rather than by total
// time: a connection fails when no byte has moved for a while, so a 16 MiB
// pack on a slow link finishes however long it takes, and a server that
// stops answering is given up on after the same bound whatever the request.
//
// A whole-request timeout would have to be set for the biggest transfer on
// the slowest link, and would then leave a hung small request waiting just
// as long.
package stallconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// StallError is returned by a Conn's Read or Write when no byte moved for
// the connection's bound. It is a timeout (net.Error), so callers treat it
// as a passing fault.
type StallError struct {
	After time.Duration // the bound that passed
	Op    string        // "read" or "write"
}

func (e *StallError) Error() string {
	return fmt.Sprintf("%s: no progress for %s (the connection stalled)", e.Op, e.After)
}

// Timeout implements net.Error.
func (e *StallError) Timeout() bool { return true }

// Temporary implements net.Error (deprecated there, kept for old callers).
func (e *StallError) Temporary() bool { return true }

// Unwrap lets errors.Is(err, os.ErrDeadlineExceeded) hold.
func (e *StallError) Unwrap() error { return os.ErrDeadlineExceeded }

// Conn is a net.Conn whose every Read and Write must make progress within
// Timeout. Each call moves the deadline forward, and a Write moves the read
// deadline too: a response is awaited from the moment its request was last
// written to, not from when an idle connection's reader started waiting.
type Conn struct {
	net.Conn
	timeout time.Duration
}

// New wraps c; timeout must be positive.
func New(c net.Conn, timeout time.Duration) *Conn {
	return &Conn{Conn: c, timeout: timeout}
}

// chunk is the largest piece a Write hands the connection at once, so a
// big Write on a slow link gets a fresh deadline for each piece that moves.
const chunk = 64 << 10

func (c *Conn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	return n, c.stalled("read", err)
}

func (c *Conn) Write(p []byte) (int, error) {
	var done int
	for len(p) > 0 {
		q := p
		if len(q) > chunk {
			q = q[:chunk]
		}
		if err := c.Conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
			return done, err
		}
		n, err := c.Conn.Write(q)
		done += n
		p = p[n:]
		if err != nil {
			return done, c.stalled("write", err)
		}
	}
	// The answer to what was just written is due within the bound from
	// now: extend a read already waiting.
	return done, c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
}

func (c *Conn) stalled(op string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &StallError{After: c.timeout, Op: op}
	}
	return err
}

// Dialer dials TCP connections that fail when stalled for Timeout; the
// connection itself must be made within Timeout too (at most 30 s).
type Dialer struct {
	Timeout time.Duration
}

// DialContext has the signature http.Transport and ssh clients take.
func (d Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	connect := min(d.Timeout, 30*time.Second)
	c, err := (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return New(c, d.Timeout), nil
}
