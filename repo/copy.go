package repo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"snap/crypt"
)

// errCopyStopped tells the reading side that the writing side gave up
// (its error is the cause).
var errCopyStopped = errors.New("copy stopped reading")

// CopySnapshot copies snapshot s of src into dst, another repository with
// its own keys and chunker parameters: every item is read back (decrypted)
// and saved again through dst's writer, so it is re-chunked, deduplicated
// against what dst holds and sealed with dst's keys. Tree items travel as a
// tar stream (modes, owners, times, links kept; sockets are not). The new
// snapshot keeps s's time, host, profile, tags and item metadata, and
// records s in CopiedFrom. It needs src's full key and only dst's
// metadata key; the caller holds locks on both.
func CopySnapshot(ctx context.Context, src *Repository, s *Snapshot, dst *Repository, dstLock *Lock) (*Snapshot, error) {
	if !src.CanRead() {
		return nil, ErrWriteOnly
	}
	w, err := dst.NewWriter(ctx)
	if err != nil {
		return nil, err
	}
	out := &Snapshot{Time: s.Time, Host: s.Host, Profile: s.Profile, Tags: s.Tags, Program: s.Program, Status: s.Status, Duration: s.Duration}
	from := s.ID
	out.CopiedFrom = &from
	for i := range s.Items {
		it := s.Items[i]
		if it.Error != "" {
			it.Refs, it.Tree = nil, nil
			out.Items = append(out.Items, it)
			continue
		}
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			var err error
			if it.Kind == KindTree {
				err = src.WriteTar(ctx, &it, pw)
			} else {
				_, err = src.StreamItem(ctx, &it, pw)
			}
			pw.CloseWithError(err)
			done <- err
		}()
		var ids []crypt.ID
		var size int64
		if it.Kind == KindTree {
			var res TreeResult
			res, err = w.SaveTar(pr)
			ids, size = res.Refs, res.Size
			root := res.Root
			it.Tree, it.Files, it.Dirs = &root, res.Files, res.Dirs
		} else {
			var res StreamResult
			res, err = w.SaveStream(pr)
			ids, size = res.Chunks, res.Size
		}
		pr.CloseWithError(errCopyStopped)
		if rerr := <-done; rerr != nil && !errors.Is(rerr, errCopyStopped) {
			err = rerr // reading the source failed: that is the cause
		}
		if err == nil && size != it.Size {
			err = fmt.Errorf("copied %d bytes, the snapshot says %d", size, it.Size)
		}
		if err == nil {
			if it.Kind == KindTree {
				it.Refs, err = w.SaveTreeRefs(ids)
			} else {
				it.Refs, err = w.SaveRefs(ids)
			}
		}
		if err != nil {
			w.Abort()
			return nil, fmt.Errorf("copy snapshot %s item %q: %w", s.ID.Short(), it.Name, err)
		}
		it.Added = w.Claim(ids, it.Refs)
		out.Items = append(out.Items, it)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	out.Stored = w.Stats().BytesStored.Load()
	if err := dstLock.Check(); err != nil {
		return nil, err
	}
	if _, err := dst.SaveSnapshot(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}
