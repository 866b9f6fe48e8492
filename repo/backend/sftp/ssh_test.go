package sftp

import (
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"snap/internal/testreq"
)

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                 nil,
		"  ":                               nil,
		"ssh":                              {"ssh"},
		" ssh  -F /etc/x\t-i k ":           {"ssh", "-F", "/etc/x", "-i", "k"},
		`ssh -F "/my dir/cfg" -o 'A=b c'`:  {"ssh", "-F", "/my dir/cfg", "-o", "A=b c"},
		`ssh -o "ProxyCommand=nc '%h' %p"`: {"ssh", "-o", "ProxyCommand=nc '%h' %p"},
		`a""b ''`:                          {"ab", ""},
	} {
		got, err := splitCommand(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`ssh "x`, `ssh 'x" y`} {
		if got, err := splitCommand(in); err == nil {
			t.Errorf("splitCommand(%q) = %q, want an error", in, got)
		}
	}
}

// TestSSHArgs asks ssh itself (ssh -G prints the options it would use)
// that the forced options win over the user's and the defaults lose to
// them.
func TestSSHArgs(t *testing.T) {
	ssh := testreq.Tool(t, "ssh", "openssh-client")
	t.Setenv(EnvCommand, "ssh -F /dev/null -o BatchMode=no -o ServerAliveInterval=99")
	args, err := sshArgs(Config{User: "backup", Host: "storage.example", Port: 2222, Path: "/srv"})
	if err != nil {
		t.Fatal(err)
	}
	tail := []string{"-p", "2222", "-l", "backup", "-s", "--", "storage.example", "sftp"}
	if args[0] != "ssh" || !slices.Equal(args[len(args)-len(tail):], tail) {
		t.Fatalf("args %q", args)
	}
	// The same options, printed instead of connecting.
	g := append(slices.Clone(args[1:len(args)-4]), "-G", "storage.example")
	out, err := exec.Command(ssh, g...).Output()
	if err != nil {
		t.Fatalf("ssh -G: %v", err)
	}
	for _, want := range []string{"batchmode yes", "serveraliveinterval 99", "serveralivecountmax 4", "forwardagent no",
		"clearallforwardings yes", "port 2222", "user backup", "connecttimeout 120"} {
		if !slices.Contains(strings.Split(string(out), "\n"), want) {
			t.Errorf("ssh -G lacks %q", want)
		}
	}

	t.Setenv(EnvCommand, `ssh "unclosed`)
	if _, err := sshArgs(Config{User: "u", Host: "h", Path: "/p"}); err == nil || !strings.Contains(err.Error(), EnvCommand) {
		t.Fatalf("bad %s: %v", EnvCommand, err)
	}
	t.Setenv(EnvCommand, "")
	args, err = sshArgs(Config{User: "u", Host: "h", Path: "/p", Command: []string{"/usr/bin/ssh", "-v"}})
	if err != nil || args[0] != "/usr/bin/ssh" || !slices.Contains(args, "-v") || slices.Contains(args, "-p") {
		t.Fatalf("Config.Command: %q %v", args, err)
	}
}

// FuzzSSHSaid: whatever ssh (or the server through it) writes to stderr,
// the line an error shows has no control characters.
func FuzzSSHSaid(f *testing.F) {
	f.Add("Host key verification failed.\r\n")
	f.Add("@@@@\nThe fingerprint for the ED25519 key sent by the remote host is\nSHA256:x.\n")
	f.Add("\x1b]0;owned\x07banner\xff\n")
	f.Fuzz(func(t *testing.T, stderr string) {
		got := sshSaid(stderr)
		for _, r := range got {
			if unicode.IsControl(r) || r == utf8.RuneError {
				t.Fatalf("sshSaid(%q) = %q holds %U", stderr, got, r)
			}
		}
	})
}

func TestSSHEnv(t *testing.T) {
	in := []string{"HOME=/root", "PATH=/usr/bin", "SSH_AUTH_SOCK=/a", "SNAP_PASSWORD=x", "SNAP_NEW_PASSWORD=y",
		"SNAP_PASSWORD_FILE=/k", "AWS_SECRET_ACCESS_KEY=s", "AWS_SESSION_TOKEN=t", "AWS_ACCESS_KEY_ID=i", "AWS_PROFILE=p",
		"Db_Passwd=z", "APP_SECRET=q", "NPM_TOKEN=n", "KRB5CCNAME=/tmp/krb", "SNAP_KEY_FILE=/key", "EMPTY=", "ODD"}
	want := []string{"HOME=/root", "PATH=/usr/bin", "SSH_AUTH_SOCK=/a", "AWS_PROFILE=p", "KRB5CCNAME=/tmp/krb", "SNAP_KEY_FILE=/key", "EMPTY=", "ODD"}
	if got := sshEnv(in); !slices.Equal(got, want) {
		t.Fatalf("sshEnv = %q, want %q", got, want)
	}
}

// TestConnectErrorVerdict: a connect that did not reach an answering
// server may work later; one the server refused will not.
func TestConnectErrorVerdict(t *testing.T) {
	cfg := Config{User: "u", Host: "box.example", Port: 23, Path: "/p"}
	for stderr, transient := range map[string]bool{
		"ssh: connect to host box.example port 23: Connection refused":                      true,
		"ssh: connect to host box.example port 23: Connection timed out":                    true,
		"kex_exchange_identification: Connection closed by remote host":                     true,
		"kex_exchange_identification: read: Connection reset by peer":                       true,
		"ssh: connect to host box.example port 23: No route to host":                        true,
		"ssh: Could not resolve hostname box.example: Temporary failure in name resolution": true,
		"ssh: Could not resolve hostname box.example: Name or service not known":            false,
		"Host key verification failed.":                                                     false,
		"u@box.example: Permission denied (publickey).":                                     false,
		"subsystem request failed on channel 0":                                             false,
		"something nobody foresaw":                                                          false,
	} {
		err := connectError(cfg, stderr, nil, 0, io.EOF)
		if got := err.(*ConnectError).Transient(); got != transient {
			t.Errorf("%q: transient %v, want %v (%v)", stderr, got, transient, err)
		}
	}
	if err := connectError(cfg, "", nil, time.Minute, io.EOF); !err.(*ConnectError).Transient() || !strings.Contains(err.Error(), "1m0s") {
		t.Errorf("stalled connect: %v", err)
	}
}
