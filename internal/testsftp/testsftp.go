// Package testsftp starts a real SFTP server for tests: Debian's OpenSSH
// sshd on 127.0.0.1 and a free port, with its own sshd_config, a
// throwaway host key and user key (ssh-keygen) in a temporary directory,
// and the internal-sftp subsystem; killed, with every session process,
// when the test ends. The client side is an ssh_config of its own, passed
// as SNAP_SSH_COMMAND="ssh -F FILE", so the user's ~/.ssh is never read.
// scripts/deps.sh installs openssh-server. In CI (CI=true) a missing sshd
// fails the test; elsewhere the test is skipped and says why.
package testsftp

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"snap/internal/testreq"
)

// Server is a running sshd.
type Server struct {
	Host string // 127.0.0.1
	Port int
	User string // the user running the tests, who logs in
	// Dir holds the keys and configs; Root is an empty directory for
	// repositories.
	Dir, Root string
	// SSHConfig is the client's ssh_config: the user key, known_hosts with
	// the server's key, strict host key checking.
	SSHConfig  string
	KnownHosts string

	sshd   string
	config string
	t      testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

// Command is SNAP_SSH_COMMAND for this server.
func (s *Server) Command() string { return "ssh -F " + s.SSHConfig }

// SetEnv sets SNAP_SSH_COMMAND for the test's duration.
func (s *Server) SetEnv(t testing.TB) { t.Setenv("SNAP_SSH_COMMAND", s.Command()) }

// URL returns the sftp: location of an absolute path on the server.
func (s *Server) URL(path string) string {
	return fmt.Sprintf("sftp:%s@%s:%d%s", s.User, s.Host, s.Port, path)
}

// KnownHostsName is how known_hosts names the server: [HOST]:PORT.
func (s *Server) KnownHostsName() string { return fmt.Sprintf("[%s]:%d", s.Host, s.Port) }

// Start starts a server that lives until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		testreq.Missing(t, "SFTP tests need a real server: %s is not installed (apt-get install openssh-server)", sshd)
	}
	testreq.Tool(t, "ssh", "openssh-client")
	keygen := testreq.Tool(t, "ssh-keygen", "openssh-client")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		// sshd running as root insists on its privilege separation
		// folder (the openssh-server package makes it at boot).
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Host: "127.0.0.1", User: u.Username, Dir: t.TempDir(), Root: t.TempDir(), sshd: sshd, t: t}
	hostKey := filepath.Join(s.Dir, "host_ed25519")
	userKey := filepath.Join(s.Dir, "user_ed25519")
	for _, k := range []string{hostKey, userKey} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "snap-test", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(userKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(s.Dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	s.KnownHosts = filepath.Join(s.Dir, "known_hosts")
	s.SSHConfig = filepath.Join(s.Dir, "ssh_config")
	writeFile(t, s.SSHConfig, fmt.Sprintf(`Host *
	IdentityFile %s
	IdentitiesOnly yes
	IdentityAgent none
	UserKnownHostsFile %s
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	UpdateHostKeys no
	PasswordAuthentication no
	KbdInteractiveAuthentication no
`, userKey, s.KnownHosts))
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}

	// A few tries: the free port found may be taken before sshd binds it.
	for attempt := 0; ; attempt++ {
		s.Port = testreq.FreePort(t)
		s.config = filepath.Join(s.Dir, "sshd_config")
		writeFile(t, s.config, fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile %s
AllowUsers %s
Subsystem sftp internal-sftp
LogLevel INFO
`, s.Port, s.Host, hostKey, authorized, s.User))
		writeFile(t, s.KnownHosts, s.KnownHostsName()+" "+string(hostPub))
		err := s.start()
		if err == nil {
			t.Cleanup(s.Kill)
			return s
		}
		if attempt == 2 {
			t.Fatalf("sshd: %v", err)
		}
		t.Logf("sshd on port %d: %v; trying another port", s.Port, err)
	}
}

// start runs sshd and waits until it says it listens (or exits).
func (s *Server) start() error {
	cmd := exec.Command(s.sshd, "-D", "-e", "-f", s.config)
	// Its own process group, so Kill ends the session processes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Our own pipe: session processes inherit it, and Kill must not wait
	// for the last of them to close it.
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stderr = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return err
	}
	listening := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer r.Close()
		sc := bufio.NewScanner(r)
		said := false
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if !said && strings.Contains(sc.Text(), "Server listening on") {
				said = true
				close(listening)
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case <-listening:
		s.mu.Lock()
		s.cmd, s.done = cmd, done
		s.mu.Unlock()
		return nil
	case <-done:
		<-scanned
		return fmt.Errorf("exited before it listened: %s", s.Log())
	case <-t.C:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("not listening within 20s: %s", s.Log())
	}
}

// Log is what sshd wrote so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Kill ends sshd and every session it started (kill -9), as a crash or a
// power cut would; Restart brings it back on the same port.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	// sshd first, so it starts no new session meanwhile.
	below := descendants(cmd.Process.Pid)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	for _, p := range below {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	<-done
}

// Restart starts sshd again after Kill, on the same port and keys.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		t.Fatalf("sshd restart: %v", err)
	}
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// descendants lists the processes below pid: sshd's per-connection
// processes start sessions of their own (setsid), so killing sshd's
// process group leaves them running.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

// Wrapper is a program that stands in for ssh (as SNAP_SSH_COMMAND or
// sftp.Config.Command names it): each run records its process id and its
// environment, then execs what it wraps, keeping the id. Tests kill or stop
// that process, and read what environment ssh was given.
type Wrapper struct {
	Path    string // the program
	Command string // SNAP_SSH_COMMAND: Path and its options
	dir     string
}

// Wrapper wraps the real ssh, with s's client config.
func (s *Server) Wrapper(t testing.TB) *Wrapper {
	t.Helper()
	w := newWrapper(t, `exec ssh "$@"`)
	w.Command = w.Path + " -F " + s.SSHConfig
	return w
}

// SetEnv sets SNAP_SSH_COMMAND to w for the test's duration.
func (w *Wrapper) SetEnv(t testing.TB) { t.Setenv("SNAP_SSH_COMMAND", w.Command) }

// LocalServer stands in for ssh and the server at once: it ignores ssh's
// arguments and runs OpenSSH's sftp-server on this machine, as the user
// running the tests. Its process is the SFTP server itself, so stopping
// it (SIGSTOP) is a server that hangs while the connection stays up.
func LocalServer(t testing.TB) *Wrapper {
	t.Helper()
	const server = "/usr/lib/openssh/sftp-server"
	if _, err := os.Stat(server); err != nil {
		testreq.Missing(t, "%s is not installed (apt-get install openssh-server)", server)
	}
	return newWrapper(t, "exec "+server)
}

func newWrapper(t testing.TB, run string) *Wrapper {
	t.Helper()
	w := &Wrapper{dir: t.TempDir()}
	w.Path = filepath.Join(w.dir, "ssh-wrapper")
	w.Command = w.Path
	// Written to a temporary name and renamed: a reader never sees half.
	script := fmt.Sprintf("#!/bin/sh\nd='%s'\necho $$ > \"$d/pid.tmp\" && mv \"$d/pid.tmp\" \"$d/pid\"\n"+
		"cat /proc/$$/environ > \"$d/env.tmp\" && mv \"$d/env.tmp\" \"$d/env\"\n%s\n", w.dir, run)
	if err := os.WriteFile(w.Path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

// Pid is the process id of the last run (ssh's once it execs).
func (w *Wrapper) Pid(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, "pid"))
	if err != nil {
		t.Fatalf("the ssh wrapper never ran: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// Env is the environment of the last run, KEY=VALUE entries.
func (w *Wrapper) Env(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, "env"))
	if err != nil {
		t.Fatalf("the ssh wrapper never ran: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}
