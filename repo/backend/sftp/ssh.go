package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
// long a dead server can hold snap by the timeout: to connect (TCP, the
// handshake and key exchange), and how long a silent server is borne
// (ServerAliveCountMax keepalives of ServerAliveInterval unanswered).
func defaults(timeout time.Duration) []string {
	secs := max(1, int((timeout+time.Second-1)/time.Second))
	count := min(4, secs)
	return []string{
		"-o", "ConnectTimeout=" + strconv.Itoa(secs),
		"-o", "ServerAliveInterval=" + strconv.Itoa(secs/count),
		"-o", "ServerAliveCountMax=" + strconv.Itoa(count),
	}
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
	args = append(args, defaults(cfg.timeout())...)
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

	watch   watch
	stalled atomic.Int64 // the stall bound, once it ended ssh
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
		watch:  watch{now: cfg.now()},
	}
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = inR, outW, c.stderr
	c.cmd.Env = sshEnv(os.Environ())
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
	go c.guard(cfg.timeout())

	type result struct {
		client *sftp.Client
		err    error
	}
	started := make(chan result, 1)
	go func() {
		cl, err := sftp.NewClientPipe(&watchedReader{r: outR, wt: &c.watch}, &watchedWriter{w: inW, wt: &c.watch}, sftp.UseConcurrentWrites(true))
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
		return nil, connectError(cfg, c.stderr.String(), c.cmd.ProcessState, c.stalledFor(), r.err)
	}
	c.client = r.client
	go func() {
		_ = c.client.Wait()
		close(c.lost)
	}()
	return c, nil
}

// guard ends ssh when answers are awaited and nothing moved for timeout
// (watch.go); it returns once ssh has exited.
func (c *conn) guard(timeout time.Duration) {
	t := time.NewTicker(max(timeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.exited:
			return
		case <-t.C:
			if c.watch.stalled(c.watch.now(), timeout) {
				c.stalled.Store(int64(timeout))
				c.kill()
				return
			}
		}
	}
}

// stalledFor is the stall bound when it ended ssh, else 0.
func (c *conn) stalledFor() time.Duration { return time.Duration(c.stalled.Load()) }

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
// network dropped, the stall bound ended it), so a new one may succeed
// where this one failed. An answer of the server is never that, even if
// the connection died after it came.
func (c *conn) lostErr(err error) bool {
	if err == nil {
		return false
	}
	var se *sftp.StatusError
	if errors.As(err, &se) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return false
	}
	return errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrClosedPipe) || c.dead()
}

// lostError is err, a lost connection's, as the call what on location
// name reports it, with what ssh said as it ended ("Timeout, server not
// responding", "Connection reset").
func (c *conn) lostError(name, what string, err error) *LostError {
	return &LostError{Name: name, Op: what, Said: sshSaid(c.stderr.String()), Stalled: c.stalledFor(), Err: err}
}
