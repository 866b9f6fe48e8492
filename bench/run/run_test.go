package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestType(t *testing.T) {
	for _, c := range []struct{ method, url, want string }{
		{"GET", "/bucket?list-type=2&prefix=data%2F", "LIST"},
		{"GET", "/bucket/", "LIST"},
		{"GET", "/bucket?location=", "GET"},
		{"GET", "/bucket/data/ab/abcdef", "GET"},
		{"PUT", "/bucket/data/ab/abcdef", "PUT"},
		{"PUT", "/bucket", "PUT"},
		{"HEAD", "/bucket/config", "HEAD"},
		{"DELETE", "/bucket/locks/x", "DELETE"},
		{"POST", "/bucket?delete=", "POST"},
		{"OPTIONS", "/bucket", "OTHER"},
	} {
		r := httptest.NewRequest(c.method, c.url, nil)
		if got := requestType(r); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.url, got, c.want)
		}
	}
}

// The proxy must keep the Host header the client signed (SigV4 covers it),
// pass bodies through unchanged, and count requests and bytes each way.
func TestCountingProxy(t *testing.T) {
	var gotHost, gotBody string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost = r.Host
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		io.WriteString(w, "0123456789")
	}))
	defer backend.Close()
	c := &counter{n: map[string]int64{}}
	proxy := httptest.NewServer(countingProxy(strings.TrimPrefix(backend.URL, "http://"), c))
	defer proxy.Close()

	req, err := http.NewRequest(http.MethodPut, proxy.URL+"/bucket/key", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := strings.TrimPrefix(proxy.URL, "http://"); gotHost != want {
		t.Errorf("backend saw Host %q, want the proxy's %q", gotHost, want)
	}
	if gotBody != "hello" || string(body) != "0123456789" {
		t.Errorf("bodies: backend got %q, client got %q", gotBody, body)
	}
	before := c.snapshot()
	resp, err = http.Get(proxy.URL + "/bucket?list-type=2")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := diffCounts(c.snapshot(), before)
	if d["LIST"] != 1 || d["PUT"] != 0 || d[reqDown] != 10 {
		t.Errorf("counts of the listing: %v", d)
	}
	if n := c.snapshot(); n["PUT"] != 1 || n[reqUp] != 5 || n[reqDown] != 20 {
		t.Errorf("totals: %v", n)
	}
}

func TestKopiaLatest(t *testing.T) {
	out := `[
 {"id":"a","startTime":"2026-12-05T00:40:23Z","rootEntry":{"obj":"kold"}},
 {"id":"b","startTime":"2026-12-05T00:41:00Z","rootEntry":{"obj":"knew"}},
 {"id":"c","startTime":"2026-12-05T00:39:00Z","rootEntry":{"obj":"kolder"}}
]`
	if id, err := kopiaLatest([]byte(out)); err != nil || id != "knew" {
		t.Errorf("kopiaLatest: %q, %v; want knew", id, err)
	}
	for _, bad := range []string{`[]`, `{}`, `[{"startTime":"2026-12-05T00:41:00Z","rootEntry":{"obj":"k/x"}}]`} {
		if id, err := kopiaLatest([]byte(bad)); err == nil {
			t.Errorf("kopiaLatest(%s) = %q, want an error", bad, id)
		}
	}
}
