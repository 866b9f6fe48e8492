package retention

import (
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below must exist on every machine
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// historyBuilder collects a synthetic history in one zone. Times are built
// as local midnight plus elapsed time, never as a local wall time, because
// time.Date does not promise which instant a skipped or repeated wall time
// becomes: "02:00" on the spring-forward day is 03:00 here, by arithmetic.
type historyBuilder struct {
	loc   *time.Location
	snaps []Snapshot
}

func (h *historyBuilder) midnight(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, h.loc)
}

func (h *historyBuilder) add(t time.Time, complete bool, tags ...string) {
	f := fnv.New64a()
	fmt.Fprintf(f, "%s %s %v %v", h.loc, t.UTC().Format(time.RFC3339Nano), complete, tags)
	h.snaps = append(h.snaps, Snapshot{
		ID: fmt.Sprintf("%016x", f.Sum64()), Time: t, Host: "web1", Profile: "n8n",
		Tags: tags, Complete: complete,
	})
}

// dailies adds a complete snapshot at midnight+2h on every day from..to,
// except the days in skip (as "2006-01-02").
func (h *historyBuilder) dailies(from, to time.Time, skip map[string]bool) {
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		if !skip[d.Format(time.DateOnly)] {
			h.add(d.Add(2*time.Hour), true)
		}
	}
}

// stretch adds complete snapshots every step from start, n of them.
func (h *historyBuilder) stretch(start time.Time, step time.Duration, n int) {
	for i := range n {
		h.add(start.Add(time.Duration(i)*step), true)
	}
}

// berlinHistory is 13 months of nightly backups at "02:00" in
// Europe/Berlin with gaps (single days, Christmas, the whole ISO week
// 2024-W29), half-hourly stretches across both DST changes of 2024, an
// hourly stretch over the last day and a half, partial snapshots (a day
// with only a partial one, a partial one retried, a month's last day
// partial, the two newest partial) and tagged manual snapshots.
func berlinHistory(t testing.TB) (*time.Location, []Snapshot) {
	h := &historyBuilder{loc: mustZone(t, "Europe/Berlin")}
	skip := map[string]bool{
		"2023-12-25": true, "2023-12-26": true, "2024-01-10": true, "2024-01-11": true, "2024-05-01": true,
		"2024-02-14": true, "2024-08-31": true, // partial only, below
		"2024-06-05": true,                     // partial, then retried, below
		"2024-03-31": true, "2024-10-27": true, // DST stretches, below
		"2024-11-29": true, "2024-11-30": true, // hourly stretch, below
	}
	for d := h.midnight(2024, 7, 15); d.Before(h.midnight(2024, 7, 22)); d = d.AddDate(0, 0, 1) {
		skip[d.Format(time.DateOnly)] = true // ISO week 2024-W29
	}
	h.dailies(h.midnight(2023, 11, 1), h.midnight(2024, 11, 30), skip)

	// Spring forward, 31 March: 00:00 ... 01:30 CET, then 03:00 CEST.
	h.stretch(h.midnight(2024, 3, 31), 30*time.Minute, 3)
	h.add(h.midnight(2024, 3, 31).Add(90*time.Minute), false) // 01:30 CET, partial
	h.stretch(h.midnight(2024, 3, 31).Add(2*time.Hour), 30*time.Minute, 5)
	// Fall back, 27 October: 02:00 and 02:30 happen in CEST, then in CET.
	h.stretch(h.midnight(2024, 10, 27), 30*time.Minute, 11)
	// Hourly over the last day and a half, then two failing runs.
	h.stretch(h.midnight(2024, 11, 29), time.Hour, 37)
	h.add(h.midnight(2024, 11, 30).Add(13*time.Hour), false)
	h.add(h.midnight(2024, 11, 30).Add(14*time.Hour), false)

	h.add(h.midnight(2024, 2, 14).Add(2*time.Hour), false)                 // the day's only run failed
	h.add(h.midnight(2024, 6, 5).Add(2*time.Hour), false)                  // failed...
	h.add(h.midnight(2024, 8, 31).Add(2*time.Hour), false)                 // August's last run failed
	h.add(h.midnight(2024, 8, 20).Add(15*time.Hour), false, "pre-upgrade") // a failed, tagged manual run

	for _, m := range []struct {
		y    int
		mo   time.Month
		d, h int
		tags []string
	}{
		{2023, 11, 15, 16, []string{"release"}},
		{2024, 2, 20, 14, []string{"manual"}},
		{2024, 4, 2, 15, []string{"manual", "pre-upgrade"}},
		{2024, 5, 15, 14, []string{"manual"}},
		{2024, 6, 5, 2, nil}, // ...and was retried at 02:40
		{2024, 9, 10, 14, []string{"manual"}},
		{2024, 10, 1, 15, []string{"pre-upgrade"}},
	} {
		at := h.midnight(m.y, m.mo, m.d).Add(time.Duration(m.h) * time.Hour)
		if m.tags == nil {
			at = at.Add(40 * time.Minute)
		}
		h.add(at, true, m.tags...)
	}
	return h.loc, h.snaps
}

// newYorkHistory covers America/New_York's DST changes of 2024 with
// nightly backups, half-hourly stretches on both change days and a partial
// newest snapshot.
func newYorkHistory(t testing.TB) (*time.Location, []Snapshot) {
	h := &historyBuilder{loc: mustZone(t, "America/New_York")}
	skip := map[string]bool{"2024-03-10": true, "2024-11-03": true}
	h.dailies(h.midnight(2024, 2, 26), h.midnight(2024, 3, 17), skip)
	h.dailies(h.midnight(2024, 10, 28), h.midnight(2024, 11, 9), skip)
	// Spring forward, 10 March: 00:00 ... 01:30 EST, then 03:00 EDT.
	h.stretch(h.midnight(2024, 3, 10), 30*time.Minute, 9)
	// Fall back, 3 November: 01:00 and 01:30 happen in EDT, then in EST.
	h.stretch(h.midnight(2024, 11, 3), 30*time.Minute, 11)
	h.add(h.midnight(2024, 11, 10).Add(2*time.Hour), false)
	return h.loc, h.snaps
}

func d(s string) Duration {
	v, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return v
}

// goldenPolicies are the policies of the golden files, by file name.
var goldenPolicies = []struct {
	name string
	p    Policy
}{
	{"empty", Policy{}},
	{"last-1", Policy{Last: 1}},
	{"last-7", Policy{Last: 7}},
	{"last-unlimited", Policy{Last: -1}},
	{"hourly-24", Policy{Hourly: 24}},
	{"hourly-unlimited", Policy{Hourly: -1}},
	{"daily-7", Policy{Daily: 7}},
	{"weekly-26", Policy{Weekly: 26}},
	{"daily-7-weekly-4-monthly-12-yearly-3", Policy{Daily: 7, Weekly: 4, Monthly: 12, Yearly: 3}},
	{"daily-3-weekly-2-monthly-unlimited-yearly-unlimited", Policy{Daily: 3, Weekly: 2, Monthly: -1, Yearly: -1}},
	{"within-2d", Policy{Within: d("2d")}},
	{"within-daily-30d", Policy{WithinDaily: d("30d")}},
	{"within-every-period", Policy{WithinHourly: d("1d"), WithinDaily: d("7d"), WithinWeekly: d("1m"), WithinMonthly: d("1y"), WithinYearly: d("9999y")}},
	{"keep-tag-pre-upgrade", Policy{Tags: [][]string{{"pre-upgrade"}}}},
	{"keep-tag-and-or", Policy{Tags: [][]string{{"manual", "pre-upgrade"}, {"release"}}}},
	{"combined", Policy{Last: 3, Hourly: 6, Daily: 7, Weekly: 4, Monthly: 12, Yearly: -1, WithinDaily: d("14d"), Tags: [][]string{{"pre-upgrade"}}}},
}

// renderDecisions writes one line per decision: action, local time, id,
// markers, reasons.
func renderDecisions(b *strings.Builder, ds []Decision, loc *time.Location) {
	kept := 0
	for _, d := range ds {
		if d.Keep {
			kept++
		}
	}
	fmt.Fprintf(b, "== %s: %d snapshots, %d kept, %d removed\n", loc, len(ds), kept, len(ds)-kept)
	for _, d := range ds {
		action := "remove"
		if d.Keep {
			action = "keep"
		}
		var marks []string
		if !d.Complete {
			marks = append(marks, "[partial]")
		}
		if len(d.Tags) > 0 {
			marks = append(marks, "[tags "+strings.Join(d.Tags, ",")+"]")
		}
		fmt.Fprintf(b, "%-6s  %-29s  %s  %s%s\n", action, d.Time.In(loc).Format("2006-01-02 Mon 15:04 MST")+isoWeek(d.Time.In(loc)),
			d.ID[:8], strings.Join(append(marks, ""), " "), strings.Join(d.Reasons, "; "))
	}
}

func isoWeek(t time.Time) string {
	_, w := t.ISOWeek()
	return fmt.Sprintf(" W%02d", w)
}

func TestGolden(t *testing.T) {
	type history struct {
		loc   *time.Location
		snaps []Snapshot
	}
	var hs []history
	for _, f := range []func(testing.TB) (*time.Location, []Snapshot){berlinHistory, newYorkHistory} {
		loc, snaps := f(t)
		hs = append(hs, history{loc, snaps})
	}
	for _, gp := range goldenPolicies {
		t.Run(gp.name, func(t *testing.T) {
			var b strings.Builder
			fmt.Fprintf(&b, "# policy %s: %s\n", gp.name, gp.p)
			b.WriteString("# one line per snapshot, newest first: action, local time and ISO week, id, [partial] [tags], reasons\n")
			for _, h := range hs {
				renderDecisions(&b, Apply(h.snaps, gp.p, h.loc), h.loc)
			}
			got := b.String()
			path := filepath.Join("testdata", "policy_"+gp.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./repo/retention -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("decisions differ from %s (-want +got; go test ./repo/retention -update rewrites it):\n%s", path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff is a small LCS line diff with two lines of context, enough to
// read a golden file mismatch.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var ls []line
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			ls = append(ls, line{' ', x[i]})
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			ls = append(ls, line{'-', x[i]})
			i++
		default:
			ls = append(ls, line{'+', y[j]})
			j++
		}
	}
	var out strings.Builder
	shown, last := 0, -1
	for k, l := range ls {
		near := false
		for c := max(0, k-2); c <= min(len(ls)-1, k+2); c++ {
			near = near || ls[c].op != ' '
		}
		if !near {
			continue
		}
		if last >= 0 && k > last+1 {
			out.WriteString("...\n")
		}
		if shown++; shown > 200 {
			out.WriteString("... (diff truncated)\n")
			break
		}
		fmt.Fprintf(&out, "%c %s\n", l.op, l.text)
		last = k
	}
	return out.String()
}
