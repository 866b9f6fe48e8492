package local_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/local"
)

func TestSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return local.New(t.TempDir()) })
}

// The layout is the on-disk format: docs/format.md "Layout".
func TestLayout(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	be := local.New(root)
	pack := strings.Repeat("ab", 32)
	for _, h := range []backend.Handle{
		{Type: backend.ConfigFile}, {Type: backend.PackFile, Name: pack}, {Type: backend.KeyFile, Name: "k1"},
		{Type: backend.IndexFile, Name: "i1"}, {Type: backend.SnapshotFile, Name: "s1"}, {Type: backend.LockFile, Name: "l1"},
	} {
		if err := be.Save(ctx, h, backend.NewByteReader([]byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"config", "data/ab/" + pack, "keys/k1", "index/i1", "snapshots/s1", "locks/l1"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// Files being written (.tmp-*) and anything else starting with a dot are
// never listed, and a failed Save leaves no temporary file.
func TestTempFilesHidden(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	be := local.New(root)
	for _, p := range []string{"data/ab/.tmp-0123", "keys/.tmp-4567", "keys/.other"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, ft := range []backend.FileType{backend.PackFile, backend.KeyFile} {
		if err := be.List(ctx, ft, func(fi backend.FileInfo) error { return errors.New("listed " + fi.Name) }); err != nil {
			t.Error(err)
		}
	}
	h := backend.Handle{Type: backend.KeyFile, Name: "k"}
	if err := be.Save(ctx, h, lengthLie{backend.NewByteReader([]byte("abc"))}); err == nil {
		t.Fatal("short save succeeded")
	}
	ents, _ := os.ReadDir(filepath.Join(root, "keys"))
	if len(ents) != 2 {
		t.Fatalf("keys/ holds %d entries after a failed save, want the 2 put there", len(ents))
	}
}

type lengthLie struct{ *backend.ByteReader }

func (lengthLie) Length() int64 { return 100 }

// New creates nothing; the first Save creates the root when its parent
// exists (snap init creates the whole path itself).
func TestNewCreatesNothing(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "repo")
	be := local.New(root)
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("stat in a missing root: %v", err)
	}
	if err := be.List(ctx, backend.PackFile, func(backend.FileInfo) error { return nil }); err != nil {
		t.Fatalf("list in a missing root: %v", err)
	}
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("root exists after reads: %v", err)
	}
	if err := be.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: "k"}, backend.NewByteReader(nil)); err != nil {
		t.Fatal(err)
	}
	deep := local.New(filepath.Join(t.TempDir(), "a", "b"))
	err := deep.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: "k"}, backend.NewByteReader(nil))
	if err == nil || errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("save below a missing parent: %v, want an error that is not ErrNotExist", err)
	}
}

// A root that is a file is an error, not a missing file.
func TestRootIsAFile(t *testing.T) {
	root := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(root, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := local.New(root).Stat(context.Background(), backend.Handle{Type: backend.ConfigFile})
	if err == nil || errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("stat under a file: %v, want an error that is not ErrNotExist", err)
	}
}
