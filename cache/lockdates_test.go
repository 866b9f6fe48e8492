package cache_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"snap/cache"
)

// TestLockDates: dates are kept per store, to the second (rounded down),
// replaced by newer knowledge, and dropped once past; a missing record
// holds nothing and an unreadable one is an error (the caller then asks
// the store).
func TestLockDates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "repo", "locks.db")
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	if d, err := cache.ReadLockDates(path, "s3:a"); err != nil || len(d.Current)+len(d.Versions) != 0 {
		t.Fatalf("missing record: %+v, %v", d, err)
	}
	later := now.Add(30*24*time.Hour + 500*time.Millisecond)
	v := cache.VersionKey("data/ab/abcd", "v1")
	put := cache.LockDates{
		Current:  map[string]time.Time{"config": later, "data/ab/abcd": now.Add(time.Hour), "index/x": now.Add(-time.Second)},
		Versions: map[string]time.Time{v: now.Add(2 * time.Hour)},
	}
	if err := cache.UpdateLockDates(path, "s3:a", put, now); err != nil {
		t.Fatal(err)
	}
	if err := cache.UpdateLockDates(path, "s3:b", cache.LockDates{Current: map[string]time.Time{"config": now.Add(time.Minute)}}, now); err != nil {
		t.Fatal(err)
	}
	d, err := cache.ReadLockDates(path, "s3:a")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Current) != 2 || !d.Current["config"].Equal(later.Truncate(time.Second)) || !d.Versions[v].Equal(now.Add(2*time.Hour)) {
		t.Fatalf("store a: %+v (want config to the second, the past date dropped)", d)
	}
	if _, ok := d.Current["index/x"]; ok {
		t.Fatal("a date already past was kept")
	}
	// Newer knowledge replaces, even an earlier date; an hour later the
	// data file's date has passed and goes.
	if err := cache.UpdateLockDates(path, "s3:a", cache.LockDates{Current: map[string]time.Time{"config": now.Add(3 * time.Hour)}}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	d, _ = cache.ReadLockDates(path, "s3:a")
	if len(d.Current) != 1 || !d.Current["config"].Equal(now.Add(3*time.Hour)) || len(d.Versions) != 1 {
		t.Fatalf("after an hour: %+v", d)
	}
	if b, _ := cache.ReadLockDates(path, "s3:b"); !b.Current["config"].Equal(now.Add(time.Minute)) {
		t.Fatalf("store b: %+v", b)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.ReadLockDates(path, "s3:a"); err == nil {
		t.Fatal("an unreadable record read")
	}
	// Writing starts it anew.
	if err := cache.UpdateLockDates(path, "s3:a", put, now); err != nil {
		t.Fatal(err)
	}
	if d, err := cache.ReadLockDates(path, "s3:a"); err != nil || len(d.Current) != 2 {
		t.Fatalf("after a reset: %+v, %v", d, err)
	}
}
