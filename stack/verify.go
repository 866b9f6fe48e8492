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
}

// Verify reads every item of snap in full, once: items whose plan source
// has a restore drill (Driller) are loaded into scratch space through it,
// the others are decrypted and authenticated. plan may be nil (no drills).
// Nothing live is touched.
func Verify(ctx context.Context, r Reader, plan *sources.Plan, snap *repo.Snapshot, o VerifyOptions) error {
	for i := range snap.Items {
		it := &snap.Items[i]
		msg, err := verifyItem(ctx, r, plan, it)
		if err != nil {
			return fmt.Errorf("item %q: %w", it.Name, err)
		}
		if o.Report != nil {
			o.Report(it, msg)
		}
	}
	return nil
}

func verifyItem(ctx context.Context, r Reader, plan *sources.Plan, it *repo.Item) (string, error) {
	if plan != nil {
		if pi := plan.Item(it.Name); pi != nil && pi.Source.Kind() == it.Meta["source"] {
			if d, ok := pi.Source.(sources.Driller); ok {
				st := newStored(r, it)
				msg, err := d.Drill(ctx, st)
				return msg, st.cause(err)
			}
		}
	}
	var err error
	if it.Kind == repo.KindTree {
		err = r.WriteTar(ctx, it, io.Discard)
	} else {
		_, err = r.StreamItem(ctx, it, io.Discard)
	}
	return "decrypts and authenticates", err
}
