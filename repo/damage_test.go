package repo_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/local"
)

func listFiles(t *testing.T, be backend.Backend, ft backend.FileType) []string {
	t.Helper()
	var out []string
	if err := be.List(context.Background(), ft, func(fi backend.FileInfo) error { out = append(out, fi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func filePath(root string, h backend.Handle) string {
	if h.Type == backend.PackFile {
		return filepath.Join(root, "data", h.Name[:2], h.Name)
	}
	return filepath.Join(root, string(h.Type), h.Name)
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTamperDetection flips one byte or truncates each kind of file and
// expects an error that names the file, never wrong data.
func TestTamperDetection(t *testing.T) {
	data := randBytes(11, 2<<20)
	cases := []struct {
		name string
		ft   backend.FileType
		harm func(t *testing.T, p string)
	}{
		{"pack blob byte", backend.PackFile, func(t *testing.T, p string) { flipByte(t, p, 100) }},
		{"pack header byte", backend.PackFile, func(t *testing.T, p string) { flipByte(t, p, -10) }},
		{"pack truncated", backend.PackFile, func(t *testing.T, p string) { _ = os.Truncate(p, 1000) }},
		{"index byte", backend.IndexFile, func(t *testing.T, p string) { flipByte(t, p, 50) }},
		{"index truncated", backend.IndexFile, func(t *testing.T, p string) { _ = os.Truncate(p, 20) }},
		{"snapshot byte", backend.SnapshotFile, func(t *testing.T, p string) { flipByte(t, p, 40) }},
		{"snapshot truncated", backend.SnapshotFile, func(t *testing.T, p string) { _ = os.Truncate(p, 30) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			f := newFixture(t, local.New(root), testChunker())
			if _, _, err := backupStream(f.open(nil), "s", bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			names := listFiles(t, f.be, c.ft)
			if len(names) == 0 {
				t.Fatalf("no %s files", c.ft)
			}
			h := backend.Handle{Type: c.ft, Name: names[0]}
			c.harm(t, filePath(root, h))

			f.cache = t.TempDir() // a fresh cache: read everything from the repository
			err := tryRestore(f)
			if err == nil && c.ft == backend.PackFile {
				// The data is intact (restore reads only blobs): the
				// structure check finds it.
				_, _, err = f.open(nil).ReadPackHeader(context.Background(), names[0])
			}
			if err == nil {
				t.Fatal("damage went unnoticed")
			}
			if !errors.Is(err, repo.ErrDamaged) {
				t.Fatalf("error is not ErrDamaged: %v", err)
			}
			// Pack damage found by reading a blob names the pack; damage
			// to metadata files names the file.
			if !strings.Contains(err.Error(), names[0][:8]) && !(c.ft == backend.PackFile && strings.Contains(err.Error(), "blob")) {
				t.Fatalf("error does not name the damaged file %s: %v", names[0][:8], err)
			}
		})
	}
}

func tryRestore(f *fixture) error {
	ctx := context.Background()
	r, err := repo.Open(ctx, f.be, f.master, repo.Options{CacheDir: f.cache})
	if err != nil {
		return err
	}
	defer r.Close()
	s, err := r.FindSnapshot(ctx, "latest")
	if err != nil {
		return err
	}
	var out bytes.Buffer
	_, err = r.StreamItem(ctx, &s.Items[0], &out)
	return err
}

func TestWrongKeyAndVersion(t *testing.T) {
	root := t.TempDir()
	f := newFixture(t, local.New(root), testChunker())
	other := newFixture(t, nil, testChunker())
	_, err := repo.Open(context.Background(), f.be, other.master, repo.Options{CacheDir: t.TempDir()})
	if !errors.Is(err, repo.ErrWrongKey) {
		t.Fatalf("other repo's key: %v", err)
	}
	m := *other.master
	m.RepoID = "" // a key that does not say which repository it belongs to
	_, err = repo.Open(context.Background(), f.be, &m, repo.Options{CacheDir: t.TempDir()})
	if !errors.Is(err, repo.ErrWrongKey) {
		t.Fatalf("wrong metadata key: %v", err)
	}
	cfg := filepath.Join(root, "config")
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, bytes.Replace(b, []byte(`"snap_repository": 1`), []byte(`"snap_repository": 2`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = repo.Open(context.Background(), f.be, f.master, repo.Options{CacheDir: t.TempDir()})
	if !errors.Is(err, repo.ErrVersion) {
		t.Fatalf("version 2: %v", err)
	}
	_, err = repo.Open(context.Background(), local.New(t.TempDir()), f.master, repo.Options{})
	if !errors.Is(err, repo.ErrNoRepository) {
		t.Fatalf("empty dir: %v", err)
	}
}

// TestFaultInjection fails the Nth write of a backup, for every N, in each
// fault mode. After each failure: no new snapshot, the earlier snapshot
// restores byte-exact, and the next backup works.
func TestFaultInjection(t *testing.T) {
	modes := []struct {
		name  string
		fault backendtest.Fault
	}{{"fail", backendtest.FailSave}, {"nospace", backendtest.NoSpace}, {"truncate-pack", backendtest.TruncateSave}, {"crash", backendtest.FailAfter}}
	day1 := randBytes(21, 9<<20)
	day2 := append(append([]byte(nil), day1[:4<<20]...), randBytes(22, 6<<20)...)
	tried, passed := 0, 0
	for _, mode := range modes {
		for n := 1; ; n++ {
			inner := local.New(t.TempDir())
			f := newFixture(t, inner, testChunker())
			s1, _, err := backupStream(f.open(nil), "s", bytes.NewReader(day1))
			if err != nil {
				t.Fatal(err)
			}
			fb := &backendtest.Faulty{Backend: inner, N: n, Fault: mode.fault}
			if mode.fault == backendtest.TruncateSave {
				fb.Only = backend.PackFile // an atomic store never shows a truncated metadata file
			}
			f.be = fb
			_, _, err = backupStream(f.open(nil), "s", bytes.NewReader(day2))
			if !fb.Hit() {
				if err != nil {
					t.Fatalf("%s: no fault injected but backup failed: %v", mode.name, err)
				}
				break // n is past the last write: every write point was tried
			}
			tried++
			if err == nil {
				t.Fatalf("%s at write %d: backup reported success", mode.name, n)
			}
			if mode.fault == backendtest.NoSpace && !errors.Is(err, backend.ErrNoSpace) {
				t.Fatalf("nospace at write %d: error %v is not ErrNoSpace", n, err)
			}
			// The repository as the next run sees it: no fault.
			f.be = inner
			r := f.open(nil)
			all, err := r.Snapshots(context.Background())
			if err != nil {
				t.Fatalf("%s at write %d: list: %v", mode.name, n, err)
			}
			if len(all) != 1 {
				t.Fatalf("%s at write %d: %d snapshots, want only the first", mode.name, n, len(all))
			}
			if got := streamHash(t, r, s1, "s"); got != sha(day1) {
				t.Fatalf("%s at write %d: earlier snapshot no longer restores", mode.name, n)
			}
			s3, _, err := backupStream(r, "s", bytes.NewReader(day2))
			if err != nil {
				t.Fatalf("%s at write %d: next backup: %v", mode.name, n, err)
			}
			if got := streamHash(t, f.open(nil), s3, "s"); got != sha(day2) {
				t.Fatalf("%s at write %d: next backup does not restore", mode.name, n)
			}
			passed++
		}
	}
	t.Logf("fault injection: %d cases tried, %d passed", tried, passed)
}
