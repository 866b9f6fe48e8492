package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"snap/internal/stallconn"
	"snap/repo/backend"
)

// fakeClock is a clock that moves only when the policy sleeps.
type fakeClock struct {
	now    time.Time
	waits  []time.Duration
	cancel func() // called at the first sleep, if set
}

func (c *fakeClock) policy(max int) Policy {
	return Policy{
		MaxAttempts: max,
		Now:         func() time.Time { return c.now },
		Sleep: func(ctx context.Context, d time.Duration) error {
			c.waits = append(c.waits, d)
			c.now = c.now.Add(d)
			if c.cancel != nil {
				c.cancel()
				return ctx.Err()
			}
			return nil
		},
		Rand: func() float64 { return 0.5 },
	}
}

var errReset = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}

// verdict is an error that knows whether it may pass, as a store's are.
type verdict struct{ transient bool }

func (v verdict) Error() string   { return fmt.Sprintf("verdict %v", v.transient) }
func (v verdict) Transient() bool { return v.transient }

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errReset, true},
		{fmt.Errorf("put: %w", syscall.ECONNREFUSED), true},
		{fmt.Errorf("write: %w", syscall.EPIPE), true},
		{fmt.Errorf("get: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("put: %w", io.EOF), true},
		{&net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}, true},
		{errors.New("Put \"http://x/y\": http: server closed idle connection"), true},
		{&stallconn.StallError{After: time.Second, Op: "read"}, true},
		{&net.DNSError{Err: "server misbehaving", IsTemporary: true}, true},
		{&net.DNSError{Err: "no such host", IsNotFound: true}, false},
		{fmt.Errorf("s3: %w", verdict{true}), true},
		{fmt.Errorf("s3: %w", verdict{false}), false},
		// The error's verdict wins over the network cause it wraps.
		{fmt.Errorf("%w: %w", verdict{false}, syscall.ECONNRESET), false},
		{fmt.Errorf("x: %w", backend.ErrNotExist), false},
		{fmt.Errorf("x: %w", backend.ErrNoSpace), false},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{errors.New("x509: certificate signed by unknown authority"), false},
		{nil, false},
	} {
		if got := Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestBackoff: waits double from Base up to Cap, each between half and
// all of its step; the attempts are bounded and the last error is kept.
func TestBackoff(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	p := clk.policy(6)
	p.Base, p.Cap = 100*time.Millisecond, time.Second
	var events []Event
	p.Log = func(e Event) { events = append(events, e) }
	calls := 0
	err := p.Do(context.Background(), "stat config", func() error { calls++; return errReset })
	var g *GaveUpError
	if !errors.As(err, &g) || g.Attempts != 6 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Do = %v, want a GaveUpError after 6 attempts around the reset", err)
	}
	if calls != 6 || len(events) != 5 {
		t.Fatalf("%d calls, %d events; want 6 and 5", calls, len(events))
	}
	// Rand 0.5: three quarters of each step.
	want := []time.Duration{75, 150, 300, 600, 750}
	for i, w := range want {
		if clk.waits[i] != w*time.Millisecond {
			t.Fatalf("waits %v, want %v ms", clk.waits, want)
		}
		if e := events[i]; e.Attempt != i+1 || e.Max != 6 || e.Wait != clk.waits[i] || e.Op != "stat config" {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if g.Elapsed != 1875*time.Millisecond {
		t.Fatalf("elapsed %s", g.Elapsed)
	}
	// The jitter stays within half and all of the step.
	for _, r := range []float64{0, 0.999} {
		p.Rand = func() float64 { return r }
		if w := p.wait(3); w < 200*time.Millisecond || w > 400*time.Millisecond {
			t.Fatalf("wait with rand %v: %s", r, w)
		}
	}
}

// TestPermanent: a permanent error is returned at once, as it was.
func TestPermanent(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	for _, perm := range []error{
		fmt.Errorf("s3: 403: %w", verdict{false}),
		fmt.Errorf("x: %w", backend.ErrNotExist),
		errors.New("unrecognised"),
	} {
		calls := 0
		err := clk.policy(5).Do(context.Background(), "op", func() error { calls++; return perm })
		if err != perm || calls != 1 {
			t.Fatalf("%v: Do = %v after %d calls", perm, err, calls)
		}
	}
	// Transient, then permanent: stops at the permanent one.
	calls := 0
	err := clk.policy(5).Do(context.Background(), "op", func() error {
		calls++
		if calls == 1 {
			return errReset
		}
		return backend.ErrNoSpace
	})
	if err != backend.ErrNoSpace || calls != 2 {
		t.Fatalf("Do = %v after %d calls", err, calls)
	}
}

// TestMaxElapsed: no attempt starts past the time bound, however many
// attempts are left.
func TestMaxElapsed(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	p := clk.policy(100)
	p.Base, p.Cap, p.MaxElapsed = time.Second, time.Second, 10*time.Second
	calls := 0
	err := p.Do(context.Background(), "op", func() error {
		calls++
		clk.now = clk.now.Add(2 * time.Second) // each attempt hangs a while
		return errReset
	})
	var g *GaveUpError
	if !errors.As(err, &g) {
		t.Fatalf("Do = %v", err)
	}
	// The first failure at 2 s; the next attempts start 0.75, 3.5, 6.25
	// and 9 s after it, each failing 2 s later; one at 11.75 s would be
	// past the bound.
	if calls != 5 || g.Elapsed != 11*time.Second {
		t.Fatalf("%d attempts, last failure %s after the first; want 5 and 11s", calls, g.Elapsed)
	}
}

// TestCanceledWhileWaiting: a context that ends during the wait stops the
// retries with its error.
func TestCanceledWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := &fakeClock{now: time.Unix(0, 0), cancel: cancel}
	calls := 0
	err := clk.policy(5).Do(ctx, "op", func() error { calls++; return errReset })
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("Do = %v after %d calls", err, calls)
	}
	// A context already done: not retried, and the context's error is
	// returned, as the backend contract promises.
	calls = 0
	err = Policy{}.Do(ctx, "op", func() error { calls++; return errReset })
	if calls != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do on a done context = %v after %d calls", err, calls)
	}
}

// TestRealSleep: the default sleep waits and the defaults hold.
func TestRealSleep(t *testing.T) {
	p := Policy{Base: time.Millisecond, Cap: time.Millisecond, MaxAttempts: 3}
	calls := 0
	err := p.Do(context.Background(), "op", func() error {
		calls++
		if calls < 3 {
			return errReset
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Do = %v after %d calls", err, calls)
	}
	if (Policy{}).attempts() != DefaultAttempts {
		t.Fatal("zero policy attempts")
	}
}
