package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"snap/internal/v1fixture"
	"strings"
	"testing"
)

// The v1 fixture (repo/testdata/v1fixture, see its README.md) through the
// CLI, with the values internal/v1fixture pins.
func v1FixtureSHA256(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func TestV1FixtureCLI(t *testing.T) {
	e := newEnv(t)
	fx := v1fixture.Copy(t)
	e.vars["SNAP_REPO"] = filepath.Join(fx, "repo")
	e.vars["SNAP_PASSWORD"] = v1fixture.Passphrase
	full, wo := filepath.Join(fx, "full.key"), filepath.Join(fx, "writeonly.key")

	snaps := e.snapshots()
	if len(snaps) != 2 || snaps[0].ID != v1fixture.Snap1 || snaps[1].ID != v1fixture.Snap2 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	e.ok(nil, "check", "--read-data")
	e.ok(nil, "check", "--keyless", "--read-data")
	if got := e.ok(nil, "dump", v1fixture.Snap1[:8], "db.sql").stdout; v1FixtureSHA256(got) != v1fixture.DumpSHA1 {
		t.Errorf("dump of snapshot 1: %d bytes, SHA-256 %s", len(got), v1FixtureSHA256(got))
	}
	if got := e.ok(nil, "dump", "latest", "db.sql", "--key-file", full).stdout; v1FixtureSHA256(got) != v1fixture.DumpSHA2 {
		t.Errorf("dump of snapshot 2 with the key file: %d bytes, SHA-256 %s", len(got), v1FixtureSHA256(got))
	}
	if ls := e.ok(nil, "ls", v1fixture.Snap1[:8], "app").stdout; !strings.Contains(ls, "app/deep/a/b/leaf.txt") {
		t.Errorf("ls: %s", ls)
	}
	dst := filepath.Join(e.dir, "restored")
	e.ok(nil, "restore", v1fixture.Snap1[:8], "--item", "app", "--target", dst)
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
