package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestForgetPrune: ten nightly backups, a week kept; the removed nights'
// space comes back, and what is kept restores.
func TestForgetPrune(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	nights := map[string][]byte{}
	for d := 1; d <= 10; d++ {
		data := randData(uint64(d), 2<<20)
		at := fmt.Sprintf("2026-03-%02d 02:00:00", d)
		e.ok(bytes.NewReader(data), "backup", "--stdin", "--item", "db.sql", "--time", at, "--host", "web1", "--profile", "n8n")
		nights[at] = data
	}
	// Another host's history is another group: never touched by web1's.
	e.ok(strings.NewReader("other"), "backup", "--stdin", "--host", "web2", "--time", "2026-01-01 02:00:00")
	before := dirSize(t, e.vars["SNAP_REPO"])

	dry := e.ok(nil, "forget", "--keep-daily", "7", "--dry-run")
	if !strings.Contains(dry.stdout, "would remove 3 snapshots") || strings.Count(dry.stdout, "remove  ") != 3 || !strings.Contains(dry.stdout, "daily snapshot") {
		t.Fatalf("dry run output:\n%s", dry.stdout)
	}
	if len(e.snapshots()) != 11 {
		t.Fatal("a dry run removed snapshots")
	}
	out := e.ok(nil, "forget", "--keep-daily", "7", "--prune")
	if !strings.Contains(out.stdout, "removed 3 snapshots, keeping 8") || !strings.Contains(out.stdout, "prune: freed") {
		t.Fatalf("forget --prune:\n%s", out.stdout)
	}
	snaps := e.snapshots()
	if len(snaps) != 8 {
		t.Fatalf("%d snapshots left", len(snaps))
	}
	after := dirSize(t, e.vars["SNAP_REPO"])
	if after > before-5<<20 {
		t.Fatalf("repository %d → %d bytes: three nights' space not freed", before, after)
	}
	for _, s := range snaps {
		if s.Host != "web1" {
			continue
		}
		at := s.Time.Local().Format("2006-01-02 15:04:05")
		want, ok := nights[at]
		if !ok || at < "2026-03-04" {
			t.Fatalf("kept %s, which the policy removes", at)
		}
		if got := e.ok(nil, "dump", s.ID, "db.sql").stdout; got != string(want) {
			t.Fatalf("night %s restores different bytes", at)
		}
	}
	// JSON names each decision.
	var res forgetResult
	if err := json.Unmarshal([]byte(e.ok(nil, "forget", "--keep-daily", "7", "--json").stdout), &res); err != nil || len(res.Groups) != 2 || res.Removed != 0 {
		t.Fatalf("forget --json: %v %+v", err, res)
	}
}

func TestForgetRefusals(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	for d := 1; d <= 3; d++ {
		e.ok(strings.NewReader(fmt.Sprint(d)), "backup", "--stdin", "--time", fmt.Sprintf("2026-03-%02d 02:00:00", d))
	}
	e.expect(ExitUsage, nil, "forget")
	e.expect(ExitUsage, nil, "forget", "--keep-within", "7x")
	e.expect(ExitUsage, nil, "forget", "--keep-daily", "1", "abcd")
	// A keep-tag no snapshot has would remove everything.
	r := e.expect(ExitUsage, nil, "forget", "--keep-tag", "never")
	if !strings.Contains(r.stderr, "would remove all 3") {
		t.Fatalf("refusal: %s", r.stderr)
	}
	e.ok(nil, "forget", "--keep-tag", "never", "--force")
	if n := len(e.snapshots()); n != 0 {
		t.Fatalf("%d snapshots after a forced forget", n)
	}
	e.expect(ExitUsage, nil, "prune", "--max-unused", "lots")
}

// TestForgetPruneWriteOnly: the server's write-only key keeps its own
// history in shape.
func TestForgetPruneWriteOnly(t *testing.T) {
	e := newEnv(t)
	full := filepath.Join(e.dir, "full.key")
	e.ok(nil, "init", "--key-file", full)
	wo := filepath.Join(e.dir, "wo.key")
	if err := os.WriteFile(wo, []byte(e.ok(nil, "key", "export", "--write-only", "--key-file", full).stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	var last []byte
	for d := 1; d <= 4; d++ {
		last = randData(uint64(50+d), 1<<20)
		e.ok(bytes.NewReader(last), "backup", "--stdin", "--item", "s", "--key-file", wo, "--time", fmt.Sprintf("2026-03-%02d 02:00:00", d))
	}
	e.ok(nil, "forget", "--keep-last", "1", "--prune", "--key-file", wo)
	e.ok(nil, "prune", "--key-file", wo)
	if got := e.ok(nil, "dump", "latest", "s", "--key-file", full).stdout; got != string(last) {
		t.Fatal("latest does not restore after a write-only prune")
	}
	// Forget by id.
	id := e.snapshots()[0].ID
	e.ok(nil, "forget", id[:8], "--key-file", wo)
	if n := len(e.snapshots()); n != 0 {
		t.Fatalf("%d snapshots after forget by id", n)
	}
}

// TestItemAddedPerItem: items of one run are saved concurrently; each one's
// "added" is what it added, not what the whole run had added meanwhile.
func TestItemAddedPerItem(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	a, b := randData(71, 3<<20), randData(72, 1<<20)
	f := filepath.Join(e.dir, "b")
	os.WriteFile(f, b, 0o600)
	e.ok(bytes.NewReader(a), "backup", "--stdin", "--command", "cat "+f, "--item", "a", "--item", "b")
	items := e.snapshots()[0].Items
	for i, want := range []int{len(a), len(b)} {
		// Its data plus a little for its reference list.
		if got := items[i].Added; got < int64(want) || got > int64(want)+4096 {
			t.Fatalf("item %s added %d bytes, its data is %d", items[i].Name, got, want)
		}
	}
	// Night 2: the same data adds nothing.
	e.ok(bytes.NewReader(a), "backup", "--stdin", "--command", "cat "+f, "--item", "a", "--item", "b")
	for _, it := range e.snapshots()[1].Items {
		if it.Added != 0 {
			t.Fatalf("unchanged item %s added %d bytes", it.Name, it.Added)
		}
	}
}
