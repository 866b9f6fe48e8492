package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The v1 fixture (repo/testdata/v1fixture, see its README.md) through the
// CLI. The pinned values are those of repo/v1fixture_test.go.
const (
	v1FixtureDir        = "../../repo/testdata/v1fixture"
	v1FixturePassphrase = "snap v1 fixture"
	v1FixtureSnap1      = "507daa39fee5038b94d7bb3a02874c95d2a89e044ac18fb4fc4d4069f9613e72"
	v1FixtureSnap2      = "87f565924b996645f6d3e319ded00d7d465b6991b736c1720b12aa763f080c4b"
	v1FixtureDumpSHA1   = "8a823f0236c9f158e8cc404a803b82bab84f7bd8b9845c74bfd37141b89762a3"
	v1FixtureDumpSHA2   = "8c0725234d5e1504864f10895aab85a122dc6e44b6cf2089cf0e21bf56ecef5c"
)

// copyV1Fixture copies the fixture so the commands' locks and caches never
// touch the checked-in copy; key files get mode 0600, which git does not keep.
func copyV1Fixture(t *testing.T, dst string) {
	t.Helper()
	err := filepath.WalkDir(v1FixtureDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(v1FixtureDir, p)
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
}

func v1FixtureSHA256(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func TestV1FixtureCLI(t *testing.T) {
	e := newEnv(t)
	fx := filepath.Join(e.dir, "fixture")
	copyV1Fixture(t, fx)
	e.vars["SNAP_REPO"] = filepath.Join(fx, "repo")
	e.vars["SNAP_PASSWORD"] = v1FixturePassphrase
	full, wo := filepath.Join(fx, "full.key"), filepath.Join(fx, "writeonly.key")

	snaps := e.snapshots()
	if len(snaps) != 2 || snaps[0].ID != v1FixtureSnap1 || snaps[1].ID != v1FixtureSnap2 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	e.ok(nil, "check", "--read-data")
	e.ok(nil, "check", "--keyless", "--read-data")
	if got := e.ok(nil, "dump", v1FixtureSnap1[:8], "db.sql").stdout; v1FixtureSHA256(got) != v1FixtureDumpSHA1 {
		t.Errorf("dump of snapshot 1: %d bytes, SHA-256 %s", len(got), v1FixtureSHA256(got))
	}
	if got := e.ok(nil, "dump", "latest", "db.sql", "--key-file", full).stdout; v1FixtureSHA256(got) != v1FixtureDumpSHA2 {
		t.Errorf("dump of snapshot 2 with the key file: %d bytes, SHA-256 %s", len(got), v1FixtureSHA256(got))
	}
	if ls := e.ok(nil, "ls", v1FixtureSnap1[:8], "app").stdout; !strings.Contains(ls, "app/deep/a/b/leaf.txt") {
		t.Errorf("ls: %s", ls)
	}
	dst := filepath.Join(e.dir, "restored")
	e.ok(nil, "restore", v1FixtureSnap1[:8], "--item", "app", "--target", dst)
	for p, want := range map[string]string{
		"app/.env":              "790e4b6b0056d5c48c6391408ca0280baab34d054f9b72276a47da10d6f56268",
		"app/data/big.bin":      "1866b8a5ce8a42b49c5cf9a197b1e881cebf166f9630b807d1a00036cd7a946a",
		"app/data/text.log":     "c4b42708813bfa1795cfc598723fbf61797b36b9b28bced141ddac971b198830",
		"app/deep/a/b/leaf.txt": "26d0bac9f0c7a35b2f3322a0f4ad4517265f56b2c0f4b2ed7cb5cbd30c5868e2",
		"app/empty":             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	} {
		b, err := os.ReadFile(filepath.Join(dst, p))
		if err != nil || v1FixtureSHA256(string(b)) != want {
			t.Errorf("restored %s: %v", p, err)
		}
	}
	if target, err := os.Readlink(filepath.Join(dst, "app/link")); err != nil || target != "data/text.log" {
		t.Errorf("restored symlink: %q %v", target, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "app/.env")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored .env: %v %v", fi, err)
	}

	// The write-only key lists and checks, and is refused data.
	e.vars["SNAP_PASSWORD"] = ""
	if n := len(e.ok(nil, "snapshots", "--key-file", wo).stdout); n == 0 {
		t.Error("write-only snapshots printed nothing")
	}
	e.ok(nil, "check", "--read-data", "--key-file", wo)
	if r := e.expect(ExitWriteOnly, nil, "dump", "latest", "db.sql", "--key-file", wo); r.stdout != "" {
		t.Errorf("write-only dump wrote %d bytes", len(r.stdout))
	}
}
