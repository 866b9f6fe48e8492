package stack_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"snap/sources"
	"snap/stack"
)

// graceful is the fake controller with bounded graceful stops.
type graceful struct{ *controller }

func (g graceful) StopTimeout(ctx context.Context, id string, d time.Duration) (bool, error) {
	g.ev.add("timeout %s %s", id, d)
	return g.Stop(ctx, id)
}

// queueFixture is the stack fixture run in n8n's queue mode: a main app,
// two workers and a webhook processor that must all be down while any data
// is replaced.
func queueFixture(t *testing.T, ready func(context.Context) (string, error)) (*world, *stackFixture, stack.RestoreOptions, *[]string) {
	w, f, _ := restoreWorld(t)
	f.plan.Apps = []sources.App{
		{Container: "w1", Role: "worker", StopTimeout: time.Minute},
		{Container: "w2", Role: "worker", StopTimeout: time.Minute},
		{Container: "hook", Role: "webhook", StopTimeout: time.Minute},
		{Container: "main", Role: "main", StopTier: 1, StopTimeout: 30 * time.Second, Ready: ready},
	}
	for _, id := range []string{"w1", "w2", "hook", "main"} {
		f.ctl.running[id] = true
	}
	f.ctl.running["w2"] = false // a stopped worker stays stopped
	var say []string
	o := f.restoreOptions(&say)
	o.Containers = graceful{f.ctl}
	return w, f, o, &say
}

// TestRestoreQueueMode: workers and the webhook processor stop (each with
// its timeout) before main, all before any data is put back; main starts
// first, then the others that ran, and main is asked whether it answers.
func TestRestoreQueueMode(t *testing.T) {
	w, f, o, say := queueFixture(t, func(context.Context) (string, error) { return "healthz ok", nil })
	snap := w.backup(f.plan)
	w.ev.reset()
	if err := stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), o); err != nil {
		t.Fatal(err)
	}
	ev := w.ev
	t.Logf("events: %q", ev.all())
	firstPut := min(ev.index("commit "), ev.index("restore "))
	for _, id := range []string{"w1", "w2", "hook", "main"} {
		if i := ev.index("stop " + id); i < 0 || i > firstPut {
			t.Errorf("%s not stopped before data was replaced: %q", id, ev.all())
		}
	}
	if !ev.has("timeout w1 1m0s") || !ev.has("timeout main 30s") {
		t.Errorf("stop timeouts not used: %q", ev.all())
	}
	if m := ev.index("stop main"); m < ev.index("stop w1") || m < ev.index("stop hook") {
		t.Errorf("main stopped before the workers: %q", ev.all())
	}
	var starts []string
	for _, e := range ev.all() {
		if id, ok := strings.CutPrefix(e, "start "); ok {
			starts = append(starts, id)
		}
	}
	// c1 is the volume's user, stopped after the apps, started first.
	if want := []string{"c1", "main", "hook", "w1"}; !slices.Equal(starts, want) {
		t.Errorf("starts %q, want %q (w2 was not running)", starts, want)
	}
	if !slices.Contains(*say, "main (main) answers: healthz ok") {
		t.Errorf("readiness not reported: %q", *say)
	}
}

// TestRestoreQueueModeFailures: a failure after the apps stopped starts
// every one that ran again; a main that does not answer afterwards is
// reported, not an error. (A failed stop leaves main running.)
func TestRestoreQueueModeFailures(t *testing.T) {
	for _, step := range []string{"commit db", "restore vol", "stop main"} {
		t.Run(strings.ReplaceAll(step, " ", "_"), func(t *testing.T) {
			w, f, o, say := queueFixture(t, func(context.Context) (string, error) { return "", errors.New("connection refused") })
			snap := w.backup(f.plan)
			w.ev.reset()
			f.fault[step] = errInjected
			err := stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), o)
			if !errors.Is(err, errInjected) {
				t.Fatalf("got %v, want the injected failure", err)
			}
			t.Logf("events: %q", w.ev.all())
			for id, ran := range map[string]bool{"w1": true, "hook": true, "main": true, "w2": false} {
				if got := f.ctl.running[id]; got != ran {
					t.Errorf("%s running = %v after the failed restore, want %v", id, got, ran)
				}
			}
			if step != "stop main" && !slices.ContainsFunc(*say, func(s string) bool {
				return strings.HasPrefix(s, "warning: main (main) does not answer")
			}) {
				t.Errorf("a main that does not answer is not reported: %q", *say)
			}
		})
	}
}

// TestRestoreAppsNoController: apps to stop and no way to stop them.
func TestRestoreAppsNoController(t *testing.T) {
	w, f, snap := restoreWorld(t)
	err := stack.Restore(context.Background(), w.r, f.plan, snap, items(snap), stack.RestoreOptions{})
	if !errors.Is(err, stack.ErrNoController) {
		t.Fatal(fmt.Sprint("got ", err))
	}
}
