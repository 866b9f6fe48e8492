// Package faultproxy is a fault-injecting proxy on 127.0.0.1 for tests: in
// front of a real server, it passes requests through and, by rules, answers
// some with an error status, delays them, never answers them, or resets
// the connection before, in the middle of or after the work; it counts
// every request, and can call a hook at a chosen request (to kill the
// server behind it at a point the test decides, not at a time).
//
// Proxy speaks HTTP (for S3); TCP is a plain byte pipe that can cut its
// connections, for any protocol.
package faultproxy

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault is what a rule does to a request.
type Fault int

const (
	// Pass forwards the request (a rule with only a Hook).
	Pass Fault = iota
	// Status answers Status with an S3 error body of Code, unforwarded.
	Status
	// StatusAfter forwards the request, then answers Status instead of
	// the server's answer: the work was done, the answer lost.
	StatusAfter
	// Delay waits Delay, then forwards: a slow server.
	Delay
	// Hang never answers: the connection stays open until the client
	// gives up (or the proxy closes).
	Hang
	// ResetBefore resets the connection (TCP RST) unforwarded.
	ResetBefore
	// ResetAfter forwards the request, then resets instead of answering.
	ResetAfter
	// ResetMidBody forwards, sends the answer's headers and half its body
	// (1000 bytes when its length is unknown), then resets.
	ResetMidBody
	// ResetMidUpload reads half the request's body, then resets.
	ResetMidUpload
)

var faultNames = [...]string{"pass", "status", "status-after", "delay", "hang", "reset-before", "reset-after", "reset-mid-body", "reset-mid-upload"}

func (f Fault) String() string { return faultNames[f] }

// Rule applies a fault to matching requests.
type Rule struct {
	// Match selects requests; nil matches every one.
	Match func(*http.Request) bool
	Fault Fault
	// Status and Code for Status and StatusAfter (Code "" sends no body).
	Status int
	Code   string
	// Delay for Delay.
	Delay time.Duration
	// Skip lets that many matching requests pass first; Times is how many
	// get the fault after them (0: every one).
	Skip, Times int
	// Hook is called when the rule fires, before its fault; with
	// HookAfterBody > 0, once that many bytes of the request's body have
	// been forwarded instead, or half of a smaller body (the server is
	// then mid-upload).
	Hook          func()
	HookAfterBody int64
	// Pick, when set, makes the rule a chooser: it returns the rule to
	// apply to a request (nil: none, the next rules are asked), and the
	// fields above are unused. It is called under the proxy's lock, one
	// request at a time, so it may keep state.
	Pick func(*http.Request) *Rule

	seen int // matching requests so far
}

// Match returns a Rule.Match for a method ("" any) and a path substring.
func Match(method, pathContains string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return (method == "" || r.Method == method) && strings.Contains(r.URL.Path, pathContains)
	}
}

// Request is one request the proxy saw.
type Request struct {
	Method, Path, Query string
	Fault               Fault
}

// Key is the request as sent: two requests with the same key are the same
// request sent twice (a retry).
func (r Request) Key() string { return r.Method + " " + r.Path + "?" + r.Query }

func (r Request) String() string { return r.Key() + " " + r.Fault.String() }

// Proxy is an HTTP proxy in front of one server.
type Proxy struct {
	Addr string // 127.0.0.1:PORT

	srv   *http.Server
	rp    *httputil.ReverseProxy
	done  chan struct{}
	mu    sync.Mutex
	rules []*Rule
	seen  []Request
}

// Start starts a proxy to target (HOST:PORT, plain HTTP) that lives until
// the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &url.URL{Scheme: "http", Host: target}
	p := &Proxy{Addr: l.Addr().String(), done: make(chan struct{})}
	p.rp = &httputil.ReverseProxy{
		// The Host header stays the proxy's: the client signed it (S3
		// signatures cover it), and the server checks the signature.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		Transport:     &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
		FlushInterval: -1,
		// A server that is down looks down: the client's connection is
		// reset, as without the proxy, rather than answered 502.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { reset(w) },
		ErrorLog:     quiet,
	}
	p.srv = &http.Server{Handler: p, ErrorLog: quiet}
	go p.srv.Serve(l)
	t.Cleanup(p.Close)
	return p
}

// quiet drops the logs of the cuts the proxy makes on purpose.
var quiet = log.New(io.Discard, "", 0)

// Close stops the proxy and ends every hanging request.
func (p *Proxy) Close() {
	p.mu.Lock()
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	p.mu.Unlock()
	p.srv.Close()
}

// Add adds a rule; the first rule that fires for a request applies.
func (p *Proxy) Add(r *Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Requests returns every request seen, in order.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.seen...)
}

// Reset forgets the requests seen.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = nil
}

// Count returns how many requests seen match (nil: all).
func (p *Proxy) Count(match func(Request) bool) int {
	n := 0
	for _, r := range p.Requests() {
		if match == nil || match(r) {
			n++
		}
	}
	return n
}

// Repeated returns the requests seen more than once (retries), each once.
func (p *Proxy) Repeated() []string {
	count := map[string]int{}
	var out []string
	for _, r := range p.Requests() {
		count[r.Key()]++
		if count[r.Key()] == 2 {
			out = append(out, r.Key())
		}
	}
	return out
}

// fire picks the rule for r, if any, and records r.
func (p *Proxy) fire(r *http.Request) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	var hit *Rule
	for _, rule := range p.rules {
		if rule.Pick != nil {
			if hit = rule.Pick(r); hit != nil {
				break
			}
			continue
		}
		if rule.Match != nil && !rule.Match(r) {
			continue
		}
		rule.seen++
		n := rule.seen - rule.Skip
		if n >= 1 && (rule.Times == 0 || n <= rule.Times) {
			hit = rule
			break
		}
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	if hit != nil {
		rec.Fault = hit.Fault
	}
	p.seen = append(p.seen, rec)
	return hit
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule := p.fire(r)
	if rule == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	if rule.Hook != nil {
		if rule.HookAfterBody > 0 && r.Body != nil {
			at := rule.HookAfterBody
			if r.ContentLength > 0 {
				at = max(min(at, r.ContentLength/2), 1)
			}
			r.Body = &hookReader{rc: r.Body, left: at, hook: rule.Hook}
		} else {
			rule.Hook()
		}
	}
	switch rule.Fault {
	case Pass:
		p.rp.ServeHTTP(w, r)
	case Status:
		writeError(w, r, rule.Status, rule.Code)
	case StatusAfter:
		p.rp.ServeHTTP(&replaceWriter{ResponseWriter: w, r: r, status: rule.Status, code: rule.Code}, r)
	case Delay:
		select {
		case <-time.After(rule.Delay):
		case <-r.Context().Done():
			return
		case <-p.done:
			return
		}
		p.rp.ServeHTTP(w, r)
	case Hang:
		// Take the body so the server notices when the client hangs up.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-p.done:
		}
	case ResetBefore:
		reset(w)
	case ResetAfter:
		p.rp.ServeHTTP(&cutWriter{ResponseWriter: w, limit: 0}, r)
	case ResetMidBody:
		p.rp.ServeHTTP(&cutWriter{ResponseWriter: w, limit: -1}, r)
	case ResetMidUpload:
		n := r.ContentLength / 2
		if n <= 0 {
			n = 1000
		}
		io.CopyN(io.Discard, r.Body, n)
		reset(w)
	}
}

// hookReader calls hook once left bytes have been read through it.
type hookReader struct {
	rc   io.ReadCloser
	left int64
	hook func()
	once sync.Once
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.left <= 0 {
		h.once.Do(h.hook)
	} else if int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.rc.Read(p)
	h.left -= int64(n)
	return n, err
}

func (h *hookReader) Close() error { return h.rc.Close() }

// reset ends the connection with a TCP RST, no answer sent.
func reset(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// writeError answers status with an S3 error document.
func writeError(w http.ResponseWriter, r *http.Request, status int, code string) {
	if code == "" || r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s (injected by faultproxy)</Message><Resource>%s</Resource><RequestId>faultproxy</RequestId></Error>`,
		code, http.StatusText(status), r.URL.Path)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// replaceWriter answers status instead of the server's answer.
type replaceWriter struct {
	http.ResponseWriter
	r      *http.Request
	status int
	code   string
	wrote  bool
}

func (w *replaceWriter) Header() http.Header { return http.Header{} } // the server's, dropped

func (w *replaceWriter) WriteHeader(int) {
	if !w.wrote {
		w.wrote = true
		writeError(w.ResponseWriter, w.r, w.status, w.code)
	}
}

func (w *replaceWriter) Write(p []byte) (int, error) {
	w.WriteHeader(0)
	return len(p), nil
}

// cutWriter passes limit bytes of the answer's body (-1: half of its
// Content-Length), then resets the connection; limit 0 resets before the
// headers.
type cutWriter struct {
	http.ResponseWriter
	limit   int64
	written int64
	cut     bool
}

func (w *cutWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// FlushError flushes what passed, and nothing once the connection is cut.
func (w *cutWriter) FlushError() error {
	if w.cut {
		return net.ErrClosed
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *cutWriter) WriteHeader(status int) {
	if w.limit == 0 {
		w.cut = true
		reset(w.ResponseWriter)
		return
	}
	if w.limit < 0 {
		w.limit = 1000
		if cl, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil && cl > 1 {
			w.limit = cl / 2
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if w.cut {
		return 0, net.ErrClosed
	}
	if w.written+int64(len(p)) < w.limit {
		n, err := w.ResponseWriter.Write(p)
		w.written += int64(n)
		return n, err
	}
	n, _ := w.ResponseWriter.Write(p[:w.limit-w.written])
	w.written += int64(n)
	w.FlushError()
	w.cut = true
	reset(w.ResponseWriter)
	return n, net.ErrClosed
}
