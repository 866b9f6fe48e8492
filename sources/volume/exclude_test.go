package volume

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var sqliteExcludes = []string{"database.sqlite", "database.sqlite-wal", "database.sqlite-shm", "database.sqlite-journal", "database.sqlite.snap-old-*"}

func TestExcluded(t *testing.T) {
	v := &Volume{Exclude: append(sqliteExcludes, "cache/tmp")}
	for rel, want := range map[string]bool{
		"database.sqlite": true, "database.sqlite-wal": true, "database.sqlite.snap-old-20260101-000000": true,
		"database.sqlite.snap-old-20260101-000000-wal": true, "cache/tmp": true, "cache/tmp/x/y": true,
		"database.sqlite2": false, "config": false, "cache": false, "sub/database.sqlite": false,
	} {
		if got := v.Excluded(rel); got != want {
			t.Errorf("Excluded(%q) = %v, want %v", rel, got, want)
		}
	}
}

func TestFilter(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{".n8n/", ".n8n/config", ".n8n/database.sqlite", ".n8n/database.sqlite-journal", ".n8n/nodes/", ".n8n/nodes/database.sqlite"} {
		h := &tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: 3}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		tw.WriteHeader(h)
		if h.Size > 0 {
			tw.Write([]byte("abc"))
		}
	}
	tw.Close()
	rc := (&Volume{Exclude: sqliteExcludes}).Filter(io.NopCloser(&buf))
	sum, err := TarSummary(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range sum {
		names = append(names, k)
	}
	slices.Sort(names)
	if got := strings.Join(names, " "); got != ".n8n .n8n/config .n8n/nodes .n8n/nodes/database.sqlite" {
		t.Fatalf("filtered entries: %s", got)
	}
}

// The clearing script, run by the host's sh as the helper's would: every
// name goes but the excluded ones and the directories above them.
func TestClearKeeping(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"config", ".hidden", "database.sqlite", "database.sqlite-wal", "database.sqlite.snap-old-1",
		"a b/c", "nodes/x/y", "keep/me/there", "keep/not"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	os.Symlink("nodes", filepath.Join(dir, "link"))
	out, err := exec.Command("sh", "-c", clearKeeping, "snap", dir, "database.sqlite", "database.sqlite-wal", "database.sqlite.snap-old-*", "keep/me").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var left []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error {
		if rel, _ := filepath.Rel(dir, p); rel != "." {
			left = append(left, rel)
		}
		return nil
	})
	if got := strings.Join(left, " "); got != "database.sqlite database.sqlite-wal database.sqlite.snap-old-1 keep keep/me keep/me/there" {
		t.Fatalf("left after clearing: %s", got)
	}
}

func TestDecodeExclude(t *testing.T) {
	for _, c := range []struct {
		exclude []string
		ok      bool
	}{
		{[]string{"database.sqlite", "database.sqlite-*", "cache/tmp"}, true},
		{[]string{"/abs"}, false}, {[]string{"../up"}, false}, {[]string{"a//b"}, false},
		{[]string{""}, false}, {[]string{"a,b"}, false}, {[]string{"[bad"}, false},
	} {
		_, err := decode(func(v any) error {
			*v.(*Spec) = Spec{Container: "c", Path: "/data", Exclude: c.exclude}
			return nil
		})
		if (err == nil) != c.ok {
			t.Errorf("exclude %q: %v", c.exclude, err)
		}
	}
}

// The room script, run by the host's sh: what the excludes keep is not
// counted as freed.
func TestSpaceScript(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "database.sqlite"), make([]byte, 8<<20), 0o644)
	os.WriteFile(filepath.Join(dir, "config"), make([]byte, 1<<20), 0o644)
	run := func(excl ...string) int64 {
		out, err := exec.Command("sh", append([]string{"-c", spaceScript, "snap", dir}, excl...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		f := strings.Fields(string(out))
		n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
		return n
	}
	all, kept := run(), run("database.sqlite*", "nothing-*")
	if all < 9*1024 || kept >= 2*1024 || kept < 1024 {
		t.Fatalf("KiB freed: %d without excludes, %d with", all, kept)
	}
}
