// Package retry makes a remote store's passing faults invisible to the
// repository: a backend.Backend wrapper that tries a failed request again,
// with exponential backoff and jitter, when the failure can pass (a 503, a
// reset connection, a stall), and fails at once when it cannot (wrong
// credentials, a missing bucket, a full quota, a missing file, a version
// its Object Lock holds, a canceled context). Attempts and the time spent retrying are both bounded.
//
// Which errors are which is the stores' knowledge, not this package's: an
// error may say so itself through a Transient() bool method (package s3
// marks every answer of the server that way); this package adds only the
// store-independent rules (context errors, backend.ErrNotExist and
// ErrNoSpace, and network failures: resets, refusals, timeouts, a
// connection closed early).
//
// The retrying lives here, in one place for every remote store: the
// stores' own client libraries are set not to retry (s3 sets minio-go's
// MaxRetries to 1), so an attempt is one request, each is logged, and a
// permanent error is seen once instead of once per layer.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"snap/repo/backend"
)

// Defaults of a Policy's zero fields.
const (
	// DefaultAttempts rides out a server restart or a load balancer's
	// failover (about 90 s of waiting with the default backoff).
	DefaultAttempts   = 9
	DefaultMaxElapsed = 5 * time.Minute
	DefaultBase       = 500 * time.Millisecond
	DefaultCap        = 30 * time.Second
)

// Policy says when to try again. The zero Policy uses the defaults, the
// real clock and Transient.
type Policy struct {
	// MaxAttempts is the number of attempts in all, the first included;
	// 1 never retries. 0: DefaultAttempts.
	MaxAttempts int
	// MaxElapsed bounds the time spent failing: no attempt starts later
	// than this after the first failure. 0: DefaultMaxElapsed.
	MaxElapsed time.Duration
	// Base is the first wait, doubled after each failure up to Cap; each
	// wait is drawn between half and all of that (jitter, so many clients
	// failing together do not come back together).
	Base, Cap time.Duration
	// Transient decides whether an error is worth another attempt; nil:
	// the package's Transient.
	Transient func(error) bool
	// Log hears of each retry before its wait; nil: silence. The errors
	// it gets are the stores' own, which never hold credentials.
	Log func(Event)
	// Now, Sleep and Rand replace the clock, the wait and the jitter's
	// randomness (tests). Sleep returns early with ctx's error.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	Rand  func() float64 // in [0, 1)
}

// Event is one failed attempt that will be retried.
type Event struct {
	Op      string        // what was asked: "write data/ab/abcd…", "list index"...
	Attempt int           // the attempt that failed, from 1
	Max     int           // the attempts allowed in all
	Wait    time.Duration // the wait before the next attempt
	Err     error         // why it failed; it names the location
}

func (e Event) String() string {
	return fmt.Sprintf("%v; attempt %d of %d failed, retrying in %s", e.Err, e.Attempt, e.Max, e.Wait.Round(time.Millisecond))
}

// GaveUpError is a transient failure that outlasted the policy.
type GaveUpError struct {
	Attempts int
	Elapsed  time.Duration // from the first failure to the last
	Err      error         // the last attempt's error
}

func (e *GaveUpError) Error() string {
	return fmt.Sprintf("%v (gave up after %d attempts in %s)", e.Err, e.Attempts, e.Elapsed.Round(time.Millisecond))
}

func (e *GaveUpError) Unwrap() error { return e.Err }

func (p Policy) attempts() int {
	if p.MaxAttempts > 0 {
		return p.MaxAttempts
	}
	return DefaultAttempts
}

func (p Policy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p Policy) transient(err error) bool {
	if p.Transient != nil {
		return p.Transient(err)
	}
	return Transient(err)
}

// wait is the pause after the nth failure (n from 1).
func (p Policy) wait(n int) time.Duration {
	base, ceil := p.Base, p.Cap
	if base <= 0 {
		base = DefaultBase
	}
	if ceil <= 0 {
		ceil = DefaultCap
	}
	d := base
	for i := 1; i < n && d < ceil; i++ {
		d *= 2
	}
	d = min(d, ceil)
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	return d/2 + time.Duration(r()*float64(d/2))
}

func (p Policy) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Do calls fn until it succeeds, fails permanently, or the policy gives
// up. A permanent error is returned as fn returned it; a transient one
// that outlasted the policy as a *GaveUpError around the last; a context
// that ends while waiting stops it with the context's error. op names the
// work for the log.
func (p Policy) Do(ctx context.Context, op string, fn func() error) error {
	return p.do(ctx, op, nil, fn)
}

// do is Do after a first attempt that already failed with failed (nil:
// none yet), as when a read breaks mid-body and fn resumes it.
func (p Policy) do(ctx context.Context, op string, failed error, fn func() error) error {
	max := p.attempts()
	var first time.Time
	attempt := 0
	err := failed
	if err != nil {
		attempt = 1
	}
	for {
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return withCtx(cerr, err)
			}
			if !p.transient(err) {
				return err
			}
			now := p.now()
			if first.IsZero() {
				first = now
			}
			if attempt >= max {
				return &GaveUpError{Attempts: attempt, Elapsed: now.Sub(first), Err: err}
			}
			wait := p.wait(attempt)
			maxElapsed := p.MaxElapsed
			if maxElapsed <= 0 {
				maxElapsed = DefaultMaxElapsed
			}
			if now.Add(wait).Sub(first) > maxElapsed {
				return &GaveUpError{Attempts: attempt, Elapsed: now.Sub(first), Err: err}
			}
			if p.Log != nil {
				p.Log(Event{Op: op, Attempt: attempt, Max: max, Wait: wait, Err: err})
			}
			if serr := p.sleep(ctx, wait); serr != nil {
				return fmt.Errorf("%w (while waiting to retry after: %v)", serr, err)
			}
		}
		attempt++
		if err = fn(); err == nil {
			return nil
		}
	}
}

// withCtx is err as the error of a done context: the backend contract
// promises ctx's error then, also when the request failed otherwise first.
func withCtx(cerr, err error) error {
	if errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w (%v)", cerr, err)
}

// Transient reports whether err may pass: the error's own verdict when it
// has one (a Transient() bool method anywhere in its chain), else true only
// for network failures (a connection reset, refused, aborted or closed
// early, a timeout or stall, a temporary DNS failure). A done context, a
// missing file, a full store and a refusal by an object's lock are never
// transient; neither is an error nobody recognises, so a fault not
// foreseen fails at once with its own message rather than after minutes
// of retries.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, backend.ErrNotExist) || errors.Is(err, backend.ErrNoSpace) || errors.Is(err, backend.ErrLocked) {
		return false
	}
	var v interface{ Transient() bool }
	if errors.As(err, &v) {
		return v.Transient()
	}
	return networkFault(err)
}

// networkFault reports whether err is a network failure that a new
// connection may not meet.
func networkFault(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		// A connection closed before the answer was whole (a backend
		// never returns io.EOF as an error of its own), or closed by the
		// client's transport under a request when the peer reset it.
		return true
	}
	if strings.Contains(err.Error(), "server closed idle connection") {
		// net/http's unexported errServerClosedIdle: the server closed a
		// pooled connection as a request went out on it.
		return true
	}
	for _, e := range []syscall.Errno{syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN, syscall.ENETRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTemporary || dns.IsTimeout
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// permanent marks an error this package must not retry whatever it wraps.
type permanent struct{ err error }

func (e *permanent) Error() string   { return e.err.Error() }
func (e *permanent) Unwrap() error   { return e.err }
func (e *permanent) Transient() bool { return false }
