package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"snap/repo"
	"snap/repo/backend"
)

type repairOptions struct {
	From   string
	DryRun bool
}

func init() {
	register(&command{
		name:    "repair",
		summary: "mend damage that check found: index, packs, snapshots",
		usage: `Usage: snap repair index
       snap repair packs [--from DIR] [PACK...]
       snap repair snapshots [--dry-run]

What 'snap check' prints under "to fix", in that order:

  index      rebuild the index from the pack headers (lost or damaged
             index files). Needs only the metadata key.
  packs      replace each damaged pack (all packs are read, or the ones
             named) by an intact copy of the same name from --from, another
             copy of the repository such as a 'snap sync' destination;
             without a copy, salvage the blobs that still verify into new
             packs (needs the full key) and drop the damaged pack. Clears
             the record of each pack replaced, salvaged or read intact, so
             backups may deduplicate against it again.
  snapshots  set aside the items of each snapshot that need blobs no pack
             holds any more: the snapshot is rewritten, marked partial, the
             damaged items keep their name with an error, everything else
             stays restorable. Needs only the metadata key.

Each takes an exclusive lock, writes new files before it removes old ones,
and can be run again after an interruption.

Examples:
  snap check --read-data
  snap repair packs --from /mnt/offsite/snap
  snap repair index
  snap repair snapshots --dry-run`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o repairOptions
			fs.StringVar(&o.From, "from", "", "packs: another copy of the repository to take intact packs from")
			fs.BoolVarP(&o.DryRun, "dry-run", "n", false, "snapshots: print what would be set aside, change nothing")
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runRepair(ctx, g, &o, args)
			}
		},
	})
}

func runRepair(ctx context.Context, g *globalOptions, o *repairOptions, args []string) error {
	if len(args) == 0 {
		return usagef("repair what? index, packs or snapshots (see 'snap help repair')")
	}
	what, rest := args[0], args[1:]
	if what != "packs" && len(rest) > 0 {
		return usagef("repair %s takes no arguments", what)
	}
	if what != "packs" && o.From != "" {
		return usagef("--from is for repair packs")
	}
	var from backend.Backend
	if o.From != "" {
		var err error
		if from, err = openCopy(ctx, g, o.From); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "snap-repair-cache-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r, err := g.openWith(ctx, repo.Options{CacheDir: tmp, StateDir: g.stateDir(), SkipDamagedIndex: true})
	if err != nil {
		return err
	}
	defer r.Close()
	lock, err := g.lock(ctx, r, repo.OpRepair, !(what == "snapshots" && o.DryRun))
	if err != nil {
		return err
	}
	defer lock.Unlock()
	switch what {
	case "index":
		st, err := r.RepairIndex(ctx, lock)
		if err != nil {
			return err
		}
		if g.JSON {
			writeJSON(g.stdout, st)
		}
		for _, p := range st.Unreadable {
			warn(g, "pack %s: header unreadable, left out of the index ('snap repair packs' deals with it)", p)
		}
		g.printf("indexed %d packs (%d blobs) in %d new index files; removed %d old index files\n", st.Packs, st.Blobs, st.IndexWritten, st.IndexDeleted)
	case "packs":
		po := repo.RepairPacksOptions{Packs: rest, Lock: lock}
		po.From = from
		fixed, err := r.RepairPacks(ctx, po)
		if g.JSON {
			writeJSON(g.stdout, fixed)
		}
		lost := 0
		for _, p := range fixed {
			switch {
			case p.FromCopy:
				g.printf("pack %.8s: replaced by the intact copy from %s\n", p.Pack, o.From)
			default:
				lost += len(p.Lost)
				g.printf("pack %.8s: salvaged %d blobs, lost %d (%s); the pack is removed\n", p.Pack, p.Salvaged, len(p.Lost), strings.Join(shorten(p.Lost, 5), ", "))
			}
		}
		if err != nil {
			return err
		}
		if len(fixed) == 0 {
			g.printf("no damaged packs\n")
		}
		if lost > 0 {
			g.printf("next: 'snap repair snapshots' sets aside the items that needed the lost blobs\n")
		}
	case "snapshots":
		res, err := r.RepairSnapshots(ctx, repo.RepairSnapshotsOptions{DryRun: o.DryRun, Lock: lock})
		if err != nil {
			return err
		}
		if g.JSON {
			writeJSON(g.stdout, res)
		}
		for _, s := range res.Rewritten {
			if o.DryRun {
				g.printf("snapshot %.8s: would be rewritten, items set aside: %s\n", s.Old, strings.Join(s.Items, ", "))
			} else {
				g.printf("snapshot %.8s: rewritten as %.8s (partial), items set aside: %s\n", s.Old, s.New, strings.Join(s.Items, ", "))
			}
		}
		for _, n := range res.Unreadable {
			warn(g, "snapshots/%s is unreadable: copy it back from another copy of the repository, or remove it with 'snap forget %.8s'", n, n)
		}
		if len(res.Rewritten) == 0 {
			g.printf("no snapshot needs a lost blob\n")
		}
	default:
		return usagef("repair what? index, packs or snapshots, not %q", what)
	}
	return nil
}

func shorten(ids []string, n int) []string {
	var out []string
	for i, id := range ids {
		if i == n {
			return append(out, "…")
		}
		out = append(out, shortID(id))
	}
	return out
}

// openCopy opens repair's --from. A copy that is not there is a usage
// error: taken for a copy without the pack, it would make repair salvage
// (and lose blobs) instead of replacing the pack whole.
func openCopy(ctx context.Context, g *globalOptions, s string) (backend.Backend, error) {
	loc, err := parseLocation("--from", s)
	if err != nil {
		return nil, err
	}
	be, err := g.openLocation(ctx, "--from", loc, false)
	if err != nil {
		return nil, err
	}
	_, err = be.Stat(ctx, backend.Handle{Type: backend.ConfigFile})
	if errors.Is(err, backend.ErrNotExist) {
		return nil, usagef("--from %s: no repository there (give a copy of this repository, such as a 'snap sync' destination)", s)
	}
	if err != nil {
		return nil, fmt.Errorf("--from %s: %w", s, err)
	}
	return be, nil
}
