package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// origin is a server that stores PUT bodies and answers GETs with them.
type origin struct {
	srv  *httptest.Server
	puts atomic.Int64
	body []byte
}

func newOrigin(t *testing.T) *origin {
	o := &origin{body: bytes.Repeat([]byte("0123456789"), 10_000)}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			io.Copy(io.Discard, r.Body)
			o.puts.Add(1)
			w.Header().Set("X-Host-Seen", r.Host)
		default:
			w.Header().Set("Content-Length", strconv.Itoa(len(o.body)))
			w.Write(o.body)
		}
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func get(t *testing.T, p *Proxy) ([]byte, *http.Response, error) {
	t.Helper()
	resp, err := client().Get("http://" + p.Addr + "/bucket/data/ab/x")
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp, err
}

func put(p *Proxy, n int) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPut, "http://"+p.Addr+"/bucket/data/ab/x", bytes.NewReader(make([]byte, n)))
	resp, err := client().Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func isReset(err error) bool {
	// Go's client reports a reset during an upload in several words.
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func TestPassAndHost(t *testing.T) {
	o := newOrigin(t)
	p := Start(t, o.srv.Listener.Addr().String())
	b, _, err := get(t, p)
	if err != nil || !bytes.Equal(b, o.body) {
		t.Fatalf("get through the proxy: %d bytes, %v", len(b), err)
	}
	resp, err := put(p, 10)
	if err != nil || resp.Header.Get("X-Host-Seen") != p.Addr {
		t.Fatalf("put: %v; the server saw Host %q, want the proxy's (signed) %q", err, resp.Header.Get("X-Host-Seen"), p.Addr)
	}
	if n := p.Count(nil); n != 2 {
		t.Fatalf("counted %d requests, want 2", n)
	}
}

// TestStatusTimes: Skip and Times pick which matching requests fail.
func TestStatusTimes(t *testing.T) {
	o := newOrigin(t)
	p := Start(t, o.srv.Listener.Addr().String())
	p.Add(&Rule{Match: Match("GET", "/data/"), Fault: Status, Status: 503, Code: "SlowDown", Skip: 1, Times: 2})
	var got []int
	for range 4 {
		b, resp, err := get(t, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.StatusCode)
		if resp.StatusCode == 503 && !strings.Contains(string(b), "<Code>SlowDown</Code>") {
			t.Fatalf("error body: %s", b)
		}
	}
	if want := []int{200, 503, 503, 200}; !equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if p.Count(func(r Request) bool { return r.Fault == Status }) != 2 || len(p.Repeated()) != 1 {
		t.Fatalf("requests: %v", p.Requests())
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAfterFaults: StatusAfter and ResetAfter do the work, then lose the
// answer; ResetBefore and ResetMidUpload never reach the server.
func TestAfterFaults(t *testing.T) {
	o := newOrigin(t)
	p := Start(t, o.srv.Listener.Addr().String())
	for _, c := range []struct {
		fault   Fault
		reached bool
	}{{StatusAfter, true}, {ResetAfter, true}, {ResetBefore, false}, {ResetMidUpload, false}} {
		p.Clear()
		p.Add(&Rule{Fault: c.fault, Status: 500, Code: "InternalError", Times: 1})
		before := o.puts.Load()
		resp, err := put(p, 100_000)
		switch c.fault {
		case StatusAfter:
			if err != nil || resp.StatusCode != 500 {
				t.Fatalf("%v: %v %v", c.fault, resp, err)
			}
		default:
			if err == nil || !isReset(err) {
				t.Fatalf("%v: %v, want a reset", c.fault, err)
			}
		}
		if reached := o.puts.Load() > before; reached != c.reached {
			t.Fatalf("%v: the server got the upload: %v, want %v", c.fault, reached, c.reached)
		}
	}
}

// TestResetMidBody: half the answer arrives, then the connection resets.
func TestResetMidBody(t *testing.T) {
	o := newOrigin(t)
	p := Start(t, o.srv.Listener.Addr().String())
	p.Add(&Rule{Fault: ResetMidBody, Times: 1})
	b, _, err := get(t, p)
	// At most half arrives (an RST may drop some of what was in flight).
	if err == nil || len(b) > len(o.body)/2 || !bytes.Equal(b, o.body[:len(b)]) {
		t.Fatalf("cut answer: %d of %d bytes, %v", len(b), len(o.body), err)
	}
	if b, _, err := get(t, p); err != nil || len(b) != len(o.body) {
		t.Fatalf("the next answer: %d bytes, %v", len(b), err)
	}
}

// TestHangAndDelay: a hung request lasts until the client gives up; a
// delayed one is answered.
func TestHangAndDelay(t *testing.T) {
	o := newOrigin(t)
	p := Start(t, o.srv.Listener.Addr().String())
	p.Add(&Rule{Match: Match("GET", ""), Fault: Hang, Times: 1})
	p.Add(&Rule{Match: Match("PUT", ""), Fault: Delay, Delay: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr+"/b/k", nil)
	if _, err := client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung request: %v", err)
	}
	if resp, err := put(p, 10); err != nil || resp.StatusCode != 200 {
		t.Fatalf("delayed request: %v", err)
	}
}

// TestHookAfterBody: the hook runs once the server has part of the body.
func TestHookAfterBody(t *testing.T) {
	o := newOrigin(t)
	p := Start(t, o.srv.Listener.Addr().String())
	var at atomic.Int64
	at.Store(-1)
	p.Add(&Rule{Match: Match("PUT", ""), HookAfterBody: 40_000, Hook: func() { at.Store(o.puts.Load()) }, Times: 1})
	if _, err := put(p, 100_000); err != nil {
		t.Fatal(err)
	}
	if at := at.Load(); at != 0 || o.puts.Load() != 1 {
		t.Fatalf("hook ran with %d uploads complete, want 0 (mid-upload)", at)
	}
}

// TestDownServer: a server that is gone resets the client, as without
// the proxy.
func TestDownServer(t *testing.T) {
	o := newOrigin(t)
	p := Start(t, o.srv.Listener.Addr().String())
	o.srv.Close()
	if _, _, err := get(t, p); err == nil || !isReset(err) {
		t.Fatalf("through a proxy to a dead server: %v", err)
	}
}

// TestTCP: the pipe passes bytes, cuts an upload after n bytes, refuses
// and cuts all.
func TestTCP(t *testing.T) {
	o := newOrigin(t)
	p := StartTCP(t, o.srv.Listener.Addr().String())
	pp := &Proxy{Addr: p.Addr} // the HTTP helpers only need the address
	if b, _, err := get(t, pp); err != nil || len(b) != len(o.body) {
		t.Fatalf("through the pipe: %d bytes, %v", len(b), err)
	}
	p.CutAfter(50_000)
	if _, err := put(pp, 1<<20); err == nil {
		t.Fatal("upload through a cut pipe succeeded")
	}
	if _, err := put(pp, 1<<20); err != nil {
		t.Fatalf("the cut is once: %v", err)
	}
	p.Refuse(true)
	if _, _, err := get(t, pp); err == nil {
		t.Fatal("a refusing pipe answered")
	}
	p.Refuse(false)
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	buf := make([]byte, 100)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	p.CutAll()
	if _, err := io.ReadAll(c); err == nil {
		// All of the 100 KB body would have arrived had the pipe not been cut;
		// a cut reads as a reset (an error) or an early end.
		t.Log("cut pipe ended without an error")
	}
	if s := p.Stats(); s.Cut != 2 || s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
}
