package stack

import (
	"context"
	"errors"
	"io"
	"sync"

	"snap/repo"
)

// Reader is what a restore or a drill needs of the repository
// (*repo.Repository).
type Reader interface {
	StreamItem(ctx context.Context, it *repo.Item, w io.Writer) (int64, error)
	WriteTar(ctx context.Context, it *repo.Item, w io.Writer) error
	RestoreTree(ctx context.Context, it *repo.Item, target string) (*repo.RestoreStats, error)
}

// errStopped ends the repository's side of a stream whose reader was
// closed early: the consumer's own error, not this one, explains why.
var errStopped = errors.New("consumer stopped reading")

// stored is a snapshot item as a source reads it back (sources.Stored). It
// remembers the first repository error of its streams: when a source
// fails, a damaged or missing blob is the cause to report (it carries the
// repository's exit code), not what the cut stream made the source say.
type stored struct {
	r  Reader
	it *repo.Item

	mu      sync.Mutex
	readErr error
}

func newStored(r Reader, it *repo.Item) *stored { return &stored{r: r, it: it} }

func (s *stored) Name() string            { return s.it.Name }
func (s *stored) Size() int64             { return s.it.Size }
func (s *stored) Meta() map[string]string { return s.it.Meta }

func (s *stored) Open(ctx context.Context) io.ReadCloser {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		if s.it.Kind == repo.KindTree {
			err = s.r.WriteTar(ctx, s.it, pw)
		} else {
			_, err = s.r.StreamItem(ctx, s.it, pw)
		}
		pw.CloseWithError(err)
		if err != nil && !errors.Is(err, errStopped) && !errors.Is(err, io.ErrClosedPipe) {
			s.fail(err)
		}
	}()
	return &storedReader{pr: pr, done: done}
}

func (s *stored) Extract(ctx context.Context, dir string) error {
	_, err := s.r.RestoreTree(ctx, s.it, dir)
	if err != nil {
		s.fail(err)
	}
	return err
}

func (s *stored) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readErr == nil {
		s.readErr = err
	}
}

// cause is the error to report for a source that failed with err.
func (s *stored) cause(err error) error {
	if err == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readErr != nil {
		return s.readErr
	}
	return err
}

type storedReader struct {
	pr   *io.PipeReader
	done chan struct{}
}

func (r *storedReader) Read(p []byte) (int, error) { return r.pr.Read(p) }

// Close stops the repository's side and waits for it to end.
func (r *storedReader) Close() error {
	r.pr.CloseWithError(errStopped)
	<-r.done
	return nil
}
