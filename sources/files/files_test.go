package files

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/sources"
)

// stored is a tree item whose Extract writes what the test chose.
type stored struct {
	meta  map[string]string
	files map[string]string // relative path -> content
}

func (s stored) Name() string                       { return "config" }
func (s stored) Size() int64                        { return 0 }
func (s stored) Meta() map[string]string            { return s.meta }
func (s stored) Open(context.Context) io.ReadCloser { return io.NopCloser(strings.NewReader("")) }
func (s stored) Extract(_ context.Context, dir string) error {
	for rel, body := range s.files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func TestRestore(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "app", ".env")
	compose := filepath.Join(dir, "app", "compose.yml")
	os.MkdirAll(filepath.Dir(env), 0o755)
	os.WriteFile(env, []byte("NOW=1"), 0o600)
	// The plan's item is gone: the kind restores from the recorded paths.
	k, ok := sources.Lookup(Kind)
	if !ok {
		t.Fatal("files kind not registered")
	}
	meta := map[string]string{"source": Kind, "paths": env + "\n" + compose}
	src, err := k.Target(meta)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := src.(sources.Restorer).Restore(context.Background(), stored{meta: meta, files: map[string]string{".env": "THEN=1", "compose.yml": "services: {}"}})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(env); string(b) != "THEN=1" {
		t.Errorf(".env is %q", b)
	}
	if b, _ := os.ReadFile(compose); string(b) != "services: {}" {
		t.Errorf("compose file is %q", b)
	}
	old, _ := filepath.Glob(env + ".snap-old-*")
	if len(old) != 1 {
		t.Fatalf("previous .env kept as %v", old)
	}
	if b, _ := os.ReadFile(old[0]); string(b) != "NOW=1" {
		t.Errorf("kept %q", b)
	}
	if !strings.Contains(msg, "2 of 2 restored") || !strings.Contains(msg, old[0]) || !strings.Contains(msg, "new: "+compose) {
		t.Errorf("message %q", msg)
	}
	// Restoring the same content again keeps nothing aside: the files
	// are already what the snapshot holds.
	msg, err = src.(sources.Restorer).Restore(context.Background(), stored{meta: meta, files: map[string]string{".env": "THEN=1", "compose.yml": "services: {}"}})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := filepath.Glob(filepath.Join(dir, "app", "*.snap-old-*")); len(again) != 1 {
		t.Errorf("set-asides after restoring identical files: %v, want only the first restore's", again)
	}
	if !strings.Contains(msg, "unchanged") || strings.Contains(msg, "kept as") {
		t.Errorf("message for identical files %q", msg)
	}
	// A file that differs only in mode is replaced and kept aside.
	os.Chmod(env, 0o644)
	if msg, err = src.(sources.Restorer).Restore(context.Background(), stored{meta: meta, files: map[string]string{".env": "THEN=1", "compose.yml": "services: {}"}}); err != nil || !strings.Contains(msg, "1 of 2 restored") {
		t.Errorf("mode change: %q, %v", msg, err)
	}
	if fi, _ := os.Stat(env); fi.Mode().Perm() != 0o600 {
		t.Errorf(".env mode %v after restore", fi.Mode().Perm())
	}
	s := New([]string{env}, "files x")
	if s.Meta()["paths"] != env || s.Describe() != "files x" || len(s.Paths()) != 1 {
		t.Errorf("source %+v", s)
	}
}

// TestSameContent: equal-size files that differ anywhere, also past the
// first piece, are told apart without reading them whole.
func TestSameContent(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes: several pieces
	os.WriteFile(a, data, 0o600)
	os.WriteFile(b, data, 0o600)
	if eq, err := sameContent(a, b); !eq || err != nil {
		t.Fatalf("equal files: %v %v", eq, err)
	}
	for _, at := range []int{0, 70000, len(data) - 1} {
		other := bytes.Clone(data)
		other[at] ^= 1
		os.WriteFile(b, other, 0o600)
		if eq, err := sameContent(a, b); eq || err != nil {
			t.Errorf("files differing at byte %d: equal=%v err=%v", at, eq, err)
		}
	}
}
