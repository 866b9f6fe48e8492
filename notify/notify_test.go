package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Secrets placed in every test URL; no error text may contain them.
const (
	secretPath  = "0b7e7a64-secret-path-5b2d"
	secretQuery = "tok3n-secret-query"
)

type request struct {
	Method, Path, UA, Type string
	Query                  url.Values
	Body                   string
}

// monitor is a test server that records requests and answers from a script
// of status codes (the last one repeats).
type monitor struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []request
	codes []int
}

func newMonitor(t *testing.T, codes ...int) *monitor {
	m := &monitor{codes: codes}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		m.reqs = append(m.reqs, request{r.Method, r.URL.Path, r.UserAgent(), r.Header.Get("Content-Type"), r.URL.Query(), string(b)})
		code := 200
		if len(m.codes) > 0 {
			code = m.codes[min(len(m.reqs)-1, len(m.codes)-1)]
		}
		m.mu.Unlock()
		w.WriteHeader(code)
		// A monitor may echo what it was sent; it must not reach errors.
		fmt.Fprintf(w, "no check %s", r.URL.String())
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *monitor) requests() []request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]request(nil), m.reqs...)
}

// sleeps records backoff waits instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func testOptions(s *sleeps) Options {
	return Options{Version: "1.2.3", Timeout: 5 * time.Second, Sleep: s.sleep}
}

// assertRedacted fails if err's text gives away any secret part of a URL.
func assertRedacted(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, s := range []string{secretPath, secretQuery, "pw-secret"} {
		if strings.Contains(msg, s) {
			t.Fatalf("error leaks %q: %s", s, msg)
		}
	}
}

func TestHealthchecksStartSuccessFail(t *testing.T) {
	m := newMonitor(t)
	var s sleeps
	n, err := Healthchecks(m.URL+"/ping/"+secretPath+"/", testOptions(&s))
	if err != nil {
		t.Fatal(err)
	}
	rid := NewRunID()
	ctx := context.Background()
	ev := Event{Kind: KindStart, Profile: "n8n", RunID: rid}
	if err := n.Notify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	ev.Kind, ev.Duration, ev.Snapshot, ev.Log = KindSuccess, 90*time.Second, "abc123", "dumped postgres\nsaved volumes\n"
	ev.Stats = map[string]float64{"bytes_added": 42}
	if err := n.Notify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	ev.Kind, ev.Snapshot, ev.Error = KindFailure, "", "verify: pack 1f2e damaged"
	if err := n.Notify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	r := m.requests()
	if len(r) != 3 {
		t.Fatalf("%d requests, want 3", len(r))
	}
	base := "/ping/" + secretPath
	for i, want := range []string{base + "/start", base, base + "/fail"} {
		if r[i].Path != want || r[i].Method != http.MethodPost {
			t.Errorf("request %d: %s %s, want POST %s", i, r[i].Method, r[i].Path, want)
		}
		if got := r[i].Query.Get("rid"); got != rid {
			t.Errorf("request %d: rid %q, want %q", i, got, rid)
		}
		if r[i].UA != "snap/1.2.3" {
			t.Errorf("request %d: User-Agent %q", i, r[i].UA)
		}
	}
	if r[0].Body != "" {
		t.Errorf("start body %q, want empty", r[0].Body)
	}
	if want := "dumped postgres\nsaved volumes\nsnap n8n: success after 1m30s, snapshot abc123, bytes_added=42\n"; r[1].Body != want {
		t.Errorf("success body %q, want %q", r[1].Body, want)
	}
	if !strings.HasPrefix(r[2].Body, "dumped postgres\n") || !strings.HasSuffix(r[2].Body, ": verify: pack 1f2e damaged\n") {
		t.Errorf("failure body %q", r[2].Body)
	}
	if !strings.HasPrefix(r[1].Type, "text/plain") {
		t.Errorf("Content-Type %q", r[1].Type)
	}
	if len(s.got()) != 0 {
		t.Errorf("slept %v without a failure", s.got())
	}
}

func TestHealthchecksKeepsQueryAndOmitsEmptyRid(t *testing.T) {
	m := newMonitor(t)
	n, err := Parse("hc+"+m.URL+"/ping/key/my-slug?create=1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), Event{Kind: KindStart}); err != nil {
		t.Fatal(err)
	}
	r := m.requests()[0]
	if r.Path != "/ping/key/my-slug/start" || r.Query.Get("create") != "1" || r.Query.Has("rid") {
		t.Fatalf("got %s ?%s", r.Path, r.Query.Encode())
	}
}

func TestFailureBodyKeepsTheTail(t *testing.T) {
	m := newMonitor(t)
	n, err := Healthchecks(m.URL+"/"+secretPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&log, "line %05d ünïcode\n", i)
	}
	if err := n.Notify(context.Background(), Event{Kind: KindFailure, Log: log.String(), Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	b := m.requests()[0].Body
	if len(b) > MaxBody || len(b) < MaxBody-100 {
		t.Fatalf("body %d bytes, want just under %d", len(b), MaxBody)
	}
	if !utf8.ValidString(b) || !strings.HasPrefix(b, truncated+"line ") {
		t.Fatalf("body does not start on a line after the marker: %q", b[:80])
	}
	if strings.Contains(b, "line 00000") || !strings.Contains(b, "line 04999 ünïcode\nsnap : failure after 0s: boom\n") {
		t.Fatalf("body is not the tail: ...%q", b[len(b)-80:])
	}
}

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 100, "short"},
		{strings.Repeat("é", 40), len(truncated) + 5, truncated + "éé"}, // never half a rune
		{strings.Repeat("a", 50) + "\nbbbb\ncc", len(truncated) + 9, truncated + "bbbb\ncc"},
		{"x\xffy", 10, "x\uFFFDy"},
		{"anything longer", 3, ""},
	} {
		got := tail(tc.in, tc.max)
		if got != tc.want || len(got) > tc.max || !utf8.ValidString(got) {
			t.Errorf("tail(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestRetriesOn5xxThenSucceeds(t *testing.T) {
	m := newMonitor(t, 500, 502, 200)
	var s sleeps
	n, _ := Healthchecks(m.URL+"/"+secretPath, testOptions(&s))
	if err := n.Notify(context.Background(), Event{Kind: KindSuccess}); err != nil {
		t.Fatal(err)
	}
	if got := len(m.requests()); got != 3 {
		t.Fatalf("%d requests, want 3", got)
	}
	if got := s.got(); len(got) != 2 || got[0] != time.Second || got[1] != 2*time.Second {
		t.Fatalf("backoff %v, want [1s 2s]", got)
	}
}

func TestGivesUpOnPersistent5xx(t *testing.T) {
	m := newMonitor(t, 503)
	var s sleeps
	o := testOptions(&s)
	o.Attempts, o.Backoff = 4, []time.Duration{time.Millisecond}
	n, _ := Webhook(m.URL+"/"+secretPath+"?t="+secretQuery, o)
	err := n.Notify(context.Background(), Event{Kind: KindFailure})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("err = %v, want a *StatusError 503", err)
	}
	assertRedacted(t, err)
	if got := len(m.requests()); got != 4 {
		t.Fatalf("%d requests, want 4", got)
	}
	if got := s.got(); len(got) != 3 || got[2] != time.Millisecond {
		t.Fatalf("backoff %v, want the last one repeated", got)
	}
	if !strings.Contains(err.Error(), "4 attempts") {
		t.Errorf("error does not say how often it tried: %v", err)
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	for _, code := range []int{400, 401, 404} {
		m := newMonitor(t, code)
		var s sleeps
		n, _ := Healthchecks(m.URL+"/ping/"+secretPath+"?x="+secretQuery, testOptions(&s))
		err := n.Notify(context.Background(), Event{Kind: KindStart, RunID: NewRunID()})
		var se *StatusError
		if !errors.As(err, &se) || se.Code != code {
			t.Fatalf("err = %v, want a *StatusError %d", err, code)
		}
		assertRedacted(t, err)
		if got := len(m.requests()); got != 1 || len(s.got()) != 0 {
			t.Fatalf("HTTP %d: %d requests, %d sleeps; want 1, 0", code, got, len(s.got()))
		}
	}
	// 429 is the 4xx that does get better.
	m := newMonitor(t, 429, 200)
	var s sleeps
	n, _ := Healthchecks(m.URL, testOptions(&s))
	if err := n.Notify(context.Background(), Event{Kind: KindStart}); err != nil || len(m.requests()) != 2 {
		t.Fatalf("429 then 200: err %v after %d requests", err, len(m.requests()))
	}
}

func TestHangingServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up (or the test ends)
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	var s sleeps
	o := testOptions(&s)
	o.Timeout, o.Attempts = 50*time.Millisecond, 2
	n, _ := Healthchecks(srv.URL+"/"+secretPath+"?k="+secretQuery, o)
	start := time.Now()
	err := n.Notify(context.Background(), Event{Kind: KindSuccess})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	assertRedacted(t, err)
	if !strings.Contains(err.Error(), "no answer within 50ms") || len(s.got()) != 1 {
		t.Fatalf("err = %v after %d sleeps", err, len(s.got()))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestTotalDeadlineCutsRetries(t *testing.T) {
	m := newMonitor(t, 500)
	o := Options{Deadline: 100 * time.Millisecond, Backoff: []time.Duration{time.Hour}} // the real sleep, bounded by Deadline
	n, _ := Webhook(m.URL+"/"+secretPath, o)
	start := time.Now()
	err := n.Notify(context.Background(), Event{Kind: KindStart})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 500 {
		t.Fatalf("err = %v, want the last answer kept", err)
	}
	if got := len(m.requests()); got != 1 {
		t.Fatalf("%d requests, want 1", got)
	}
}

// closedURL is an address nothing listens on: connection refused.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://user:pw-secret@" + addr + "/ping/" + secretPath + "?k=" + secretQuery
}

func TestConnectionRefused(t *testing.T) {
	var s sleeps
	n, err := Healthchecks(closedURL(t), testOptions(&s))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = n.Notify(context.Background(), Event{Kind: KindFailure, Error: "x"})
	assertRedacted(t, err)
	var se *StatusError
	if errors.As(err, &se) {
		t.Fatalf("err = %v, want a network error", err)
	}
	if !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	if len(s.got()) != 2 {
		t.Fatalf("sleeps %v, want 2", s.got())
	}
	if str := n.String(); !strings.HasPrefix(str, "healthchecks http://127.0.0.1:") || !strings.HasSuffix(str, "/…") || strings.Contains(str, "pw-secret") {
		t.Fatalf("String() = %q", n.String())
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://hc-ping.com/" + secretPath:                     "https://hc-ping.com/…",
		"https://u:pw-secret@h.example:8443/x?t=" + secretQuery: "https://h.example:8443/…",
		"https://h.example":                                     "https://h.example",
		"https://h.example/":                                    "https://h.example",
		"https://h.example/?" + secretQuery:                     "https://h.example/…",
		"hc-ping.com/" + secretPath:                             "(URL hidden)",
		"https://h.example/%zz" + secretPath:                    "(URL hidden)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWebhookJSON(t *testing.T) {
	m := newMonitor(t)
	n, err := Parse("webhook+"+m.URL+"/hook/"+secretPath, Options{Version: "0.9"})
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 3, 1, 2, 3, 4, 5e8, time.FixedZone("CET", 3600))
	ev := Event{Kind: KindFailure, Profile: "n8n", Host: "box", Time: when, Duration: 1500 * time.Millisecond,
		Snapshot: "s1", Error: "disk full", Log: strings.Repeat("x", 2*MaxBody), RunID: NewRunID(),
		Stats: map[string]float64{"bytes_read": 1e9, "bad": nanValue()}}
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	r := m.requests()[0]
	if r.Method != http.MethodPost || r.Type != "application/json" || r.UA != "snap/0.9" {
		t.Fatalf("%s %s %s", r.Method, r.Type, r.UA)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"event": "failure", "profile": "n8n", "host": "box", "time": "2026-03-01T01:03:04Z",
		"duration_seconds": 1.5, "snapshot": "s1", "error": "disk full", "run_id": ev.RunID, "version": "0.9",
		"stats": map[string]any{"bytes_read": 1e9},
	}
	log, _ := got["log"].(string)
	delete(got, "log")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if len(log) > MaxBody || !strings.HasSuffix(log, "xxx") {
		t.Fatalf("log %d bytes", len(log))
	}
	// A start event with nothing set still has every key.
	if err := n.Notify(context.Background(), Event{Kind: KindStart}); err != nil {
		t.Fatal(err)
	}
	got = nil
	_ = json.Unmarshal([]byte(m.requests()[1].Body), &got)
	if len(got) != 11 || got["stats"] == nil {
		t.Fatalf("start payload %v", got)
	}
	if _, err := time.Parse(time.RFC3339, got["time"].(string)); err != nil {
		t.Fatalf("time: %v", err)
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

func TestUptimeKuma(t *testing.T) {
	m := newMonitor(t)
	n, err := Parse("kuma+"+m.URL+"/api/push/"+secretPath+"?status=up&msg=OK&ping=", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := n.Notify(ctx, Event{Kind: KindStart}); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(ctx, Event{Kind: KindSuccess, Profile: "n8n", Duration: 2500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(ctx, Event{Kind: KindFailure, Profile: "n8n", Error: strings.Repeat("e", 500)}); err != nil {
		t.Fatal(err)
	}
	r := m.requests()
	if len(r) != 2 {
		t.Fatalf("%d requests, want 2 (no start)", len(r))
	}
	if r[0].Method != http.MethodGet || r[0].Path != "/api/push/"+secretPath || r[0].Query.Get("status") != "up" ||
		r[0].Query.Get("ping") != "2500" || r[0].Query.Get("msg") != "snap n8n: success after 3s" {
		t.Fatalf("success: %+v", r[0])
	}
	if msg := r[1].Query.Get("msg"); r[1].Query.Get("status") != "down" || utf8.RuneCountInString(msg) != kumaMsgMax {
		t.Fatalf("failure: %+v", r[1])
	}
}

func TestParse(t *testing.T) {
	for _, ok := range []string{"hc+https://hc-ping.com/x", "HealthChecks+http://h/ping/x", "webhook+https://h/x", "kuma+https://h/api/push/x"} {
		if _, err := Parse(ok, Options{}); err != nil {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		"https://hc-ping.com/" + secretPath,
		"sms+https://h/" + secretPath,
		"hc+ftp://h/" + secretPath,
		"hc+https:///" + secretPath,
		"webhook+https://h/%zz" + secretPath,
		"hc+https://h/x\x7f" + secretPath,
		"hc-ping.com/" + secretPath,
	} {
		_, err := Parse(bad, Options{})
		if !errors.Is(err, ErrInvalidURL) {
			t.Errorf("Parse(%q) = %v, want ErrInvalidURL", bad, err)
		}
		assertRedacted(t, err)
	}
}

func TestInvalidEventSendsNothing(t *testing.T) {
	m := newMonitor(t)
	n, _ := Healthchecks(m.URL, Options{})
	for _, ev := range []Event{{Kind: "done"}, {Kind: KindStart, RunID: "run-7"}} {
		if err := n.Notify(context.Background(), ev); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%+v: err = %v", ev, err)
		}
	}
	if len(m.requests()) != 0 {
		t.Fatal("sent an invalid event")
	}
}

func TestNewRunID(t *testing.T) {
	a, b := NewRunID(), NewRunID()
	if a == b || !runIDPattern.MatchString(a) || a[14] != '4' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Fatalf("%q %q", a, b)
	}
}

// barrier is a server that answers only once n requests are in flight, so a
// test can tell parallel sends from serial ones without timing.
func barrier(t *testing.T, n int) *httptest.Server {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

type panicky struct{}

func (panicky) Notify(context.Context, Event) error { panic("bad notifier") }
func (panicky) String() string                      { return "panicky" }

func TestSendInParallelAndNeverPanics(t *testing.T) {
	srv := barrier(t, 2)
	var s sleeps
	o := testOptions(&s)
	a, _ := Healthchecks(srv.URL+"/a", o)
	b, _ := Webhook(srv.URL+"/b", o)
	bad := newMonitor(t, 500)
	c, _ := Healthchecks(bad.URL+"/"+secretPath, o)
	d, _ := Healthchecks(closedURL(t), o)
	errs := Send(context.Background(), []Notifier{a, b, c, nil, d, panicky{}}, Event{Kind: KindSuccess})
	if len(errs) != 4 {
		t.Fatalf("errors %v, want 4 (500, nil, refused, panic)", errs)
	}
	for _, err := range errs {
		assertRedacted(t, err)
	}
	if !strings.Contains(errs[0].Error(), "HTTP 500") || !strings.Contains(errs[3].Error(), "panicked") {
		t.Fatalf("errors out of order: %v", errs)
	}
}

func TestSendStopsAtContextEnd(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stuck := stuckNotifier(release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errs := Send(ctx, []Notifier{stuck}, Event{Kind: KindStart})
	if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("errs = %v", errs)
	}
	if errs := Send(context.Background(), nil, Event{}); errs != nil {
		t.Fatalf("no notifiers: %v", errs)
	}
}

// stuckNotifier ignores its context: Send must not wait for it forever.
type stuckNotifier chan struct{}

func (s stuckNotifier) Notify(context.Context, Event) error { <-s; return nil }
func (s stuckNotifier) String() string                      { return "stuck" }

func TestDefaultSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := sleep(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
}
