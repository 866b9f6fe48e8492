package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The S3 phase: versitygw (a real S3 server, posix backend) on 127.0.0.1,
// with a counting reverse proxy in front of it. Every tool talks to the
// proxy, which tells requests apart by type and counts the bytes each way.

// requestTypes are the columns of the request table, in order.
var requestTypes = []string{"PUT", "GET", "LIST", "HEAD", "DELETE", "POST"}

const (
	reqUp   = "bytes_up"   // request bodies, client to server
	reqDown = "bytes_down" // response bodies
)

// counter holds the proxy's running totals.
type counter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *counter) add(k string, v int64) {
	c.mu.Lock()
	c.n[k] += v
	c.mu.Unlock()
}

func (c *counter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func diffCounts(after, before map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func fmtCounts(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, t := range requestTypes {
		if m[t] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", t, m[t]))
		}
	}
	return fmt.Sprintf("  [%s; %.1f MB up, %.1f MB down]", strings.Join(parts, ", "), float64(m[reqUp])/1e6, float64(m[reqDown])/1e6)
}

// requestType classifies an S3 request. Path-style addressing: the path
// is /BUCKET[/KEY]. A GET of the bucket itself is a listing, unless it
// asks for the bucket's location.
func requestType(r *http.Request) string {
	_, objKey, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch r.Method {
	case http.MethodGet:
		if objKey == "" && !r.URL.Query().Has("location") {
			return "LIST"
		}
		return "GET"
	case http.MethodPut, http.MethodHead, http.MethodDelete, http.MethodPost:
		return r.Method
	}
	return "OTHER"
}

type countingReader struct {
	io.ReadCloser
	c *counter
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.c.add(reqUp, int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	c *counter
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.c.add(reqDown, int64(n))
	return n, err
}

func (w countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingProxy forwards to target and counts. It keeps the Host header
// the client sent: the client's SigV4 signature covers it.
func countingProxy(target string, c *counter) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			// Not SetURL: it would clear Out.Host.
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = target
		},
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 64, // the default 2 would reconnect under parallel uploads
			DisableCompression:  true,
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.add(requestType(r), 1)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = countingReader{r.Body, c}
		}
		rp.ServeHTTP(countingWriter{w, c}, r)
	})
}

// s3Server is versitygw and the proxy in front of it.
type s3Server struct {
	root     string // the posix backend's root: one directory per bucket
	access   string
	secret   string
	endpoint string // versitygw
	proxy    string // what the tools are given
	reqs     *counter
	cmd      *exec.Cmd
	exited   chan error
	srv      *http.Server
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// versitygwBinary finds versitygw on PATH or in ~/go/bin (scripts/deps.sh
// installs it there).
func versitygwBinary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, "go", "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw not found on PATH or in ~/go/bin (scripts/deps.sh installs it)")
}

// startS3 starts versitygw on a free port of 127.0.0.1 with a fresh root
// and random credentials (passed in the environment, never argv), and the
// counting proxy on another.
func (b *bench) startS3() (*s3Server, error) {
	bin, err := versitygwBinary()
	if err != nil {
		return nil, err
	}
	s := &s3Server{root: filepath.Join(b.work, "s3root"), access: "bench" + randHex(8), secret: randHex(20),
		reqs: &counter{n: map[string]int64{}}, exited: make(chan error, 1)}
	if err := os.RemoveAll(s.root); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return nil, err
	}
	if s.endpoint, err = freePort(); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(b.work, "logs", "versitygw.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	s.cmd = exec.Command(bin, "--port", s.endpoint, "--quiet", "posix", s.root)
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.access, "ROOT_SECRET_ACCESS_KEY="+s.secret)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.exited <- s.cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("versitygw exited before it answered (%v); see %s", err, logf.Name())
		default:
		}
		c, err := net.DialTimeout("tcp", s.endpoint, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("versitygw: no answer on %s within 20s: %v", s.endpoint, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port, not synchronising
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.stop()
		return nil, err
	}
	s.proxy = l.Addr().String()
	s.srv = &http.Server{Handler: countingProxy(s.endpoint, s.reqs), ErrorLog: log.New(io.Discard, "", 0)}
	go s.srv.Serve(l)
	return s, nil
}

func (s *s3Server) stop() {
	if s.srv != nil {
		s.srv.Close()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// env is what a tool needs for the server's credentials.
func (s *s3Server) env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.access, "AWS_SECRET_ACCESS_KEY=" + s.secret, "AWS_REGION=us-east-1"}
}

// s3Phase backs up the sql shape's two days to a fresh bucket through the
// proxy and streams day 2 back, like streamPhase on a local repository.
func (s *session) s3Phase() {
	srv := s.b.s3
	if srv == nil {
		s.fail("s3-setup", "no S3 server: "+s.b.s3Broken, "")
		return
	}
	bucket := fmt.Sprintf("bench-%s-%d", strings.ToLower(s.t.name), s.run)
	dir := filepath.Join(srv.root, bucket)
	loc := "s3:http://" + srv.proxy + "/" + bucket
	aux := localAux(s.b.work, loc)
	os.RemoveAll(dir)
	os.RemoveAll(aux)
	if !s.b.keep {
		defer os.RemoveAll(dir)
		defer os.RemoveAll(aux)
	}
	s.streamPhase(streamRun{phase: "s3", shape: s.b.s3Shape, repo: loc,
		size: func() (int64, error) { return duBytes(dir) }, env: srv.env(), reqs: srv.reqs})
}
