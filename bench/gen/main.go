// Command gen writes a deterministic backup benchmark workload:
//
//	DIR/dump1.sql, DIR/dump2.sql   a pg_dump-like SQL stream, day 1 and day 2
//	DIR/tree1/, DIR/tree2/         a file tree, day 1 and day 2
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
	for _, name := range []string{"dump1.sql", "dump2.sql", "tree1", "tree2"} {
		if err := os.RemoveAll(filepath.Join(*out, name)); err != nil {
			log.Fatal(err)
		}
	}

	start := time.Now()
	var (
		wg     sync.WaitGroup
		ds     dumpStats
		ts     treeStats
		dErr   error
		tErr   error
		dumpsz = int64(600e6 * scale)
	)
	// The dump and the trees use separate random streams, so they can be
	// written concurrently without changing the output.
	wg.Go(func() {
		ds, dErr = genDumps(filepath.Join(*out, "dump1.sql"), filepath.Join(*out, "dump2.sql"), *seed, dumpsz)
	})
	wg.Go(func() {
		ts, tErr = genTrees(filepath.Join(*out, "tree1"), filepath.Join(*out, "tree2"), *seed, scale)
	})
	wg.Wait()
	if dErr != nil {
		log.Fatal("dump: ", dErr)
	}
	if tErr != nil {
		log.Fatal("tree: ", tErr)
	}
	fmt.Printf("dump1.sql %d bytes, %d rows\n", ds.bytes1, ds.rows)
	fmt.Printf("dump2.sql %d bytes, %d rows updated (%.2f%%), %d rows appended\n",
		ds.bytes2, ds.changed, 100*float64(ds.changed)/float64(ds.rows), ds.appended)
	fmt.Printf("tree1 %d files, %d bytes\n", ts.files1, ts.bytes1)
	fmt.Printf("tree2 %d files, %d bytes (%d modified, %d added, 1 large file partly rewritten)\n",
		ts.files2, ts.bytes2, ts.modified, ts.added)
	fmt.Printf("generated in %s\n", time.Since(start).Round(time.Millisecond))
}
