package stack

import (
	"context"
	"fmt"
	"io"

	"snap/repo"
	"snap/sources"
)

// VerifyOptions say how a verify reports.
type VerifyOptions struct {
	// Report, if set, gets each item verified and what was proven.
	Report func(it *repo.Item, msg string)
	// Say, if set, gets the lines of the plan's checks.
	Say func(msg string)
}

// Verify reads every item of snap in full, once: items whose plan source
// has a restore drill (Driller) are loaded into scratch space through it,
// the others are decrypted and authenticated. plan may be nil (no drills).
// Nothing live is touched.
//
// The plan's checks (sources.PlanChecker) run last, over the items they
// need prepared (loaded into scratch space as for a restore, and thrown
// away after the check) and the stored others.
func Verify(ctx context.Context, r Reader, plan *sources.Plan, snap *repo.Snapshot, o VerifyOptions) (err error) {
	needs := checkNeeds(plan)
	p := &sources.Prepared{Stored: map[string]sources.Stored{}, Swaps: map[string]sources.Swap{}}
	defer func() {
		for name, sw := range p.Swaps {
			if aerr := sw.Abort(context.WithoutCancel(ctx)); aerr != nil && err == nil {
				err = fmt.Errorf("item %q: %w", name, aerr)
			}
		}
	}()
	for i := range snap.Items {
		it := &snap.Items[i]
		st := newStored(r, it)
		p.Stored[it.Name] = st
		var msg string
		var err error
		if pr := checkPreparer(plan, needs, it); pr != nil {
			var sw sources.Swap
			sw, msg, err = pr.Prepare(ctx, st)
			err = st.cause(err)
			if err == nil {
				p.Swaps[it.Name] = sw
			}
		} else {
			msg, err = verifyItem(ctx, r, plan, it, st)
		}
		if err != nil {
			return fmt.Errorf("item %q: %w", it.Name, err)
		}
		if o.Report != nil {
			o.Report(it, msg)
		}
	}
	if plan == nil || len(plan.Checks) == 0 {
		return nil
	}
	say := o.Say
	if say == nil {
		say = func(string) {}
	}
	return runChecks(ctx, plan, p, say)
}

// planSource is the plan's source of a stored item, if the plan has one of
// the kind the item was backed up from.
func planSource(plan *sources.Plan, it *repo.Item) sources.Source {
	if plan == nil {
		return nil
	}
	if pi := plan.Item(it.Name); pi != nil && pi.Source.Kind() == it.Meta["source"] {
		return pi.Source
	}
	return nil
}

// checkPreparer is the plan source of an item a check needs prepared.
func checkPreparer(plan *sources.Plan, needs map[string]bool, it *repo.Item) sources.Preparer {
	if !needs[it.Name] {
		return nil
	}
	pr, _ := planSource(plan, it).(sources.Preparer)
	return pr
}

// verifyItem drills the item through its plan source when it can, else
// reads it whole.
func verifyItem(ctx context.Context, r Reader, plan *sources.Plan, it *repo.Item, st *stored) (string, error) {
	if d, ok := planSource(plan, it).(sources.Driller); ok {
		msg, err := d.Drill(ctx, st)
		return msg, st.cause(err)
	}
	var err error
	if it.Kind == repo.KindTree {
		err = r.WriteTar(ctx, it, io.Discard)
	} else {
		_, err = r.StreamItem(ctx, it, io.Discard)
	}
	return "decrypts and authenticates", err
}
