package repo

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"snap/cache"
	"snap/crypt"
	"snap/repo/backend"
)

// loadFuture is one blob being loaded for an in-order consumer.
type loadFuture struct {
	id      crypt.ID
	entry   cache.Entry // the preferred copy, when located
	located bool
	data    []byte
	err     error
	done    chan struct{}
}

// Bounds of one ranged read of several blobs: a few packs' worth of reads
// in flight stay small, and a gap wider than maxSpanGap (bytes of blobs
// not asked for) is not worth downloading.
const (
	maxSpanBytes = 8 << 20
	maxSpanBlobs = 32
	maxSpanGap   = 256 << 10
)

// planSpans groups a window's blobs into reads: the located blobs of one
// pack, by offset, cut where a gap wider than maxSpanGap (bytes no blob of
// the window needs) would be downloaded, or a read would pass
// maxSpanBytes. A backup's workers finish chunks out of order, so
// neighbours in a stream are near each other in a pack, not in order.
func planSpans(win []*loadFuture) [][]*loadFuture {
	byPack := map[crypt.ID][]*loadFuture{}
	var packs []crypt.ID
	var out [][]*loadFuture
	for _, f := range win {
		if !f.located {
			out = append(out, []*loadFuture{f})
			continue
		}
		if byPack[f.entry.Pack] == nil {
			packs = append(packs, f.entry.Pack)
		}
		byPack[f.entry.Pack] = append(byPack[f.entry.Pack], f)
	}
	for _, p := range packs {
		fs := byPack[p]
		slices.SortFunc(fs, func(a, b *loadFuture) int { return cmp.Compare(a.entry.Offset, b.entry.Offset) })
		start := 0
		for i := 1; i <= len(fs); i++ {
			if i < len(fs) {
				prevEnd := fs[i-1].entry.Offset + fs[i-1].entry.Length
				e := fs[i].entry
				if e.Offset < prevEnd+maxSpanGap && e.Offset+e.Length-fs[start].entry.Offset <= maxSpanBytes {
					continue
				}
			}
			out = append(out, fs[start:i])
			start = i
		}
	}
	return out
}

// spanOf is the byte range of a group's blobs in their pack.
func spanOf(g []*loadFuture) (off, end uint64) {
	off, end = g[0].entry.Offset, g[0].entry.Offset+g[0].entry.Length
	for _, f := range g[1:] {
		off, end = min(off, f.entry.Offset), max(end, f.entry.Offset+f.entry.Length)
	}
	return off, end
}

// loadSpan reads the blobs of g, neighbours in one pack, with one ranged
// read, and completes their futures. Any blob the span does not give
// (a read error, damage) is loaded on its own by LoadBlob, which tries
// other copies and records damage.
func (r *Repository) loadSpan(ctx context.Context, c *cache.Cache, g []*loadFuture, buf func() []byte) {
	off, end := spanOf(g)
	raw, err := r.readSpan(ctx, g[0].entry.Pack, off, end)
	for _, f := range g {
		if err == nil {
			lo := f.entry.Offset - off
			f.data, f.err = r.openStored(c, f.entry, raw[lo:lo+f.entry.Length:lo+f.entry.Length], buf())
		}
		if err != nil || f.err != nil {
			f.data, f.err = r.LoadBlob(ctx, f.id, buf())
		}
		close(f.done)
	}
}

func (r *Repository) readSpan(ctx context.Context, pack crypt.ID, off, end uint64) ([]byte, error) {
	h := backend.Handle{Type: backend.PackFile, Name: pack.String()}
	rd, err := r.be.Open(ctx, h, int64(off), int64(end-off))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	raw := make([]byte, end-off)
	if _, err := io.ReadFull(rd, raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// loadOrdered loads ids on the worker pool, at most window ahead of the
// consumer, and calls fn with each plaintext in order. fn must not keep
// the slice.
func (r *Repository) loadOrdered(ctx context.Context, ids []crypt.ID, fn func(crypt.ID, []byte) error) error {
	if len(ids) == 0 {
		return nil
	}
	if !r.CanRead() {
		return ErrWriteOnly
	}
	c, err := r.Index(ctx)
	if err != nil {
		return err
	}
	// A store without random access (s3) answers each read after a round
	// trip and bills it: neighbouring blobs of one pack are read in one
	// ranged request.
	_, random := r.be.(backend.ReaderAtOpener)
	spans := !random
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Loads wait on the store as much as on the CPU: a remote store
	// answers each read after a round trip, so as many reads are in
	// flight as the store has connections (and at least one per core).
	n := max(r.workers(), r.connections())
	order := make(chan *loadFuture, n*2)
	tasks := make(chan []*loadFuture)
	var pool sync.Pool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range tasks {
				get := func() []byte {
					if b, ok := pool.Get().(*[]byte); ok {
						return *b
					}
					return nil
				}
				if len(g) > 1 {
					r.loadSpan(ctx, c, g, get)
					continue
				}
				f := g[0]
				f.data, f.err = r.LoadBlob(ctx, f.id, get())
				close(f.done)
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(tasks)
		// A window of ids at a time: its groups go to the workers before
		// its futures go in order, so the consumer never waits on a
		// future whose group is not sent. Without spans a window is one
		// id, as reads are then cheap and memory stays n*2 blobs.
		for len(ids) > 0 {
			var win []*loadFuture
			var bytes uint64
			for len(ids) > 0 && (len(win) == 0 || spans && len(win) < maxSpanBlobs && bytes < maxSpanBytes) {
				f := &loadFuture{id: ids[0], done: make(chan struct{})}
				ids = ids[1:]
				if spans {
					f.entry, f.located, _ = c.Lookup(f.id) // a failed lookup: LoadBlob reports it
					bytes += f.entry.Length
				}
				win = append(win, f)
			}
			for _, g := range planSpans(win) {
				select {
				case tasks <- g:
				case <-ctx.Done():
					return
				}
			}
			for _, f := range win {
				select {
				case order <- f:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	for f := range order {
		select {
		case <-f.done:
		case <-ctx.Done():
		}
		if err == nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else if f.err != nil {
				err = f.err
			} else {
				err = fn(f.id, f.data)
				b := f.data[:0]
				pool.Put(&b)
			}
			if err != nil {
				cancel()
			}
		}
	}
	wg.Wait()
	return err
}

// StreamItem writes a stream item's bytes to w, verifying the total size.
func (r *Repository) StreamItem(ctx context.Context, it *Item, w io.Writer) (int64, error) {
	if err := it.available(); err != nil {
		return 0, err
	}
	if it.Kind != KindStream {
		return 0, fmt.Errorf("item %q is a %s item, not a stream", it.Name, it.Kind)
	}
	if !r.CanRead() {
		return 0, ErrWriteOnly
	}
	ids, err := r.LoadRefs(ctx, it.Refs)
	if err != nil {
		return 0, err
	}
	var total int64
	err = r.loadOrdered(ctx, ids, func(_ crypt.ID, b []byte) error {
		n, err := w.Write(b)
		total += int64(n)
		return err
	})
	if err != nil {
		return total, err
	}
	if total != it.Size {
		return total, fmt.Errorf("item %q: restored %d bytes, snapshot says %d", it.Name, total, it.Size)
	}
	return total, nil
}
