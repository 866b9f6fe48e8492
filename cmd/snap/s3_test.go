package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/internal/testgw"
	"snap/repo/backend/meter"
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
	offsiteRoundTrip(t, e, gw.URL(testgw.Bucket()+"/n8n"), "s3")
}

// TestS3ConfigBlock: the config file's s3 block names credential files;
// with nothing in the environment every command works through it, and no
// output names the secret ('config check' shows where it is, not what).
func TestS3ConfigBlock(t *testing.T) {
	gw := testgw.Start(t)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	e := newEnv(t)
	delete(e.vars, "SNAP_REPO")
	idFile, secretFile := filepath.Join(e.dir, "s3.id"), filepath.Join(e.dir, "s3.secret")
	os.WriteFile(idFile, []byte(gw.Access+"\n"), 0o600)
	os.WriteFile(secretFile, []byte(gw.Secret+"\n"), 0o600)
	cfg := filepath.Join(e.dir, "snap.yaml")
	write := func(extra string) {
		body := "repository: " + gw.URL(testgw.Bucket()+"/n8n") + "\ns3:\n  access_key_file: " + idFile +
			"\n  secret_key_file: " + secretFile + "\n  region: us-east-1\n" + extra
		if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	e.vars["SNAP_CONFIG"] = cfg
	noSecret := func(r result) {
		t.Helper()
		if strings.Contains(r.stdout+r.stderr, gw.Secret) {
			t.Fatalf("output shows the secret:\n%s%s", r.stdout, r.stderr)
		}
	}
	e.ok(nil, "init")
	db := randData(9, 1<<20)
	r := e.ok(bytes.NewReader(db), "backup", "--stdin", "--item", "db.sql", "--json")
	noSecret(r)
	var sum backupSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatal(err)
	}
	// Random data does not compress: what was sent is at least the data,
	// in a pack, an index file and a snapshot (and the lock).
	if sum.Sent < int64(len(db)) || sum.Store.Saves < 3 || sum.Sent != sum.Store.BytesSent {
		t.Fatalf("--json: %d bytes sent in %+v for %d bytes of data", sum.Sent, sum.Store, len(db))
	}
	snaps := e.snapshots()
	if got := e.ok(nil, "dump", snaps[0].ID, "db.sql").stdout; got != string(db) {
		t.Fatal("dump through the config's s3 block differs")
	}
	r = e.ok(nil, "config", "check")
	noSecret(r)
	if !strings.Contains(r.stdout, "credentials from files") || !strings.Contains(r.stdout, "opens with the full key, 1 snapshots") {
		t.Fatalf("config check:\n%s", r.stdout)
	}
	os.Chmod(secretFile, 0o644)
	if r := e.ok(nil, "config", "check", "--no-repo"); !strings.Contains(r.stdout, "readable by others") {
		t.Fatalf("config check missed a world-readable secret file:\n%s", r.stdout)
	}

	write("  addressing: dns\n")
	if r := e.expect(ExitUsage, nil, "snapshots"); !strings.Contains(r.stderr, "addressing") {
		t.Fatalf("bad addressing: %s", r.stderr)
	}
	os.WriteFile(secretFile, []byte("not-the-secret\n"), 0o600)
	write("")
	r = e.run(nil, "snapshots")
	if r.code == 0 || !strings.Contains(r.stderr, "s3:http://") {
		t.Fatalf("wrong secret: exit %d: %s", r.code, r.stderr)
	}
	noSecret(r)
}

// TestS3CheckSubset: check --read-data-subset on a bucket downloads the
// subset's packs and nothing more; the four quarters read every pack once.
func TestS3CheckSubset(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	e := newEnv(t)
	e.vars["SNAP_REPO"] = gw.URL(testgw.Bucket() + "/subset")
	e.ok(nil, "init")
	e.ok(bytes.NewReader(randData(11, 80<<20)), "backup", "--stdin", "--item", "big")
	var total, packs int
	for n := 1; n <= 4; n++ {
		for _, keyless := range []bool{false, true} {
			args := []string{"check", "--read-data-subset", fmt.Sprintf("%d/4", n), "--json"}
			if keyless {
				args = append(args, "--keyless")
			}
			var res struct {
				Packs     int          `json:"packs"`
				PacksRead int          `json:"packs_read"`
				BytesRead int64        `json:"bytes_read"`
				Store     meter.Counts `json:"store"`
			}
			if err := json.Unmarshal([]byte(e.ok(nil, args...).stdout), &res); err != nil {
				t.Fatal(err)
			}
			// Metadata (config, keys, index, snapshot, lock) is small.
			if extra := res.Store.BytesReceived - res.BytesRead; extra < 0 || extra > 1<<20 {
				t.Errorf("%v: received %d bytes for %d bytes of %d packs", args, res.Store.BytesReceived, res.BytesRead, res.PacksRead)
			}
			// One GET per pack read, no HEAD before it (a billed
			// request and a round trip each).
			if res.Store.Stats > 2 {
				t.Errorf("%v: %d HEAD requests for %d packs read", args, res.Store.Stats, res.PacksRead)
			}
			if !keyless {
				total += res.PacksRead
				packs = res.Packs
			}
		}
	}
	if packs < 4 || total != packs {
		t.Fatalf("the four quarters read %d packs of %d", total, packs)
	}
}

// offsiteRoundTrip is the nightly offsite story against any store: a
// local repository (the env's SNAP_REPO, made here) synced to offsite,
// which does not exist yet; a second sync copies nothing; the copy
// checks; then the restore-day download to a new directory dumps
// byte-exact. label names the store in failures.
func offsiteRoundTrip(t *testing.T, e *env, offsite, label string) {
	t.Helper()
	local := e.vars["SNAP_REPO"]
	e.ok(nil, "init")
	files := randData(8, 1<<20)
	e.ok(bytes.NewReader(files), "backup", "--stdin", "--item", "files.tar")
	if out := e.ok(nil, "sync", offsite).stdout; !strings.Contains(out, "copied") {
		t.Fatalf("sync to %s: %s", label, out)
	}
	if out := e.ok(nil, "sync", offsite).stdout; !strings.Contains(out, "copied 0 files") {
		t.Fatalf("second sync to %s copied again: %s", label, out)
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
		t.Fatalf("dump after local → %s → local differs", label)
	}
	e.ok(nil, "check", "--read-data")
	e.vars["SNAP_REPO"] = local
}
