package repo_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"snap/internal/shapes"
	"snap/repo/backend"
	"snap/repo/backend/local"
	"snap/repo/backend/mem"
)

// schedTimes sums, over the process's threads, the time they ran and the
// time they waited runnable for a CPU (/proc/PID/task/TID/schedstat). On
// a machine shared with other work, ran/wall is the cores this process
// got, and (ran+waited)/wall the cores its pipeline could have used.
func schedTimes() (ran, waited time.Duration) {
	dirs, _ := os.ReadDir("/proc/self/task")
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/self/task/" + d.Name() + "/schedstat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		r, _ := strconv.ParseInt(f[0], 10, 64)
		w, _ := strconv.ParseInt(f[1], 10, 64)
		ran += time.Duration(r)
		waited += time.Duration(w)
	}
	return ran, waited
}

// cores measures f: the cores it got and the cores it could have used.
type cores struct{ ran, waited, wall time.Duration }

func (c *cores) measure(f func()) {
	r0, w0 := schedTimes()
	t0 := time.Now()
	f()
	c.wall += time.Since(t0)
	r1, w1 := schedTimes()
	c.ran += r1 - r0
	c.waited += w1 - w0
}

func (c *cores) report(b *testing.B) {
	b.ReportMetric(float64(c.ran)/float64(c.wall), "cores")
	b.ReportMetric(float64(c.ran+c.waited)/float64(c.wall), "wanted")
}

// BenchmarkPipeline backs up and restores 128 MiB streams of several shapes
// through a local repository (SNAP_BENCH_MEM=1: in memory) and reports
// the cores the process kept busy and the cores it wanted (see
// schedTimes):
//
//	go test -run NONE -bench Pipeline -count 3 ./repo
func BenchmarkPipeline(b *testing.B) {
	for _, s := range []struct {
		name string
		gen  func(uint64, int) []byte
	}{{"json", shapes.JSONRows}, {"text", shapes.TextDump}, {"random", shapes.Random}} {
		data := s.gen(1, 128<<20)
		b.Run(s.name+"/backup", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var c cores
			for b.Loop() {
				b.StopTimer()
				r := newFixture(b, benchBackend(b), nil).open(nil)
				b.StartTimer()
				c.measure(func() {
					if _, _, err := backupStream(r, "s", bytes.NewReader(data)); err != nil {
						b.Fatal(err)
					}
				})
			}
			c.report(b)
		})
		b.Run(s.name+"/restore", func(b *testing.B) {
			r := newFixture(b, benchBackend(b), nil).open(nil)
			snap, _, err := backupStream(r, "s", bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			it, _ := snap.Item("s")
			b.SetBytes(int64(len(data)))
			var c cores
			for b.Loop() {
				c.measure(func() {
					if _, err := r.StreamItem(context.Background(), it, io.Discard); err != nil {
						b.Fatal(err)
					}
				})
			}
			c.report(b)
		})
	}
}

// benchBackend is a local directory, or memory with SNAP_BENCH_MEM=1 (the
// pipeline without the disk).
func benchBackend(b *testing.B) backend.Backend {
	if os.Getenv("SNAP_BENCH_MEM") != "" {
		return mem.New()
	}
	return local.New(b.TempDir())
}
