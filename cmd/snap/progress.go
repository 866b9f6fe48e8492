package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/term"

	"snap/repo"
)

// progress prints a status line on a terminal; under cron (no TTY), with
// --quiet or --json it prints nothing.
type progress struct {
	done chan struct{}
	fin  chan struct{}
}

func startProgress(g *globalOptions, w *repo.Writer) *progress {
	p := &progress{done: make(chan struct{}), fin: make(chan struct{})}
	f := g.progressTTY()
	if f == nil {
		close(p.fin)
		return p
	}
	go func() {
		defer close(p.fin)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		start := now()
		for {
			select {
			case <-p.done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
				st := w.Stats()
				fmt.Fprintf(f, "\r\033[K[%s] %s new, %d blobs, %d packs, %s sent", now().Sub(start).Round(time.Second),
					formatBytes(st.BytesNew.Load()), st.BlobsNew.Load(), st.Packs.Load(), formatBytes(g.store.Counts().BytesSent))
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
	<-p.fin
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

// startStoreProgress shows, on a terminal, what the store sent so far and
// how fast (restore, dump, check --read-data: long downloads from a
// bucket). The returned func clears the line.
func startStoreProgress(g *globalOptions) func() {
	f := g.progressTTY()
	if f == nil || g.store == nil {
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
				el := now().Sub(start)
				n := g.store.Counts().BytesReceived
				fmt.Fprintf(f, "\r\033[K[%s] %s received, %s/s", el.Round(time.Second), formatBytes(n), formatBytes(int64(float64(n)/el.Seconds())))
			}
		}
	}()
	return func() { close(done); <-fin }
}
