package stack_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"snap/repo"
	"snap/repo/backend"
	"snap/sources"
	"snap/stack"
)

// restoreWorld is a stack backed up once, ready to restore.
func restoreWorld(t *testing.T) (*world, *stackFixture, *repo.Snapshot) {
	t.Helper()
	w := newWorld(t)
	f := newStackFixture(t, w.ev)
	snap := w.backup(f.plan)
	w.ev.reset()
	return w, f, snap
}

// live are the calls that touch a running stack.
var live = []string{"stop ", "commit ", "restore ", "start "}

func firstLive(ev *events) int {
	first := -1
	for _, p := range live {
		if i := ev.index(p); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	return first
}

// TestRestoreOrder: every item is proven before anything live is touched;
// the app stops first, then what items need stopped; items go back in
// restore order; what was stopped (and ran) starts again, in reverse.
func TestRestoreOrder(t *testing.T) {
	w, f, snap := restoreWorld(t)
	var say []string
	if err := stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), f.restoreOptions(&say)); err != nil {
		t.Fatal(err)
	}
	ev := w.ev
	t.Logf("events: %q", ev.all())
	if p, l := ev.last("prepare "), firstLive(ev); p < 0 || l < p {
		t.Errorf("something live was touched before every item was proven: %q", ev.all())
	}
	var stops []string
	for _, e := range ev.all() {
		if strings.HasPrefix(e, "stop ") || strings.HasPrefix(e, "muststop ") {
			stops = append(stops, e)
		}
	}
	if want := []string{"stop app", "muststop vol", "stop c1", "stop c2"}; !slices.Equal(stops, want) {
		t.Errorf("stops %q, want the app first, then what the items need stopped %q", stops, want)
	}
	if lastStop, firstPut := ev.last("stop "), min(ev.index("commit "), ev.index("restore ")); firstPut < lastStop {
		t.Errorf("an item was put back before everything was stopped: %q", ev.all())
	}
	var puts []string
	for _, e := range ev.all() {
		if strings.HasPrefix(e, "commit ") || strings.HasPrefix(e, "restore ") {
			puts = append(puts, e)
		}
	}
	if want := []string{"restore roles", "commit db", "commit cache", "restore vol", "restore config"}; !slices.Equal(puts, want) {
		t.Errorf("restore order %q, want %q", puts, want)
	}
	var starts []string
	for _, e := range ev.all()[ev.last("restore config"):] {
		if strings.HasPrefix(e, "start ") {
			starts = append(starts, e)
		}
	}
	if want := []string{"start c1", "start app"}; !slices.Equal(starts, want) {
		t.Errorf("starts %q, want %q (c2 was not running)", starts, want)
	}
	if ev.index("abort ") >= 0 {
		t.Errorf("a swap was aborted: %q", ev.all())
	}
	for _, want := range []string{"db: prepared", "stopped app", "roles: restored", "db: committed", "vol: replaced", "config: written", "started app"} {
		if !slices.Contains(say, want) {
			t.Errorf("log lacks %q: %q", want, say)
		}
	}
}

// TestRestoreFailures injects a failure at each step: the restore fails
// with that cause; prepared swaps not committed are aborted; what was
// stopped and had been running is started again; nothing live is touched
// when proving fails.
func TestRestoreFailures(t *testing.T) {
	for _, c := range []struct {
		step    string
		aborted []string // swaps aborted
		started []string // containers started again
		wantErr string
	}{
		{step: "prepare db", wantErr: `item "db": injected`},
		{step: "prepare cache", aborted: []string{"db"}, wantErr: `item "cache": injected`},
		{step: "stop app", aborted: []string{"db", "cache"}},
		{step: "muststop vol", aborted: []string{"db", "cache"}, started: []string{"app"}, wantErr: `item "vol": injected`},
		{step: "stop c1", aborted: []string{"db", "cache"}, started: []string{"app"}, wantErr: `item "vol": injected`},
		{step: "restore roles", aborted: []string{"db", "cache"}, started: []string{"c1", "app"}, wantErr: `item "roles": injected`},
		// A failed commit is not aborted: its own error says where the
		// data is (a dropped live database, the scratch one kept).
		{step: "commit db", aborted: []string{"cache"}, started: []string{"c1", "app"}, wantErr: `item "db": injected`},
		{step: "commit cache", started: []string{"c1", "app"}, wantErr: `item "cache": injected`},
		{step: "restore vol", started: []string{"c1", "app"}, wantErr: `item "vol": injected`},
		{step: "restore config", started: []string{"c1", "app"}, wantErr: `item "config": injected`},
		{step: "start c1", started: []string{"c1", "app"}},
		{step: "start app", started: []string{"c1", "app"}},
	} {
		t.Run(strings.ReplaceAll(c.step, " ", "_"), func(t *testing.T) {
			w, f, snap := restoreWorld(t)
			f.fault[c.step] = errInjected
			var say []string
			err := stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), f.restoreOptions(&say))
			if !errors.Is(err, errInjected) {
				t.Fatalf("got %v, want the injected failure", err)
			}
			if c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q lacks %q", err, c.wantErr)
			}
			ev := w.ev
			t.Logf("events: %q", ev.all())
			var aborted []string
			for _, e := range ev.all() {
				if name, ok := strings.CutPrefix(e, "abort "); ok {
					aborted = append(aborted, name)
				}
			}
			slices.Sort(aborted)
			want := slices.Clone(c.aborted)
			slices.Sort(want)
			if !slices.Equal(aborted, want) {
				t.Errorf("aborted %q, want %q", aborted, want)
			}
			var started []string
			for _, e := range ev.all() {
				if id, ok := strings.CutPrefix(e, "start "); ok {
					started = append(started, id)
				}
			}
			if !slices.Equal(started, c.started) {
				t.Errorf("started %q, want %q", started, c.started)
			}
			if strings.HasPrefix(c.step, "prepare ") && firstLive(ev) >= 0 {
				t.Errorf("proving failed but something live was touched: %q", ev.all())
			}
			if slices.Contains(c.started, "app") != slices.Contains(say, "stopped app") {
				t.Errorf("the app was stopped (%q) but not started again", say)
			}
		})
	}
}

// TestRestoreAppNotRunning: an app that was not running stays stopped.
func TestRestoreAppNotRunning(t *testing.T) {
	w, f, snap := restoreWorld(t)
	f.ctl.running["app"] = false
	f.fault["restore vol"] = errInjected
	var say []string
	err := stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), f.restoreOptions(&say))
	if !errors.Is(err, errInjected) {
		t.Fatal(err)
	}
	if w.ev.has("start app") || slices.Contains(say, "stopped app") {
		t.Errorf("an app that was not running was started: %q", w.ev.all())
	}
	if !w.ev.has("start c1") {
		t.Errorf("c1 was not started again: %q", w.ev.all())
	}
}

// TestRestoreSome: one item alone; the others are not touched.
func TestRestoreSome(t *testing.T) {
	w, f, snap := restoreWorld(t)
	it, _ := snap.Item("cache")
	var say []string
	if err := stack.Restore(context.Background(), w.r, f.plan, snap, []*repo.Item{it}, f.restoreOptions(&say)); err != nil {
		t.Fatal(err)
	}
	for _, e := range w.ev.all() {
		if strings.HasSuffix(e, " db") || strings.HasSuffix(e, " vol") || strings.HasSuffix(e, " c1") {
			t.Errorf("restoring cache touched %q", e)
		}
	}
	if !w.ev.has("commit cache") || !w.ev.has("start app") {
		t.Errorf("events %q", w.ev.all())
	}
}

// shortReader reads the start of an item and fails on its own.
type shortReader struct{ stream }

func (s *shortReader) Prepare(ctx context.Context, st sources.Stored) (sources.Swap, string, error) {
	rc := st.Open(ctx)
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 10)); err != nil {
		return nil, "", err
	}
	return nil, "", errors.New("bad header")
}

// TestRestoreReadErrors: a source that stops reading early reports its
// own error; a damaged repository's error wins over what the cut stream
// made the source say, and carries its type.
func TestRestoreReadErrors(t *testing.T) {
	w, f, snap := restoreWorld(t)
	short := &shortReader{stream: stream{base: base{name: "db", ev: w.ev}}}
	plan := &sources.Plan{Items: []*sources.PlanItem{{Name: "db", Source: short}}}
	it, _ := snap.Item("db")
	err := stack.Restore(context.Background(), w.r, plan, snap, []*repo.Item{it}, stack.RestoreOptions{})
	if err == nil || !strings.Contains(err.Error(), `item "db": bad header`) {
		t.Fatalf("got %v, want the source's own error", err)
	}
	// Remove the packs: reading the item fails in the repository.
	if err := os.RemoveAll(filepath.Join(w.dir, "data")); err != nil {
		t.Fatal(err)
	}
	err = stack.Restore(context.Background(), w.r, f.plan, snap, []*repo.Item{it}, f.restoreOptions(new([]string)))
	t.Log(err)
	if err == nil || strings.Contains(err.Error(), "differ") || !strings.Contains(err.Error(), `item "db"`) {
		t.Fatalf("got %v, want the repository's read error", err)
	}
	if !errors.Is(err, repo.ErrDamaged) && !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("the repository's error type is lost: %v", err)
	}
	if firstLive(w.ev) >= 0 {
		t.Errorf("something live was touched: %q", w.ev.all())
	}
}

// missing is a kind whose items need a place the plan must provide.
func init() {
	sources.Register(sources.Kind{Name: "stack-test-server", Target: func(meta map[string]string) (sources.Source, error) {
		return nil, fmt.Errorf("no server %s in the project now", meta["fake"])
	}})
}

type server struct{ db }

func (s *server) Kind() string { return "stack-test-server" }

// TestRestoreTargets: where items go is settled before anything runs.
func TestRestoreTargets(t *testing.T) {
	w := newWorld(t)
	f := newStackFixture(t, w.ev)
	f.plan.Items = append(f.plan.Items, &sources.PlanItem{Name: "srv", Source: &server{db{stream{base: base{name: "srv", ev: w.ev}, data: []byte("x")}}}})
	snap := w.backup(f.plan)
	restore := func(plan *sources.Plan) error {
		w.ev.reset()
		return stack.Restore(context.Background(), w.r, plan, snap, items(snap), f.restoreOptions(new([]string)))
	}
	// A kind that needs a place the plan lacks: nothing runs.
	without := *f.plan
	without.Items = without.Items[:len(without.Items)-1]
	if err := restore(&without); err == nil || !strings.Contains(err.Error(), `item "srv": no server srv in the project now`) {
		t.Fatalf("got %v", err)
	}
	if len(w.ev.all()) != 0 {
		t.Errorf("calls before every place was known: %q", w.ev.all())
	}
	// An unregistered kind without a place is left out.
	snapOnly := *f.plan
	snapOnly.Items = slices.DeleteFunc(slices.Clone(f.plan.Items), func(pi *sources.PlanItem) bool { return pi.Name == "roles" })
	if err := restore(&snapOnly); err != nil {
		t.Fatal(err)
	}
	if w.ev.has("restore roles") {
		t.Error("an item without a place was restored")
	}
	// The plan's item of that name is of another kind now.
	other := *f.plan
	other.Items = slices.Clone(f.plan.Items)
	other.Items[len(other.Items)-1] = &sources.PlanItem{Name: "srv", Source: &db{stream{base: base{name: "srv", ev: w.ev}}}}
	if err := restore(&other); err == nil || !strings.Contains(err.Error(), "stack-test-server source, the plan now from a fake source") {
		t.Fatalf("got %v", err)
	}
	// An item set aside by repair has nothing to restore.
	snap.Items[0].Error = "damaged"
	if err := restore(f.plan); !errors.Is(err, repo.ErrItemUnavailable) {
		t.Fatalf("got %v", err)
	}
	// Containers to stop and no controller.
	snap.Items[0].Error = ""
	err := stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), stack.RestoreOptions{})
	if !errors.Is(err, stack.ErrNoController) {
		t.Fatalf("got %v", err)
	}
	if !w.ev.has("abort db") {
		t.Errorf("prepared swaps not aborted: %q", w.ev.all())
	}
}

// TestRestoreDiscrepancyFinishes: a check that is not about damage (a key
// count on a busy server) failing after live data was touched does not stop
// the restore: every later item is still put back, the apps start, and the
// error names the discrepancy.
func TestRestoreDiscrepancyFinishes(t *testing.T) {
	w, f, snap := restoreWorld(t)
	f.fault["commit cache"] = fmt.Errorf("loaded 11 keys, expected 12: %w", sources.ErrDiscrepancy)
	var say []string
	err := stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), f.restoreOptions(&say))
	var de *stack.DiscrepancyError
	if !errors.As(err, &de) || !errors.Is(err, sources.ErrDiscrepancy) || !strings.Contains(err.Error(), `item "cache"`) {
		t.Fatalf("restore error %v, want a DiscrepancyError naming the cache item", err)
	}
	ev := w.ev
	for _, e := range []string{"restore vol", "restore config", "start app", "start c1"} {
		if !ev.has(e) {
			t.Errorf("%q did not happen after the discrepancy: %q", e, ev.all())
		}
	}
	if ev.index("start app") < ev.index("restore config") {
		t.Errorf("the app started before every item was restored: %q", ev.all())
	}
	// A container that fails to start again is said too, and the
	// discrepancy keeps its type.
	w, f, snap = restoreWorld(t)
	f.fault["commit cache"] = fmt.Errorf("loaded 11 keys, expected 12: %w", sources.ErrDiscrepancy)
	f.fault["start c1"] = errInjected
	err = stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), f.restoreOptions(&say))
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "starting c1 again failed") {
		t.Fatalf("discrepancy and a failed start: %v", err)
	}
	// A real failure after live data was touched still stops at once.
	w, f, snap = restoreWorld(t)
	f.fault["commit cache"] = errInjected
	err = stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), f.restoreOptions(&say))
	if !errors.Is(err, errInjected) || errors.As(err, &de) || w.ev.has("restore vol") || !w.ev.has("start app") {
		t.Fatalf("a real failure: %v, events %q", err, w.ev.all())
	}
}
