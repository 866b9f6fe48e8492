package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// smallDisk mounts a tmpfs of size bytes (needs root: CI has it).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root (tmpfs mount for the disk-full test)")
		}
		t.Skip("needs root to mount a small tmpfs; CI runs this test")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// TestDiskFull: a full repository disk fails the backup with its own exit
// code and a clear message, writes no snapshot, leaves no temporary files,
// and the repository keeps working once there is room.
func TestDiskFull(t *testing.T) {
	disk := smallDisk(t, "3m")
	e := newEnv(t)
	e.vars["SNAP_REPO"] = filepath.Join(disk, "repo")
	e.ok(nil, "init")
	small := randData(1, 100<<10)
	e.ok(bytes.NewReader(small), "backup", "--stdin", "--item", "s")
	r := e.expect(ExitNoSpace, bytes.NewReader(randData(2, 8<<20)), "backup", "--stdin", "--item", "s")
	if !strings.Contains(r.stderr, "no space left") {
		t.Fatalf("disk full message: %s", r.stderr)
	}
	if n := len(e.snapshots()); n != 1 {
		t.Fatalf("%d snapshots after a failed backup, want 1", n)
	}
	var tmp []string
	filepath.Walk(filepath.Join(disk, "repo"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".tmp-") {
			tmp = append(tmp, p)
		}
		return nil
	})
	if len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	if got := e.ok(nil, "dump", "latest", "s").stdout; got != string(small) {
		t.Fatal("earlier snapshot does not restore after the disk filled up")
	}
	e.ok(bytes.NewReader(randData(3, 200<<10)), "backup", "--stdin", "--item", "s")
}
