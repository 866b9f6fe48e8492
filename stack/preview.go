package stack

import (
	"context"
	"fmt"
	"slices"

	"snap/repo"
	"snap/sources"
)

// Preview is what a restore of items would do, found without changing
// anything: one line per item (what it replaces, from sources.Previewer)
// and every container that would be stopped and started again.
type Preview struct {
	Items []string // "NAME: what is replaced"
	Stop  []string // containers stopped for the swap, apps first
}

// PreviewRestore reads the items and the live stack to say what Restore
// would replace. Items without a place fail it, as they fail Restore.
func PreviewRestore(ctx context.Context, r Reader, plan *sources.Plan, snap *repo.Snapshot, items []*repo.Item) (*Preview, error) {
	targets, err := restoreTargets(r, plan, snap, items)
	if err != nil {
		return nil, err
	}
	p := &Preview{Stop: plan.AppNames()}
	for _, t := range targets {
		line := fmt.Sprintf("restored (%s)", t.src.Kind())
		if pv, ok := t.src.(sources.Previewer); ok {
			if line, err = pv.Preview(ctx, t.st); err != nil {
				return nil, fmt.Errorf("item %q: %w", t.it.Name, t.st.cause(err))
			}
		}
		p.Items = append(p.Items, t.it.Name+": "+line)
		if s, ok := t.src.(sources.Stopper); ok {
			ids, err := s.MustStop(ctx)
			if err != nil {
				return nil, fmt.Errorf("item %q: %w", t.it.Name, err)
			}
			for _, id := range ids {
				if !slices.Contains(p.Stop, id) {
					p.Stop = append(p.Stop, id)
				}
			}
		}
	}
	return p, nil
}
