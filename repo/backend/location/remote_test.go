package location_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"snap/internal/faultproxy"
	"snap/internal/testgw"
	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/location"
	"snap/repo/backend/retry"
)

// The tests here run the remote stack as the command line opens it
// (location.Open: s3 in the retry wrapper, with a stall timeout) against a
// real S3 server (versitygw) behind internal/faultproxy.

// events collects the retries a policy logs.
type events struct {
	mu  sync.Mutex
	all []retry.Event
}

func (e *events) log(ev retry.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) n() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.all)
}

// quick is a policy that does not wait between attempts (the waits have
// their own tests in package retry), logging to ev.
func quick(ev *events, attempts int) retry.Policy {
	return retry.Policy{MaxAttempts: attempts, Log: ev.log, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
}

// openVia opens bucket/prefix on gw through the proxy at addr.
func openVia(t *testing.T, addr, bucketPrefix string, o location.Options) backend.Backend {
	t.Helper()
	loc, err := location.Parse("s3:http://" + addr + "/" + bucketPrefix)
	if err != nil {
		t.Fatal(err)
	}
	be, err := location.Open(context.Background(), loc, o)
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// chaos faults the first attempt of every 4th distinct request, by turns
// in each way a server or network fails, and counts what it did.
type chaos struct {
	seen   map[string]bool
	n      int
	counts map[faultproxy.Fault]int
}

func (c *chaos) pick(r *http.Request) *faultproxy.Rule {
	key := r.Method + " " + r.URL.String()
	if c.seen[key] {
		return nil // a retry: let it through
	}
	c.seen[key] = true
	c.n++
	if c.n%4 != 0 {
		return nil
	}
	rules := []faultproxy.Rule{
		{Fault: faultproxy.Status, Status: 500, Code: "InternalError"},
		{Fault: faultproxy.Status, Status: 503, Code: "SlowDown"},
		{Fault: faultproxy.ResetBefore},
		{Fault: faultproxy.ResetAfter},
		{Fault: faultproxy.StatusAfter, Status: 503, Code: "ServiceUnavailable"},
		{Fault: faultproxy.ResetMidBody},
		{Fault: faultproxy.ResetMidUpload},
	}
	rule := rules[c.n/4%len(rules)]
	switch {
	case rule.Fault == faultproxy.ResetMidBody && r.Method != http.MethodGet:
		rule.Fault = faultproxy.ResetAfter
	case rule.Fault == faultproxy.ResetMidUpload && r.Method != http.MethodPut:
		rule.Fault = faultproxy.ResetBefore
	}
	c.counts[rule.Fault]++
	return &rule
}

// TestSuiteThroughFaults: the shared backend suite passes on a real S3
// server behind a proxy that faults every 4th request (500, 503, resets
// before, after and in the middle of the body, answers lost): each is
// retried, none shows.
func TestSuiteThroughFaults(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	p := faultproxy.Start(t, gw.Endpoint)
	c := &chaos{seen: map[string]bool{}, counts: map[faultproxy.Fault]int{}}
	p.Add(&faultproxy.Rule{Pick: c.pick})
	var ev events
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return openVia(t, p.Addr, testgw.Bucket()+"/hosts/web1", location.Options{Create: true, Retry: quick(&ev, 5)})
	})
	t.Logf("%d requests, %d faulted %v, %d retries logged, %d requests repeated", p.Count(nil), c.n/4, c.counts, ev.n(), len(p.Repeated()))
	if ev.n() == 0 || len(c.counts) < 5 {
		t.Fatalf("faults %v, %d retries: the chaos did not happen", c.counts, ev.n())
	}
}

// TestTransientFaults: each kind of passing fault, on each kind of
// request, is retried and the operation's result is exact.
func TestTransientFaults(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	p := faultproxy.Start(t, gw.Endpoint)
	ctx := context.Background()
	data := bytes.Repeat([]byte("snap retry "), 100_000) // 1.1 MB: bodies to cut
	h := backend.Handle{Type: backend.PackFile, Name: strings.Repeat("ab", 32)}
	counts := map[string]int{} // fault/method → retries logged by the wrapper
	defer func() { t.Logf("retries by the wrapper (the rest by net/http): %v", counts) }()
	for _, f := range []faultproxy.Rule{
		{Fault: faultproxy.Status, Status: 500, Code: "InternalError"},
		{Fault: faultproxy.Status, Status: 503, Code: "SlowDown"},
		{Fault: faultproxy.Status, Status: 503}, // no body: HEAD-style
		{Fault: faultproxy.StatusAfter, Status: 502},
		{Fault: faultproxy.ResetBefore},
		{Fault: faultproxy.ResetAfter},
		{Fault: faultproxy.ResetMidBody},
		{Fault: faultproxy.ResetMidUpload},
		{Fault: faultproxy.Delay, Delay: 200 * time.Millisecond}, // slow, under the timeout: no retry
		{Fault: faultproxy.Hang},                                 // past the timeout: retried
	} {
		t.Run(f.Fault.String()+fmt.Sprint(f.Status), func(t *testing.T) {
			var ev events
			be := openVia(t, p.Addr, testgw.Bucket(), location.Options{Create: true, Timeout: time.Second, Retry: quick(&ev, 4)})
			for _, op := range []struct {
				method string
				run    func() error
			}{
				{"PUT", func() error { return be.Save(ctx, h, backend.NewByteReader(data)) }},
				{"GET", func() error {
					rc, err := be.Open(ctx, h, 0, 0)
					if err != nil {
						return err
					}
					defer rc.Close()
					got, err := io.ReadAll(rc)
					if err == nil && !bytes.Equal(got, data) {
						err = fmt.Errorf("read back %d bytes differing from the %d saved", len(got), len(data))
					}
					return err
				}},
				{"HEAD", func() error {
					fi, err := be.Stat(ctx, h)
					if err == nil && fi.Size != int64(len(data)) {
						err = fmt.Errorf("size %d", fi.Size)
					}
					return err
				}},
				{"GET", func() error { // a listing is a GET of the bucket
					n := 0
					err := be.List(ctx, backend.PackFile, func(backend.FileInfo) error { n++; return nil })
					if err == nil && n != 1 {
						err = fmt.Errorf("listed %d files, want 1", n)
					}
					return err
				}},
				{"DELETE", func() error { return be.Remove(ctx, h) }},
			} {
				before := ev.n()
				p.Clear()
				p.Reset()
				if f.Fault == faultproxy.ResetMidBody && op.method != "GET" || f.Fault == faultproxy.ResetMidUpload && op.method != "PUT" {
					// No body to cut: unfaulted.
					if err := op.run(); err != nil {
						t.Fatal(err)
					}
					continue
				}
				rule := f
				rule.Match, rule.Times = faultproxy.Match(op.method, ""), 1
				p.Add(&rule)
				if err := op.run(); err != nil {
					t.Fatalf("%s with a %v fault: %v", op.method, f.Fault, err)
				}
				// The request was sent again once: by the wrapper, or by
				// net/http itself for a GET or HEAD whose reused
				// connection failed before an answer.
				want := 2
				if f.Fault == faultproxy.Delay {
					want = 1
				}
				if op.method == "DELETE" && (f.Fault == faultproxy.StatusAfter || f.Fault == faultproxy.ResetAfter) {
					// The delete landed; the retry's HEAD finds it gone,
					// which is success.
					want = 1
				}
				sent := p.Count(func(r faultproxy.Request) bool { return r.Method == op.method })
				if sent != want || ev.n()-before > 1 {
					t.Fatalf("%s with a %v fault: sent %d times, want %d; %d retries logged; requests %v", op.method, f.Fault, sent, want, ev.n()-before, p.Requests())
				}
				counts[f.Fault.String()+"/"+op.method] = ev.n() - before
			}
		})
	}
}

// TestPermanentFaults: errors that cannot pass fail at once, each request
// sent once, with a message that names the location and the cause.
func TestPermanentFaults(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	p := faultproxy.Start(t, gw.Endpoint)
	ctx := context.Background()
	bucket := testgw.Bucket()
	var ev events
	opts := location.Options{Create: true, Retry: quick(&ev, 5)}
	good := openVia(t, p.Addr, bucket, opts)
	h := backend.Handle{Type: backend.KeyFile, Name: "k1"}
	if err := good.Save(ctx, h, backend.NewByteReader([]byte("key"))); err != nil {
		t.Fatal(err)
	}
	opts.Create = false
	ops := func(be backend.Backend) map[string]error {
		errs := map[string]error{}
		errs["save"] = be.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: "k2"}, backend.NewByteReader([]byte("x")))
		_, errs["stat"] = be.Stat(ctx, h)
		errs["list"] = be.List(ctx, backend.KeyFile, func(backend.FileInfo) error { return nil })
		if rc, err := be.Open(ctx, h, 0, 0); err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
			errs["open"] = err
		} else {
			errs["open"] = err
		}
		return errs
	}
	for _, c := range []struct {
		name    string
		setup   func(t *testing.T) backend.Backend
		cause   string // in every message but a HEAD's (no body, no code)
		nospace bool
	}{
		{"wrong secret", func(t *testing.T) backend.Backend {
			t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-0123456789")
			return openVia(t, p.Addr, bucket, opts)
		}, "SignatureDoesNotMatch", false},
		{"no such bucket", func(t *testing.T) backend.Backend { return openVia(t, p.Addr, "no-such-bucket-here", opts) }, "NoSuchBucket", false},
		{"access denied", func(t *testing.T) backend.Backend {
			p.Add(&faultproxy.Rule{Fault: faultproxy.Status, Status: 403, Code: "AccessDenied"})
			return openVia(t, p.Addr, bucket, opts)
		}, "AccessDenied", false},
		{"quota 507", func(t *testing.T) backend.Backend {
			p.Add(&faultproxy.Rule{Fault: faultproxy.Status, Status: 507})
			return openVia(t, p.Addr, bucket, opts)
		}, "507 Insufficient Storage", true},
		{"quota exceeded", func(t *testing.T) backend.Backend {
			p.Add(&faultproxy.Rule{Fault: faultproxy.Status, Status: 403, Code: "QuotaExceeded"})
			return openVia(t, p.Addr, bucket, opts)
		}, "QuotaExceeded", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p.Clear()
			be := c.setup(t)
			p.Reset()
			before := ev.n()
			errs := ops(be)
			name := "s3:http://" + p.Addr + "/"
			for op, err := range errs {
				head := op == "stat"
				if c.name == "no such bucket" && head {
					// A HEAD of a key in a missing bucket gets a bare
					// 404, read as "no such key": not there.
					if !errors.Is(err, backend.ErrNotExist) {
						t.Errorf("%s: %v", op, err)
					}
					continue
				}
				if err == nil || errors.Is(err, backend.ErrNotExist) || !strings.Contains(err.Error(), name) {
					t.Errorf("%s: %v: want an error naming %s", op, err, name)
					continue
				}
				if !head && !strings.Contains(err.Error(), c.cause) {
					t.Errorf("%s: %v: want the cause %s", op, err, c.cause)
				}
				if c.nospace != errors.Is(err, backend.ErrNoSpace) && !(head && c.cause == "QuotaExceeded") {
					t.Errorf("%s: %v: ErrNoSpace %v, want %v", op, err, !c.nospace, c.nospace)
				}
				if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), gw.Secret) {
					t.Errorf("%s: the error shows a secret: %v", op, err)
				}
				t.Logf("%s: %v", op, err)
			}
			if n := ev.n() - before; n != 0 {
				t.Errorf("%d retries of permanent errors", n)
			}
			if rep := p.Repeated(); len(rep) != 0 || p.Count(nil) != len(errs) {
				t.Errorf("requests %v: want %d, none repeated", p.Requests(), len(errs))
			}
		})
	}
}

// TestBounded: a server that never answers, or always answers 503, is
// given up on after the policy's attempts, each request bounded by the
// stall timeout.
func TestBounded(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	p := faultproxy.Start(t, gw.Endpoint)
	ctx := context.Background()
	var ev events
	be := openVia(t, p.Addr, testgw.Bucket(), location.Options{Create: true, Timeout: 300 * time.Millisecond, Retry: quick(&ev, 3)})
	for _, f := range []faultproxy.Rule{{Fault: faultproxy.Hang}, {Fault: faultproxy.Status, Status: 503, Code: "SlowDown"}} {
		p.Clear()
		p.Reset()
		rule := f
		p.Add(&rule)
		_, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile})
		var g *retry.GaveUpError
		// net/http may send a HEAD again itself when a reused connection
		// fails: at most twice per attempt.
		if n := p.Count(nil); !errors.As(err, &g) || g.Attempts != 3 || n < 3 || n > 6 {
			t.Fatalf("%v forever: %v after %d requests", f.Fault, err, p.Count(nil))
		}
		t.Logf("%v forever: %v", f.Fault, err)
	}
}

// TestServerRestart: the real server killed (SIGKILL) is retried until it
// is back. Deterministic: the restart happens at the first retry.
func TestServerRestart(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	ctx := context.Background()
	var ev events
	pol := quick(&ev, 4)
	restarted := make(chan error, 1)
	pol.Log = func(e retry.Event) {
		if ev.n() == 0 {
			restarted <- gw.Restart()
		}
		ev.log(e)
	}
	be := openVia(t, gw.Endpoint, testgw.Bucket(), location.Options{Create: true, Retry: pol})
	data := bytes.Repeat([]byte("x"), 1<<20)
	h := backend.Handle{Type: backend.SnapshotFile, Name: "s1"}
	if err := be.Save(ctx, h, backend.NewByteReader(data)); err != nil {
		t.Fatal(err)
	}
	gw.Kill()
	h2 := backend.Handle{Type: backend.SnapshotFile, Name: "s2"}
	if err := be.Save(ctx, h2, backend.NewByteReader(data)); err != nil {
		t.Fatalf("save across a restart: %v", err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	for _, h := range []backend.Handle{h, h2} {
		if fi, err := be.Stat(ctx, h); err != nil || fi.Size != int64(len(data)) {
			t.Fatalf("%v after the restart: %+v %v", h, fi, err)
		}
	}
	t.Logf("retries: %d (%v)", ev.n(), ev.all[0].Err)
}

// TestTCPFaults: cuts at the TCP level (a reset in the middle of an
// upload, a server that refuses connections for a while) are retried.
func TestTCPFaults(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	p := faultproxy.StartTCP(t, gw.Endpoint)
	ctx := context.Background()
	var ev events
	pol := quick(&ev, 4)
	pol.Log = func(e retry.Event) {
		p.Refuse(false) // back at the first retry
		ev.log(e)
	}
	be := openVia(t, p.Addr, testgw.Bucket(), location.Options{Create: true, Retry: pol})
	data := bytes.Repeat([]byte("y"), 2<<20)
	h := backend.Handle{Type: backend.PackFile, Name: strings.Repeat("cd", 32)}
	p.CutAfter(1 << 20)
	if err := be.Save(ctx, h, backend.NewByteReader(data)); err != nil {
		t.Fatalf("save cut mid-upload: %v", err)
	}
	p.Refuse(true)
	p.CutAll()
	rc, err := be.Open(ctx, h, 0, 0)
	if err != nil {
		t.Fatalf("open while refused: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	if s := p.Stats(); s.Cut < 1 || s.Refused < 1 || ev.n() < 2 {
		t.Fatalf("stats %+v, %d retries", s, ev.n())
	}
}
