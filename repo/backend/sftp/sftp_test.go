package sftp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"snap/internal/testreq"
	"snap/internal/testsftp"
	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/retry"
	"snap/repo/backend/sftp"
)

func open(t testing.TB, srv *testsftp.Server, dir string, create bool) *sftp.SFTP {
	t.Helper()
	be, err := sftp.Open(context.Background(), sftp.Config{
		User: srv.User, Host: srv.Host, Port: srv.Port, Path: dir,
		Command: []string{"ssh", "-F", srv.SSHConfig},
	}, create)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

// TestSuite runs the shared suite against a real OpenSSH server: a fresh
// directory, two levels below an existing one, for each subtest.
func TestSuite(t *testing.T) {
	srv := testsftp.Start(t)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return open(t, srv, filepath.Join(t.TempDir(), "a", "repo"), true)
	})
}

// TestLayout: the files are where the local backend puts them, so a
// directory copied off the server opens as a local repository.
func TestLayout(t *testing.T) {
	srv := testsftp.Start(t)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "repo")
	be := open(t, srv, root, true)
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created root: %v %v", fi, err)
	}
	pack := strings.Repeat("ab", 32)
	for _, h := range []backend.Handle{
		{Type: backend.ConfigFile}, {Type: backend.PackFile, Name: pack}, {Type: backend.KeyFile, Name: "k1"},
		{Type: backend.IndexFile, Name: "i1"}, {Type: backend.SnapshotFile, Name: "s1"}, {Type: backend.LockFile, Name: "l1"},
		{Type: backend.DamagedFile, Name: "d1"},
	} {
		if err := be.Save(ctx, h, backend.NewByteReader([]byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"config", "data/ab/" + pack, "keys/k1", "index/i1", "snapshots/s1", "locks/l1", "damaged/d1"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	// No temporary file is left behind, and one of another writer is
	// never listed.
	if err := os.WriteFile(filepath.Join(root, "keys", ".tmp-0123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := be.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error { listed = append(listed, fi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != "k1" {
		t.Fatalf("keys listed: %v", listed)
	}
	if err := os.Remove(filepath.Join(root, "keys", ".tmp-0123")); err != nil {
		t.Fatal(err)
	}
	noTemp(t, root)
}

// TestOpenWithoutCreate: a path that does not exist is not made by
// opening it, nor by a Save into it.
func TestOpenWithoutCreate(t *testing.T) {
	srv := testsftp.Start(t)
	root := filepath.Join(t.TempDir(), "missing")
	be := open(t, srv, root, false)
	if _, err := be.Stat(context.Background(), backend.Handle{Type: backend.ConfigFile}); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("stat config of a missing repository: %v", err)
	}
	err := be.Save(context.Background(), backend.Handle{Type: backend.KeyFile, Name: "k"}, backend.NewByteReader([]byte("x")))
	if err == nil || errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("save into a missing repository: %v", err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the repository directory was made: %v", err)
	}

	// Create in an existing folder (a home directory) keeps its mode.
	existing := t.TempDir()
	if err := os.Chmod(existing, 0o751); err != nil {
		t.Fatal(err)
	}
	open(t, srv, existing, true)
	if fi, err := os.Stat(existing); err != nil || fi.Mode().Perm() != 0o751 {
		t.Fatalf("create changed an existing folder's mode: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(existing, "keys")); err != nil {
		t.Fatalf("create made no keys folder: %v", err)
	}
}

// TestHostKeyMismatch: a server whose key differs from known_hosts is
// refused, with an error that names the host and says what to do, in
// ssh's words too.
func TestHostKeyMismatch(t *testing.T) {
	srv := testsftp.Start(t)
	other := testsftp.Start(t) // another host key
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	theirs, err := os.ReadFile(other.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	// The other server's key under this server's name.
	line := srv.KnownHostsName() + " " + strings.SplitN(string(theirs), " ", 2)[1]
	if err := os.WriteFile(wrong, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := sftp.Config{
		User: srv.User, Host: srv.Host, Port: srv.Port, Path: t.TempDir(),
		Command: []string{"ssh", "-F", srv.SSHConfig, "-o", "UserKnownHostsFile=" + wrong},
		Name:    srv.URL("/srv/repo"),
	}
	_, err = sftp.Open(context.Background(), cfg, false)
	var ce *sftp.ConnectError
	if !errors.Is(err, sftp.ErrHostKey) || !errors.As(err, &ce) {
		t.Fatalf("open with a wrong host key: %v, want ErrHostKey", err)
	}
	if retry.Transient(err) {
		t.Error("a refused host key is retried")
	}
	msg := err.Error()
	for _, want := range []string{cfg.Name, srv.KnownHostsName(), "differs from the one in known_hosts", "ssh-keygen -R", "Host key verification failed", wrong} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	t.Logf("changed key: %v", err)

	// No key known at all: refused too (ssh never asks).
	empty := filepath.Join(t.TempDir(), "empty")
	cfg.Command = []string{"ssh", "-F", srv.SSHConfig, "-o", "UserKnownHostsFile=" + empty, "-o", "StrictHostKeyChecking=ask"}
	_, err = sftp.Open(context.Background(), cfg, false)
	if !errors.Is(err, sftp.ErrHostKey) || !strings.Contains(err.Error(), "not in known_hosts") {
		t.Fatalf("open with no known host key: %v", err)
	}
	if retry.Transient(err) {
		t.Error("an unknown host key is retried")
	}
	if _, serr := os.Stat(empty); serr == nil {
		t.Fatal("ssh added the unknown key to known_hosts")
	}
	t.Logf("unknown key: %v", err)
}

// TestLoginRefused: a key the server does not know is a login error, not
// a host key error.
func TestLoginRefused(t *testing.T) {
	srv := testsftp.Start(t)
	other := testsftp.Start(t)
	// The other server's client config (its user key), with this
	// server's known_hosts.
	cfg := sftp.Config{
		User: srv.User, Host: srv.Host, Port: srv.Port, Path: t.TempDir(),
		Command: []string{"ssh", "-F", other.SSHConfig, "-o", "UserKnownHostsFile=" + srv.KnownHosts},
	}
	_, err := sftp.Open(context.Background(), cfg, false)
	if !errors.Is(err, sftp.ErrLogin) || errors.Is(err, sftp.ErrHostKey) || !strings.Contains(err.Error(), "Permission denied") || retry.Transient(err) {
		t.Fatalf("open with an unknown user key: %v", err)
	}
	t.Logf("login refused: %v", err)
}

// TestReconnect: a lost connection fails the calls that met it with a
// transient error (retrying is package retry's job, not the backend's),
// and the next call runs on a new ssh: after ssh died between calls, in
// the middle of a Save (whose temporary file the next connection removes)
// and under an open reader.
func TestReconnect(t *testing.T) {
	srv := testsftp.Start(t)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "repo")
	be := open(t, srv, root, true)
	h := backend.Handle{Type: backend.SnapshotFile, Name: "s1"}
	if err := be.Save(ctx, h, backend.NewByteReader([]byte("before"))); err != nil {
		t.Fatal(err)
	}
	pid := be.KillSSH()
	if fi, err := be.Stat(ctx, h); err != nil || fi.Size != 6 {
		t.Fatalf("stat after ssh died: %+v %v", fi, err)
	}
	if be.SSHPid() == pid || be.SSHPid() == 0 {
		t.Fatalf("no new ssh: pid %d, was %d", be.SSHPid(), pid)
	}

	// Killed while a Save is sending: the Save fails, transient; the
	// same Save again (as the retry wrapper does) works on a new ssh.
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	rd := &killingReader{ByteReader: backend.NewByteReader(data), at: 1 << 20, kill: func() {
		if err := syscall.Kill(be.SSHPid(), syscall.SIGKILL); err != nil {
			t.Error(err)
		}
	}}
	big := backend.Handle{Type: backend.PackFile, Name: "cd" + strings.Repeat("0", 62)}
	pid = be.SSHPid()
	err := be.Save(ctx, big, rd)
	lostErr(t, "save while ssh died", err)
	if !rd.killed {
		t.Fatal("the reader never killed ssh")
	}
	if err := rd.Rewind(); err != nil {
		t.Fatal(err)
	}
	if err := be.Save(ctx, big, rd); err != nil {
		t.Fatalf("save after ssh died: %v", err)
	}
	if be.SSHPid() == pid {
		t.Fatal("the save after ssh died ran on the dead one")
	}
	got, err := readAll(be, big)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after a save that reconnected: %d bytes (%v), want %d", len(got), err, len(data))
	}

	// Killed while a reader is open: that read fails, transient; the
	// next Open works.
	r, err := be.Open(ctx, big, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(be.SSHPid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, r)
	r.Close()
	lostErr(t, "read from a killed connection", err)
	if got, err := readAll(be, big); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("open after ssh died: %d bytes, %v", len(got), err)
	}
	var n int
	if err := be.List(ctx, backend.PackFile, func(backend.FileInfo) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("list: %d, %v", n, err)
	}
	// No temporary file is left, the killed Save's included.
	noTemp(t, root)
}

// lostErr fails t unless err is a lost connection: transient for package
// retry, not "not there".
func lostErr(t *testing.T, what string, err error) {
	t.Helper()
	var le *sftp.LostError
	if !errors.As(err, &le) || !retry.Transient(err) || errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("%s: %v, want a transient *LostError", what, err)
	}
	t.Logf("%s: %v", what, err)
}

func noTemp(t *testing.T, root string) {
	t.Helper()
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readAll(be backend.Backend, h backend.Handle) ([]byte, error) {
	r, err := be.Open(context.Background(), h, 0, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// killingReader calls kill once, the first time through, after at bytes.
type killingReader struct {
	*backend.ByteReader
	at, read int
	kill     func()
	killed   bool
}

func (k *killingReader) Read(p []byte) (int, error) {
	if !k.killed && k.read >= k.at {
		k.killed = true
		k.kill()
	}
	n, err := k.ByteReader.Read(p)
	k.read += n
	return n, err
}

func (k *killingReader) Rewind() error {
	k.read = 0
	return k.ByteReader.Rewind()
}

// TestNoSpace: a full disk on the server (OpenSSH sends ENOSPC as a bare
// failure) is ErrNoSpace, the failed file is not left behind, and a file
// that fits is still saved.
func TestNoSpace(t *testing.T) {
	srv := testsftp.Start(t)
	testreq.Root(t, "to mount a small tmpfs")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	ctx := context.Background()
	root := filepath.Join(dir, "repo")
	be := open(t, srv, root, true)
	big := backend.Handle{Type: backend.PackFile, Name: "ab" + strings.Repeat("1", 62)}
	err := be.Save(ctx, big, backend.NewByteReader(make([]byte, 3<<20)))
	if !errors.Is(err, backend.ErrNoSpace) || retry.Transient(err) {
		t.Fatalf("save of 3 MiB onto 1 MiB: %v, want ErrNoSpace (permanent)", err)
	}
	t.Logf("full: %v", err)
	if _, err := be.Stat(ctx, big); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("stat after a failed save: %v", err)
	}
	noTemp(t, root)
	small := backend.Handle{Type: backend.KeyFile, Name: "k"}
	if err := be.Save(ctx, small, backend.NewByteReader(make([]byte, 1000))); err != nil {
		t.Fatalf("save that fits: %v", err)
	}
}

// TestServerRestart: the server killed (kill -9 of sshd and its sessions)
// fails calls while it is down, with transient errors that are not "not
// found", and the first call after it is back works on a new connection.
func TestServerRestart(t *testing.T) {
	srv := testsftp.Start(t)
	ctx := context.Background()
	be := open(t, srv, filepath.Join(t.TempDir(), "repo"), true)
	h := backend.Handle{Type: backend.IndexFile, Name: "i1"}
	if err := be.Save(ctx, h, backend.NewByteReader([]byte("index"))); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	// The call that meets the dead connection fails as lost; the next
	// one finds nothing to connect to. Both are worth retrying.
	_, err := be.Stat(ctx, h)
	if errors.As(err, new(*sftp.LostError)) {
		lostErr(t, "stat as the server died", err)
		_, err = be.Stat(ctx, h)
	}
	if err == nil || errors.Is(err, backend.ErrNotExist) || !strings.Contains(err.Error(), "nothing answers on that port") || !retry.Transient(err) {
		t.Fatalf("stat with the server down: %v", err)
	}
	t.Logf("server down: %v", err)
	srv.Restart(t)
	if got, err := readAll(be, h); err != nil || string(got) != "index" {
		t.Fatalf("read after the restart: %q, %v", got, err)
	}
}

// TestStall: a server that hangs while the connection stays up (its SFTP
// server stopped with SIGSTOP: no answer, no error) is given up after
// Config.Timeout without a byte moving, as a transient lost connection;
// the next call runs on a new one. (That an idle connection is never
// ended: TestWatch.)
func TestStall(t *testing.T) {
	w := testsftp.LocalServer(t)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "repo")
	be, err := sftp.Open(ctx, sftp.Config{User: "u", Host: "local", Path: root, Command: []string{w.Path}, Timeout: 300 * time.Millisecond}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	h := backend.Handle{Type: backend.KeyFile, Name: "k1"}
	if err := be.Save(ctx, h, backend.NewByteReader([]byte("key"))); err != nil {
		t.Fatal(err)
	}
	pid := w.Pid(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	_, err = be.Stat(ctx, h)
	lostErr(t, "stat of a stopped server", err)
	var le *sftp.LostError
	if errors.As(err, &le); le.Stalled != 300*time.Millisecond || !strings.Contains(err.Error(), "no answer from the server for 300ms") {
		t.Fatalf("stalled %v: %v", le.Stalled, err)
	}
	if fi, err := be.Stat(ctx, h); err != nil || fi.Size != 3 || w.Pid(t) == pid {
		t.Fatalf("stat after the stall: %+v %v (server %d, was %d)", fi, err, w.Pid(t), pid)
	}
}

// TestEnvWithoutSecrets: ssh, and whatever SNAP_SSH_COMMAND names, gets
// the environment without snap's passwords and S3 credentials, or any
// variable named like a secret; what ssh needs stays.
func TestEnvWithoutSecrets(t *testing.T) {
	srv := testsftp.Start(t)
	w := srv.Wrapper(t)
	secrets := map[string]string{
		"SNAP_PASSWORD": "pw-0001", "SNAP_NEW_PASSWORD": "pw-0002", "SNAP_TO_PASSWORD": "pw-0003",
		"AWS_SECRET_ACCESS_KEY": "aws-0004", "AWS_SESSION_TOKEN": "aws-0005", "AWS_ACCESS_KEY_ID": "aws-0006",
		"GITHUB_TOKEN": "tok-0007", "my_api_secret": "sec-0008",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	keep := map[string]string{"SSH_AUTH_SOCK": "/run/agent.sock", "AWS_PROFILE": "offsite", "LANG": "C.UTF-8"}
	for k, v := range keep {
		t.Setenv(k, v)
	}
	w.SetEnv(t)
	be, err := sftp.Open(context.Background(), sftp.Config{User: srv.User, Host: srv.Host, Port: srv.Port, Path: t.TempDir()}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	env := strings.Join(w.Env(t), "\n")
	for k, v := range secrets {
		if strings.Contains(env, v) || strings.Contains(env, k+"=") {
			t.Errorf("ssh got %s", k)
		}
	}
	for k, v := range keep {
		if !strings.Contains(env, k+"="+v) {
			t.Errorf("ssh lacks %s=%s", k, v)
		}
	}
	for _, k := range []string{"PATH", "HOME"} {
		if os.Getenv(k) != "" && !strings.Contains(env, k+"="+os.Getenv(k)) {
			t.Errorf("ssh lacks %s", k)
		}
	}
}
