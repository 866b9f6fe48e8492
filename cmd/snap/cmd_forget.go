package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"snap/crypt"
	"snap/repo"
	"snap/repo/retention"
)

// durationFlag is a retention duration ("7d", "1y6m") as a pflag.Value.
type durationFlag struct{ d *retention.Duration }

func (f durationFlag) String() string {
	if f.d == nil || f.d.Zero() {
		return ""
	}
	return f.d.String()
}
func (f durationFlag) Set(s string) error {
	d, err := retention.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}
func (durationFlag) Type() string { return "duration" }

// forgetOptions are the policy, the filters and what to do after.
type forgetOptions struct {
	Policy  retention.Policy
	Tags    []string // --keep-tag, each "a,b"
	GroupBy string
	Hosts   []string
	Filter  []string // --tag filter
	Profile []string
	DryRun  bool
	Force   bool
	Prune   bool
	prune   pruneOptions
	// prunes: the caller prunes next (snap run), which extends the
	// object locks itself: of everything the snapshots need, right
	// after its scan and before anything it does can fail (even when it
	// then stops for missing blobs), as ExtendLocks would.
	prunes bool
}

func (o *forgetOptions) AddFlags(fs *pflag.FlagSet) {
	p := &o.Policy
	fs.IntVar(&p.Last, "keep-last", 0, "keep the N newest snapshots (-1: all)")
	fs.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last N hours with one")
	fs.IntVar(&p.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last N days with one")
	fs.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last N ISO weeks with one")
	fs.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last N months with one")
	fs.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last N years with one")
	fs.Var(durationFlag{&p.Within}, "keep-within", "keep every snapshot within this of the newest one (e.g. 2d, 1y6m)")
	fs.Var(durationFlag{&p.WithinHourly}, "keep-within-hourly", "keep hourly snapshots within this of the newest one")
	fs.Var(durationFlag{&p.WithinDaily}, "keep-within-daily", "keep daily snapshots within this of the newest one")
	fs.Var(durationFlag{&p.WithinWeekly}, "keep-within-weekly", "keep weekly snapshots within this of the newest one")
	fs.Var(durationFlag{&p.WithinMonthly}, "keep-within-monthly", "keep monthly snapshots within this of the newest one")
	fs.Var(durationFlag{&p.WithinYearly}, "keep-within-yearly", "keep yearly snapshots within this of the newest one")
	fs.StringArrayVar(&o.Tags, "keep-tag", nil, "keep snapshots with these tags (\"a,b\": both; repeatable: either)")
	fs.StringVar(&o.GroupBy, "group-by", "host,profile", "apply the policy to each group of snapshots with the same host, profile and/or tags")
	fs.StringArrayVar(&o.Hosts, "host", nil, "only snapshots of this host (repeatable)")
	fs.StringArrayVar(&o.Filter, "tag", nil, "only snapshots with these tags (\"a,b\": both; repeatable: either)")
	fs.StringArrayVar(&o.Profile, "profile", nil, "only snapshots of this profile (repeatable)")
	fs.BoolVarP(&o.DryRun, "dry-run", "n", false, "print what would be removed, remove nothing")
	fs.BoolVar(&o.Force, "force", false, "allow a policy that removes every snapshot of a group")
	fs.BoolVar(&o.Prune, "prune", false, "prune afterwards, freeing the space the removed snapshots used")
	o.prune.AddFlags(fs)
}

func init() {
	register(&command{
		name:    "forget",
		summary: "remove snapshots by a retention policy (or by id), optionally prune",
		usage: `Usage: snap forget --keep-daily N [--keep-...] [--prune] [--dry-run]
       snap forget SNAPSHOT...

Applies a retention policy to each group of snapshots (by default the same
host and profile, so one stack's history never eats another's) and removes
the snapshots no rule keeps. Every snapshot is listed with why it is kept
or removed. --keep-within* count back from the newest snapshot, not from
now, so a backup that stopped running never makes forget remove everything.
Partial snapshots never count toward a rule; they are removed once a
complete snapshot is newer. A policy that would remove every snapshot of a
group is refused unless --force.

forget only removes snapshot files; the space is freed by prune (--prune
runs it now). A write-only key can forget and prune.

Examples:
  snap forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune
  snap forget --keep-within 30d --keep-monthly 12 --dry-run
  snap forget --keep-last 3 --profile n8n --host web1
  snap forget 1a2b3c4d`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o forgetOptions
			o.AddFlags(fs)
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runForget(ctx, g, &o, args)
			}
		},
	})
}

type forgetGroup struct {
	Group     string           `json:"group"`
	Decisions []forgetDecision `json:"snapshots"`
}

type forgetDecision struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Keep    bool      `json:"keep"`
	Reasons []string  `json:"reasons"`
}

type forgetResult struct {
	Groups  []forgetGroup    `json:"groups"`
	Removed int              `json:"removed"`
	Kept    int              `json:"kept"`
	DryRun  bool             `json:"dry_run"`
	Prune   *repo.PruneStats `json:"prune,omitempty"`
	IDs     []string         `json:"removed_ids,omitempty"`
	Policy  string           `json:"policy,omitempty"`
	// Locks: under Object Lock, the locks of what the kept snapshots
	// need, extended (prune does it itself with --prune).
	Locks *repo.LockStats `json:"object_locks,omitempty"`
}

func parseTagLists(in []string) [][]string {
	var out [][]string
	for _, s := range in {
		var l []string
		for _, t := range strings.Split(s, ",") {
			if t = strings.TrimSpace(t); t != "" {
				l = append(l, t)
			}
		}
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	return out
}

func hasTags(s *repo.Snapshot, lists [][]string) bool {
	if len(lists) == 0 {
		return true
	}
	for _, l := range lists {
		all := true
		for _, t := range l {
			all = all && slices.Contains(s.Tags, t)
		}
		if all {
			return true
		}
	}
	return false
}

func runForget(ctx context.Context, g *globalOptions, o *forgetOptions, args []string) error {
	o.Policy.Tags = parseTagLists(o.Tags)
	if len(args) > 0 && !o.Policy.Empty() {
		return usagef("give snapshot ids or a policy, not both")
	}
	if len(args) == 0 && o.Policy.Empty() {
		return usagef("no policy: give --keep-daily N or another --keep-* rule (or snapshot ids); see 'snap help forget'")
	}
	groupBy, err := retention.ParseGroupBy(o.GroupBy)
	if err != nil {
		return usagef("%v", err)
	}
	r, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	// With --prune the forget already holds prune's lock: one lock, no gap.
	op := repo.OpForget
	if o.Prune && !o.DryRun {
		op = repo.OpPrune
	}
	lock, err := g.lock(ctx, r, op, false)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	res, err := forget(ctx, g, o, r, lock, groupBy, args)
	if err != nil {
		return err
	}
	if g.JSON {
		writeJSON(g.stdout, res)
	}
	return nil
}

// forget applies the policy (or removes the given ids) under a held lock;
// snap run calls it too.
func forget(ctx context.Context, g *globalOptions, o *forgetOptions, r *openedRepo, lock *repo.Lock, groupBy retention.GroupBy, ids []string) (*forgetResult, error) {
	res := &forgetResult{Groups: []forgetGroup{}, DryRun: o.DryRun, IDs: []string{}}
	var remove []*repo.Snapshot
	if len(ids) > 0 {
		for _, ref := range ids {
			s, err := r.FindSnapshot(ctx, ref)
			if errors.Is(err, repo.ErrDamaged) && ref != "latest" {
				// A damaged snapshot can be forgotten by its id.
				var name string
				if name, err = r.SnapshotName(ctx, ref); err == nil {
					s = &repo.Snapshot{}
					s.ID, err = crypt.ParseID(name)
				}
			}
			if err != nil {
				return nil, err
			}
			remove = append(remove, s)
		}
	} else {
		res.Policy = o.Policy.String()
		all, err := r.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		byID := map[string]*repo.Snapshot{}
		var in []retention.Snapshot
		hostF, tagF := o.Hosts, parseTagLists(o.Filter)
		for _, s := range all {
			if (len(hostF) > 0 && !slices.Contains(hostF, s.Host)) || (len(o.Profile) > 0 && !slices.Contains(o.Profile, s.Profile)) || !hasTags(s, tagF) {
				continue
			}
			byID[s.ID.String()] = s
			in = append(in, retention.Snapshot{ID: s.ID.String(), Time: s.Time, Host: s.Host, Profile: s.Profile, Tags: s.Tags, Complete: s.Status == repo.StatusComplete})
		}
		for _, grp := range retention.Group(in, groupBy) {
			decisions := retention.Apply(grp, o.Policy, time.Local)
			fg := forgetGroup{Group: groupBy.Key(grp[0])}
			kept := 0
			var rm []*repo.Snapshot
			for _, d := range decisions {
				fg.Decisions = append(fg.Decisions, forgetDecision{ID: d.ID, Time: d.Time, Keep: d.Keep, Reasons: d.Reasons})
				if d.Keep {
					kept++
				} else {
					rm = append(rm, byID[d.ID])
				}
			}
			if kept == 0 && !o.Force {
				return nil, usagef("the policy (%s) would remove all %d snapshots of group %s; refusing: change the policy, or give --force", o.Policy, len(grp), fg.Group)
			}
			res.Kept += kept
			remove = append(remove, rm...)
			res.Groups = append(res.Groups, fg)
		}
		printForget(g, res)
	}
	var forgotten []crypt.ID
	for _, s := range remove {
		forgotten = append(forgotten, s.ID)
		if o.DryRun {
			res.IDs = append(res.IDs, s.ID.String())
			continue
		}
		if err := lock.Check(); err != nil {
			return res, err
		}
		if err := r.ForgetSnapshot(ctx, s.ID); err != nil {
			return res, err
		}
		res.IDs = append(res.IDs, s.ID.String())
	}
	res.Removed = len(res.IDs)
	verb := "removed"
	if o.DryRun {
		verb = "would remove"
	}
	g.printf("%s %d snapshots, keeping %d\n", verb, res.Removed, res.Kept)
	if o.Prune {
		st, err := prune(ctx, g, &o.prune, r, lock, o.DryRun, forgotten...)
		res.Prune = st
		if err != nil {
			return res, err
		}
	} else if !o.DryRun && !o.prunes {
		st, err := r.ExtendLocks(ctx)
		res.Locks = st
		if err != nil {
			return res, err
		}
		printLocks(g, "forget", st)
	}
	return res, nil
}

func printForget(g *globalOptions, res *forgetResult) {
	for _, grp := range res.Groups {
		g.printf("%s: policy %s\n", grp.Group, res.Policy)
		for _, d := range grp.Decisions {
			action := "keep  "
			if !d.Keep {
				action = "remove"
			}
			g.printf("  %s  %s  %s  %s\n", action, shortID(d.ID), d.Time.Local().Format("2006-01-02 15:04:05 Mon"), strings.Join(d.Reasons, "; "))
		}
	}
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
