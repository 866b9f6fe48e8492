package command

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	var out bytes.Buffer
	if _, err := New("echo hi; echo there").Stream(context.Background(), &out); err != nil || out.String() != "hi\nthere\n" {
		t.Fatalf("got %q, %v", out.String(), err)
	}
	_, err := New("echo partial; echo it broke >&2; exit 3").Stream(context.Background(), io.Discard)
	// The backup reports a Stream error as the source's (exit 3: cmd/snap
	// TestExitCodes); here: the exit status and stderr are named.
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "it broke") {
		t.Fatalf("failing command: %v", err)
	}
	// A reader that stops early: the command is drained, so it exits.
	_, err = New("yes | head -c 10000000").Stream(context.Background(), &stopAfter{n: 1000})
	if err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("stopped reader: %v", err)
	}
	if Name("/usr/bin/pg_dump -U x") != "pg_dump" || Name("  ") != "command" {
		t.Error("Name")
	}
	if d := New("date").Describe(); d != "output of: date" {
		t.Errorf("Describe %q", d)
	}
}

type stopAfter struct{ n int }

func (s *stopAfter) Write(p []byte) (int, error) {
	if s.n -= len(p); s.n < 0 {
		return 0, errors.New("stopped")
	}
	return len(p), nil
}

func TestStdin(t *testing.T) {
	var out bytes.Buffer
	s := &Stdin{R: strings.NewReader("input")}
	if _, err := s.Stream(context.Background(), &out); err != nil || out.String() != "input" || s.Kind() != "stdin" {
		t.Fatalf("got %q, %v", out.String(), err)
	}
}
