package stack_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/repo"
	"snap/stack"
)

func TestVerify(t *testing.T) {
	w, f, snap := restoreWorld(t)
	report := func(got map[string]string) stack.VerifyOptions {
		return stack.VerifyOptions{Report: func(it *repo.Item, msg string) { got[it.Name] = msg }}
	}
	// Without a plan every item is read in full.
	got := map[string]string{}
	if err := stack.Verify(context.Background(), w.r, nil, snap, report(got)); err != nil {
		t.Fatal(err)
	}
	for _, it := range snap.Items {
		if got[it.Name] != "decrypts and authenticates" {
			t.Errorf("%s: %q", it.Name, got[it.Name])
		}
	}
	if len(w.ev.all()) != 0 {
		t.Errorf("a source was called without a plan: %q", w.ev.all())
	}
	// With the plan, items with a drill are drilled; nothing live.
	got = map[string]string{}
	if err := stack.Verify(context.Background(), w.r, f.plan, snap, report(got)); err != nil {
		t.Fatal(err)
	}
	if got["db"] != "drilled" || got["cache"] != "drilled" || got["vol"] != "decrypts and authenticates" {
		t.Errorf("reports %v", got)
	}
	if firstLive(w.ev) >= 0 {
		t.Errorf("verify touched something live: %q", w.ev.all())
	}
	// A failing drill names the item.
	f.fault["drill cache"] = errInjected
	err := stack.Verify(context.Background(), w.r, f.plan, snap, stack.VerifyOptions{})
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), `item "cache"`) {
		t.Fatalf("got %v", err)
	}
	// Damage is found with or without a drill, with its type.
	if err := os.RemoveAll(filepath.Join(w.dir, "data")); err != nil {
		t.Fatal(err)
	}
	delete(f.fault, "drill cache")
	for _, plan := range []*stackFixture{nil, f} {
		var err error
		if plan == nil {
			err = stack.Verify(context.Background(), w.r, nil, snap, stack.VerifyOptions{})
		} else {
			err = stack.Verify(context.Background(), w.r, plan.plan, snap, stack.VerifyOptions{})
		}
		if !errors.Is(err, repo.ErrDamaged) {
			t.Errorf("damaged repository: %v", err)
		}
	}
}
