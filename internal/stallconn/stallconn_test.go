package stallconn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns a stall-bounded client connection and the server's end.
func pair(t *testing.T, timeout time.Duration) (*Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := Dialer{Timeout: timeout}.DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := <-accepted
	if srv == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
	return c.(*Conn), srv
}

// TestStall: a peer that sends nothing fails the read with a StallError
// that is a net.Error timeout and os.ErrDeadlineExceeded.
func TestStall(t *testing.T) {
	c, _ := pair(t, 50*time.Millisecond)
	_, err := c.Read(make([]byte, 1))
	var se *StallError
	var ne net.Error
	if !errors.As(err, &se) || !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from a silent peer: %v", err)
	}
	if se.Op != "read" || se.After != 50*time.Millisecond {
		t.Fatalf("stall error: %+v", se)
	}
}

// TestSlowButMoving: a transfer that takes several times the bound but
// never pauses that long completes: the bound is on progress, not on the
// whole transfer.
func TestSlowButMoving(t *testing.T) {
	const timeout = 500 * time.Millisecond
	c, srv := pair(t, timeout)
	want := bytes.Repeat([]byte("x"), 150)
	go func() {
		for i := range want {
			srv.Write(want[i : i+1])
			time.Sleep(10 * time.Millisecond) // a trickle: the fault under test
		}
		srv.Close()
	}()
	start := time.Now()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("trickled read: %d bytes, %v", len(got), err)
	}
	t.Logf("read %d bytes in %s with a %s stall bound", len(got), time.Since(start), timeout)
}

// TestWriteExtendsRead: a reader that started waiting long ago (an idle
// keep-alive connection) gets the full bound again once a request is
// written, so a request sent near the end of the idle wait is not cut off.
func TestWriteExtendsRead(t *testing.T) {
	const timeout = time.Second
	c, srv := pair(t, timeout)
	type res struct {
		b   []byte
		err error
	}
	got := make(chan res, 1)
	go func() {
		b := make([]byte, 5)
		_, err := io.ReadFull(c, b)
		got <- res{b, err}
	}()
	time.Sleep(600 * time.Millisecond) // idle, waiting: the fault under test
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(srv, buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // the server thinks
	if _, err := srv.Write([]byte("pong!")); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || string(r.b) != "pong!" {
		t.Fatalf("answer after 1.2 bounds of total wait, 0.6 after the request: %q %v", r.b, r.err)
	}
}

// TestWriteStall: a peer that stops reading fails a big write with a
// StallError rather than blocking for ever.
func TestWriteStall(t *testing.T) {
	c, _ := pair(t, 100*time.Millisecond)
	_, err := c.Write(make([]byte, 64<<20)) // far more than the socket buffers
	var se *StallError
	if !errors.As(err, &se) || se.Op != "write" {
		t.Fatalf("write to a peer that reads nothing: %v", err)
	}
}
