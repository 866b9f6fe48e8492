package stack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"snap/repo"
	"snap/sources"
)

// Controller stops and starts containers (*docker.Client, or
// docker.Containers for a plan's shared client).
type Controller interface {
	// Stop stops a container if it runs and says whether it ran.
	Stop(ctx context.Context, id string) (wasRunning bool, err error)
	Start(ctx context.Context, id string) error
}

// RestoreOptions say how a restore reaches containers and reports.
type RestoreOptions struct {
	// Containers stops the plan's apps and what items must not run
	// while restored. Needed only when there are any.
	Containers Controller
	// Say, if set, gets one line per step ("postgres: database n8n
	// replaced: ...", "stopped n8n-n8n-1").
	Say func(msg string)
	// Force restores even when a plan check refuses (sources.ErrRefused).
	Force bool
}

// ErrNoController: the plan has containers to stop but no Controller was
// given.
var ErrNoController = errors.New("stack: the restore must stop containers but has no Controller")

// target is one item of a restore and where it goes.
type target struct {
	it  *repo.Item
	src sources.Source
	st  *stored
}

// Restore puts items of snap back into the running stack plan describes,
// in the order that never loses data:
//
//  1. every item that can be proven is loaded into scratch space and
//     checked (Preparer); nothing live is touched until all are;
//  2. the plan's apps are stopped, then what the items must not have
//     running (Stopper);
//  3. each item is put in place (Swap.Commit or Restorer), in restore
//     order;
//  4. what was stopped and had been running is started again, also on
//     failure; prepared swaps not committed are aborted.
//
// Items whose kind has no restore (command output) or no place in the
// plan are left out.
func Restore(ctx context.Context, r Reader, plan *sources.Plan, snap *repo.Snapshot, items []*repo.Item, o RestoreOptions) (err error) {
	say := o.Say
	if say == nil {
		say = func(string) {}
	}
	targets, err := restoreTargets(r, plan, snap, items)
	if err != nil {
		return err
	}
	// 1. Prove what can be proven while the stack still runs.
	swaps := map[*target]sources.Swap{}
	defer func() {
		if err == nil {
			return
		}
		for _, sw := range swaps {
			_ = sw.Abort(context.WithoutCancel(ctx))
		}
	}()
	for _, t := range targets {
		p, ok := t.src.(sources.Preparer)
		if !ok {
			continue
		}
		sw, msg, err := p.Prepare(ctx, t.st)
		if err != nil {
			return fmt.Errorf("item %q: %w", t.it.Name, t.st.cause(err))
		}
		swaps[t] = sw
		say(t.it.Name + ": " + msg)
	}
	// 1b. The plan's own checks over the prepared items (checks.go).
	if err := restoreChecks(ctx, plan, targets, swaps, o.Force, say); err != nil {
		return err
	}
	// 2. Stop every app (queue workers and webhook processors first, with
	// time to drain, then main) so nothing writes while its data changes,
	// then what the items need stopped. Started again in reverse order
	// (main before the workers), also on failure, and then asked whether
	// they answer.
	var stopped []string
	stop := func(id string) error {
		if slices.Contains(stopped, id) {
			return nil
		}
		if o.Containers == nil {
			return ErrNoController
		}
		ran, err := o.Containers.Stop(ctx, id)
		if err != nil {
			return err
		}
		if ran {
			stopped = append(stopped, id)
		}
		return nil
	}
	defer func() {
		started := map[string]bool{}
		apps := plan.AppNames()
		for i := len(stopped) - 1; i >= 0; i-- {
			id := stopped[i]
			serr := o.Containers.Start(context.WithoutCancel(ctx), id)
			if serr != nil && err == nil {
				err = serr
			} else if serr != nil {
				// The first error keeps its type (and exit code); a
				// container left stopped must still be said.
				err = fmt.Errorf("%w; and starting %s again failed: %v", err, id, serr)
			} else if slices.Contains(apps, id) {
				started[id] = true
				say("started " + id)
			}
		}
		appsReady(context.WithoutCancel(ctx), plan.Apps, started, say)
	}()
	if len(plan.Apps) > 0 {
		if o.Containers == nil {
			return ErrNoController
		}
		var err error
		stopped, err = stopApps(ctx, o.Containers, plan.AppsInStopOrder(), say)
		if err != nil {
			return err
		}
	}
	for _, t := range targets {
		s, ok := t.src.(sources.Stopper)
		if !ok {
			continue
		}
		ids, err := s.MustStop(ctx)
		if err != nil {
			return fmt.Errorf("item %q: %w", t.it.Name, err)
		}
		for _, id := range ids {
			if err := stop(id); err != nil {
				return fmt.Errorf("item %q: %w", t.it.Name, err)
			}
		}
	}
	// 3. Put each item back, in restore order (roles, database, cache,
	// volume, files). From the first item on, live data has changed: a
	// discrepancy (not damage) found by an item's own check is kept for
	// the end, so that the other items are still restored and the apps
	// started: a half-restored stack is worse than a reported difference.
	sort.SliceStable(targets, func(i, j int) bool {
		return sources.RestoreOrder(targets[i].src) < sources.RestoreOrder(targets[j].src)
	})
	var disc []error
	defer func() {
		if err == nil && len(disc) > 0 {
			err = &DiscrepancyError{Errs: disc}
		}
	}()
	for _, t := range targets {
		var msg string
		var err error
		if sw, ok := swaps[t]; ok {
			// Never abort a swap whose commit was tried: a failed
			// commit may have dropped the live data already, and then
			// the prepared copy is all there is (its error says so).
			delete(swaps, t)
			msg, err = sw.Commit(ctx)
		} else if rs, ok := t.src.(sources.Restorer); ok {
			msg, err = rs.Restore(ctx, t.st)
		} else {
			continue
		}
		if errors.Is(err, sources.ErrDiscrepancy) {
			err = fmt.Errorf("item %q: %w", t.it.Name, err)
			disc = append(disc, err)
			say(err.Error() + " (restored; checked again at the end)")
			continue
		}
		if err != nil {
			return fmt.Errorf("item %q: %w", t.it.Name, t.st.cause(err))
		}
		say(t.it.Name + ": " + msg)
	}
	return nil
}

// DiscrepancyError is a restore that put every item back and started the
// apps, but whose items' own checks found differences from what the backup
// recorded (sources.ErrDiscrepancy). Each error names its item.
type DiscrepancyError struct {
	Errs []error
}

func (e *DiscrepancyError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return "every item was restored and the apps started, but " + strings.Join(msgs, "; ")
}

// Unwrap lets errors.Is find ErrDiscrepancy and each item's cause.
func (e *DiscrepancyError) Unwrap() []error { return e.Errs }

// restoreTargets finds where each item goes before anything runs: an item
// without a place fails the restore before anything is touched.
func restoreTargets(r Reader, plan *sources.Plan, snap *repo.Snapshot, items []*repo.Item) ([]*target, error) {
	var out []*target
	for _, it := range items {
		if err := snap.CheckItem(it); err != nil {
			return nil, err
		}
		src, err := plan.Target(it.Name, it.Meta)
		if err != nil {
			return nil, fmt.Errorf("item %q: %w", it.Name, err)
		}
		if src == nil {
			continue
		}
		if kind := it.Meta["source"]; src.Kind() != kind {
			return nil, fmt.Errorf("item %q: the snapshot has it from a %s source, the plan now from a %s source", it.Name, kind, src.Kind())
		}
		out = append(out, &target{it: it, src: src, st: newStored(r, it)})
	}
	return out, nil
}
