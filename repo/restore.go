package repo

import (
	"context"
	"fmt"
	"io"
	"sync"

	"snap/crypt"
)

// loadFuture is one blob being loaded for an in-order consumer.
type loadFuture struct {
	id   crypt.ID
	data []byte
	err  error
	done chan struct{}
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
	if _, err := r.Index(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Loads wait on the store as much as on the CPU: a remote store
	// answers each read after a round trip, so as many reads are in
	// flight as the store has connections (and at least one per core).
	n := max(r.workers(), r.connections())
	order := make(chan *loadFuture, n*2)
	tasks := make(chan *loadFuture)
	var pool sync.Pool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range tasks {
				var buf []byte
				if b, ok := pool.Get().(*[]byte); ok {
					buf = *b
				}
				f.data, f.err = r.LoadBlob(ctx, f.id, buf)
				close(f.done)
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(tasks)
		for _, id := range ids {
			f := &loadFuture{id: id, done: make(chan struct{})}
			select {
			case order <- f:
			case <-ctx.Done():
				return
			}
			select {
			case tasks <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	var err error
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
