package stack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"snap/repo"
	"snap/repo/backend"
	"snap/repo/format"
	"snap/sources"
	"snap/stack"
)

// TestBackupSequence: lock, then the items, then the index (flush), the
// lock check, and the snapshot written last; every item recorded with
// its meta, extra metadata and content.
func TestBackupSequence(t *testing.T) {
	w := newWorld(t)
	f := newStackFixture(t, w.ev)
	var progress, stopped atomic.Int32
	o := w.backupOptions()
	o.Progress = func(*repo.Writer) func() { progress.Add(1); return func() { stopped.Add(1) } }
	o.Warn = func(msg string) { t.Errorf("warning: %s", msg) }
	snap, err := stack.Backup(context.Background(), w.r, f.plan, o)
	if err != nil {
		t.Fatal(err)
	}
	ev := w.ev
	lastItem := max(ev.last("backup "), 0)
	for _, it := range []string{"db", "roles", "cache", "vol"} {
		if !ev.has("backup " + it) {
			t.Errorf("item %s was not backed up", it)
		}
	}
	firstIndex, check, snapSave := ev.index("save index"), ev.index("lock check"), ev.index("save snapshots")
	switch {
	case ev.index("save locks") != 0 || ev.index("lock") != 1:
		t.Errorf("the lock is not taken first: %q", ev.all())
	case firstIndex < lastItem || check < firstIndex || snapSave < check:
		t.Errorf("want items < flush (index) < lock check < snapshot: %q", ev.all())
	case ev.last("save ") != snapSave:
		t.Errorf("a file was saved after the snapshot: %q", ev.all())
	case ev.last("unlock") < snapSave:
		t.Errorf("unlocked before the snapshot: %q", ev.all())
	}
	if progress.Load() != 1 || stopped.Load() != 1 {
		t.Errorf("progress started %d, stopped %d times", progress.Load(), stopped.Load())
	}
	if n := w.be.count(t, backend.LockFile); n != 0 {
		t.Errorf("%d lock files left", n)
	}
	// The snapshot as written: items in plan order, meta, clock.
	if snap.Host != "h" || snap.Program != "snap test" || len(snap.Tags) != 1 || snap.Status != repo.StatusComplete {
		t.Errorf("snapshot header: %+v", snap)
	}
	if snap.Time != time.Date(2026, 3, 1, 2, 0, 1, 0, time.UTC) || snap.Duration <= 0 {
		t.Errorf("snapshot time %v, duration %v: not from the injected clock", snap.Time, snap.Duration)
	}
	want := []struct{ name, kind string }{{"db", repo.KindStream}, {"roles", repo.KindStream}, {"cache", repo.KindStream}, {"vol", repo.KindTree}, {"config", repo.KindTree}}
	if len(snap.Items) != len(want) {
		t.Fatalf("%d items", len(snap.Items))
	}
	for i, it := range snap.Items {
		if it.Name != want[i].name || it.Kind != want[i].kind {
			t.Errorf("item %d: %s %s, want %+v", i, it.Name, it.Kind, want[i])
		}
		if it.Meta["source"] != "fake" || it.Meta["fake"] != it.Name || it.Meta["project"] != "p" {
			t.Errorf("item %s meta %v", it.Name, it.Meta)
		}
	}
	db := f.plan.Item("db").Source.(*db)
	if got := snap.Items[0].Meta["extra"]; got != fmt.Sprint(len(db.data)) {
		t.Errorf("extra metadata %q", got)
	}
	if snap.Items[0].Added == 0 || snap.Stored == 0 || snap.Items[4].Files != 1 {
		t.Errorf("accounting: %+v", snap.Items)
	}
	var buf bytes.Buffer
	if _, err := w.r.StreamItem(context.Background(), &snap.Items[0], &buf); err != nil || !bytes.Equal(buf.Bytes(), db.data) {
		t.Fatalf("stored stream differs: %v", err)
	}
	loaded, err := w.r.FindSnapshot(context.Background(), "latest")
	if err != nil || loaded.ID != snap.ID {
		t.Fatalf("latest is not the snapshot returned: %v", err)
	}
}

// TestBackupCommandLinePlan: a plan without an origin records no meta.
func TestBackupCommandLinePlan(t *testing.T) {
	w := newWorld(t)
	plan := &sources.Plan{Items: []*sources.PlanItem{{Name: "x", Source: &stream{base: base{name: "x", ev: w.ev}, data: []byte("x")}}}}
	snap := w.backup(plan)
	if m := snap.Items[0].Meta; len(m) != 1 || m["extra"] != "1" {
		t.Fatalf("meta %v: only the stream's extra belongs there", m)
	}
}

// TestBackupFailures injects a failure at each step: the run fails with
// that cause, writes no snapshot, and releases its lock.
func TestBackupFailures(t *testing.T) {
	type step struct {
		name  string
		setup func(w *world, f *stackFixture, o *stack.BackupOptions)
		want  string // in the error
		src   bool   // a *repo.SourceError (exit 3)
	}
	var steps []step
	for _, it := range []string{"db", "roles", "cache", "vol"} {
		steps = append(steps, step{name: "item " + it, want: fmt.Sprintf("item %q (fake %s): ", it, it), src: true,
			setup: func(w *world, f *stackFixture, o *stack.BackupOptions) {
				f.fault["backup "+it] = errInjected
				// The other stream items wait to be cancelled: the
				// reported cause must be the failure, not their
				// cancellation.
				for _, pi := range f.plan.Items {
					if s, ok := pi.Source.(interface{ blockUntilCancel() }); ok && pi.Name != it {
						s.blockUntilCancel()
					}
				}
			}})
	}
	steps = append(steps,
		step{name: "files", want: `item "config"`, src: true, setup: func(w *world, f *stackFixture, o *stack.BackupOptions) {
			f.plan.Item("config").Source.(*dir).path += "-missing"
		}},
		step{name: "lock", want: "locked", setup: func(w *world, f *stackFixture, o *stack.BackupOptions) {
			o.Lock = func(context.Context) (stack.Lock, error) { return nil, errors.New("locked") }
		}},
		step{name: "repository mid-stream", want: `item "db" (fake db): save pack: ` + errInjected.Error(), setup: func(w *world, f *stackFixture, o *stack.BackupOptions) {
			// More than a pack: saving fails while the source writes.
			data := make([]byte, 6<<20)
			_, _ = io.ReadFull(rand.NewChaCha8([32]byte{1}), data)
			f.plan.Item("db").Source.(*db).data = data
			w.be.failSaves(backend.PackFile, errInjected)
		}},
		step{name: "flush", want: errInjected.Error(), setup: func(w *world, f *stackFixture, o *stack.BackupOptions) {
			w.be.failSaves(backend.PackFile, errInjected)
		}},
		step{name: "lock check", want: "lock lost", setup: func(w *world, f *stackFixture, o *stack.BackupOptions) {
			o.Lock = func(ctx context.Context) (stack.Lock, error) {
				l, err := w.lock(ctx)
				return failingCheck{l}, err
			}
		}},
		step{name: "snapshot", want: errInjected.Error(), setup: func(w *world, f *stackFixture, o *stack.BackupOptions) {
			w.be.failSaves(backend.SnapshotFile, errInjected)
		}},
		step{name: "no lock", want: stack.ErrNoLock.Error(), setup: func(w *world, f *stackFixture, o *stack.BackupOptions) {
			o.Lock = nil
		}},
		step{name: "no way to back up", want: "no way to back up", setup: func(w *world, f *stackFixture, o *stack.BackupOptions) {
			f.plan.Items = append(f.plan.Items, &sources.PlanItem{Name: "odd", Source: &base{name: "odd", ev: w.ev}})
		}},
	)
	for _, s := range steps {
		t.Run(strings.ReplaceAll(s.name, " ", "_"), func(t *testing.T) {
			w := newWorld(t)
			f := newStackFixture(t, w.ev)
			o := w.backupOptions()
			s.setup(w, f, &o)
			snap, err := stack.Backup(context.Background(), w.r, f.plan, o)
			if err == nil {
				t.Fatalf("backup succeeded: %v", snap.ID)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), s.want) {
				t.Errorf("error lacks %q", s.want)
			}
			if errors.Is(err, context.Canceled) {
				t.Error("the cause reported is a cancellation")
			}
			var se *repo.SourceError
			if errors.As(err, &se) != s.src {
				t.Errorf("SourceError: %v, want %v", !s.src, s.src)
			}
			if snap != nil || w.snapshots() != 0 {
				t.Error("a snapshot was written")
			}
			if n := w.be.count(t, backend.LockFile); n != 0 {
				t.Errorf("%d lock files left", n)
			}
			if s.name == "lock" && w.ev.index("backup ") >= 0 {
				t.Errorf("items ran without the lock: %q", w.ev.all())
			}
		})
	}
}

func (s *stream) blockUntilCancel() { s.block = true }

type failingCheck struct{ stack.Lock }

func (failingCheck) Check() error { return errors.New("lock lost") }

// TestBackupConcurrent runs many items at once (run it with -race): each
// is stored whole and apart.
func TestBackupConcurrent(t *testing.T) {
	w := newWorld(t)
	plan := &sources.Plan{}
	sums := map[string][32]byte{}
	for i := range 16 {
		data := make([]byte, 50000+i*20000)
		rng := rand.NewChaCha8([32]byte{byte(i)})
		_, _ = io.ReadFull(rng, data)
		name := fmt.Sprintf("s%02d", i)
		sums[name] = sha256.Sum256(data)
		plan.Items = append(plan.Items, &sources.PlanItem{Name: name, Source: &stream{base: base{name: name, ev: w.ev}, data: data}})
	}
	snap := w.backup(plan)
	var added int64
	for i := range snap.Items {
		it := &snap.Items[i]
		h := sha256.New()
		if _, err := w.r.StreamItem(context.Background(), it, h); err != nil {
			t.Fatal(err)
		}
		if [32]byte(h.Sum(nil)) != sums[it.Name] {
			t.Errorf("item %s differs", it.Name)
		}
		added += it.Added
	}
	if added < 16*50000 {
		t.Errorf("items added %d bytes in all", added)
	}
}

// TestBackupRefusesBadNames: a plan item whose name would print across
// lines (or two items with one name) is refused before anything is locked
// or written, whoever built the plan.
func TestBackupRefusesBadNames(t *testing.T) {
	w := newWorld(t)
	for _, names := range [][]string{{"a\nb"}, {"ok", "\x1b[31mred"}, {"same", "same"}} {
		plan := &sources.Plan{}
		for _, n := range names {
			plan.Items = append(plan.Items, &sources.PlanItem{Name: n, Source: &stream{base: base{name: "x", ev: w.ev, fault: faults{}}, data: []byte("x")}})
		}
		_, err := stack.Backup(context.Background(), w.r, plan, w.backupOptions())
		if !errors.Is(err, format.ErrItemName) {
			t.Errorf("names %q: %v, want ErrItemName", names, err)
		}
		if strings.ContainsAny(err.Error(), "\n\x1b") {
			t.Errorf("the error does not print on one line: %q", err)
		}
	}
	if n := w.snapshots(); n != 0 || w.ev.has("lock") {
		t.Fatalf("%d snapshots written, events %q", n, w.ev.all())
	}
}
