package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// diffTree makes a directory to back up, with fixed mtimes.
func diffTree(t *testing.T, dir string) string {
	src := filepath.Join(dir, "app")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	files := map[string]string{"same.txt": "unchanged", "grow.txt": "0123456789", "edit.txt": "aaaa", "gone.txt": "bye", "sub/mode.sh": "#!/bin/sh\n"}
	for name, content := range files {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	diffTouch(t, src)
	return src
}

// diffTouch gives every file the same mtime, so only deliberate changes show.
func diffTouch(t *testing.T, src string) {
	when := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			os.Chtimes(p, when, when)
		}
		return nil
	})
}

func diffChange(t *testing.T, src string) {
	os.WriteFile(filepath.Join(src, "grow.txt"), []byte("0123456789AB"), 0o644)
	os.WriteFile(filepath.Join(src, "edit.txt"), []byte("bbbb"), 0o644) // same size, new content
	os.Remove(filepath.Join(src, "gone.txt"))
	os.WriteFile(filepath.Join(src, "sub", "new.txt"), []byte("hello"), 0o644)
	os.Chmod(filepath.Join(src, "sub", "mode.sh"), 0o755)
	diffTouch(t, src)
}

func TestDiffFiles(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	src := diffTree(t, e.dir)
	e.ok(strings.NewReader("db v1"), "backup", "--stdin", "--item", "db", src, "--time", "2026-01-01 01:00:00")
	diffChange(t, src)
	e.ok(strings.NewReader("db v1"), "backup", "--stdin", "--item", "db", src, "--time", "2026-01-02 01:00:00")
	snaps := e.snapshots()

	out := e.ok(nil, "diff", snaps[0].ID[:8], "latest").stdout
	for _, want := range []string{
		"comparing " + snaps[0].ShortID + " ",
		"\nM app (size 36 B → 40 B, content)\n",
		"    + app/sub/new.txt\n",
		"    - app/gone.txt\n",
		"    M app/grow.txt (size 10 → 12, content)\n",
		"    M app/edit.txt (content)\n",
		"    M app/sub/mode.sh (mode -rw-r--r-- → -rwxr-xr-x)\n",
		"items: 0 added, 0 removed, 1 changed, 1 unchanged; files: 1 added, 1 removed, 3 changed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"same.txt", "M db", "note:"} {
		if strings.Contains(out, not) {
			t.Errorf("diff shows %q:\n%s", not, out)
		}
	}

	var res diffResult
	if err := json.Unmarshal([]byte(e.ok(nil, "diff", snaps[0].ID, snaps[1].ID, "--json").stdout), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Files || len(res.Items) != 1 || res.Items[0].Name != "app" || len(res.Items[0].Files) != 5 || res.Summary.FilesChanged != 3 {
		t.Fatalf("json: %+v", res)
	}
	for _, f := range res.Items[0].Files {
		if f.Path == "app/grow.txt" && (f.OldSize == nil || *f.OldSize != 10 || *f.NewSize != 12) {
			t.Errorf("grow.txt: %+v", f)
		}
	}

	// A snapshot against itself.
	out = e.ok(nil, "diff", "latest", "latest").stdout
	if !strings.Contains(out, "no differences") || !strings.Contains(out, "2 unchanged") {
		t.Errorf("self diff:\n%s", out)
	}
	e.expect(ExitUsage, nil, "diff", "latest")
	e.expect(ExitNotFound, nil, "diff", "latest", "ffffffff")
}

func TestDiffItems(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	src := diffTree(t, e.dir)
	e.ok(strings.NewReader("db v1"), "backup", "--stdin", "--item", "db", src, "--time", "2026-01-01 01:00:00")
	e.ok(strings.NewReader("db v2!"), "backup", "--stdin", "--command", "echo hi", "--item", "db", "--item", "extra", "--time", "2026-01-02 01:00:00")
	snaps := e.snapshots()
	out := e.ok(nil, "diff", snaps[0].ID, snaps[1].ID).stdout
	for _, want := range []string{"\n+ extra (stream, 3 B)\n", "\n- app (tree, 36 B)\n", "\nM db (size 5 B → 6 B, content)\n", "items: 1 added, 1 removed, 1 changed, 0 unchanged"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	var res diffResult
	json.Unmarshal([]byte(e.ok(nil, "diff", snaps[1].ID, snaps[0].ID, "--json").stdout), &res)
	if res.Summary.ItemsAdded != 1 || res.Summary.ItemsRemoved != 1 || res.Items[len(res.Items)-1].Name != "extra" || res.Items[len(res.Items)-1].Change != "removed" {
		t.Fatalf("reverse json: %+v", res)
	}
}

// A write-only key compares items and says files need the full key.
func TestDiffWriteOnlyKey(t *testing.T) {
	e := newEnv(t)
	full := filepath.Join(e.dir, "full.key")
	e.vars["SNAP_PASSWORD"] = ""
	e.ok(nil, "init", "--key-file", full)
	wo := filepath.Join(e.dir, "host.key")
	os.WriteFile(wo, []byte(e.ok(nil, "key", "export", "--write-only", "--key-file", full).stdout), 0o600)
	e.vars["SNAP_KEY_FILE"] = wo
	src := diffTree(t, e.dir)
	e.ok(nil, "backup", src, "--time", "2026-01-01 01:00:00")
	diffChange(t, src)
	e.ok(nil, "backup", src, "--time", "2026-01-02 01:00:00")
	snaps := e.snapshots()

	out := e.ok(nil, "diff", snaps[0].ID, snaps[1].ID).stdout
	if !strings.Contains(out, "M app (size 36 B → 40 B, content)") || !strings.Contains(out, "note: file-level diff needs the full key") || strings.Contains(out, "app/grow.txt") {
		t.Fatalf("write-only diff:\n%s", out)
	}
	var res diffResult
	json.Unmarshal([]byte(e.ok(nil, "diff", snaps[0].ID, snaps[1].ID, "--json").stdout), &res)
	if res.Files || res.Note == "" || res.Summary.ItemsChanged != 1 {
		t.Fatalf("write-only json: %+v", res)
	}
	out = e.ok(nil, "diff", snaps[0].ID, snaps[1].ID, "--key-file", full).stdout
	if !strings.Contains(out, "    M app/grow.txt (size 10 → 12, content)") {
		t.Fatalf("full-key diff:\n%s", out)
	}
}
