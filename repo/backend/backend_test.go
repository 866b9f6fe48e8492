package backend_test

import (
	"io"
	"strings"
	"testing"

	"snap/repo/backend"
)

func TestHandleString(t *testing.T) {
	pack := strings.Repeat("cd", 32)
	for h, want := range map[backend.Handle]string{
		{Type: backend.ConfigFile, Name: "ignored"}: "config",
		{Type: backend.PackFile, Name: pack}:        "data/cd/" + pack,
		{Type: backend.IndexFile, Name: "ab"}:       "index/ab",
		{Type: backend.LockFile, Name: "x"}:         "locks/x",
	} {
		if got := h.String(); got != want {
			t.Errorf("%#v: %q, want %q", h, got, want)
		}
	}
}

func TestByteReaderRewind(t *testing.T) {
	rd := backend.NewByteReader([]byte("hello world"))
	for pass := range 3 {
		if rd.Length() != 11 {
			t.Fatalf("pass %d: Length %d", pass, rd.Length())
		}
		b, err := io.ReadAll(io.LimitReader(rd, int64(4+pass*3)))
		if err != nil || string(b) != "hello world"[:4+pass*3] {
			t.Fatalf("pass %d: %q %v", pass, b, err)
		}
		if err := rd.Rewind(); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := io.ReadAll(rd); string(b) != "hello world" {
		t.Fatalf("after rewinds: %q", b)
	}
}

type wrapper struct {
	backend.Backend
}

func (w wrapper) Unwrap() backend.Backend { return w.Backend }

type spacer struct{ backend.Backend }

func (spacer) FreeSpace() int64 { return 1 }

// TestAs: an optional interface is found through any number of wrappers.
func TestAs(t *testing.T) {
	type freeSpacer interface{ FreeSpace() int64 }
	inner := spacer{}
	if _, ok := backend.As[freeSpacer](wrapper{wrapper{inner}}); !ok {
		t.Fatal("not found through two wrappers")
	}
	if _, ok := backend.As[freeSpacer](wrapper{}); ok {
		t.Fatal("found in a wrapper around nothing")
	}
}
