package backendtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"snap/repo/backend"
)

// Fault is what a Faulty backend does at its Nth Save.
type Fault int

const (
	// FailSave returns an error and writes nothing.
	FailSave Fault = iota
	// NoSpace returns ENOSPC (wrapped as the real backend does) and writes nothing.
	NoSpace
	// TruncateSave stores only the first half of the bytes under the name
	// and returns an error: what a non-atomic store could leave behind.
	TruncateSave
	// FailAfter makes the Nth Save and every later one fail, as a crash would.
	FailAfter
	// CrashRemove makes the Nth Remove and every later Remove and Save
	// fail, as a crash while deleting would; N counts Removes.
	CrashRemove
)

// ErrInjected is the error a Faulty backend returns.
var ErrInjected = errors.New("injected fault")

// Faulty wraps a Backend and injects a fault at the Nth Save (1-based),
// optionally only for one file type.
type Faulty struct {
	backend.Backend
	N     int
	Fault Fault
	Only  backend.FileType // "" means every type

	mu      sync.Mutex
	saves   int
	removes int
	hit     bool
}

// Removes returns how many Removes were attempted.
func (f *Faulty) Removes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removes
}

// Remove implements backend.Backend.
func (f *Faulty) Remove(ctx context.Context, h backend.Handle) error {
	f.mu.Lock()
	if f.Only == "" || h.Type == f.Only {
		f.removes++
	}
	inject := f.Fault == CrashRemove && f.N > 0 && (f.hit || f.removes >= f.N && (f.Only == "" || h.Type == f.Only))
	if inject {
		f.hit = true
	}
	f.mu.Unlock()
	if inject {
		return fmt.Errorf("%w: remove %v", ErrInjected, h)
	}
	return f.Backend.Remove(ctx, h)
}

// Saves returns how many Saves were attempted.
func (f *Faulty) Saves() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.saves
}

// Hit reports whether the fault was injected.
func (f *Faulty) Hit() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hit
}

// Save implements backend.Backend.
func (f *Faulty) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	f.mu.Lock()
	if f.Only == "" || h.Type == f.Only {
		f.saves++
	}
	n := f.saves
	inject := f.N > 0 && f.Fault != CrashRemove && (n == f.N || (f.Fault == FailAfter && n > f.N)) && (f.Only == "" || h.Type == f.Only)
	inject = inject || (f.Fault == CrashRemove && f.hit)
	if inject {
		f.hit = true
	}
	f.mu.Unlock()
	if !inject {
		return f.Backend.Save(ctx, h, rd)
	}
	switch f.Fault {
	case NoSpace:
		return fmt.Errorf("%w: %v", backend.ErrNoSpace, syscall.ENOSPC)
	case TruncateSave:
		b, err := io.ReadAll(rd)
		if err != nil {
			return err
		}
		if err := f.Backend.Save(ctx, h, backend.NewByteReader(b[:len(b)/2])); err != nil {
			return err
		}
		return fmt.Errorf("%w: truncated %v", ErrInjected, h)
	}
	return fmt.Errorf("%w: save %v", ErrInjected, h)
}
