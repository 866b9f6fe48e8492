package main

import (
	"context"
	"encoding/binary"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"snap/crypt"
	"snap/repo"
	"snap/repo/backend/local"
	"snap/repo/format"
)

// TestPruneMemoryLargeRepo measures forget+prune's peak RSS on a synthetic
// repository of SNAP_PRUNE_BLOBS blobs (e.g. 1000000) of
// SNAP_PRUNE_BLOB_SIZE bytes (default 64: the worst case, 150k blobs per
// pack) in 10 overlapping snapshots, half of them forgotten. It is a
// measurement for the closing notes, not a timing test: it checks a loose
// bound that the memory regressions seen while building it (750 MiB)
// would fail, and that the repository checks clean afterwards.
func TestPruneMemoryLargeRepo(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SNAP_PRUNE_BLOBS"))
	if n == 0 {
		t.Skip("a measurement: set SNAP_PRUNE_BLOBS=1000000 to run it")
	}
	bin := snapBinary(t)
	e := newEnv(t)
	key := filepath.Join(e.dir, "key")
	e.ok(nil, "init", "--key-file", key)
	m, err := loadKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := repo.Open(ctx, local.New(e.vars["SNAP_REPO"]), m, repo.Options{CacheDir: e.vars["SNAP_CACHE_DIR"]})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w, err := r.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]crypt.ID, n)
	size, _ := strconv.Atoi(os.Getenv("SNAP_PRUNE_BLOB_SIZE"))
	buf := make([]byte, max(size, 64))
	fill := mrand.NewChaCha8([32]byte{1}) // incompressible: packs shaped like real data
	for i := range ids {
		if size > 64 {
			_, _ = fill.Read(buf[16:])
		}
		binary.LittleEndian.PutUint64(buf, uint64(i))
		binary.LittleEndian.PutUint64(buf[8:], 0x9e3779b97f4a7c15*uint64(i+1))
		if ids[i], err = w.SaveBlob(format.TypeData, buf); err != nil {
			t.Fatal(err)
		}
	}
	// Ten snapshots, each needing a window of half the blobs.
	var snaps []*repo.Snapshot
	for s := range 10 {
		lo := s * n / 20
		refs, err := w.SaveRefs(ids[lo : lo+n/2])
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, &repo.Snapshot{Time: time.Date(2026, 3, 1+s, 2, 0, 0, 0, time.UTC), Host: "h", Status: repo.StatusComplete,
			Items: []repo.Item{{Name: "s", Kind: repo.KindStream, Size: int64(len(buf) * n / 2), Refs: refs}}})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if _, err := r.SaveSnapshot(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	t.Logf("made %d blobs in %v", n, time.Since(start))
	env := e.environ()
	env = append(env, "SNAP_KEY_FILE="+key, "SNAP_REPORT_PEAK_RSS=1")
	cmd := exec.Command(bin, "forget", "--keep-last", "5", "--prune", "--max-unused", "0%")
	cmd.Env = env
	start = time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("forget --prune: %v\n%s", err, out)
	}
	// The child's own peak (VmHWM): its rusage would count this test
	// process's memory too (exec after vfork).
	var rss int64
	if i := strings.Index(string(out), "snap: peak RSS "); i >= 0 {
		kb, _ := strconv.ParseInt(strings.Fields(string(out[i+len("snap: peak RSS "):]))[0], 10, 64)
		rss = kb / 1024
	}
	t.Logf("forget --prune of %d blobs: %v, peak RSS %d MiB\n%s", n, time.Since(start), rss, out)
	if rss == 0 || rss > 400 {
		t.Fatalf("peak RSS %d MiB is over 400 MiB", rss)
	}
	e.vars["SNAP_KEY_FILE"] = key
	e.ok(nil, "check")
}
