package stack_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"snap/repo"
	"snap/sources"
	"snap/stack"
)

// checker is a fake plan check: it sees the prepared "db" swap and the
// stored items, and refuses when told to (unless forced).
type checker struct {
	ev     *events
	refuse bool
	seen   *sources.Prepared
}

func (c *checker) Needs() []string { return []string{"db"} }

func (c *checker) CheckPrepared(_ context.Context, p *sources.Prepared) ([]string, error) {
	c.ev.add("check restore=%v force=%v", p.Restore, p.Force)
	c.seen = p
	if p.Swaps["db"] == nil || p.Stored["config"] == nil {
		return nil, fmt.Errorf("check: prepared %v, stored %v", p.Swaps, p.Stored)
	}
	if c.refuse && !p.Force {
		return []string{"checked"}, fmt.Errorf("%w: keys differ", sources.ErrRefused)
	}
	return []string{"checked"}, nil
}

// TestRestoreCheck: the plan's check runs after every item is prepared and
// before anything live is touched; its refusal aborts every swap and
// touches nothing; forced, the restore goes on.
func TestRestoreCheck(t *testing.T) {
	for _, force := range []bool{false, true} {
		w, f, snap := restoreWorld(t)
		c := &checker{ev: w.ev, refuse: true}
		f.plan.Checks = []sources.PlanChecker{c}
		var say []string
		o := f.restoreOptions(&say)
		o.Force = force
		err := stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), o)
		ev := w.ev
		t.Logf("force=%v events: %q", force, ev.all())
		i := ev.index("check ")
		if i < 0 || i < ev.last("prepare ") || (firstLive(ev) >= 0 && firstLive(ev) < i) {
			t.Errorf("force=%v: the check did not run between proving and touching: %q", force, ev.all())
		}
		if !slices.Contains(say, "checked") {
			t.Errorf("force=%v: check lines not said: %q", force, say)
		}
		if force {
			if err != nil || !ev.has("commit db") {
				t.Errorf("forced restore: %v, %q", err, ev.all())
			}
			continue
		}
		if !errors.Is(err, sources.ErrRefused) {
			t.Fatalf("got %v, want a refusal", err)
		}
		if firstLive(ev) >= 0 {
			t.Errorf("refused, but something live was touched: %q", ev.all())
		}
		if !ev.has("abort db") || !ev.has("abort cache") {
			t.Errorf("swaps not aborted after the refusal: %q", ev.all())
		}
	}
}

// TestVerifyCheck: a drill prepares what the check needs (not its own
// load-and-drop drill), runs the check, and aborts the swap afterwards; a
// check's failure fails the verify.
func TestVerifyCheck(t *testing.T) {
	w, f, snap := restoreWorld(t)
	c := &checker{ev: w.ev}
	f.plan.Checks = []sources.PlanChecker{c}
	var said []string
	got := map[string]string{}
	err := stack.Verify(context.Background(), w.r, f.plan, snap, stack.VerifyOptions{
		Report: func(it *repo.Item, msg string) { got[it.Name] = msg },
		Say:    func(m string) { said = append(said, m) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := w.ev
	t.Logf("events: %q", ev.all())
	if got["db"] != "prepared" || got["cache"] != "drilled" || !slices.Equal(said, []string{"checked"}) {
		t.Errorf("reports %v, said %q", got, said)
	}
	if c.seen == nil || c.seen.Restore || ev.index("abort db") < ev.index("check ") || firstLive(ev) >= 0 {
		t.Errorf("drill order: %q", ev.all())
	}
	c.refuse = true
	w.ev.reset()
	f.plan.Checks = []sources.PlanChecker{failing{}}
	if err := stack.Verify(context.Background(), w.r, f.plan, snap, stack.VerifyOptions{}); err == nil || !w.ev.has("abort db") {
		t.Errorf("a failing check: %v, %q", err, w.ev.all())
	}
}

type failing struct{}

func (failing) Needs() []string { return []string{"db"} }
func (failing) CheckPrepared(context.Context, *sources.Prepared) ([]string, error) {
	return nil, errors.New("2 of 3 credentials decrypt")
}
