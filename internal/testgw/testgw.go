// Package testgw starts a real S3 server for tests: versitygw with its
// posix backend on 127.0.0.1, a free port and a temporary root, killed when
// the test ends. scripts/deps.sh installs the binary. In CI (CI=true) a
// missing binary fails the test; elsewhere the test is skipped and says
// why.
package testgw

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"snap/internal/testreq"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is a running versitygw. Kill and Restart stop it as a crash
// would and bring it back on the same port and root.
type Server struct {
	Endpoint string // 127.0.0.1:PORT
	Access   string
	Secret   string
	Root     string // the posix root: one folder per bucket
	TLS      bool   // https (StartWith with Options.CertFile)
	// Versions is the folder of earlier object versions (StartWith with
	// Options.Versioning), "" otherwise.
	Versions string

	args []string // extra global flags (StartWith)
	t    testing.TB
	bin  string
	mu   sync.Mutex
	proc *proc // nil while killed
}

// proc is one run of the server.
type proc struct {
	cmd    *exec.Cmd
	exited chan error
	logf   *os.File
}

// Options change how StartWith starts the server.
type Options struct {
	CertFile, KeyFile string // serve https with this certificate
	VirtualDomain     string // also accept virtual-host style BUCKET.DOMAIN
	// Versioning gives the posix backend a versioning directory, which it
	// needs for bucket versioning and Object Lock (a bucket made with
	// Object Lock is versioned).
	Versioning bool
}

// URL returns the s3: location of bucket/prefix on the server.
func (s *Server) URL(bucketPrefix string) string {
	scheme := "http"
	if s.TLS {
		scheme = "https"
	}
	return "s3:" + scheme + "://" + s.Endpoint + "/" + bucketPrefix
}

// Env is the environment a client needs for the server's credentials.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     s.Access,
		"AWS_SECRET_ACCESS_KEY": s.Secret,
		"AWS_REGION":            "us-east-1",
	}
}

// SetEnv sets Env in this process for the test's duration.
func (s *Server) SetEnv(t testing.TB) {
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
}

// Binary finds versitygw on PATH or in ~/go/bin.
func Binary() (string, error) {
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

// Start starts a server that lives until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts a server with o's changes.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		testreq.Missing(t, "S3 tests need a real server: %v", err)
	}
	s := &Server{Access: "snap" + randHex(8), Secret: randHex(20), Root: t.TempDir(), t: t, bin: bin}
	t.Cleanup(s.Kill)
	if o.CertFile != "" {
		s.TLS = true
		s.args = append(s.args, "--cert", o.CertFile, "--key", o.KeyFile)
	}
	if o.VirtualDomain != "" {
		s.args = append(s.args, "--virtual-domain", o.VirtualDomain)
	}
	if o.Versioning {
		s.Versions = t.TempDir()
	}
	// A few tries: the free port found may be taken before versitygw binds it.
	for attempt := 0; ; attempt++ {
		port := testreq.FreePort(t)
		s.Endpoint = "127.0.0.1:" + strconv.Itoa(port)
		err := s.run()
		if err == nil {
			return s
		}
		if attempt == 2 {
			t.Fatalf("versitygw: %v", err)
		}
		t.Logf("versitygw on %s: %v; trying another port", s.Endpoint, err)
	}
}

// Kill kills the server with SIGKILL and waits until it is gone: what it
// had not finished is cut off, as in a crash. Killing a dead server does
// nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.cmd.Process.Kill()
	<-s.proc.exited
	s.proc.logf.Close()
	s.proc = nil
}

// Restart starts a killed server again on the same port, root and
// credentials. It may be called from any goroutine (a proxy's hook).
func (s *Server) Restart() error {
	return s.run()
}

// run starts the server and waits (bounded) until it accepts connections.
func (s *Server) run() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return fmt.Errorf("versitygw on %s is running already", s.Endpoint)
	}
	logf, err := os.CreateTemp(s.t.TempDir(), "versitygw-*.log")
	if err != nil {
		return err
	}
	args := append([]string{"--port", s.Endpoint, "--quiet"}, s.args...)
	args = append(args, "posix")
	if s.Versions != "" {
		args = append(args, "--versioning-dir", s.Versions)
	}
	cmd := exec.Command(s.bin, append(args, s.Root)...)
	// Credentials through the environment, not argv.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.Access, "ROOT_SECRET_ACCESS_KEY="+s.Secret)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	p := &proc{cmd: cmd, exited: make(chan error, 1), logf: logf}
	go func() { p.exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-p.exited:
			logf.Close()
			out, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("exited before it answered (%v): %s", err, out)
		default:
		}
		c, err := net.DialTimeout("tcp", s.Endpoint, time.Second)
		if err == nil {
			c.Close()
			s.proc = p
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-p.exited
			logf.Close()
			return fmt.Errorf("no answer on %s within 20s: %v", s.Endpoint, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port, not synchronising
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Bucket returns a fresh bucket name (not created).
func Bucket() string { return "snap-" + randHex(6) }
