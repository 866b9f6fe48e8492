package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
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
		delay := killAt(t, bin, env, bytes.NewReader(data), rng, span, "backup", "--stdin", "--item", "s", tree)

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

// killIterations is how many kills a kill -9 loop does (CI: 10; make
// crash: SNAP_KILL_ITERATIONS=100).
func killIterations() int {
	iters := 10
	if v, err := strconv.Atoi(os.Getenv("SNAP_KILL_ITERATIONS")); err == nil && v > 0 {
		iters = v
	}
	if testing.Short() {
		iters = 3
	}
	return iters
}

// killAt runs the snap binary with args (and stdin, if not nil) and kills
// it after a random part of span (sometimes after it finished).
func killAt(t *testing.T, bin string, env []string, stdin io.Reader, rng *rand.Rand, span time.Duration, args ...string) time.Duration {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdin = env, stdin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	delay := time.Duration(rng.Int64N(int64(span) * 11 / 10))
	timer := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	_ = cmd.Wait()
	timer.Stop()
	return delay
}

func timeRun(t *testing.T, bin string, env []string, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("snap %v: %v\n%s", args, err, out)
	}
	return time.Since(start)
}

func (e *env) environ() []string {
	env := os.Environ()
	for k, v := range e.vars {
		env = append(env, k+"="+v)
	}
	return env
}

// TestKill9DuringPrune kills real 'snap prune' processes at random moments
// while history is forgotten and added. After every kill, check finds no
// problem and the snapshots restore byte-exact; the next prune finishes.
func TestKill9DuringPrune(t *testing.T) {
	iters := killIterations()
	bin := snapBinary(t)
	e := newEnv(t)
	e.ok(nil, "init")
	env := e.environ()
	pool := make([][]byte, 8)
	for i := range pool {
		pool[i] = randData(uint64(200+i), 1<<20)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[string][32]byte{}
	day := 0
	backup := func() {
		day++
		var data []byte
		for range 4 {
			data = append(data, pool[rng.IntN(len(pool))]...)
		}
		data = append(data, randData(uint64(1000+day), 1<<20)...) // new every day
		e.ok(bytes.NewReader(data), "backup", "--stdin", "--item", "s")
		snaps := e.snapshots()
		want[snaps[len(snaps)-1].ID] = sha256.Sum256(data)
	}
	forgetOldest := func() {
		snaps := e.snapshots()
		e.ok(nil, "forget", snaps[0].ID)
		delete(want, snaps[0].ID)
	}
	verify := func(i int, all bool) {
		t.Helper()
		if r := e.run(nil, "check"); r.code != 0 {
			t.Fatalf("iteration %d: check after a killed prune: %s", i, r.stderr)
		}
		snaps := e.snapshots()
		if len(snaps) != len(want) {
			t.Fatalf("iteration %d: %d snapshots, want %d", i, len(snaps), len(want))
		}
		for k, s := range snaps {
			if !all && k != 0 && k != len(snaps)-1 && k != i%len(snaps) {
				continue
			}
			if got := sha256.Sum256([]byte(e.ok(nil, "dump", s.ID, "s").stdout)); got != want[s.ID] {
				t.Fatalf("iteration %d: snapshot %.8s restores different bytes", i, s.ID)
			}
		}
	}
	for range 6 {
		backup()
	}
	forgetOldest()
	span := timeRun(t, bin, env, "prune", "--max-unused", "0%")
	for i := range iters {
		forgetOldest()
		backup()
		delay := killAt(t, bin, env, nil, rng, span, "prune", "--max-unused", "0%")
		t.Logf("iteration %d: killed after %v", i, delay)
		verify(i, false)
	}
	e.ok(nil, "prune", "--max-unused", "0%")
	verify(iters, true)
	e.ok(nil, "check", "--read-data")
	t.Logf("kill -9 during prune: %d iterations, every snapshot restores", iters)
}

// TestKill9DuringSync kills real 'snap sync' processes at random moments
// while the source changes. After every kill the destination is a
// consistent repository whose listed snapshots restore; the next sync
// carries on.
func TestKill9DuringSync(t *testing.T) {
	iters := killIterations()
	bin := snapBinary(t)
	e := newEnv(t)
	e.ok(nil, "init")
	dest := filepath.Join(e.dir, "dest")
	os.Mkdir(dest, 0o700)
	want := map[string][32]byte{}
	add := func(seed uint64) {
		data := randData(seed, 6<<20)
		e.ok(bytes.NewReader(data), "backup", "--stdin", "--item", "s")
		snaps := e.snapshots()
		want[snaps[len(snaps)-1].ID] = sha256.Sum256(data)
	}
	for i := range 4 {
		add(uint64(300 + i))
	}
	env := e.environ()
	rng := rand.New(rand.NewPCG(5, 6))
	measure := filepath.Join(e.dir, "measure")
	os.Mkdir(measure, 0o700)
	span := timeRun(t, bin, env, "sync", measure)
	for i := range iters {
		if i%3 == 2 {
			// The source moves on: a new snapshot, the oldest forgotten
			// and pruned; --delete follows it.
			add(uint64(400 + i))
			snaps := e.snapshots()
			e.ok(nil, "forget", snaps[0].ID)
			delete(want, snaps[0].ID)
			e.ok(nil, "prune")
		}
		delay := killAt(t, bin, env, nil, rng, span, "sync", dest, "--delete")
		if r := e.run(nil, "check", "--repo", dest); r.code != 0 && r.code != ExitNoRepo {
			t.Fatalf("iteration %d (killed after %v): the destination has problems: %s", i, delay, r.stderr)
		}
		if r := e.run(nil, "snapshots", "--json", "--repo", dest); r.code == 0 {
			var snaps []snapshotJSON
			if err := json.Unmarshal([]byte(r.stdout), &snaps); err != nil {
				t.Fatal(err)
			}
			for k, s := range snaps {
				h, ok := want[s.ID]
				if !ok {
					continue // forgotten at the source; --delete removes it next time
				}
				if k != len(snaps)-1 && k != i%len(snaps) {
					continue
				}
				if got := sha256.Sum256([]byte(e.ok(nil, "dump", s.ID, "s", "--repo", dest).stdout)); got != h {
					t.Fatalf("iteration %d: snapshot %.8s restores different bytes from the destination", i, s.ID)
				}
			}
		}
	}
	e.ok(nil, "sync", dest, "--delete")
	e.ok(nil, "check", "--repo", dest, "--read-data")
	var snaps []snapshotJSON
	json.Unmarshal([]byte(e.ok(nil, "snapshots", "--json", "--repo", dest).stdout), &snaps)
	if len(snaps) != len(want) {
		t.Fatalf("destination has %d snapshots, source %d", len(snaps), len(want))
	}
	for _, s := range snaps {
		if got := sha256.Sum256([]byte(e.ok(nil, "dump", s.ID, "s", "--repo", dest).stdout)); got != want[s.ID] {
			t.Fatalf("snapshot %.8s restores different bytes from the destination", s.ID)
		}
	}
	t.Logf("kill -9 during sync: %d iterations, the destination stayed consistent", iters)
}
