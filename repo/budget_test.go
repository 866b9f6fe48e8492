package repo

import (
	"context"
	"errors"
	"testing"
)

// TestByteBudget: acquire takes bytes while they fit, lets one piece larger
// than the whole budget through alone, and waits otherwise (seen through a
// cancelled context, which makes a wait fail at once).
func TestByteBudget(t *testing.T) {
	b := newByteBudget(100)
	ctx := context.Background()
	done, cancel := context.WithCancelCause(ctx)
	errFull := errors.New("would wait")
	cancel(errFull)
	if err := b.acquire(done, 250); err != nil {
		t.Fatalf("a piece over the budget, nothing held: %v", err)
	}
	if err := b.acquire(done, 1); !errors.Is(err, errFull) {
		t.Fatalf("acquire beside an oversized piece: %v", err)
	}
	b.release(250)
	for range 4 {
		if err := b.acquire(done, 25); err != nil {
			t.Fatalf("within the budget: %v", err)
		}
	}
	if err := b.acquire(done, 1); !errors.Is(err, errFull) {
		t.Fatalf("acquire past the budget: %v", err)
	}
	got := make(chan error)
	go func() { got <- b.acquire(ctx, 50) }()
	b.release(25)
	b.release(25)
	if err := <-got; err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if b.used != 100 {
		t.Fatalf("used %d, want 100", b.used)
	}
}
