package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

func packFiles(t *testing.T, repoDir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(repoDir, "data", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// TestCheckRepairSync is the 2 AM path: check finds damage, names it and
// says what to do; an offsite copy made by sync mends it; without a copy,
// repair sets the damaged item aside and keeps the rest.
func TestCheckRepairSync(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	src := filepath.Join(e.dir, "app")
	os.MkdirAll(src, 0o755)
	for i := range 5 {
		os.WriteFile(filepath.Join(src, string(rune('a'+i))), randData(uint64(i), 50000), 0o644)
	}
	db := randData(9, 3<<20)
	e.ok(bytes.NewReader(db), "backup", "--stdin", "--item", "db.sql")
	first := map[string]bool{}
	for _, p := range packFiles(t, e.vars["SNAP_REPO"]) {
		first[p] = true
	}
	e.ok(nil, "backup", src)
	offsite := filepath.Join(e.dir, "offsite")
	os.Mkdir(offsite, 0o700)
	out := e.ok(nil, "sync", offsite)
	if !strings.Contains(out.stdout, "copied") {
		t.Fatalf("sync: %s", out.stdout)
	}
	if out := e.ok(nil, "check", "--read-data"); !strings.Contains(out.stdout, "no problems found") {
		t.Fatalf("check: %s", out.stdout)
	}
	e.ok(nil, "check", "--repo", offsite, "--read-data-subset", "1/2")
	// The offsite disk needs no key to be checked.
	noKey := newEnv(t)
	noKey.vars["SNAP_REPO"] = offsite
	delete(noKey.vars, "SNAP_PASSWORD")
	// What the keyless summary says matches what it read: no pack
	// without --read-data, every one with it, and a subset as such.
	if out := noKey.ok(nil, "check", "--keyless").stdout; !strings.Contains(out, "listed, none read") || strings.Contains(out, "checked against their names") {
		t.Fatalf("keyless check without --read-data:\n%s", out)
	}
	if out := noKey.ok(nil, "check", "--keyless", "--read-data").stdout; !strings.Contains(out, "packs: all ") {
		t.Fatalf("keyless check with --read-data:\n%s", out)
	}
	// The two halves of the packs are read by subsets 1/2 and 2/2 between
	// them, each pack once: the summaries' counts add up to the packs.
	total := len(packFiles(t, offsite))
	readBy := func(subset string) int {
		out := noKey.ok(nil, "check", "--keyless", "--read-data-subset", subset).stdout
		var read, of int
		if _, err := fmt.Sscanf(out[strings.Index(out, "packs: "):], "packs: %d of %d read", &read, &of); err == nil && of == total {
			return read
		}
		if strings.Contains(out, fmt.Sprintf("packs: all %d read", total)) {
			return total
		}
		t.Fatalf("keyless check of subset %s (%d packs):\n%s", subset, total, out)
		return 0
	}
	if a, b := readBy("1/2"), readBy("2/2"); a+b != total {
		t.Fatalf("subsets 1/2 and 2/2 read %d and %d packs of %d", a, b, total)
	}
	if out := e.ok(nil, "stats", "latest"); !strings.Contains(out.stdout, "reclaimable by prune") || !strings.Contains(out.stdout, "snapshot ") {
		t.Fatalf("stats: %s", out.stdout)
	}

	// A flipped bit in a pack: check names the pack, the snapshot it
	// affects and the fix.
	packs := packFiles(t, e.vars["SNAP_REPO"])
	b, _ := os.ReadFile(packs[0])
	b[20] ^= 1
	os.WriteFile(packs[0], b, 0o644)
	r := e.expect(ExitDamaged, nil, "check", "--read-data")
	name := filepath.Base(packs[0])
	if !strings.Contains(r.stderr, name[:8]) || !strings.Contains(r.stderr, "affects snapshot") || !strings.Contains(r.stderr, "repair packs --from") {
		t.Fatalf("check of a flipped bit:\n%s", r.stderr)
	}
	noKey.vars["SNAP_REPO"] = e.vars["SNAP_REPO"]
	noKey.expect(ExitDamaged, nil, "check", "--keyless", "--read-data")
	// The structure check does not read data, but the data check recorded
	// the pack as damaged: it says so until the pack is repaired.
	if r := e.expect(ExitDamaged, nil, "check"); !strings.Contains(r.stderr, "recorded as damaged") || !strings.Contains(r.stderr, name[:8]) {
		t.Fatalf("structure check of a recorded pack:\n%s", r.stderr)
	}
	out = e.ok(nil, "repair", "packs", "--from", offsite)
	if !strings.Contains(out.stdout, "intact copy") {
		t.Fatalf("repair packs --from: %s", out.stdout)
	}
	e.ok(nil, "check", "--read-data")
	dbID := e.snapshots()[0].ID
	if got := e.ok(nil, "dump", dbID, "db.sql").stdout; got != string(db) {
		t.Fatal("db.sql differs after repair from the copy")
	}

	// A lost pack of the second run and no copy: repair what can be.
	for _, p := range packs {
		if !first[p] {
			os.Remove(p)
			break
		}
	}
	r = e.expect(ExitDamaged, nil, "check")
	if !strings.Contains(r.stderr, "missing") || !strings.Contains(r.stderr, "to fix") {
		t.Fatalf("check of a lost pack:\n%s", r.stderr)
	}
	e.ok(nil, "repair", "index")
	e.ok(nil, "repair", "packs")
	out = e.ok(nil, "repair", "snapshots")
	if !strings.Contains(out.stdout, "items set aside") {
		t.Fatalf("repair snapshots: %s", out.stdout)
	}
	e.ok(nil, "check", "--read-data")
	e.ok(nil, "prune")
	snaps := e.snapshots()
	if len(snaps) != 2 || snaps[0].Status != "complete" || snaps[1].Status != "partial" || snaps[1].Items[0].Error == "" {
		t.Fatalf("after repair: %+v", snaps)
	}
	// The intact snapshot still restores, and is latest; the damaged item
	// says what happened.
	if got := e.ok(nil, "dump", "latest", "db.sql").stdout; got != string(db) || snaps[0].ID != dbID {
		t.Fatal("the intact snapshot changed, or is not latest")
	}
	r = e.expect(ExitDamaged, nil, "restore", snaps[1].ID, "--item", "app", "--target", filepath.Join(e.dir, "x"))
	if !strings.Contains(r.stderr, "damaged") {
		t.Fatalf("restore of a set-aside item: %s", r.stderr)
	}
}

// TestUnlock: a killed backup's lock is stale and removed; a live one is
// kept and makes an exclusive operation wait, then give up.
func TestUnlock(t *testing.T) {
	bin := snapBinary(t)
	e := newEnv(t)
	e.ok(nil, "init")
	env := os.Environ()
	for k, v := range e.vars {
		env = append(env, k+"="+v)
	}
	start := func() (*exec.Cmd, io.WriteCloser) {
		cmd := exec.Command(bin, "backup", "--stdin")
		cmd.Env = env
		w, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The backup holds its lock once it reads: feed it until the lock
		// file is there.
		for {
			if _, err := w.Write(make([]byte, 1<<16)); err != nil {
				t.Fatal(err)
			}
			if m, _ := filepath.Glob(filepath.Join(e.vars["SNAP_REPO"], "locks", "*")); len(m) > 0 {
				return cmd, w
			}
		}
	}
	live, w := start()
	r := e.expect(ExitLocked, nil, "repair", "index", "--retry-lock", "0")
	if !strings.Contains(r.stderr, "locked by backup") {
		t.Fatalf("exclusive beside a running backup: %s", r.stderr)
	}
	if out := e.ok(nil, "unlock"); !strings.Contains(out.stdout, "kept") {
		t.Fatalf("unlock of a live lock: %s", out.stdout)
	}
	w.Close()
	if err := live.Wait(); err != nil {
		t.Fatalf("the backup failed: %v", err)
	}

	dead, _ := start()
	dead.Process.Signal(syscall.SIGKILL)
	dead.Wait()
	// A dead process's lock does not block (its pid is gone) and unlock
	// removes it.
	e.ok(nil, "repair", "index", "--retry-lock", "0")
	if out := e.ok(nil, "unlock"); !strings.Contains(out.stdout, "removed") {
		t.Fatalf("unlock of a dead backup's lock: %s", out.stdout)
	}
	if m, _ := filepath.Glob(filepath.Join(e.vars["SNAP_REPO"], "locks", "*")); len(m) != 0 {
		t.Fatalf("%d locks left", len(m))
	}
}

func TestCopy(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	data := randData(3, 2<<20)
	e.ok(bytes.NewReader(data), "backup", "--stdin", "--item", "db.sql")
	other := filepath.Join(e.dir, "other")
	key := filepath.Join(e.dir, "other.key")
	e.ok(nil, "init", "--repo", other, "--key-file", key)
	e.ok(nil, "copy", "--to", other, "--to-key-file", key)
	if out := e.ok(nil, "copy", "--to", other, "--to-key-file", key); !strings.Contains(out.stdout, "skipped") {
		t.Fatalf("second copy: %s", out.stdout)
	}
	if got := e.ok(nil, "dump", "latest", "db.sql", "--repo", other, "--key-file", key).stdout; got != string(data) {
		t.Fatal("the copy restores different bytes")
	}
	e.vars["SNAP_TO_PASSWORD"] = e.vars["SNAP_PASSWORD"]
	if r := e.expect(ExitUsage, nil, "copy", "--to", e.vars["SNAP_REPO"]); !strings.Contains(r.stderr, "snap sync") {
		t.Fatalf("copy into itself: %s", r.stderr)
	}
}
