package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/internal/testgw"
	"snap/internal/testsftp"
)

// TestSFTPRoundTrip: every step of the offsite story on a real OpenSSH
// server: init makes the directory, backup, snapshots, dump and restore
// byte-exact, check --read-data (with and without the key), forget
// --prune, and sync from a local repository to the server and back to a
// new directory.
func TestSFTPRoundTrip(t *testing.T) {
	srv := testsftp.Start(t)
	srv.SetEnv(t)
	e := newEnv(t)
	local := e.vars["SNAP_REPO"]
	remoteDir := filepath.Join(srv.Root, "hosts", "web1")
	e.vars["SNAP_REPO"] = srv.URL(remoteDir)

	e.ok(nil, "init")
	if _, err := os.Stat(filepath.Join(remoteDir, "config")); err != nil {
		t.Fatalf("init over sftp wrote no config: %v", err)
	}
	db1, db2 := randData(7, 3<<20), randData(9, 2<<20)
	e.ok(bytes.NewReader(db1), "backup", "--stdin", "--item", "db.sql", "--time", "2026-03-01 02:00:00")
	e.ok(bytes.NewReader(db2), "backup", "--stdin", "--item", "db.sql", "--time", "2026-03-02 02:00:00")
	snaps := e.snapshots()
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots over sftp, want 2", len(snaps))
	}
	if got := e.ok(nil, "dump", snaps[0].ID, "db.sql").stdout; got != string(db1) { // oldest first
		t.Fatal("dump over sftp differs from what was backed up")
	}
	dst := filepath.Join(e.dir, "restored")
	e.ok(nil, "restore", "latest", "--item", "db.sql", "--target", dst)
	if got, err := os.ReadFile(filepath.Join(dst, "db.sql")); err != nil || !bytes.Equal(got, db2) {
		t.Fatalf("restore over sftp: %d bytes, %v; want the latest backup's %d", len(got), err, len(db2))
	}
	if out := e.ok(nil, "check", "--read-data").stdout; !strings.Contains(out, "no problems found") {
		t.Fatalf("check --read-data over sftp: %s", out)
	}
	noKey := newEnv(t)
	noKey.vars["SNAP_REPO"] = e.vars["SNAP_REPO"]
	delete(noKey.vars, "SNAP_PASSWORD")
	if out := noKey.ok(nil, "check", "--keyless", "--read-data").stdout; !strings.Contains(out, "packs: all ") {
		t.Fatalf("keyless check --read-data over sftp:\n%s", out)
	}
	packsBefore := countFiles(t, filepath.Join(remoteDir, "data"))
	if out := e.ok(nil, "forget", "--keep-last", "1", "--prune").stdout; !strings.Contains(out, "removed 1 snapshot") || !strings.Contains(out, "prune: freed") {
		t.Fatalf("forget --prune over sftp:\n%s", out)
	}
	snaps = e.snapshots()
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots after forget --keep-last 1", len(snaps))
	}
	if got := e.ok(nil, "dump", snaps[0].ID, "db.sql").stdout; got != string(db2) {
		t.Fatal("the kept snapshot restores other bytes after prune")
	}
	if after := countFiles(t, filepath.Join(remoteDir, "data")); after >= packsBefore {
		t.Fatalf("prune removed no pack over sftp: %d → %d", packsBefore, after)
	}
	e.ok(nil, "check", "--read-data")

	// The nightly offsite copy: a local repository synced to a directory
	// on the server that does not exist yet, then the restore-day
	// download to a new directory.
	e.vars["SNAP_REPO"] = local
	offsiteRoundTrip(t, e, srv.URL(filepath.Join(srv.Root, "offsite", "n8n")), "sftp")
}

// TestSFTPHostKeyRefused: a changed host key stops the command with the
// host named and what to do, before anything is read or written.
func TestSFTPHostKeyRefused(t *testing.T) {
	srv := testsftp.Start(t)
	other := testsftp.Start(t)
	theirs, err := os.ReadFile(other.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(wrong, []byte(srv.KnownHostsName()+" "+strings.SplitN(string(theirs), " ", 2)[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SNAP_SSH_COMMAND", srv.Command()+" -o UserKnownHostsFile="+wrong)
	e := newEnv(t)
	e.vars["SNAP_REPO"] = srv.URL(filepath.Join(srv.Root, "repo"))
	r := e.run(nil, "init")
	if r.code == 0 || !strings.Contains(r.stderr, "host key of "+srv.KnownHostsName()+" differs") || !strings.Contains(r.stderr, "ssh-keygen -R") {
		t.Fatalf("init with a changed host key: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(srv.Root, "repo")); err == nil {
		t.Fatal("init made the directory on a server whose key was refused")
	}
	t.Logf("exit %d: %s", r.code, r.stderr)
}

// TestSyncS3ToSFTP: a repository in a bucket syncs to an SSH server, and
// the copy restores byte-exact: remote to remote, nothing local between.
func TestSyncS3ToSFTP(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	srv := testsftp.Start(t)
	srv.SetEnv(t)
	e := newEnv(t)
	e.vars["SNAP_REPO"] = gw.URL(testgw.Bucket() + "/n8n")
	e.ok(nil, "init")
	db := randData(11, 2<<20)
	e.ok(bytes.NewReader(db), "backup", "--stdin", "--item", "db.sql")
	box := srv.URL(filepath.Join(srv.Root, "box", "n8n"))
	if out := e.ok(nil, "sync", box).stdout; !strings.Contains(out, "copied") {
		t.Fatalf("sync s3 → sftp: %s", out)
	}
	e.vars["SNAP_REPO"] = box
	if got := e.ok(nil, "dump", "latest", "db.sql").stdout; got != string(db) {
		t.Fatal("dump after s3 → sftp differs")
	}
	e.ok(nil, "check", "--read-data")
}
