package stack

import (
	"context"
	"fmt"

	"snap/sources"
)

// runChecks runs the plan's checks over the prepared items: after every
// item is prepared, before anything live is touched.
func runChecks(ctx context.Context, plan *sources.Plan, p *sources.Prepared, say func(string)) error {
	for _, c := range plan.Checks {
		lines, err := c.CheckPrepared(ctx, p)
		for _, l := range lines {
			say(l)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkNeeds are the items the plan's checks read prepared.
func checkNeeds(plan *sources.Plan) map[string]bool {
	if plan == nil {
		return nil
	}
	out := map[string]bool{}
	for _, c := range plan.Checks {
		for _, n := range c.Needs() {
			out[n] = true
		}
	}
	return out
}

// restoreChecks runs the plan's checks in a restore.
func restoreChecks(ctx context.Context, plan *sources.Plan, targets []*target, swaps map[*target]sources.Swap, force bool, say func(string)) error {
	if len(plan.Checks) == 0 {
		return nil
	}
	p := &sources.Prepared{Stored: map[string]sources.Stored{}, Swaps: map[string]sources.Swap{}, Restore: true, Force: force}
	for _, t := range targets {
		p.Stored[t.it.Name] = t.st
		if sw, ok := swaps[t]; ok {
			p.Swaps[t.it.Name] = sw
		}
	}
	if err := runChecks(ctx, plan, p, say); err != nil {
		return fmt.Errorf("before anything was stopped or replaced: %w", err)
	}
	return nil
}
