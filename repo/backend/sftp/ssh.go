package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pkg/sftp"
)

// EnvCommand names the environment variable that replaces "ssh": a program
// and leading arguments, split at spaces ('single' and "double" quotes keep
// a word with spaces together), as GIT_SSH_COMMAND is. snap appends its own
// options, the user, port and host, and "-s sftp".
const EnvCommand = "SNAP_SSH_COMMAND"

// forced are options placed before the user's: ssh takes the first value
// it sees, so no ssh_config or SNAP_SSH_COMMAND turns them off. BatchMode:
// ssh never asks anything (a passphrase, "accept this host key?"), since a
// nightly job has no one to answer and a prompt would hang it; and ssh
// runs in its own process group (so Ctrl-C reaches snap, which then
// unlocks the repository over the still open connection), where reading
// the terminal would stop it. The rest are what OpenSSH's own sftp client
// sets: an SFTP connection forwards nothing and runs no local command.
var forced = []string{
	"-o", "BatchMode=yes",
	"-o", "ForwardX11=no",
	"-o", "ForwardAgent=no",
	"-o", "ClearAllForwardings=yes",
	"-o", "PermitLocalCommand=no",
}

// defaults come after the user's options, so SNAP_SSH_COMMAND can change
// them (ssh_config cannot: the command line wins over it). They bound how
// long a dead server can hold snap: 30 s to connect, and a connection
// silent for 4 × 15 s is given up.
var defaults = []string{
	"-o", "ConnectTimeout=30",
	"-o", "ServerAliveInterval=15",
	"-o", "ServerAliveCountMax=4",
}

// sshArgs returns the program and arguments that start the SFTP subsystem
// on cfg's server: prog [forced] [user's] [defaults] [-p PORT] -l USER -s
// -- HOST sftp. Nothing secret is in them: keys are files named in
// ssh_config or SNAP_SSH_COMMAND.
func sshArgs(cfg Config) ([]string, error) {
	cmd := cfg.Command
	if len(cmd) == 0 {
		var err error
		if cmd, err = splitCommand(os.Getenv(EnvCommand)); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvCommand, err)
		}
	}
	if len(cmd) == 0 {
		cmd = []string{"ssh"}
	}
	args := append([]string{cmd[0]}, forced...)
	args = append(args, cmd[1:]...)
	args = append(args, defaults...)
	if cfg.Port != 0 {
		args = append(args, "-p", strconv.Itoa(cfg.Port))
	}
	if cfg.User != "" {
		args = append(args, "-l", cfg.User)
	}
	return append(args, "-s", "--", cfg.Host, "sftp"), nil
}

// splitCommand splits s into words at spaces and tabs; a word in single or
// double quotes may hold spaces (no escapes: a quote ends at the next one
// of its kind).
func splitCommand(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c in %q", quote, s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// tail keeps the last bytes ssh wrote to its stderr: what it says when it
// fails (a changed host key, a refused login) is at the end.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 16 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// conn is one ssh process and the SFTP session over its stdin and stdout.
type conn struct {
	client *sftp.Client
	cmd    *exec.Cmd
	stdout *os.File // our end of ssh's stdout
	stderr *tail
	exited chan struct{} // closed once ssh has exited
	lost   chan struct{} // closed once the SFTP session has ended
	once   sync.Once
}

// dial starts ssh and the SFTP session. It gives up when ctx ends, killing
// ssh.
func dial(ctx context.Context, cfg Config) (*conn, error) {
	args, err := sshArgs(cfg)
	if err != nil {
		return nil, err
	}
	// Own pipes, not cmd.StdoutPipe: Wait would close our end while the
	// session may still read the last packets.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	c := &conn{
		cmd:    exec.Command(args[0], args[1:]...),
		stdout: outR,
		stderr: &tail{},
		exited: make(chan struct{}),
		lost:   make(chan struct{}),
	}
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = inR, outW, c.stderr
	// Its own process group: Ctrl-C in the terminal goes to snap, which
	// still needs the connection to remove its lock.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = c.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, &ConnectError{Name: cfg.name(), Target: cfg.target(), Err: err}
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.exited)
	}()

	type result struct {
		client *sftp.Client
		err    error
	}
	started := make(chan result, 1)
	go func() {
		cl, err := sftp.NewClientPipe(outR, inW, sftp.UseConcurrentWrites(true))
		started <- result{cl, err}
	}()
	var r result
	select {
	case r = <-started:
	case <-ctx.Done():
		c.kill()
		<-started // ends: ssh's stdout is closed
		c.close()
		return nil, ctx.Err()
	}
	if r.err != nil {
		// ssh failed (or the server spoke no SFTP): let it finish saying
		// why, then report its words.
		inW.Close()
		c.close()
		return nil, connectError(cfg, c.stderr.String(), c.cmd.ProcessState, r.err)
	}
	c.client = r.client
	go func() {
		_ = c.client.Wait()
		close(c.lost)
	}()
	return c, nil
}

// dead reports whether ssh has exited or the session ended.
func (c *conn) dead() bool {
	select {
	case <-c.exited:
		return true
	case <-c.lost:
		return true
	default:
		return false
	}
}

// kill ends ssh at once. (Not its process group: once ssh is reaped, its
// id may be another process's.)
func (c *conn) kill() {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
	}
}

// closeWait bounds how long a closed connection's ssh may take to exit
// before it is killed.
const closeWait = 2 * time.Second

// close ends the session and ssh: closing its stdin lets it exit on its
// own, and a bounded wait later it is killed. The session's Close waits
// for ssh's stdout to end, so it runs beside the wait.
func (c *conn) close() {
	c.once.Do(func() {
		closed := make(chan struct{})
		go func() {
			if c.client != nil {
				_ = c.client.Close()
			}
			close(closed)
		}()
		t := time.NewTimer(closeWait)
		select {
		case <-c.exited:
		case <-t.C:
			c.kill()
			<-c.exited
		}
		t.Stop()
		<-closed
		c.stdout.Close()
	})
}

// lostErr reports whether err means the connection is gone (ssh died, the
// network dropped), so a new one may succeed where this one failed.
func (c *conn) lostErr(err error) bool {
	return err != nil && (errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrClosedPipe) || c.dead())
}

// ErrHostKey is wrapped by a ConnectError when ssh refused the server's
// host key: it differs from the one in known_hosts, or none is known.
var ErrHostKey = errors.New("ssh refused the server's host key")

// ErrLogin is wrapped by a ConnectError when the server refused the login.
var ErrLogin = errors.New("the server refused the login")

// ConnectError says why ssh could not start an SFTP session, in ssh's own
// words and what to do about it.
type ConnectError struct {
	Name   string // the location
	Target string // USER@HOST[:PORT]
	Reason string // what went wrong and what to do
	Stderr string // what ssh wrote to its stderr (the end of it)
	Err    error  // ErrHostKey, ErrLogin, or what failed
}

func (e *ConnectError) Error() string {
	msg := fmt.Sprintf("%s: ssh to %s: ", e.Name, e.Target)
	if e.Reason != "" {
		msg += e.Reason
	} else {
		msg += e.Err.Error()
	}
	if said := sshSaid(e.Stderr); said != "" {
		msg += " (ssh said: " + said + ")"
	}
	return msg
}

func (e *ConnectError) Unwrap() error { return e.Err }

// boilerplate are the lines of ssh's changed-host-key banner that the
// ConnectError says better; the fingerprint and the offending line stay.
var boilerplate = []string{
	"IT IS POSSIBLE THAT SOMEONE", "Someone could be eavesdropping", "It is also possible that a host key",
	"Please contact your system administrator", "Add correct host key in", "remove with:", "ssh-keygen -f ",
}

// sshSaid is ssh's message on one line, without the banner around a
// changed host key.
func sshSaid(stderr string) string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(printable(l))
		if l == "" || strings.HasPrefix(l, "@") || slices.ContainsFunc(boilerplate, func(b string) bool { return strings.HasPrefix(l, b) }) {
			continue
		}
		if n := len(lines); n > 0 && strings.HasSuffix(lines[n-1], " is") {
			lines[n-1] += " " + l // "...sent by the remote host is" SHA256:...
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, " | ")
}

// printable replaces control characters: a server's banner and its
// subsystem's stderr reach ssh's stderr, and must not drive the terminal
// an error is printed on.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\r' {
			return ' '
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// connectError turns a failed start into an error that names the cause:
// ssh's stderr tells a refused host key and a refused login apart from the
// rest.
func connectError(cfg Config, stderr string, st *os.ProcessState, err error) error {
	e := &ConnectError{Name: cfg.name(), Target: cfg.target(), Stderr: stderr, Err: err}
	// sftp, not ssh: it works on accounts that allow nothing else.
	byHand := "sftp " + cfg.User + "@" + cfg.Host
	if cfg.Port != 0 {
		byHand = "sftp -P " + strconv.Itoa(cfg.Port) + " " + cfg.User + "@" + cfg.Host
	}
	known := cfg.Host
	if cfg.Port != 0 && cfg.Port != 22 {
		known = "[" + cfg.Host + "]:" + strconv.Itoa(cfg.Port)
	}
	switch {
	case strings.Contains(stderr, "REMOTE HOST IDENTIFICATION HAS CHANGED") || strings.Contains(stderr, "has changed and you have requested strict checking"):
		e.Err = ErrHostKey
		e.Reason = fmt.Sprintf("the host key of %s differs from the one in known_hosts, so ssh refused to connect: "+
			"the server was reinstalled, or someone is in between. Check the new key's fingerprint with the server's administrator; "+
			"if it is right, remove the old key with 'ssh-keygen -R \"%s\"' and connect once by hand ('%s') to accept the new one", known, known, byHand)
	case strings.Contains(stderr, "Host key verification failed") || strings.Contains(stderr, "host key is known for"):
		e.Err = ErrHostKey
		e.Reason = fmt.Sprintf("the host key of %s is not in known_hosts, and snap never asks: "+
			"connect once by hand ('%s'), check the fingerprint ssh shows, and accept it", known, byHand)
	case strings.Contains(stderr, "Permission denied"):
		e.Err = ErrLogin
		e.Reason = fmt.Sprintf("the server refused the login as %s: put your public key in the server's authorized_keys (ssh-copy-id), "+
			"or name the key in ~/.ssh/config (IdentityFile); snap runs ssh in batch mode, so a key with a passphrase needs ssh-agent", cfg.User)
	case strings.Contains(stderr, "Connection refused"):
		e.Reason = "nothing answers on that port: is sshd running there, and is the port right?"
	case strings.Contains(stderr, "Could not resolve hostname"):
		e.Reason = "the host name does not resolve"
	case strings.Contains(stderr, "timed out"):
		e.Reason = "no answer in time (a firewall, a wrong address, the server down?)"
	case strings.Contains(stderr, "subsystem request failed"):
		e.Reason = "the server has no SFTP subsystem (sshd_config: Subsystem sftp internal-sftp)"
	case st != nil && st.Exited():
		e.Reason = fmt.Sprintf("ssh exited with status %d before the SFTP session started", st.ExitCode())
	default:
		e.Reason = fmt.Sprintf("no SFTP session: %v", err)
	}
	return e
}
