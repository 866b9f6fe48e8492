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
