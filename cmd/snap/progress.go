package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"snap/repo"
)

// startLine redraws a status line on a terminal every half second, with
// what line says for the time elapsed; under cron (no TTY), with --quiet
// or --json it prints nothing. The returned func clears the line.
func startLine(g *globalOptions, line func(elapsed time.Duration) string) func() {
	f := g.progressTTY()
	if f == nil {
		return func() {}
	}
	done, fin := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(fin)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		start := now()
		for {
			select {
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(f, "\r\033[K"+line(now().Sub(start)))
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-fin }) }
}

// startProgress shows a backup's progress.
func startProgress(g *globalOptions, w *repo.Writer) func() {
	return startLine(g, func(el time.Duration) string {
		st := w.Stats()
		return fmt.Sprintf("[%s] %s new, %d blobs, %d packs, %s sent", el.Round(time.Second),
			formatBytes(st.BytesNew.Load()), st.BlobsNew.Load(), st.Packs.Load(), formatBytes(g.store.Counts().BytesSent))
	})
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// progressTTY returns stderr when progress should be shown there: a
// terminal, and neither --quiet nor --json.
func (g *globalOptions) progressTTY() *os.File {
	f, ok := g.stderr.(*os.File)
	if g.Quiet || g.JSON || !ok || !isTerminal(f) {
		return nil
	}
	return f
}

// startStoreProgress shows what the store sent so far and how fast
// (restore, dump: long downloads from a bucket).
func startStoreProgress(g *globalOptions) func() {
	if g.store == nil {
		return func() {}
	}
	return startLine(g, func(el time.Duration) string {
		n := g.store.Counts().BytesReceived
		return fmt.Sprintf("[%s] %s received, %s/s", el.Round(time.Second), formatBytes(n), formatBytes(int64(float64(n)/el.Seconds())))
	})
}
