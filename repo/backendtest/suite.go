// Package backendtest is the test suite every repo.Backend must pass.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"testing"

	"snap/repo"
)

// Run runs the suite against a fresh, empty backend from newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) repo.Backend) {
	ctx := context.Background()
	t.Run("SaveOpenStat", func(t *testing.T) {
		be := newBackend(t)
		data := bytes.Repeat([]byte("0123456789"), 1000)
		h := repo.Handle{Type: repo.PackFile, Name: "ab" + string(bytes.Repeat([]byte("0"), 62))}
		if err := be.Save(ctx, h, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		fi, err := be.Stat(ctx, h)
		if err != nil || fi.Size != int64(len(data)) {
			t.Fatalf("stat: %v %+v", err, fi)
		}
		for _, c := range []struct{ off, n int64 }{{0, 0}, {0, 10}, {5, 7}, {9990, 10}, {100, 0}} {
			rd, err := be.Open(ctx, h, c.off, c.n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rd)
			rd.Close()
			if err != nil {
				t.Fatal(err)
			}
			want := data[c.off:]
			if c.n > 0 {
				want = data[c.off : c.off+c.n]
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("open(%d,%d): got %d bytes", c.off, c.n, len(got))
			}
		}
	})
	t.Run("SizeMismatchLeavesNothing", func(t *testing.T) {
		be := newBackend(t)
		h := repo.Handle{Type: repo.IndexFile, Name: "short"}
		if err := be.Save(ctx, h, bytes.NewReader([]byte("abc")), 10); err == nil {
			t.Fatal("save with short reader succeeded")
		}
		if _, err := be.Stat(ctx, h); !errors.Is(err, repo.ErrNotExist) {
			t.Fatalf("file visible after failed save: %v", err)
		}
		n := 0
		_ = be.List(ctx, repo.IndexFile, func(repo.FileInfo) error { n++; return nil })
		if n != 0 {
			t.Fatalf("list shows %d files after failed save", n)
		}
	})
	t.Run("ReaderErrorLeavesNothing", func(t *testing.T) {
		be := newBackend(t)
		h := repo.Handle{Type: repo.SnapshotFile, Name: "x"}
		rd := io.MultiReader(bytes.NewReader(make([]byte, 100)), errReader{})
		if err := be.Save(ctx, h, rd, 200); err == nil {
			t.Fatal("save succeeded")
		}
		if _, err := be.Stat(ctx, h); !errors.Is(err, repo.ErrNotExist) {
			t.Fatalf("file visible after failed save: %v", err)
		}
	})
	t.Run("ListRemove", func(t *testing.T) {
		be := newBackend(t)
		names := []string{"aa01", "aa02", "bb03"}
		for _, n := range names {
			for _, ft := range []repo.FileType{repo.PackFile, repo.SnapshotFile} {
				if err := be.Save(ctx, repo.Handle{Type: ft, Name: n}, bytes.NewReader([]byte(n)), 4); err != nil {
					t.Fatal(err)
				}
			}
		}
		list := func(ft repo.FileType) []string {
			var got []string
			if err := be.List(ctx, ft, func(fi repo.FileInfo) error { got = append(got, fi.Name); return nil }); err != nil {
				t.Fatal(err)
			}
			sort.Strings(got)
			return got
		}
		if got := list(repo.PackFile); len(got) != 3 || got[2] != "bb03" {
			t.Fatalf("list packs: %v", got)
		}
		if got := list(repo.IndexFile); len(got) != 0 {
			t.Fatalf("list of empty type: %v", got)
		}
		if err := be.Remove(ctx, repo.Handle{Type: repo.PackFile, Name: "aa01"}); err != nil {
			t.Fatal(err)
		}
		if got := list(repo.PackFile); len(got) != 2 {
			t.Fatalf("after remove: %v", got)
		}
		if err := be.Remove(ctx, repo.Handle{Type: repo.PackFile, Name: "aa01"}); !errors.Is(err, repo.ErrNotExist) {
			t.Fatalf("remove of missing file: %v", err)
		}
		if _, err := be.Open(ctx, repo.Handle{Type: repo.PackFile, Name: "aa01"}, 0, 0); !errors.Is(err, repo.ErrNotExist) {
			t.Fatalf("open of missing file: %v", err)
		}
	})
	t.Run("RejectsBadNames", func(t *testing.T) {
		be := newBackend(t)
		for _, n := range []string{"", "../x", "a/b", ".hidden"} {
			if err := be.Save(ctx, repo.Handle{Type: repo.KeyFile, Name: n}, bytes.NewReader(nil), 0); err == nil {
				t.Errorf("name %q accepted", n)
			}
		}
	})
	t.Run("Config", func(t *testing.T) {
		be := newBackend(t)
		h := repo.Handle{Type: repo.ConfigFile}
		if _, err := be.Stat(ctx, h); !errors.Is(err, repo.ErrNotExist) {
			t.Fatalf("config in empty backend: %v", err)
		}
		if err := be.Save(ctx, h, bytes.NewReader([]byte("{}")), 2); err != nil {
			t.Fatal(err)
		}
		if _, err := be.Stat(ctx, h); err != nil {
			t.Fatal(err)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("injected read error") }
