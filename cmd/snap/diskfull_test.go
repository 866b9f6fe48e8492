package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"snap/internal/testreq"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// smallDisk mounts a tmpfs of size bytes (needs root: CI has it).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	testreq.Root(t, "to mount a small tmpfs")
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

// TestDiskFullSync: a sync target that fills up fails with exit 15 and is
// left a consistent repository; with room again, the next sync finishes.
func TestDiskFullSync(t *testing.T) {
	disk := smallDisk(t, "3m")
	e := newEnv(t)
	e.ok(nil, "init")
	data := randData(4, 6<<20)
	e.ok(bytes.NewReader(data), "backup", "--stdin", "--item", "s")
	dest := filepath.Join(disk, "copy")
	os.Mkdir(dest, 0o700)
	r := e.expect(ExitNoSpace, nil, "sync", dest)
	if !strings.Contains(r.stderr, "no space left") {
		t.Fatalf("sync to a full disk: %s", r.stderr)
	}
	e.ok(nil, "check", "--repo", dest) // what got there is consistent
	if out, err := exec.Command("mount", "-o", "remount,size=20m", disk).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	e.ok(nil, "sync", dest)
	e.ok(nil, "check", "--repo", dest, "--read-data")
	if got := e.ok(nil, "dump", "latest", "s", "--repo", dest).stdout; got != string(data) {
		t.Fatal("the finished copy restores different bytes")
	}
}

// TestDiskFullPrune: on a full repository disk, a prune that must repack
// fails with exit 15 and loses nothing; deleting wholly unused packs needs
// almost no room, frees the disk, and then the repack fits.
func TestDiskFullPrune(t *testing.T) {
	disk := smallDisk(t, "7m")
	e := newEnv(t)
	e.vars["SNAP_REPO"] = filepath.Join(disk, "repo")
	e.ok(nil, "init")
	a, b, c := randData(5, 2<<20), randData(6, 2<<20), randData(7, 2<<20)
	e.ok(bytes.NewReader(c), "backup", "--stdin", "--item", "c")
	// One run holding a and b: its packs mix blobs only a is needed of later.
	e.ok(nil, "backup", "--command", "cat "+writeTemp(t, a), "--command", "cat "+writeTemp(t, b), "--item", "a", "--item", "b")
	// Another profile: the disk has less room than this profile's last
	// backup added, which the space check before a backup would refuse
	// (TestSpaceBeforeWork); everything of this one is deduplicated.
	e.ok(bytes.NewReader(a), "backup", "--stdin", "--item", "a", "--profile", "again")
	snaps := e.snapshots()
	e.ok(nil, "forget", snaps[0].ID, snaps[1].ID)
	r := e.expect(ExitNoSpace, nil, "prune", "--max-unused", "0%")
	if !strings.Contains(r.stderr, "no space left") {
		t.Fatalf("prune on a full disk: %s", r.stderr)
	}
	e.ok(nil, "check", "--read-data")
	out := e.ok(nil, "prune", "--max-unused", "unlimited")
	if !strings.Contains(out.stdout, "freed 2.0 MiB") {
		t.Fatalf("prune of wholly unused packs: %s", out.stdout)
	}
	e.ok(nil, "prune", "--max-unused", "0%")
	e.ok(nil, "check", "--read-data")
	if got := e.ok(nil, "dump", "latest", "a").stdout; got != string(a) {
		t.Fatal("a does not restore after prune on a full disk")
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// fill leaves about free bytes on the filesystem of dir.
func fill(t *testing.T, dir string, free int64) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	have := int64(st.Bavail) * int64(st.Bsize)
	p := filepath.Join(dir, "filler")
	old, _ := os.ReadFile(p)
	if err := os.WriteFile(p, make([]byte, int64(len(old))+have-free), 0o600); err != nil {
		t.Fatal(err)
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// TestSpaceBeforeWork: a backup warns when the repository's disk has less
// than twice what a backup of its group usually adds, and fails before
// writing anything below once that; with only the group's first backup to
// go by (it stored everything) it warns and goes on; a restore into a
// directory that cannot hold the items fails before writing anything.
func TestSpaceBeforeWork(t *testing.T) {
	disk := smallDisk(t, "8m")
	e := newEnv(t)
	e.vars["SNAP_REPO"] = filepath.Join(disk, "repo")
	e.ok(nil, "init")
	e.ok(bytes.NewReader(randData(1, 1<<20)), "backup", "--stdin", "--item", "s")
	fill(t, disk, 512<<10)
	r := e.ok(bytes.NewReader(randData(2, 10<<10)), "backup", "--stdin", "--item", "s")
	if !strings.Contains(r.stderr, "less than twice") || !strings.Contains(r.stderr, "the first backup") {
		t.Errorf("no warning with 0.5 MiB free after a first backup of 1 MiB: %q", r.stderr)
	}
	// Back up 1 MiB again: the median of the backups after the first is
	// then 1 MiB.
	fill(t, disk, 3<<20)
	e.ok(bytes.NewReader(randData(3, 1<<20)), "backup", "--stdin", "--item", "s")
	fill(t, disk, 512<<10)
	before := countFiles(t, filepath.Join(disk, "repo"))
	r = e.expect(ExitNoSpace, bytes.NewReader(randData(4, 10<<10)), "backup", "--stdin", "--item", "s")
	if !strings.Contains(r.stderr, "nothing was written") || !strings.Contains(r.stderr, "usually adds") || !strings.Contains(r.stderr, "hint: make room") {
		t.Errorf("refusal message: %q", r.stderr)
	}
	if after := countFiles(t, filepath.Join(disk, "repo")); after != before {
		t.Errorf("%d repository files before the refused backup, %d after", before, after)
	}
	// Restore into a disk too small for the item.
	small := smallDisk(t, "512k")
	target := filepath.Join(small, "out")
	r = e.expect(ExitNoSpace, nil, "restore", "latest", "--target", target)
	if !strings.Contains(r.stderr, "needs 1.0 MiB") {
		t.Errorf("restore refusal: %q", r.stderr)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("the refused restore created %s: %v", target, err)
	}
}
