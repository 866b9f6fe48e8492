package sftp

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pkg/sftp"
)

// Which failures pass. A connection that was lost (ssh died, the network
// dropped, the server restarted, snap ended a stalled one) and a connect
// that found the server down or silent are transient: their errors say so
// through Transient() true, and package retry, which owns the retrying for
// every remote store, tries again; the next call here starts a new ssh.
// What asking again cannot change is permanent: a refused host key or
// login, no SFTP subsystem, a missing file, a refused permission, a full
// disk, an error nobody recognised.

// LostError is a call that failed because its connection was lost. The
// connection is forgotten: the next call starts a new ssh.
type LostError struct {
	Name    string        // the location
	Op      string        // what was asked: "write data/ab/…", "list index"
	Said    string        // what ssh said as it ended, on one line
	Stalled time.Duration // >0: snap ended the connection after no answer for this long
	Err     error         // how the call failed
}

func (e *LostError) Error() string {
	msg := fmt.Sprintf("%s: %s: ", e.Name, e.Op)
	if e.Stalled > 0 {
		msg += fmt.Sprintf("no answer from the server for %s, so snap ended the connection", e.Stalled)
	} else if errors.Is(e.Err, sftp.ErrSSHFxConnectionLost) || errors.Is(e.Err, syscall.EPIPE) {
		// Their own words ("connection lost", "write |1: broken pipe")
		// add nothing; ssh's, after them, may.
		msg += "the connection was lost"
	} else {
		msg += fmt.Sprintf("the connection was lost: %v", e.Err)
	}
	if e.Said != "" {
		msg += " (ssh said: " + e.Said + ")"
	}
	return msg
}

func (e *LostError) Unwrap() error { return e.Err }

// Transient reports true: a new connection may succeed.
func (e *LostError) Transient() bool { return true }

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

	transient bool
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

// Transient reports whether connecting again may work: the server did not
// answer (refused, timed out, reset, unreachable: down or restarting), not
// that it refused snap.
func (e *ConnectError) Transient() bool { return e.transient }

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
// rest. stalled > 0: snap ended ssh after no answer for that long.
func connectError(cfg Config, stderr string, st *os.ProcessState, stalled time.Duration, err error) error {
	e := &ConnectError{Name: cfg.name(), Target: cfg.target(), Stderr: stderr, Err: err}
	// sftp, not ssh: it works on accounts that allow nothing else.
	host := cfg.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 literal: sftp reads a bare colon as a path
	}
	byHand := "sftp " + cfg.User + "@" + host
	if cfg.Port != 0 {
		byHand = "sftp -P " + strconv.Itoa(cfg.Port) + " " + cfg.User + "@" + host
	}
	known := cfg.Host
	if cfg.Port != 0 && cfg.Port != 22 {
		known = "[" + cfg.Host + "]:" + strconv.Itoa(cfg.Port)
	}
	has := func(s ...string) bool {
		return slices.ContainsFunc(s, func(s string) bool { return strings.Contains(stderr, s) })
	}
	switch {
	case has("REMOTE HOST IDENTIFICATION HAS CHANGED", "has changed and you have requested strict checking"):
		e.Err = ErrHostKey
		e.Reason = fmt.Sprintf("the host key of %s differs from the one in known_hosts, so ssh refused to connect: "+
			"the server was reinstalled, or someone is in between. Check the new key's fingerprint with the server's administrator; "+
			"if it is right, remove the old key with 'ssh-keygen -R \"%s\"' and connect once by hand ('%s') to accept the new one", known, known, byHand)
	case has("Host key verification failed", "host key is known for"):
		e.Err = ErrHostKey
		e.Reason = fmt.Sprintf("the host key of %s is not in known_hosts, and snap never asks: "+
			"connect once by hand ('%s'), check the fingerprint ssh shows, and accept it", known, byHand)
	case has("Permission denied"):
		e.Err = ErrLogin
		e.Reason = fmt.Sprintf("the server refused the login as %s: put your public key in the server's authorized_keys (ssh-copy-id), "+
			"or name the key in ~/.ssh/config (IdentityFile); snap runs ssh in batch mode, so a key with a passphrase needs ssh-agent", cfg.User)
	case has("subsystem request failed"):
		e.Reason = "the server has no SFTP subsystem (sshd_config: Subsystem sftp internal-sftp)"
	case has("Connection refused"):
		e.Reason = "nothing answers on that port: is sshd running there, and is the port right?"
		e.transient = true
	case has("Could not resolve hostname"):
		e.Reason = "the host name does not resolve"
		e.transient = has("Temporary failure in name resolution")
	case has("timed out", "Timeout, server"):
		e.Reason = "no answer in time (a firewall, a wrong address, the server down?)"
		e.transient = true
	case has("Connection reset", "Connection closed by", "closed by remote host", "Broken pipe",
		"Network is unreachable", "No route to host"):
		e.Reason = "the connection broke before the SFTP session started"
		e.transient = true
	case stalled > 0:
		e.Reason = fmt.Sprintf("no SFTP session after %s without an answer, so snap ended ssh", stalled)
		e.transient = true
	case st != nil && st.Exited():
		e.Reason = fmt.Sprintf("ssh exited with status %d before the SFTP session started", st.ExitCode())
	case st != nil:
		// Killed by a signal, not by its own failure.
		e.Reason = fmt.Sprintf("ssh ended before the SFTP session started (%v)", st)
		e.transient = true
	default:
		e.Reason = fmt.Sprintf("no SFTP session: %v", err)
	}
	return e
}
