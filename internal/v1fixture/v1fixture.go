// Package v1fixture is the v1 repository checked into repo/testdata (see
// its README.md) as the tests of every package see it: where it is, a copy
// to work on, and the values pinned for it. It must never be regenerated.
package v1fixture

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Pinned: its passphrase, its two snapshots and the SHA-256 of their
// db.sql stream item.
const (
	Passphrase = "snap v1 fixture"
	Snap1      = "507daa39fee5038b94d7bb3a02874c95d2a89e044ac18fb4fc4d4069f9613e72" // db.sql and app, by the full key
	Snap2      = "87f565924b996645f6d3e319ded00d7d465b6991b736c1720b12aa763f080c4b" // db.sql changed, by the write-only key
	DumpSHA1   = "8a823f0236c9f158e8cc404a803b82bab84f7bd8b9845c74bfd37141b89762a3" // SHA-256 of snapshot 1's db.sql
	DumpSHA2   = "8c0725234d5e1504864f10895aab85a122dc6e44b6cf2089cf0e21bf56ecef5c" // SHA-256 of snapshot 2's db.sql
)

// Dir is the checked-in fixture: repo/ (the repository), full.key,
// writeonly.key.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "repo", "testdata", "v1fixture")
}

// Copy copies the fixture to a temporary directory, so nothing a test does
// (locks, a cache, a chmod) touches the checked-in copy. Key files get mode
// 0600, which git does not keep.
func Copy(t testing.TB) string {
	t.Helper()
	src, dst := Dir(), t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
