package location_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"snap/internal/testsftp"
	"snap/repo/backend"
	"snap/repo/backend/location"
	"snap/repo/backend/retry"
)

// The tests here run an sftp: location as the command line opens it (in
// the retry wrapper) against a real OpenSSH server, killing ssh (kill -9,
// as a dropped network or a crashed server would end it) in the middle of
// each kind of call: the wrapper retries on a new connection and the call
// succeeds. The backend itself never retries (package sftp).

// killer kills the ssh that a wrapper last started, and says which.
type killer struct {
	t *testing.T
	w *testsftp.Wrapper
}

func (k killer) kill() int {
	k.t.Helper()
	pid := k.w.Pid(k.t)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		k.t.Fatal(err)
	}
	return pid
}

// killingReader kills ssh once, after at bytes were read from it.
type killingReader struct {
	*backend.ByteReader
	at, read int
	kill     func() int
	killed   bool
}

func (r *killingReader) Read(p []byte) (int, error) {
	if !r.killed && r.read >= r.at {
		r.killed = true
		r.kill()
	}
	n, err := r.ByteReader.Read(p)
	r.read += n
	return n, err
}

func (r *killingReader) Rewind() error {
	r.read = 0
	return r.ByteReader.Rewind()
}

// TestSFTPConnectionLost: ssh killed mid-Save, mid-read (a stream and a
// file open for ReadAt), mid-List (after fn had names) and before a
// Remove: each call succeeds through the wrapper's retries, with exact
// results, and no temporary file is left.
func TestSFTPConnectionLost(t *testing.T) {
	srv := testsftp.Start(t)
	w := srv.Wrapper(t)
	w.SetEnv(t)
	k := killer{t, w}
	ctx := context.Background()
	dir := filepath.Join(srv.Root, "repo")
	loc, err := location.Parse(srv.URL(dir))
	if err != nil {
		t.Fatal(err)
	}
	var ev events
	be, err := location.Open(ctx, loc, location.Options{Create: true, Retry: quick(&ev, 4)})
	if err != nil {
		t.Fatal(err)
	}
	closeBackend(t, be)
	retried := func(what string, before int) {
		t.Helper()
		if ev.n() == before {
			t.Errorf("%s: no retry logged: the kill did not cut the call", what)
			return
		}
		t.Logf("%s: %v", what, ev.all[ev.n()-1])
	}

	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	pack := backend.Handle{Type: backend.PackFile, Name: "aa" + strings.Repeat("0", 62)}
	before := ev.n()
	rd := &killingReader{ByteReader: backend.NewByteReader(data), at: 1 << 20, kill: k.kill}
	if err := be.Save(ctx, pack, rd); err != nil {
		t.Fatalf("save with ssh killed: %v", err)
	}
	if !rd.killed {
		t.Fatal("the reader never killed ssh")
	}
	retried("save", before)

	// A stream: the bytes after the kill come from a new connection.
	before = ev.n()
	rc, err := be.Open(ctx, pack, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 100)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	k.kill()
	rest, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(append(head, rest...), data) {
		t.Fatalf("read with ssh killed: %d bytes, %v", len(head)+len(rest), err)
	}
	retried("read", before)

	// A file open for ReadAt (check, restore): opened again.
	before = ev.n()
	f, err := be.(backend.ReaderAtOpener).OpenFile(ctx, pack)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	if _, err := f.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data[:1<<20]) {
		t.Fatalf("ReadAt: %v", err)
	}
	k.kill()
	if _, err := f.ReadAt(buf, 3<<20); err != nil || !bytes.Equal(buf, data[3<<20:]) {
		t.Fatalf("ReadAt with ssh killed: %v", err)
	}
	f.Close()
	retried("ReadAt", before)

	// A listing cut after fn had names: retried, each name once.
	for _, p := range []string{"bb", "cc"} {
		h := backend.Handle{Type: backend.PackFile, Name: p + strings.Repeat("0", 62)}
		if err := be.Save(ctx, h, backend.NewByteReader([]byte(p))); err != nil {
			t.Fatal(err)
		}
	}
	before = ev.n()
	seen := map[string]int{}
	err = be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		if len(seen) == 0 {
			k.kill()
		}
		seen[fi.Name]++
		return nil
	})
	if err != nil || len(seen) != 3 {
		t.Fatalf("list with ssh killed: %v, %v", seen, err)
	}
	for n, c := range seen {
		if c != 1 {
			t.Fatalf("%s listed %d times", n, c)
		}
	}
	retried("list", before)

	// Remove on a killed connection: retried, done once.
	k.kill()
	if err := be.Remove(ctx, pack); err != nil {
		t.Fatalf("remove with ssh killed: %v", err)
	}
	if _, err := be.Stat(ctx, pack); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("stat after remove: %v", err)
	}

	// The killed Save's temporary file was removed by the next
	// connection.
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSFTPStall: a server that hangs with the connection up (its SFTP
// server stopped) is given up after the location's Timeout and retried on
// a new connection; the call succeeds.
func TestSFTPStall(t *testing.T) {
	w := testsftp.LocalServer(t)
	w.SetEnv(t)
	ctx := context.Background()
	loc, err := location.Parse("sftp:u@local" + filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events
	be, err := location.Open(ctx, loc, location.Options{Create: true, Timeout: 300 * time.Millisecond, Retry: quick(&ev, 3)})
	if err != nil {
		t.Fatal(err)
	}
	closeBackend(t, be)
	h := backend.Handle{Type: backend.KeyFile, Name: "k1"}
	if err := be.Save(ctx, h, backend.NewByteReader([]byte("key"))); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(w.Pid(t), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if fi, err := be.Stat(ctx, h); err != nil || fi.Size != 3 {
		t.Fatalf("stat of a hung server: %+v %v", fi, err)
	}
	if ev.n() != 1 || !retry.Transient(ev.all[0].Err) || !strings.Contains(ev.all[0].Err.Error(), "no answer from the server for 300ms") {
		t.Fatalf("retries: %v", ev.all)
	}
	t.Logf("retried: %v", ev.all[0])
}

// closeBackend ends the backend's ssh when the test ends.
func closeBackend(t *testing.T, be backend.Backend) {
	c, ok := backend.As[io.Closer](be)
	if !ok {
		t.Fatal("the sftp backend is no io.Closer")
	}
	t.Cleanup(func() { c.Close() })
}
