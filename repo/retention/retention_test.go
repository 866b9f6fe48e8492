package retention

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// snapAt is a complete snapshot at t, its id made from t so equal times in
// a test still get distinct ids.
func snapAt(t time.Time, tags ...string) Snapshot {
	return Snapshot{ID: "id-" + t.UTC().Format(time.RFC3339Nano), Time: t, Host: "h", Tags: tags, Complete: true}
}

func partialAt(t time.Time, tags ...string) Snapshot {
	s := snapAt(t, tags...)
	s.ID += "-partial"
	s.Complete = false
	return s
}

// verdicts renders decisions as "15:04 keep|remove" lines in loc, oldest
// last, for compact expectations.
func verdicts(ds []Decision, loc *time.Location, layout string) []string {
	var out []string
	for _, d := range ds {
		v := "remove"
		if d.Keep {
			v = "keep"
		}
		out = append(out, d.Time.In(loc).Format(layout)+" "+v)
	}
	return out
}

func reasonsOf(ds []Decision) map[string][]string {
	m := map[string][]string{}
	for _, d := range ds {
		m[d.ID] = d.Reasons
	}
	return m
}

func TestTimeZonesDecideDays(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	berlin := mustZone(t, "Europe/Berlin")
	// 03:00 and 06:00 UTC on 16 January are one day in UTC and in Berlin
	// (04:00, 07:00) but two in New York (22:00 on the 15th, 01:00).
	a := snapAt(time.Date(2024, 1, 16, 6, 0, 0, 0, time.UTC))
	b := snapAt(time.Date(2024, 1, 16, 3, 0, 0, 0, time.UTC))
	p := Policy{Daily: -1}
	for _, tc := range []struct {
		loc  *time.Location
		keep int
	}{{time.UTC, 1}, {berlin, 1}, {ny, 2}} {
		// Two snapshots, so the older is also the oldest: use a third,
		// older one in its own day to keep the "oldest" rule out of it.
		old := snapAt(time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC))
		ds := Apply([]Snapshot{a, b, old}, p, tc.loc)
		kept := 0
		for _, d := range ds[:2] {
			if d.Keep {
				kept++
			}
		}
		if kept != tc.keep {
			t.Errorf("%s: kept %d of the two snapshots, want %d: %v", tc.loc, kept, tc.keep, reasonsOf(ds))
		}
	}
	// nil means time.Local; the result must equal an explicit time.Local.
	if !reflect.DeepEqual(Apply([]Snapshot{a, b}, p, nil), Apply([]Snapshot{a, b}, p, time.Local)) {
		t.Error("a nil location is not time.Local")
	}
}

func TestDSTDaysAreOneDay(t *testing.T) {
	for _, tc := range []struct {
		zone string
		day  time.Time // midnight UTC of the change day; the zone's midnight is found below
	}{
		{"Europe/Berlin", time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC)},      // 23 hours
		{"Europe/Berlin", time.Date(2024, 10, 27, 0, 0, 0, 0, time.UTC)},     // 25 hours
		{"America/New_York", time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)},   // 23 hours
		{"America/New_York", time.Date(2024, 11, 3, 0, 0, 0, 0, time.UTC)},   // 25 hours
		{"Australia/Lord_Howe", time.Date(2024, 4, 7, 0, 0, 0, 0, time.UTC)}, // 30-minute change
	} {
		loc := mustZone(t, tc.zone)
		start := time.Date(tc.day.Year(), tc.day.Month(), tc.day.Day(), 0, 0, 0, 0, loc)
		end := start.AddDate(0, 0, 1)
		if h := end.Sub(start).Hours(); h == 24 {
			t.Fatalf("%s %s is not a DST change day", tc.zone, start)
		}
		// Every half hour of the day, plus one snapshot just before and
		// just after it.
		var snaps []Snapshot
		for at := start; at.Before(end); at = at.Add(30 * time.Minute) {
			snaps = append(snaps, snapAt(at))
		}
		snaps = append(snaps, snapAt(start.Add(-time.Minute)), snapAt(end), snapAt(start.AddDate(0, 0, -3)))
		ds := Apply(snaps, Policy{Daily: -1}, loc)
		var keptInDay []string
		for _, d := range ds {
			if d.Keep && !d.Time.Before(start) && d.Time.Before(end) {
				keptInDay = append(keptInDay, d.Time.In(loc).Format("15:04 MST"))
			}
		}
		last := end.Add(-30 * time.Minute).In(loc).Format("15:04 MST")
		if len(keptInDay) != 1 || keptInDay[0] != last {
			t.Errorf("%s %s (%v long): daily kept %v inside the day, want only %s", tc.zone, start.Format(time.DateOnly), end.Sub(start), keptInDay, last)
		}
		for _, d := range ds {
			if (d.Time.Equal(start.Add(-time.Minute)) || d.Time.Equal(end)) && !d.Keep {
				t.Errorf("%s: the snapshot at %s, a neighbouring day, was removed: %v", tc.zone, d.Time.In(loc), d.Reasons)
			}
		}
	}
}

func TestRepeatedHourIsTwoHours(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	// 27 October 2024: 02:30 CEST and, an hour later, 02:30 CET.
	first := time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC)
	second := first.Add(time.Hour)
	if a, b := first.In(berlin).Format("15:04"), second.In(berlin).Format("15:04"); a != "02:30" || b != "02:30" {
		t.Fatalf("test setup: %s and %s are not both 02:30", a, b)
	}
	older := snapAt(first.Add(-24 * time.Hour))
	ds := Apply([]Snapshot{snapAt(first), snapAt(second), older}, Policy{Hourly: 2}, berlin)
	if !ds[0].Keep || !ds[1].Keep || ds[2].Keep {
		t.Errorf("hourly 2 over 02:30 CET, 02:30 CEST and a day before: %v, want the two 02:30s kept", verdicts(ds, berlin, "01-02 15:04 MST"))
	}
	// And they are one day.
	ds = Apply([]Snapshot{snapAt(first), snapAt(second), older}, Policy{Daily: 1}, berlin)
	if got := verdicts(ds, berlin, "15:04 MST"); !slices.Equal(got, []string{"02:30 CET keep", "02:30 CEST remove", "02:30 CEST remove"}) {
		t.Errorf("daily 1 on the fall-back day: %v", got)
	}
}

func TestSnapshotAt0230OnSpringForward(t *testing.T) {
	// A backup scheduled at 02:30 on the day 02:00-03:00 does not exist
	// runs at 03:30 CEST (cron) or 01:30 CET, depending on the scheduler;
	// either way it is that day's snapshot.
	berlin := mustZone(t, "Europe/Berlin")
	midnight := time.Date(2024, 3, 31, 0, 0, 0, 0, berlin)
	for _, at := range []time.Time{midnight.Add(90 * time.Minute), midnight.Add(150 * time.Minute)} {
		day := snapAt(at)
		snaps := []Snapshot{snapAt(midnight.AddDate(0, 0, 1).Add(2 * time.Hour)), day, snapAt(midnight.AddDate(0, 0, -1).Add(2 * time.Hour))}
		ds := Apply(snaps, Policy{Daily: 3}, berlin)
		for _, d := range ds {
			if !d.Keep || !slices.Equal(d.Reasons, []string{"daily snapshot"}) {
				t.Errorf("%s: %s %v", at.In(berlin).Format("15:04 MST"), d.Time.In(berlin), d.Reasons)
			}
		}
	}
}

func TestWithinIsCalendarTime(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	// A day before 31 March 12:00 CEST is 30 March 12:00 CET, 23 hours
	// earlier: the clocks went forward in between.
	newest := time.Date(2024, 3, 31, 12, 0, 0, 0, berlin)
	snaps := []Snapshot{
		snapAt(newest),
		snapAt(newest.Add(-23*time.Hour + 30*time.Minute)), // 30 March 12:30 CET
		snapAt(newest.Add(-23*time.Hour - 30*time.Minute)), // 30 March 11:30 CET
		snapAt(newest.Add(-48 * time.Hour)),
	}
	for _, tc := range []struct {
		within string
		want   []string
	}{
		{"1d", []string{"03-31 12:00 keep", "03-30 12:30 keep", "03-30 11:30 remove", "03-29 11:00 remove"}},
		{"24h", []string{"03-31 12:00 keep", "03-30 12:30 keep", "03-30 11:30 keep", "03-29 11:00 remove"}},
	} {
		ds := Apply(snaps, Policy{Within: d(tc.within)}, berlin)
		if got := verdicts(ds, berlin, "01-02 15:04"); !slices.Equal(got, tc.want) {
			t.Errorf("within %s: %v, want %v", tc.within, got, tc.want)
		}
	}
	// Months are calendar months, normalised like time.AddDate: a month
	// before 31 March 2023 is "31 February", that is 3 March.
	mar31 := time.Date(2023, 3, 31, 12, 0, 0, 0, berlin)
	ds := Apply([]Snapshot{snapAt(mar31), snapAt(time.Date(2023, 3, 3, 12, 30, 0, 0, berlin)), snapAt(time.Date(2023, 3, 3, 11, 30, 0, 0, berlin))}, Policy{Within: d("1m")}, berlin)
	if got := verdicts(ds, berlin, "01-02 15:04"); !slices.Equal(got, []string{"03-31 12:00 keep", "03-03 12:30 keep", "03-03 11:30 remove"}) {
		t.Errorf("within 1m from 31 March: %v", got)
	}
}

func TestWithinCountsFromNewestSnapshot(t *testing.T) {
	// Backups stopped two years ago: "within 7d" keeps the last week of
	// them, not nothing. (The clock is not an input of Apply at all.)
	base := time.Date(2022, 6, 1, 2, 0, 0, 0, time.UTC)
	var snaps []Snapshot
	for i := range 30 {
		snaps = append(snaps, snapAt(base.AddDate(0, 0, -i)))
	}
	ds := Apply(snaps, Policy{Within: d("7d")}, time.UTC)
	kept := 0
	for _, d := range ds {
		if d.Keep {
			kept++
			if !slices.Equal(d.Reasons, []string{"within 7d"}) {
				t.Errorf("%s kept for %v", d.Time, d.Reasons)
			}
		} else if !slices.Equal(d.Reasons, []string{"within 7d: too old"}) {
			t.Errorf("%s removed for %v", d.Time, d.Reasons)
		}
	}
	if kept != 7 {
		t.Errorf("within 7d of a stopped history kept %d snapshots, want 7", kept)
	}
}

func TestWithinIgnoresNewerPartials(t *testing.T) {
	// The last complete backup is a month old and partial ones ran every
	// day since: the window ends at the last complete one, so "within 7d"
	// still keeps the week of complete backups before it.
	base := time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)
	var snaps []Snapshot
	for i := range 14 {
		snaps = append(snaps, snapAt(base.AddDate(0, 0, -i)))
	}
	for i := 1; i <= 30; i++ {
		snaps = append(snaps, partialAt(base.AddDate(0, 0, i)))
	}
	ds := Apply(snaps, Policy{Within: d("7d")}, time.UTC)
	var keptComplete, keptPartial int
	for _, d := range ds {
		switch {
		case d.Keep && d.Complete:
			keptComplete++
		case d.Keep:
			keptPartial++
			if !slices.Equal(d.Reasons, []string{reasonPartialNewer}) {
				t.Errorf("partial %s kept for %v", d.Time, d.Reasons)
			}
		}
	}
	if keptComplete != 7 || keptPartial != 30 {
		t.Errorf("kept %d complete and %d partial snapshots, want 7 and 30", keptComplete, keptPartial)
	}
}

func TestPartialSnapshots(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2024, 5, d, h, 0, 0, 0, time.UTC) }
	t.Run("never take a period", func(t *testing.T) {
		// 3 May: a complete backup at 02:00, a failed one at 14:00. The
		// complete one is still 3 May's daily snapshot.
		snaps := []Snapshot{snapAt(day(3, 2)), partialAt(day(3, 14)), snapAt(day(4, 2)), snapAt(day(2, 2))}
		ds := Apply(snaps, Policy{Daily: 3}, time.UTC)
		want := map[string][]string{
			snapAt(day(4, 2)).ID:     {"daily snapshot"},
			partialAt(day(3, 14)).ID: {reasonPartialRemoved},
			snapAt(day(3, 2)).ID:     {"daily snapshot"},
			snapAt(day(2, 2)).ID:     {"daily snapshot"},
		}
		if got := reasonsOf(ds); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("never count", func(t *testing.T) {
		// last 2 keeps the two newest complete snapshots, whatever partial
		// ones lie between them.
		snaps := []Snapshot{snapAt(day(1, 2)), partialAt(day(2, 2)), snapAt(day(3, 2)), partialAt(day(4, 2)), snapAt(day(5, 2)), partialAt(day(6, 2))}
		ds := Apply(snaps, Policy{Last: 2}, time.UTC)
		got := verdicts(ds, time.UTC, "02")
		want := []string{"06 keep", "05 keep", "04 remove", "03 keep", "02 remove", "01 remove"}
		if !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("only partial", func(t *testing.T) {
		// Nothing complete to fall back on: keep them all.
		ds := Apply([]Snapshot{partialAt(day(1, 2)), partialAt(day(2, 2))}, Policy{Last: 1}, time.UTC)
		for _, d := range ds {
			if !d.Keep || !slices.Equal(d.Reasons, []string{reasonPartialOnly}) {
				t.Errorf("%s: keep=%v %v", d.Time, d.Keep, d.Reasons)
			}
		}
	})
	t.Run("kept by tag", func(t *testing.T) {
		snaps := []Snapshot{snapAt(day(5, 2)), partialAt(day(4, 2), "pre-upgrade"), partialAt(day(3, 2), "other")}
		ds := Apply(snaps, Policy{Last: 1, Tags: [][]string{{"pre-upgrade"}}}, time.UTC)
		want := []string{"05 keep", "04 keep", "03 remove"}
		if got := verdicts(ds, time.UTC, "02"); !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		if !slices.Equal(ds[1].Reasons, []string{"tag pre-upgrade"}) {
			t.Errorf("tagged partial kept for %v", ds[1].Reasons)
		}
	})
	t.Run("same time as the newest complete", func(t *testing.T) {
		// Not newer: superseded.
		ds := Apply([]Snapshot{snapAt(day(5, 2)), partialAt(day(5, 2))}, Policy{Last: 1}, time.UTC)
		for _, d := range ds {
			if d.Keep != d.Complete {
				t.Errorf("%+v", d)
			}
		}
	})
}

func TestOldestSnapshotKeptWhileCountLeft(t *testing.T) {
	// Three days of two snapshots each under daily 7: besides each day's
	// newest, the very oldest snapshot is kept, as restic does.
	var snaps []Snapshot
	for dd := 1; dd <= 3; dd++ {
		snaps = append(snaps, snapAt(time.Date(2024, 5, dd, 2, 0, 0, 0, time.UTC)), snapAt(time.Date(2024, 5, dd, 14, 0, 0, 0, time.UTC)))
	}
	ds := Apply(snaps, Policy{Daily: 7}, time.UTC)
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s %v %s", d.Time.Format("02 15"), d.Keep, strings.Join(d.Reasons, "; ")))
	}
	want := []string{
		"03 14 true daily snapshot",
		"03 02 false daily 7: 2024-05-03 already kept",
		"02 14 true daily snapshot",
		"02 02 false daily 7: 2024-05-02 already kept",
		"01 14 true daily snapshot",
		"01 02 true oldest daily snapshot",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// With the count used up by the last day, the oldest is not kept.
	ds = Apply(snaps, Policy{Daily: 3}, time.UTC)
	if ds[5].Keep || !slices.Equal(ds[5].Reasons, []string{"daily 3: limit reached"}) {
		t.Errorf("daily 3: oldest %v %v", ds[5].Keep, ds[5].Reasons)
	}
}

func TestRemovalReasons(t *testing.T) {
	base := time.Date(2024, 5, 10, 2, 0, 0, 0, time.UTC)
	snaps := []Snapshot{snapAt(base), snapAt(base.Add(-time.Hour)), snapAt(base.AddDate(0, 0, -1)), snapAt(base.AddDate(0, 0, -2)), snapAt(base.AddDate(0, 0, -30))}
	p := Policy{Last: 1, Daily: 2, WithinDaily: d("3d"), Within: d("1h"), Tags: [][]string{{"a", "b"}, {"c"}}}
	ds := Apply(snaps, p, time.UTC)
	want := [][]string{
		{"within 1h", "last snapshot", "daily snapshot", "daily within 3d"},
		{"within 1h: too old", "last 1: limit reached", "daily 2, daily within 3d: 2024-05-10 already kept", "not tagged a+b or c"},
		{"daily snapshot", "daily within 3d"},
		{"daily within 3d"},
		{"within 1h, daily within 3d: too old", "last 1, daily 2: limit reached", "not tagged a+b or c"},
	}
	for i, d := range ds {
		if !slices.Equal(d.Reasons, want[i]) {
			t.Errorf("%s: reasons %q, want %q", d.Time, d.Reasons, want[i])
		}
	}
	if got := p.String(); got != "keep last 1, 2 daily, everything within 1h of the newest, daily within 3d, tags a+b, tag c" {
		t.Errorf("String() = %q", got)
	}
}

func TestEmptyPolicyKeepsEverything(t *testing.T) {
	base := time.Date(2024, 5, 10, 2, 0, 0, 0, time.UTC)
	snaps := []Snapshot{snapAt(base), partialAt(base.Add(-time.Hour)), snapAt(base.Add(-2 * time.Hour))}
	for _, p := range []Policy{{}, {Tags: [][]string{}}, {Tags: [][]string{{}}}} {
		if !p.Empty() {
			t.Errorf("%+v is not Empty", p)
		}
		if got := p.String(); got != "keep everything (no rule)" {
			t.Errorf("String() = %q", got)
		}
		for _, d := range Apply(snaps, p, time.UTC) {
			if !d.Keep || !slices.Equal(d.Reasons, []string{reasonEmptyPolicy}) {
				t.Errorf("empty policy: %s keep=%v %v", d.Time, d.Keep, d.Reasons)
			}
		}
	}
	if len(Apply(nil, Policy{Daily: 1}, time.UTC)) != 0 {
		t.Error("no snapshots, some decisions")
	}
	for _, p := range []Policy{{Last: -1}, {Yearly: 1}, {WithinHourly: Duration{Hours: 1}}, {Tags: [][]string{{"x"}}}} {
		if p.Empty() {
			t.Errorf("%+v is Empty", p)
		}
	}
}

func TestPolicyString(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{Daily: 7, Weekly: 4}, "keep 7 daily, 4 weekly"},
		{Policy{Last: -1, Hourly: -1}, "keep all snapshots, all hourly"},
		{Policy{Monthly: 12, Yearly: -2}, "keep 12 monthly, all yearly"},
		{Policy{Within: d("1y6m")}, "keep everything within 1y6m of the newest"},
		{Policy{WithinWeekly: d("2d12h"), Tags: [][]string{{"nightly"}}}, "keep weekly within 2d12h, tag nightly"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: String() = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestGroup(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2024, 5, 1, h, 0, 0, 0, time.UTC) }
	mk := func(id string, h int, host, profile string, tags ...string) Snapshot {
		return Snapshot{ID: id, Time: at(h), Host: host, Profile: profile, Tags: tags, Complete: true}
	}
	snaps := []Snapshot{
		mk("1", 1, "web1", "n8n", "b", "a"),
		mk("2", 2, "web2", "n8n"),
		mk("3", 3, "web1", "n8n", "a", "b", "a"),
		mk("4", 4, "web1", "pg"),
		mk("5", 5, "", "n8n"),
		mk("6", 6, "web 1", "n8n"),
	}
	ids := func(groups [][]Snapshot, g GroupBy) []string {
		var out []string
		for _, grp := range groups {
			var s []string
			for _, sn := range grp {
				s = append(s, sn.ID)
			}
			out = append(out, g.Key(grp[0])+": "+strings.Join(s, ","))
		}
		return out
	}
	for _, tc := range []struct {
		by   string
		want []string
	}{
		{"", []string{": 6,5,4,3,2,1"}},
		{"host,profile", []string{`host="" profile=n8n: 5`, `host="web 1" profile=n8n: 6`, "host=web1 profile=n8n: 3,1", "host=web1 profile=pg: 4", "host=web2 profile=n8n: 2"}},
		{"profile", []string{"profile=n8n: 6,5,3,2,1", "profile=pg: 4"}},
		{"tags", []string{"tags=(none): 6,5,4,2", "tags=a,b: 3,1"}},
		{"host,tags", []string{`host="" tags=(none): 5`, `host="web 1" tags=(none): 6`, "host=web1 tags=(none): 4", "host=web1 tags=a,b: 3,1", "host=web2 tags=(none): 2"}},
	} {
		g, err := ParseGroupBy(tc.by)
		if err != nil {
			t.Fatal(err)
		}
		groups := Group(snaps, g)
		if got := ids(groups, g); !slices.Equal(got, tc.want) {
			t.Errorf("group by %q:\n got %q\nwant %q", tc.by, got, tc.want)
		}
		// Deterministic: the input order does not matter.
		rev := slices.Clone(snaps)
		slices.Reverse(rev)
		if !reflect.DeepEqual(Group(rev, g), groups) {
			t.Errorf("group by %q depends on the input order", tc.by)
		}
	}
	// Labels never merge distinct groups.
	g := GroupBy{Tags: true}
	for _, pair := range [][2][]string{{{"a,b"}, {"a", "b"}}, {{""}, nil}, {{"(none)"}, nil}} {
		if a, b := g.Key(Snapshot{Tags: pair[0]}), g.Key(Snapshot{Tags: pair[1]}); a == b {
			t.Errorf("tags %q and %q share the key %q", pair[0], pair[1], a)
		}
	}
}
