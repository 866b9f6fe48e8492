// Command gen writes one shape of data (package shapes) to stdout, for
// measuring a whole backup by hand:
//
//	go run ./internal/shapes/gen -shape json -mb 300 > /tmp/json.bin
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"snap/internal/shapes"
)

func main() {
	shape := flag.String("shape", "json", "json, text, random or mixed")
	mb := flag.Int("mb", 300, "size in MiB")
	flag.Parse()
	gen := map[string]func(uint64, int) []byte{
		"json": shapes.JSONRows, "text": shapes.TextDump, "random": shapes.Random, "mixed": shapes.Mixed,
	}[*shape]
	if gen == nil {
		fmt.Fprintf(os.Stderr, "unknown shape %q\n", *shape)
		os.Exit(2)
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	const piece = 8 << 20 // generated in pieces: memory stays small
	for i, left := 0, *mb<<20; left > 0; i++ {
		n := min(left, piece)
		left -= n
		if _, err := w.Write(gen(uint64(i)*100, n)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
