package main

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// snapBinary builds the real command once per test run.
func snapBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "snap-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "snap")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build snap: %v", buildErr)
	}
	return binPath
}

// TestKill9DuringBackup kills a real 'snap backup' process with SIGKILL at
// random moments. After every kill the repository must open, list, and
// restore every snapshot it lists byte-exact, and the next backup must
// work. SNAP_KILL_ITERATIONS sets the count (CI: 10; make crash: 100).
func TestKill9DuringBackup(t *testing.T) {
	iters := 10
	if v, err := strconv.Atoi(os.Getenv("SNAP_KILL_ITERATIONS")); err == nil && v > 0 {
		iters = v
	}
	if testing.Short() {
		iters = 3
	}
	bin := snapBinary(t)
	e := newEnv(t)
	e.ok(nil, "init")
	tree := filepath.Join(e.dir, "tree")
	for i := range 300 {
		d := filepath.Join(tree, strconv.Itoa(i/30))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, strconv.Itoa(i)), randData(uint64(i), 1000+i*97), 0o644)
	}
	want := map[string][32]byte{} // snapshot id → hash of its stream item
	day1 := randData(1000, 8<<20)
	e.ok(bytes.NewReader(day1), "backup", "--stdin", "--item", "s", tree)
	for _, s := range e.snapshots() {
		want[s.ID] = sha256.Sum256(day1)
	}

	env := os.Environ()
	for k, v := range e.vars {
		env = append(env, k+"="+v)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// Measure one uninterrupted run so kill times spread over a whole backup.
	start := time.Now()
	full := randData(1, 40<<20)
	cmd := exec.Command(bin, "backup", "--stdin", "--item", "s", tree)
	cmd.Env, cmd.Stdin = env, bytes.NewReader(full)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted backup: %v\n%s", err, out)
	}
	span := time.Since(start)
	for _, s := range e.snapshots() {
		if _, ok := want[s.ID]; !ok {
			want[s.ID] = sha256.Sum256(full)
		}
	}

	committed := 0
	for i := range iters {
		data := randData(uint64(100+i), 40<<20)
		cmd := exec.Command(bin, "backup", "--stdin", "--item", "s", tree)
		cmd.Env, cmd.Stdin = env, bytes.NewReader(data)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(span) * 11 / 10))
		timer := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		_ = cmd.Wait()
		timer.Stop()

		// Every snapshot is listed; new ones, the first and the latest
		// restore to exactly what was sent (all of them at the end: a
		// check of every snapshot each time would be quadratic).
		snaps := e.snapshots()
		for k, s := range snaps {
			h, ok := want[s.ID]
			if !ok {
				h = sha256.Sum256(data) // the run committed before the kill
				want[s.ID] = h
				committed++
			} else if k != 0 && k != len(snaps)-1 {
				continue
			}
			if got := sha256.Sum256([]byte(e.ok(nil, "dump", s.ID, "s").stdout)); got != h {
				t.Fatalf("iteration %d (kill after %v): snapshot %.8s restores different bytes", i, delay, s.ID)
			}
		}
		dst := filepath.Join(e.dir, "restore", strconv.Itoa(i))
		e.ok(nil, "restore", "latest", "--item", "tree", "--target", dst)
	}
	// Every snapshot restores byte-exact, and the next backup works.
	for _, s := range e.snapshots() {
		if got := sha256.Sum256([]byte(e.ok(nil, "dump", s.ID, "s").stdout)); got != want[s.ID] {
			t.Fatalf("snapshot %.8s restores different bytes", s.ID)
		}
	}
	e.ok(bytes.NewReader(day1), "backup", "--stdin", "--item", "s", tree)
	t.Logf("kill -9: %d iterations, %d committed before the kill, all snapshots restore", iters, committed)
}
