// Command gen writes a deterministic backup benchmark workload, one pair of
// inputs (day 1, day 2) per shape:
//
//	DIR/dump1.sql, DIR/dump2.sql   sql: a text-heavy pg_dump-like SQL stream
//	DIR/json1.sql, DIR/json2.sql   json: an n8n-like dump, mostly execution_data JSON
//	DIR/bin1.dat, DIR/bin2.dat     binary: random (already compressed) bytes
//	DIR/tree1/, DIR/tree2/         tree: a file tree
//
// The same -seed always gives the same bytes and mtimes. Usage:
//
//	go run ./bench/gen -out DIR -seed 1 [-small]
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Sizes at full scale: ~300 MB per stream shape and a ~490 MB tree, so
// that make bench (five tools, three runs) ends in under 25 minutes on a
// 2-core machine.
const (
	streamBytes = 300e6
	treeScale   = 0.5
)

func main() {
	out := flag.String("out", "", "output directory (required)")
	seed := flag.Uint64("seed", 1, "random seed")
	small := flag.Bool("small", false, "make everything ~20x smaller, for quick trials")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(0)
	scale := 1.0
	if *small {
		scale = 1.0 / 20
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	// Start from nothing so stale files from another seed or scale never mix in.
	for _, name := range []string{"dump1.sql", "dump2.sql", "json1.sql", "json2.sql", "bin1.dat", "bin2.dat", "tree1", "tree2"} {
		if err := os.RemoveAll(filepath.Join(*out, name)); err != nil {
			log.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(*out, name) }

	start := time.Now()
	var (
		wg               sync.WaitGroup
		ds, js, bs       dumpStats
		ts               treeStats
		dErr, jErr, bErr error
		tErr             error
		size             = int64(streamBytes * scale)
	)
	// Every output has its own random streams, so they can be written
	// concurrently without changing the bytes.
	wg.Go(func() { ds, dErr = genDumps(p("dump1.sql"), p("dump2.sql"), *seed, size) })
	wg.Go(func() { js, jErr = genJSONDumps(p("json1.sql"), p("json2.sql"), *seed, size) })
	wg.Go(func() {
		bs, bErr = genBinaryStreams(p("bin1.dat"), p("bin2.dat"), *seed, size, max(64<<10, int64(float64(1<<20)*scale)))
	})
	wg.Go(func() { ts, tErr = genTrees(p("tree1"), p("tree2"), *seed, treeScale*scale) })
	wg.Wait()
	for what, err := range map[string]error{"sql dump": dErr, "json dump": jErr, "binary stream": bErr, "tree": tErr} {
		if err != nil {
			log.Fatalf("%s: %v", what, err)
		}
	}
	fmt.Printf("dump1.sql %d bytes, %d rows\n", ds.bytes1, ds.rows)
	fmt.Printf("dump2.sql %d bytes, %d rows updated (%.2f%%), %d rows appended\n",
		ds.bytes2, ds.changed, 100*float64(ds.changed)/float64(ds.rows), ds.appended)
	fmt.Printf("json1.sql %d bytes, %d executions\n", js.bytes1, js.rows)
	fmt.Printf("json2.sql %d bytes, oldest 2%% of executions pruned, %d finished, %d appended\n", js.bytes2, js.changed, js.appended)
	fmt.Printf("bin1.dat %d bytes\n", bs.bytes1)
	fmt.Printf("bin2.dat %d bytes, %d regions rewritten, %d bytes appended\n", bs.bytes2, bs.changed, bs.appended)
	fmt.Printf("tree1 %d files, %d bytes\n", ts.files1, ts.bytes1)
	fmt.Printf("tree2 %d files, %d bytes (%d modified, %d added, 1 large file partly rewritten)\n",
		ts.files2, ts.bytes2, ts.modified, ts.added)
	fmt.Printf("generated in %s\n", time.Since(start).Round(time.Millisecond))
}
