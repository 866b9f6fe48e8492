package compress

import (
	"os"
	"path/filepath"
	"testing"

	"snap/internal/shapes"
)

// benchShapes are the kinds of data BenchmarkLevels compares the levels on:
// 24 MiB each, cut as a stream is (split) or one blob per file (tree).
var benchShapes = []struct {
	name  string
	parts func() [][]byte
}{
	{"json", func() [][]byte { return shapes.Split(shapes.JSONRows(1, 24<<20)) }},
	{"text", func() [][]byte { return shapes.Split(shapes.TextDump(1, 24<<20)) }},
	{"random", func() [][]byte { return shapes.Split(shapes.Random(1, 24<<20)) }},
	{"gzip", func() [][]byte { return shapes.Split(shapes.Gzipped(1, 24<<20)) }},
	{"mixed", func() [][]byte { return shapes.Split(shapes.Mixed(1, 24<<20)) }},
	{"tree", func() [][]byte { return shapes.TreeFiles(1, 24<<20) }},
}

// BenchmarkLevels compresses each shape at each level on one goroutine
// and reports the payload bytes per input byte as "ratio":
//
//	go test -run NONE -bench Levels -count 5 ./repo/compress
//
// SNAP_BENCH_FILES (paths, colon-separated) adds a shape per file, cut
// like a stream: e.g. the bench workload's dump.
func BenchmarkLevels(b *testing.B) {
	all := benchShapes
	for _, path := range filepath.SplitList(os.Getenv("SNAP_BENCH_FILES")) {
		all = append(all, struct {
			name  string
			parts func() [][]byte
		}{filepath.Base(path), func() [][]byte {
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			return shapes.Split(data)
		}})
	}
	for _, s := range all {
		parts := s.parts()
		var total int
		for _, p := range parts {
			total += len(p)
		}
		for _, level := range Levels {
			b.Run(s.name+"/"+level, func(b *testing.B) {
				enc, err := NewEncoder(level, 1)
				if err != nil {
					b.Fatal(err)
				}
				defer enc.Close()
				b.SetBytes(int64(total))
				var out []byte
				var n int
				for b.Loop() {
					n = 0
					for _, p := range parts {
						out = enc.Append(out[:0], p)
						n += len(out)
					}
				}
				b.ReportMetric(float64(n)/float64(total), "ratio")
			})
		}
	}
}
