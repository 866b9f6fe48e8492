package retention

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The properties below hold for any history and any policy; they are
// checked on seeded random ones, so a failure reproduces.

func propertyRuns(t *testing.T) int {
	if testing.Short() {
		return 300
	}
	return 2000
}

var propertyZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"}

// randomHistory makes up to 80 snapshots in bursts (minutes apart), days
// and weeks apart, around DST changes, some at equal times, some partial,
// some tagged.
func randomHistory(r *rand.Rand) []Snapshot {
	n := r.IntN(81)
	at := time.Date(2023+r.IntN(2), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), 0, 0, time.UTC)
	snaps := make([]Snapshot, 0, n)
	for i := range n {
		var tags []string
		for _, tag := range []string{"a", "b", "c"} {
			if r.IntN(5) == 0 {
				tags = append(tags, tag)
			}
		}
		snaps = append(snaps, Snapshot{
			ID:       fmt.Sprintf("%016x-%d", r.Uint64(), i),
			Time:     at,
			Tags:     tags,
			Complete: r.IntN(5) != 0,
		})
		switch r.IntN(6) {
		case 0: // same time: ties must be ordered by id
		case 1:
			at = at.Add(-time.Duration(1+r.IntN(90)) * time.Minute)
		case 2:
			at = at.Add(-time.Duration(1+r.IntN(30)) * time.Hour)
		case 3, 4:
			at = at.AddDate(0, 0, -1-r.IntN(3))
		default:
			at = at.AddDate(0, 0, -7-r.IntN(60))
		}
	}
	return snaps
}

func randomCount(r *rand.Rand) int {
	switch r.IntN(4) {
	case 0, 1:
		return 0
	case 2:
		return -1
	}
	return 1 + r.IntN(10)
}

func randomDuration(r *rand.Rand) Duration {
	if r.IntN(3) != 0 {
		return Duration{}
	}
	var d Duration
	switch r.IntN(4) {
	case 0:
		d.Hours = 1 + r.IntN(72)
	case 1:
		d.Days = 1 + r.IntN(60)
	case 2:
		d.Months = 1 + r.IntN(12)
	default:
		d = Duration{Years: r.IntN(2), Months: r.IntN(3), Days: r.IntN(10), Hours: 1 + r.IntN(5)}
	}
	return d
}

func randomPolicy(r *rand.Rand) Policy {
	p := Policy{
		Last: randomCount(r), Hourly: randomCount(r), Daily: randomCount(r),
		Weekly: randomCount(r), Monthly: randomCount(r), Yearly: randomCount(r),
	}
	for _, f := range p.durations() {
		*f = randomDuration(r)
	}
	switch r.IntN(4) {
	case 0:
		p.Tags = [][]string{{"a"}}
	case 1:
		p.Tags = [][]string{{"a", "b"}, {"c"}}
	}
	return p
}

// durations lists p's Duration fields, for generating and mutating them.
func (p *Policy) durations() []*Duration {
	return []*Duration{&p.Within, &p.WithinHourly, &p.WithinDaily, &p.WithinWeekly, &p.WithinMonthly, &p.WithinYearly}
}

func (p *Policy) counts() []*int {
	return []*int{&p.Last, &p.Hourly, &p.Daily, &p.Weekly, &p.Monthly, &p.Yearly}
}

func keptIDs(ds []Decision) map[string]bool {
	m := map[string]bool{}
	for _, d := range ds {
		if d.Keep {
			m[d.ID] = true
		}
	}
	return m
}

func TestProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var locs []*time.Location
	for _, z := range propertyZones {
		locs = append(locs, mustZone(t, z))
	}
	for run := range propertyRuns(t) {
		snaps := randomHistory(r)
		p := randomPolicy(r)
		loc := locs[r.IntN(len(locs))]
		ds := Apply(snaps, p, loc)
		where := fmt.Sprintf("run %d (%d snapshots, %s, %s)", run, len(snaps), loc, p)

		// A partition of the input: every snapshot once, kept or not,
		// with a reason, newest first.
		if len(ds) != len(snaps) {
			t.Fatalf("%s: %d decisions", where, len(ds))
		}
		seen := map[string]bool{}
		for i, d := range ds {
			if seen[d.ID] {
				t.Fatalf("%s: %s decided twice", where, d.ID)
			}
			seen[d.ID] = true
			if len(d.Reasons) == 0 {
				t.Fatalf("%s: %s has no reason", where, d.ID)
			}
			if i > 0 && newestFirst(ds[i-1].Snapshot, d.Snapshot) > 0 {
				t.Fatalf("%s: not sorted newest first at %d", where, i)
			}
		}
		for _, s := range snaps {
			if !seen[s.ID] {
				t.Fatalf("%s: %s not decided", where, s.ID)
			}
		}

		// The input order does not matter.
		shuffled := slices.Clone(snaps)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := Apply(shuffled, p, loc); !slices.EqualFunc(got, ds, decisionEqual) {
			t.Fatalf("%s: the result depends on the input order", where)
		}

		// Partial snapshots change nothing for complete ones.
		var complete []Snapshot
		for _, s := range snaps {
			if s.Complete {
				complete = append(complete, s)
			}
		}
		alone := Apply(complete, p, loc)
		var withPartials []Decision
		for _, d := range ds {
			if d.Complete {
				withPartials = append(withPartials, d)
			}
		}
		if !slices.EqualFunc(alone, withPartials, decisionEqual) {
			t.Fatalf("%s: partial snapshots changed the decisions on complete ones", where)
		}

		// A partial snapshot is kept exactly when it is newer than every
		// complete one or carries a kept tag list (or the policy is empty).
		var newest time.Time
		if len(complete) > 0 {
			newest = alone[0].Time
		}
		for _, d := range ds {
			if d.Complete {
				continue
			}
			tagged := slices.ContainsFunc(p.tagLists(), func(l []string) bool { return hasAll(d.Tags, l) })
			want := p.Empty() || len(complete) == 0 || d.Time.After(newest) || tagged
			if d.Keep != want {
				t.Fatalf("%s: partial %s at %s kept=%v (newest complete %s, tagged %v): %v", where, d.ID, d.Time, d.Keep, newest, tagged, d.Reasons)
			}
		}

		// Any rule but tags keeps the newest complete snapshot.
		untagged := p
		untagged.Tags = nil
		if !untagged.Empty() && len(complete) > 0 && !alone[0].Keep {
			t.Fatalf("%s: the newest complete snapshot is removed: %v", where, alone[0].Reasons)
		}

		// Without unlimited counts, Within or Tags, no more complete
		// snapshots are kept than the counts add up to.
		sum, bounded := 0, len(p.tagLists()) == 0
		for _, c := range p.counts() {
			sum += *c
			bounded = bounded && *c >= 0
		}
		for _, d := range p.durations() {
			bounded = bounded && d.Zero()
		}
		if kept := len(keptIDs(alone)); bounded && sum > 0 && kept > sum {
			t.Fatalf("%s: %d complete snapshots kept, the counts allow %d", where, kept, sum)
		}

		// Adding a rule or raising one never removes a kept snapshot.
		kept := keptIDs(ds)
		more := p
		more.Tags = slices.Clone(p.Tags)
		switch r.IntN(3) {
		case 0:
			c := more.counts()[r.IntN(6)]
			if *c >= 0 {
				*c += 1 + r.IntN(5)
			}
			if r.IntN(4) == 0 {
				*c = -1
			}
		case 1:
			dur := more.durations()[r.IntN(6)]
			dur.Days += 1 + r.IntN(30)
		default:
			more.Tags = append(more.Tags, []string{"b"})
		}
		if p.Empty() {
			continue // everything was kept for want of a rule
		}
		keptMore := keptIDs(Apply(snaps, more, loc))
		for id := range kept {
			if !keptMore[id] {
				t.Fatalf("%s: %s kept by %q but not by the larger %q", where, id, p, more)
			}
		}
	}
}

func decisionEqual(a, b Decision) bool {
	return a.ID == b.ID && a.Keep == b.Keep && slices.Equal(a.Reasons, b.Reasons)
}

func TestPropertyLastKeepsNewestComplete(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for run := range propertyRuns(t) {
		snaps := randomHistory(r)
		n := 1 + r.IntN(12)
		ds := Apply(snaps, Policy{Last: n}, time.UTC)
		var complete []Decision
		for _, d := range ds {
			if d.Complete {
				complete = append(complete, d)
			}
		}
		for i, d := range complete {
			// The newest n complete snapshots and nothing else, or all of
			// them when there are fewer.
			if want := i < n; d.Keep != want {
				t.Fatalf("run %d: last %d, complete snapshot #%d of %d kept=%v: %v", run, n, i, len(complete), d.Keep, d.Reasons)
			}
		}
	}
}

func TestPropertyKeepsACompleteSnapshot(t *testing.T) {
	// Any positive or unlimited count rule alone keeps at least one
	// complete snapshot when the group has one, whatever the zone.
	r := rand.New(rand.NewPCG(5, 6))
	for run := range propertyRuns(t) {
		snaps := randomHistory(r)
		var p Policy
		*p.counts()[r.IntN(6)] = []int{-1, 1, 2, 7}[r.IntN(4)]
		loc := mustZone(t, propertyZones[r.IntN(len(propertyZones))])
		hasComplete, keptComplete := false, false
		for _, d := range Apply(snaps, p, loc) {
			hasComplete = hasComplete || d.Complete
			keptComplete = keptComplete || d.Complete && d.Keep
		}
		if hasComplete && !keptComplete {
			t.Fatalf("run %d: %s kept no complete snapshot", run, p)
		}
	}
}
