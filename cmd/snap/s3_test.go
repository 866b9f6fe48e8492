package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/internal/testgw"
)

// TestS3RoundTrip: every step of the offsite story on a real S3 server
// (versitygw): init makes the bucket, backup, snapshots, dump byte-exact,
// check --read-data (with and without the key), and sync from a local
// repository to the bucket and back to a new directory.
func TestS3RoundTrip(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	bucket := testgw.Bucket()
	e := newEnv(t)
	local := e.vars["SNAP_REPO"]
	e.vars["SNAP_REPO"] = gw.URL(bucket + "/hosts/web1")

	e.ok(nil, "init")
	if _, err := os.Stat(filepath.Join(gw.Root, bucket, "hosts", "web1", "config")); err != nil {
		t.Fatalf("init on s3 wrote no config under the prefix: %v", err)
	}
	db := randData(7, 3<<20)
	e.ok(bytes.NewReader(db), "backup", "--stdin", "--item", "db.sql")
	snaps := e.snapshots()
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots on s3, want 1", len(snaps))
	}
	if got := e.ok(nil, "dump", snaps[0].ID, "db.sql").stdout; got != string(db) {
		t.Fatal("dump from s3 differs from what was backed up")
	}
	if out := e.ok(nil, "check", "--read-data").stdout; !strings.Contains(out, "no problems found") {
		t.Fatalf("check --read-data on s3: %s", out)
	}
	noKey := newEnv(t)
	noKey.vars["SNAP_REPO"] = e.vars["SNAP_REPO"]
	delete(noKey.vars, "SNAP_PASSWORD")
	if out := noKey.ok(nil, "check", "--keyless", "--read-data").stdout; !strings.Contains(out, "packs: all ") {
		t.Fatalf("keyless check --read-data on s3:\n%s", out)
	}

	// The nightly offsite copy: a local repository synced to a bucket
	// that does not exist yet, then the restore-day download.
	e.vars["SNAP_REPO"] = local
	e.ok(nil, "init")
	files := randData(8, 1<<20)
	e.ok(bytes.NewReader(files), "backup", "--stdin", "--item", "files.tar")
	offsite := gw.URL(testgw.Bucket() + "/n8n")
	if out := e.ok(nil, "sync", offsite).stdout; !strings.Contains(out, "copied") {
		t.Fatalf("sync to s3: %s", out)
	}
	if out := e.ok(nil, "sync", offsite).stdout; !strings.Contains(out, "copied 0 files") {
		t.Fatalf("second sync to s3 copied again: %s", out)
	}
	e.vars["SNAP_REPO"] = offsite
	e.ok(nil, "check", "--read-data")
	back := filepath.Join(e.dir, "back")
	if err := os.Mkdir(back, 0o700); err != nil {
		t.Fatal(err)
	}
	e.ok(nil, "sync", back)
	e.vars["SNAP_REPO"] = back
	id := e.snapshots()[0].ID
	if got := e.ok(nil, "dump", id, "files.tar").stdout; got != string(files) {
		t.Fatal("dump after local → s3 → local differs")
	}
	e.ok(nil, "check", "--read-data")
}
