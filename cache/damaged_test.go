package cache

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"snap/crypt"
	"snap/repo/format"
)

// copyOf is pack p's blobs stored again in another pack (seed), at other
// offsets: what a backup that re-stores a damaged pack's blobs writes.
func copyOf(p format.Pack, seed byte) format.Pack {
	q := format.Pack{ID: crypt.Hash([]byte{seed, 0xee}), Size: 2 << 20, Keys: [][]byte{[]byte("other key")}}
	for i, b := range p.Blobs {
		b.Offset = uint64(i*100 + 7)
		q.Blobs = append(q.Blobs, b)
	}
	return q
}

// TestTwoLocationsPreferUndamaged: a blob stored in two packs keeps both
// locations, however the cache was filled and in whatever order; lookups
// prefer the pack not marked damaged, and otherwise the smaller pack id, so
// every reader picks the same copy.
func TestTwoLocationsPreferUndamaged(t *testing.T) {
	a := samplePack(1, 50)
	b := copyOf(a, 2)
	lo, hi := a, b
	if string(hi.ID[:]) < string(lo.ID[:]) {
		lo, hi = hi, lo
	}
	fills := map[string]func(t *testing.T, dir string, first, second format.Pack) *Cache{
		"add": func(t *testing.T, dir string, first, second format.Pack) *Cache {
			c := openRW(t, dir)
			if err := c.AddIndexFile("i1", []format.Pack{first}); err != nil {
				t.Fatal(err)
			}
			if err := c.AddIndexFile("i2", []format.Pack{second}); err != nil {
				t.Fatal(err)
			}
			return c
		},
		"bulk": func(t *testing.T, dir string, first, second format.Pack) *Cache {
			c := openRW(t, dir)
			files := map[string][]format.Pack{"i1": {first}, "i2": {second}}
			if err := c.BulkLoad([]string{"i1", "i2"}, func(n string) ([]format.Pack, error) { return files[n], nil }, 3*bulkPerPass); err != nil {
				t.Fatal(err)
			}
			return c
		},
		"one file": func(t *testing.T, dir string, first, second format.Pack) *Cache {
			c := openRW(t, dir)
			if err := c.AddIndexFile("i1", []format.Pack{first, second}); err != nil {
				t.Fatal(err)
			}
			return c
		},
		"overlay": func(t *testing.T, dir string, first, second format.Pack) *Cache {
			c := openRW(t, dir)
			if err := c.AddIndexFile("i1", []format.Pack{first}); err != nil {
				t.Fatal(err)
			}
			c.Close()
			ro, err := Open(filepath.Join(dir, "index.db"), "r", true, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			ro.AddOverlay([]format.Pack{second})
			return ro
		},
	}
	for name, fill := range fills {
		for _, order := range [][2]format.Pack{{a, b}, {b, a}} {
			c := fill(t, t.TempDir(), order[0], order[1])
			id := a.Blobs[17].ID
			check := func(damaged map[crypt.ID]bool, want crypt.ID, undamaged bool) {
				t.Helper()
				c.SetDamaged(damaged)
				e, ok, err := c.Lookup(id)
				if err != nil || !ok || e.Pack != want {
					t.Fatalf("%s, %.4s first, damaged %v: lookup %+v %v %v, want pack %.4s", name, order[0].ID, damaged, e, ok, err, want)
				}
				locs, err := c.Locations(id)
				if err != nil || len(locs) != 2 || locs[0].Pack != want || locs[0].Pack == locs[1].Pack {
					t.Fatalf("%s: locations %+v %v", name, locs, err)
				}
				for _, l := range locs {
					if l.Pack == b.ID && l.Offset != 17*100+7 || l.Pack == a.ID && l.Offset != 1700 {
						t.Fatalf("%s: location %+v has another pack's offset", name, l)
					}
				}
				if c.HasUndamaged(id) != undamaged || !c.Has(id) {
					t.Fatalf("%s, damaged %v: HasUndamaged %v", name, damaged, !undamaged)
				}
			}
			check(nil, lo.ID, true)
			check(map[crypt.ID]bool{a.ID: true}, b.ID, true)
			check(map[crypt.ID]bool{b.ID: true}, a.ID, true)
			check(map[crypt.ID]bool{a.ID: true, b.ID: true}, lo.ID, false)
			c.Close()
		}
	}
}

func openRW(t *testing.T, dir string) *Cache {
	t.Helper()
	c, err := Open(filepath.Join(dir, "index.db"), "r", false, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSameLocationTwice: an index file read again (a load redone after an
// interruption, the same pack in two index files) adds no second location.
func TestSameLocationTwice(t *testing.T) {
	c := openRW(t, t.TempDir())
	defer c.Close()
	p := samplePack(3, 10)
	for _, f := range []string{"i1", "i2", "i1"} {
		if err := c.AddIndexFile(f, []format.Pack{p}); err != nil {
			t.Fatal(err)
		}
	}
	c.AddOverlay([]format.Pack{p})
	if locs, err := c.Locations(p.Blobs[0].ID); err != nil || len(locs) != 1 {
		t.Fatalf("locations %+v %v", locs, err)
	}
}

func TestDamageLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "damaged.db")
	if got, err := ReadDamageLog(path); err != nil || len(got) != 0 {
		t.Fatalf("no log yet: %v %v", got, err)
	}
	when := time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)
	d1 := Damage{Pack: crypt.Hash([]byte("p1")), Reason: "hash mismatch", FoundBy: "check", Host: "h", Time: when}
	d2 := Damage{Pack: crypt.Hash([]byte("p2")), Reason: "missing", FoundBy: "read", Host: "h", Time: when, Record: "abc"}
	if err := PutDamage(path, d1, d2); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDamageLog(path)
	if err != nil || len(got) != 2 || got[d1.Pack] != d1 || got[d2.Pack] != d2 {
		t.Fatalf("log %+v %v", got, err)
	}
	if err := DeleteDamage(path, d1.Pack); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadDamageLog(path); len(got) != 1 || got[d2.Pack] != d2 {
		t.Fatalf("after delete: %+v", got)
	}
}

func TestDamageLogUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(path, []byte("not a bbolt file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDamageLog(path); err == nil {
		t.Fatal("an unreadable log read as empty")
	}
	d := Damage{Pack: crypt.Hash([]byte("p")), Reason: "r", Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	if err := PutDamage(path, d); err != nil {
		t.Fatalf("an unreadable log was not replaced: %v", err)
	}
	if got, err := ReadDamageLog(path); err != nil || got[d.Pack] != d {
		t.Fatalf("after replacing: %+v %v", got, err)
	}
}
