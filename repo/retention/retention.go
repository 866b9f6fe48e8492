// Package retention is snap's retention policy, the decision behind
// "snap forget": a pure function from one group of snapshots and a Policy
// to keep or remove, with human-readable reasons, for every snapshot. It
// follows restic's forget policy; the differences are listed at the end.
//
// # How rules combine
//
// Snapshots are grouped first (GroupBy; snap's default is host,profile) and
// every group is decided on its own. Inside a group each rule walks the
// snapshots from newest to oldest by itself, and a snapshot is kept when
// any rule keeps it. Adding a rule therefore never removes a snapshot.
//
//   - Last N keeps the N newest snapshots.
//   - Hourly, Daily, Weekly, Monthly and Yearly N keep the newest snapshot
//     of each of the N newest hours, days, ISO weeks, months or years that
//     have a snapshot. Periods without one are skipped, not counted, so
//     Daily 7 over a history with gaps reaches back further than a week.
//     When a rule has count left over at the oldest snapshot, that snapshot
//     is kept too ("oldest daily snapshot"), as restic does: a young
//     history keeps its start.
//   - A count of -1 (any negative count) means unlimited.
//   - Within D keeps every snapshot newer than D before the newest one;
//     WithinHourly D ... WithinYearly D keep one snapshot per period inside
//     that window (and the oldest, as above).
//   - Tags keeps every snapshot carrying all tags of any one of its lists.
//
// An empty policy keeps everything; callers should refuse it rather than
// rely on that.
//
// # Within counts from the newest snapshot, not from now
//
// Every Within window ends at the newest complete snapshot of the group,
// never at the wall clock. If backups stop running for a month, "within 7d"
// still keeps the last week of backups that exist instead of nothing, and
// Apply gives the same answer whenever it runs.
//
// # Partial snapshots
//
// A partial snapshot (some item failed or is damaged) is not a backup one
// may rely on, so it never counts toward a rule and never takes a period
// from a complete snapshot: periods and the Within anchor are computed over
// complete snapshots only, and adding partial snapshots to a group never
// changes what happens to its complete ones. A partial snapshot newer than
// the newest complete one is kept (it may hold the only copy of the items
// that did succeed); an older one is removed. Tags still keep a tagged
// partial snapshot, because the operator asked for it by name.
//
// # Time zones
//
// Periods are calendar periods in the operator's time zone (the loc given
// to Apply): a day runs from local midnight to local midnight and is 23 or
// 25 hours long on daylight-saving change days, and the same instants can
// fall on different days in different zones. Durations are calendar units
// too: "1d" back from 12:00 is 12:00 the previous day even across a DST
// change, and months and years go back by calendar month and year.
//
// # Differences from restic
//
// Partial snapshots do not exist in restic. The Within anchor ignores them
// and is not capped at the current time (restic skips snapshots in the
// future, which ties its answer to the clock). An hour that repeats when
// clocks go back counts as two hourly periods (restic merges them). Any
// negative count is unlimited (restic: only -1). ParseDuration is stricter
// than restic's: no negative numbers, no unit given twice.
package retention

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Snapshot is what the policy needs of a snapshot.
type Snapshot struct {
	ID       string // full id, unique; labels snapshots and orders equal times
	Time     time.Time
	Host     string
	Profile  string
	Tags     []string
	Complete bool // false for a partial snapshot (some item failed or is damaged)
}

// Policy says which snapshots of a group to keep; the zero Policy has no
// rule. Counts are 0 for "rule off" and -1 for unlimited.
type Policy struct {
	// Last keeps the Last newest snapshots; Hourly ... Yearly keep the
	// newest snapshot of each of the Hourly newest hours (days, ISO weeks,
	// months, years) that have a snapshot.
	Last, Hourly, Daily, Weekly, Monthly, Yearly int

	// Within keeps every snapshot newer than Within before the newest
	// complete snapshot of the group.
	Within Duration
	// WithinHourly ... WithinYearly keep the newest snapshot of each
	// period newer than the duration before the newest complete snapshot.
	WithinHourly, WithinDaily, WithinWeekly, WithinMonthly, WithinYearly Duration

	// Tags keeps a snapshot that carries all tags of any one list: the
	// flag values "a,b" and "c" become {{"a", "b"}, {"c"}}, meaning
	// (a AND b) OR c. Empty lists are ignored: they would match every
	// snapshot.
	Tags [][]string
}

// Empty reports whether p has no rule at all.
func (p Policy) Empty() bool {
	for _, n := range []int{p.Last, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly} {
		if n != 0 {
			return false
		}
	}
	for _, d := range []Duration{p.Within, p.WithinHourly, p.WithinDaily, p.WithinWeekly, p.WithinMonthly, p.WithinYearly} {
		if !d.Zero() {
			return false
		}
	}
	return len(p.tagLists()) == 0
}

// String is a one-line summary for humans, e.g.
// "keep 7 daily, 4 weekly, everything within 2d of the newest".
func (p Policy) String() string {
	var parts []string
	switch {
	case p.Last < 0:
		parts = append(parts, "all snapshots")
	case p.Last > 0:
		parts = append(parts, fmt.Sprintf("last %d", p.Last))
	}
	for _, r := range p.countRules() {
		if r.period == each {
			continue // Last, above: "7 last" reads badly
		}
		if r.n < 0 {
			parts = append(parts, "all "+r.name)
		} else {
			parts = append(parts, fmt.Sprintf("%d %s", r.n, r.name))
		}
	}
	if !p.Within.Zero() {
		parts = append(parts, fmt.Sprintf("everything within %s of the newest", p.Within))
	}
	for _, r := range p.withinRules() {
		parts = append(parts, fmt.Sprintf("%s within %s", r.name, r.within))
	}
	for _, l := range p.tagLists() {
		parts = append(parts, tagName(l))
	}
	if len(parts) == 0 {
		return "keep everything (no rule)"
	}
	return "keep " + strings.Join(parts, ", ")
}

// Decision is the verdict on one snapshot.
type Decision struct {
	Snapshot
	Keep bool
	// Reasons says why the snapshot is kept ("daily snapshot", "within
	// 2d", "tag nightly") or, when it is not, why each rule passed it over
	// ("daily 7: 2024-03-04 already kept"). Never empty.
	Reasons []string
}

// Reasons of decisions not made by a rule.
const (
	reasonEmptyPolicy    = "no keep rule: everything is kept"
	reasonPartialNewer   = "partial, newer than the last complete snapshot"
	reasonPartialOnly    = "partial, no complete snapshot in the group"
	reasonPartialRemoved = "partial snapshot, superseded by a complete one"
)

// Apply decides for ONE group of snapshots (see Group). snaps may come in
// any order and is not modified; the result is sorted newest first, equal
// times by ID. loc is the time zone periods are computed in; nil means
// time.Local.
func Apply(snaps []Snapshot, p Policy, loc *time.Location) []Decision {
	if loc == nil {
		loc = time.Local
	}
	out := make([]Decision, len(snaps))
	for i, s := range snaps {
		out[i] = Decision{Snapshot: s}
	}
	slices.SortStableFunc(out, func(a, b Decision) int { return newestFirst(a.Snapshot, b.Snapshot) })

	if p.Empty() {
		for i := range out {
			out[i].Keep = true
			out[i].Reasons = []string{reasonEmptyPolicy}
		}
		return out
	}

	// Only complete snapshots anchor Within and take periods.
	newest, oldest := -1, -1
	for i := range out {
		if out[i].Complete {
			if newest < 0 {
				newest = i
			}
			oldest = i
		}
	}
	var anchor time.Time
	if newest >= 0 {
		anchor = out[newest].Time
	}
	rules := p.rules(anchor, loc)
	tagLists := p.tagLists()

	for i := range out {
		d := &out[i]
		for _, l := range tagLists {
			if hasAll(d.Tags, l) {
				d.Keep = true
				d.Reasons = append(d.Reasons, tagName(l))
			}
		}
		if !d.Complete {
			switch {
			case newest < 0:
				d.Keep = true
				d.Reasons = append(d.Reasons, reasonPartialOnly)
			case d.Time.After(anchor):
				d.Keep = true
				d.Reasons = append(d.Reasons, reasonPartialNewer)
			case !d.Keep:
				d.Reasons = append(d.Reasons, reasonPartialRemoved)
			}
			continue
		}
		var passed []passedBy
		t := d.Time.In(loc)
		for _, r := range rules {
			if keep, why := r.visit(t, i, i == oldest); keep {
				d.Keep = true
				d.Reasons = append(d.Reasons, why)
			} else {
				passed = append(passed, passedBy{r.title(), why})
			}
		}
		if !d.Keep {
			d.Reasons = removalReasons(passed, tagLists)
		}
	}
	return out
}

// passedBy is a rule that did not keep a snapshot, and why.
type passedBy struct{ rule, why string }

// removalReasons explains a removed complete snapshot, one reason per
// distinct why, so "daily 7, weekly 4: limit reached" reads as one.
func removalReasons(passed []passedBy, tagLists [][]string) []string {
	var reasons []string
	for i, p := range passed {
		if slices.ContainsFunc(passed[:i], func(q passedBy) bool { return q.why == p.why }) {
			continue
		}
		rules := []string{p.rule}
		for _, q := range passed[i+1:] {
			if q.why == p.why {
				rules = append(rules, q.rule)
			}
		}
		reasons = append(reasons, strings.Join(rules, ", ")+": "+p.why)
	}
	if len(tagLists) > 0 {
		names := make([]string, len(tagLists))
		for j, l := range tagLists {
			names[j] = strings.Join(l, "+")
		}
		reasons = append(reasons, "not tagged "+strings.Join(names, " or "))
	}
	return reasons
}

// newestFirst orders snapshots newest first, equal times by ID, so the
// result never depends on the input order.
func newestFirst(a, b Snapshot) int {
	if c := b.Time.Compare(a.Time); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// tagLists returns the non-empty tag lists of p.
func (p Policy) tagLists() [][]string {
	var ls [][]string
	for _, l := range p.Tags {
		if len(l) > 0 {
			ls = append(ls, l)
		}
	}
	return ls
}

func tagName(l []string) string {
	if len(l) == 1 {
		return "tag " + l[0]
	}
	return "tags " + strings.Join(l, "+")
}

func hasAll(tags, want []string) bool {
	for _, w := range want {
		if !slices.Contains(tags, w) {
			return false
		}
	}
	return true
}

// period is the calendar unit a rule buckets snapshots by.
type period int

const (
	each period = iota // every snapshot its own bucket (Last, Within)
	hour
	day
	week
	month
	year
)

// bucket identifies one period. Hours carry the zone offset so that the
// hour repeated when clocks go back is two buckets, as it is two hours.
type bucket struct{ key, offset int }

// bucket returns the period of t (already in the policy's zone); i is the
// snapshot's position, which makes every snapshot its own bucket for each.
func (pd period) bucket(t time.Time, i int) bucket {
	switch pd {
	case hour:
		_, off := t.Zone()
		return bucket{key: ((t.Year()*100+int(t.Month()))*100+t.Day())*100 + t.Hour(), offset: off}
	case day:
		return bucket{key: (t.Year()*100+int(t.Month()))*100 + t.Day()}
	case week:
		y, w := t.ISOWeek()
		return bucket{key: y*100 + w}
	case month:
		return bucket{key: t.Year()*100 + int(t.Month())}
	case year:
		return bucket{key: t.Year()}
	}
	return bucket{key: i}
}

// label names the period of t for removal reasons.
func (pd period) label(t time.Time) string {
	switch pd {
	case hour:
		return t.Format("2006-01-02 15h MST")
	case day:
		return t.Format("2006-01-02")
	case week:
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case month:
		return t.Format("2006-01")
	case year:
		return t.Format("2006")
	}
	return t.Format(time.DateTime)
}

// rule is one count or Within rule walking a group newest to oldest.
type rule struct {
	name   string // "daily"
	period period
	n      int  // the count as given; negative means unlimited
	left   int  // count left; negative means unlimited
	counts bool // a count rule (Last, Hourly...), else a Within rule

	within Duration
	cutoff time.Time // Within rules keep only snapshots after this

	last bucket // period of the last snapshot this rule kept
	seen bool   // whether last is set
}

func (p Policy) countRules() []*rule {
	var rs []*rule
	for _, c := range []struct {
		name string
		pd   period
		n    int
	}{{"last", each, p.Last}, {"hourly", hour, p.Hourly}, {"daily", day, p.Daily}, {"weekly", week, p.Weekly}, {"monthly", month, p.Monthly}, {"yearly", year, p.Yearly}} {
		if c.n != 0 {
			rs = append(rs, &rule{name: c.name, period: c.pd, n: c.n, left: c.n, counts: true})
		}
	}
	return rs
}

func (p Policy) withinRules() []*rule {
	var rs []*rule
	for _, w := range []struct {
		name string
		pd   period
		d    Duration
	}{{"hourly", hour, p.WithinHourly}, {"daily", day, p.WithinDaily}, {"weekly", week, p.WithinWeekly}, {"monthly", month, p.WithinMonthly}, {"yearly", year, p.WithinYearly}} {
		if !w.d.Zero() {
			rs = append(rs, &rule{name: w.name, period: w.pd, within: w.d})
		}
	}
	return rs
}

// rules returns p's count and Within rules in reason order (restic's):
// within, last, hourly ... yearly, hourly within ... yearly within.
func (p Policy) rules(anchor time.Time, loc *time.Location) []*rule {
	var rs []*rule
	if !p.Within.Zero() {
		rs = append(rs, &rule{name: "", period: each, within: p.Within}) // no name: plain Within
	}
	rs = append(rs, p.countRules()...)
	rs = append(rs, p.withinRules()...)
	for _, r := range rs {
		if !r.counts {
			r.cutoff = r.within.before(anchor.In(loc))
		}
	}
	return rs
}

// title names the rule in removal reasons: "daily 7", "daily unlimited",
// "within 2d", "daily within 30d".
func (r *rule) title() string {
	switch {
	case !r.counts && r.name == "":
		return "within " + r.within.String()
	case !r.counts:
		return r.name + " within " + r.within.String()
	case r.n < 0:
		return r.name + " unlimited"
	}
	return fmt.Sprintf("%s %d", r.name, r.n)
}

// keepReason names the rule in keep reasons, as restic does: "daily
// snapshot", "within 2d", "daily within 30d".
func (r *rule) keepReason() string {
	if r.counts {
		return r.name + " snapshot"
	}
	return r.title()
}

// visit offers the complete snapshot at position i (time t, in the policy's
// zone) to the rule: it keeps it when its period differs from the last one
// the rule kept, or when it is the oldest complete snapshot and the rule
// has count left. It returns the keep reason, or why not (without the
// rule's title).
func (r *rule) visit(t time.Time, i int, oldest bool) (bool, string) {
	if r.counts && r.left == 0 {
		return false, "limit reached"
	}
	if !r.counts && !t.After(r.cutoff) {
		return false, "too old"
	}
	b := r.period.bucket(t, i)
	if r.seen && b == r.last && !oldest {
		return false, r.period.label(t) + " already kept"
	}
	reason := r.keepReason()
	if r.seen && b == r.last {
		reason = "oldest " + reason
	}
	r.last, r.seen = b, true
	if r.left > 0 {
		r.left--
	}
	return true, reason
}
