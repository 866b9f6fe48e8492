package location_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"snap/internal/faultproxy"
	"snap/internal/testgw"
	"snap/repo/backend"
	"snap/repo/backend/location"
)

// firstAttempts fails the first attempt of every distinct request with a
// 503 and lets its retries through. Requests are told apart by method,
// path and query without the signing parameters, which change with each
// attempt of a presigned one.
type firstAttempts struct {
	seen map[string]bool
	n    int
}

func (f *firstAttempts) pick(r *http.Request) *faultproxy.Rule {
	var q []string
	for k, v := range r.URL.Query() {
		if !strings.HasPrefix(k, "X-Amz-") {
			q = append(q, k+"="+strings.Join(v, ","))
		}
	}
	sort.Strings(q)
	key := r.Method + " " + r.URL.Path + "?" + strings.Join(q, "&")
	if f.seen[key] {
		return nil
	}
	f.seen[key] = true
	f.n++
	return &faultproxy.Rule{Fault: faultproxy.Status, Status: http.StatusServiceUnavailable, Code: "SlowDown"}
}

// TestObjectLockThroughFaults: the requests of Object Lock and of object
// versions go through the retry wrapper like the others: making the
// bucket with Object Lock, reading and extending a lock, listing versions,
// removing one (its lock's refusal reported as such, not retried), and the
// repository as of a time (Options.AsOf: the listing that makes the view
// and the reads of versions), each with its first attempt answered 503.
func TestObjectLockThroughFaults(t *testing.T) {
	gw := testgw.StartWith(t, testgw.Options{Versioning: true})
	gw.SetEnv(t)
	p := faultproxy.Start(t, gw.Endpoint)
	fa := &firstAttempts{seen: map[string]bool{}}
	p.Add(&faultproxy.Rule{Pick: fa.pick})
	ctx := context.Background()
	bucket := testgw.Bucket()
	var ev events
	o := location.Options{Retry: quick(&ev, 6)} // making the bucket is 4 requests, each faulted once
	be := openVia(t, p.Addr, bucket+"/repo", o)
	ls, ok := backend.As[backend.LockingStore](be)
	if !ok {
		t.Fatal("no Object Lock through the wrapper")
	}
	if err := ls.PrepareObjectLock(ctx); err != nil {
		t.Fatalf("make the bucket with Object Lock: %v", err)
	}
	written := time.Now()
	ls.LockWrites(backend.ObjectLock{Mode: backend.ModeGovernance, Period: 24 * time.Hour, Types: []backend.FileType{backend.PackFile}})
	h, kept := backend.Handle{Type: backend.PackFile, Name: "p1"}, backend.Handle{Type: backend.PackFile, Name: "p2"}
	for _, f := range []backend.Handle{h, kept} {
		if err := be.Save(ctx, f, backend.NewByteReader([]byte("pack "+f.Name))); err != nil {
			t.Fatal(err)
		}
	}
	r, err := ls.Retention(ctx, h, "")
	if err != nil || r.Mode != backend.ModeGovernance || r.Until.Before(written.Add(24*time.Hour-time.Second)) {
		t.Fatalf("Retention = %+v, %v", r, err)
	}
	until := r.Until.Add(time.Hour)
	if err := ls.ExtendRetention(ctx, h, until); err != nil {
		t.Fatalf("extend: %v", err)
	}
	if r, err := ls.Retention(ctx, h, ""); err != nil || !r.Until.Equal(until) {
		t.Fatalf("after extending: %+v, %v", r, err)
	}
	if err := be.Remove(ctx, h); err != nil {
		t.Fatal(err)
	}
	var old *backend.Version
	err = ls.Versions(ctx, func(v backend.Version) error {
		if v.Handle == h && !v.DeleteMarker {
			old = &v
		}
		return nil
	})
	if err != nil || old == nil {
		t.Fatalf("versions: %v (the removed pack's version: %v)", err, old)
	}
	err = ls.RemoveVersion(ctx, *old)
	var le *backend.LockedError
	if !errors.As(err, &le) || !le.Until.Equal(until) {
		t.Fatalf("remove a locked version: %v", err)
	}

	// The repository as of now: the removed pack is gone, the other
	// reads back from its version.
	o.AsOf = time.Now()
	view := openVia(t, p.Addr, bucket+"/repo", o)
	if _, err := view.Stat(ctx, h); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("the removed pack in the view: %v", err)
	}
	rc, err := view.Open(ctx, kept, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, []byte("pack p2")) {
		t.Fatalf("read through the view: %q, %v", got, err)
	}
	if err := view.Save(ctx, kept, backend.NewByteReader(nil)); !errors.Is(err, backend.ErrReadOnly) {
		t.Fatalf("write through the view: %v", err)
	}

	faulted := map[string]bool{}
	for _, r := range p.Requests() {
		if r.Fault == faultproxy.Status {
			q, _ := url.ParseQuery(r.Query)
			for _, k := range []string{"retention", "versions", "versionId", "object-lock", "versioning"} {
				if _, ok := q[k]; ok {
					faulted[r.Method+" ?"+k] = true
					break // a read of a version's lock is a read of a lock
				}
			}
		}
	}
	t.Logf("%d distinct requests, each failed once; %d retries logged; faulted: %v", fa.n, ev.n(), faulted)
	for _, k := range []string{"GET ?retention", "PUT ?retention", "GET ?versions", "DELETE ?versionId", "GET ?versionId", "GET ?object-lock", "GET ?versioning"} {
		if !faulted[k] {
			t.Errorf("no %s was faulted", k)
		}
	}
	if ev.n() < fa.n {
		t.Errorf("%d retries logged for %d faults", ev.n(), fa.n)
	}
}

// TestAsOfRefused: only a store that keeps versions opens as of a time.
func TestAsOfRefused(t *testing.T) {
	loc, err := location.Parse(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := location.Open(context.Background(), loc, location.Options{AsOf: time.Now()}); !errors.Is(err, location.ErrNoVersions) {
		t.Fatalf("a directory as of a time: %v", err)
	}
}
