package metrics

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// A strict reading of the text exposition format, independent of the
// package's own tolerant parser.
var (
	helpLine   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$`)
	typeLine   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\} (\S+)$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"`)
)

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// checkFormat validates every line of a textfile and returns its samples.
func checkFormat(t *testing.T, text string) []sample {
	t.Helper()
	if !strings.HasSuffix(text, "\n") || !utf8.ValidString(text) {
		t.Fatal("file must be UTF-8 and end in a newline")
	}
	help, typ := map[string]bool{}, map[string]bool{}
	seen := map[string]bool{}
	var out []sample
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if m := helpLine.FindStringSubmatch(line); m != nil {
			if help[m[1]] {
				t.Fatalf("line %d: second HELP for %s", i+1, m[1])
			}
			help[m[1]] = true
			continue
		}
		if m := typeLine.FindStringSubmatch(line); m != nil {
			if typ[m[1]] || !help[m[1]] {
				t.Fatalf("line %d: TYPE for %s repeated or before HELP", i+1, m[1])
			}
			typ[m[1]] = true
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %d is not a sample: %q", i+1, line)
		}
		if !help[m[1]] || !typ[m[1]] {
			t.Fatalf("line %d: sample of %s before its HELP and TYPE", i+1, m[1])
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("line %d: value %q: %v", i+1, m[3], err)
		}
		labels := map[string]string{}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[p[1]] = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(p[2])
		}
		key := m[1] + "{" + m[2] + "}"
		if seen[key] {
			t.Fatalf("line %d: duplicate series %s", i+1, key)
		}
		seen[key] = true
		out = append(out, sample{m[1], labels, v})
	}
	return out
}

func find(samples []sample, name string, kv ...string) (float64, bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func read(t *testing.T, dir, profile string) []sample {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, FileName(profile)))
	if err != nil {
		t.Fatal(err)
	}
	return checkFormat(t, string(data))
}

var t0 = time.Date(2026, 3, 1, 3, 0, 0, 250e6, time.UTC)

func fullRun(profile string) Run {
	return Run{
		Profile: profile, Time: t0, Duration: 95 * time.Second, Success: true,
		Steps: []Step{{"backup", true}, {"verify", true}, {"forget", true}, {"prune", true}, {"sync", false}},
		Backup: &Backup{BytesRead: 3 << 30, BytesAdded: 12 << 20, Items: []Item{
			{Name: "postgres", SizeBytes: 2 << 30, AddedBytes: 10 << 20},
			{Name: "n8n_data", SizeBytes: 1 << 30, AddedBytes: 2 << 20},
		}},
		Repo: &Repo{Snapshots: 31, SizeBytes: 5 << 30},
	}
}

func TestFormatAndValues(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTextfile(dir, fullRun("n8n")); err != nil {
		t.Fatal(err)
	}
	s := read(t, dir, "n8n")
	for _, x := range s {
		if x.labels["profile"] != "n8n" {
			t.Fatalf("%s without profile label", x.name)
		}
	}
	want := []struct {
		name  string
		kv    []string
		value float64
	}{
		{"snap_last_run_timestamp_seconds", nil, 1772334000.25},
		{"snap_last_run_success", nil, 1},
		{"snap_last_success_timestamp_seconds", nil, 1772334000.25},
		{"snap_last_run_duration_seconds", nil, 95},
		{"snap_backup_bytes_read", nil, 3 << 30},
		{"snap_backup_bytes_added", nil, 12 << 20},
		{"snap_backup_dedup_ratio", nil, 256},
		{"snap_snapshots", nil, 31},
		{"snap_repository_size_bytes", nil, 5 << 30},
		{"snap_item_size_bytes", []string{"item", "postgres"}, 2 << 30},
		{"snap_item_added_bytes", []string{"item", "n8n_data"}, 2 << 20},
		{"snap_step_success", []string{"step", "verify"}, 1},
		{"snap_step_success", []string{"step", "sync"}, 0},
	}
	for _, w := range want {
		if got, ok := find(s, w.name, w.kv...); !ok || got != w.value {
			t.Errorf("%s%v = %v (found %v), want %v", w.name, w.kv, got, ok, w.value)
		}
	}
	if len(s) != 4+5+3+2*2+2 {
		t.Errorf("%d samples", len(s))
	}
}

func TestOmitsUnknownStats(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTextfile(dir, Run{Profile: "p", Time: t0, Steps: []Step{{"backup", false}}}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, FileName("p")))
	s := checkFormat(t, string(data))
	if len(s) != 5 || strings.Contains(string(data), "snap_backup") || strings.Contains(string(data), "snap_snapshots") {
		t.Fatalf("a run without stats wrote:\n%s", data)
	}
}

func TestEscaping(t *testing.T) {
	dir := t.TempDir()
	profile := "we\"ird\\na\nme"
	r := fullRun(profile)
	r.Backup.Items = []Item{{Name: `C:\data "x"` + "\nline2", SizeBytes: 1}, {Name: "bad\xffutf8", SizeBytes: 2}}
	if err := WriteTextfile(dir, r); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, FileName(profile)))
	if !strings.Contains(string(data), `profile="we\"ird\\na\nme"`) || !strings.Contains(string(data), `item="C:\\data \"x\"\nline2"`) {
		t.Fatalf("escaping:\n%s", data)
	}
	s := checkFormat(t, string(data))
	if v, ok := find(s, "snap_item_size_bytes", "profile", profile, "item", `C:\data "x"`+"\nline2"); !ok || v != 1 {
		t.Fatal("escaped labels do not read back")
	}
	if _, ok := find(s, "snap_item_size_bytes", "item", "bad\uFFFDutf8"); !ok {
		t.Fatal("invalid UTF-8 was not replaced")
	}
}

func TestAtomicReplaceAndMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap_n8n.prom")
	if err := os.WriteFile(path, []byte("old, and not even the format\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := WriteTextfile(dir, fullRun("n8n")); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "snap_n8n.prom" {
		t.Fatalf("directory holds %v, want only snap_n8n.prom", entries)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	read(t, dir, "n8n")
}

func TestWriteErrorLeavesNothing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	err := WriteTextfile(missing, fullRun("n8n"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
	if err := WriteTextfile(t.TempDir(), Run{}); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("err = %v", err)
	}
}

func TestLastSuccessSurvivesFailure(t *testing.T) {
	dir := t.TempDir()
	profile := `n8n "prod"`
	if err := WriteTextfile(dir, fullRun(profile)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ { // survives more than one failure in a row
		failed := Run{Profile: profile, Time: t0.Add(time.Duration(i) * 24 * time.Hour), Steps: []Step{{"backup", false}}}
		if err := WriteTextfile(dir, failed); err != nil {
			t.Fatal(err)
		}
		s := read(t, dir, profile)
		if v, _ := find(s, "snap_last_success_timestamp_seconds"); v != 1772334000.25 {
			t.Fatalf("failure %d: last success %v, want the earlier run's", i, v)
		}
		if v, _ := find(s, "snap_last_run_success"); v != 0 {
			t.Fatal("last run success should be 0")
		}
		if v, _ := find(s, "snap_last_run_timestamp_seconds"); v != seconds(failed.Time) {
			t.Fatalf("last run time %v", v)
		}
	}
	ok := fullRun(profile)
	ok.Time = t0.Add(72 * time.Hour)
	if err := WriteTextfile(dir, ok); err != nil {
		t.Fatal(err)
	}
	if v, _ := find(read(t, dir, profile), "snap_last_success_timestamp_seconds"); v != seconds(ok.Time) {
		t.Fatalf("a success did not move the last success: %v", v)
	}
}

func TestFailureWithoutUsablePreviousFile(t *testing.T) {
	for name, old := range map[string]string{
		"missing":       "",
		"garbled":       "\x00\xff{{{ snap_last_success_timestamp_seconds\n",
		"other profile": `snap_last_success_timestamp_seconds{profile="other"} 1700000000` + "\n",
		"NaN":           `snap_last_success_timestamp_seconds{profile="p"} NaN` + "\n",
		"negative":      `snap_last_success_timestamp_seconds{profile="p"} -5` + "\n",
		"unclosed":      `snap_last_success_timestamp_seconds{profile="p} 1700000000` + "\n",
	} {
		dir := t.TempDir()
		if old != "" {
			os.WriteFile(filepath.Join(dir, FileName("p")), []byte(old), 0o644)
		}
		if err := WriteTextfile(dir, Run{Profile: "p", Time: t0}); err != nil {
			t.Fatal(err)
		}
		if v, ok := find(read(t, dir, "p"), "snap_last_success_timestamp_seconds"); !ok || v != 0 {
			t.Errorf("%s: last success %v, want 0 (none recorded)", name, v)
		}
	}
}

func TestLastSuccessParser(t *testing.T) {
	text := "# HELP x y\n" +
		`snap_last_success_timestamp_seconds { profile = "a\\b\"c\nd" , x="}" } 1.5e9 1700000000000` + "\n"
	if v, ok := lastSuccess([]byte(text), "a\\b\"c\nd"); !ok || v != 1.5e9 {
		t.Fatalf("got %v %v", v, ok)
	}
}

func TestFileName(t *testing.T) {
	if got := FileName("n8n-prod_2.x"); got != "snap_n8n-prod_2.x.prom" {
		t.Fatalf("plain profile: %s", got)
	}
	seen := map[string]string{}
	for _, p := range []string{"a/b", "a_b", "../../etc/passwd", "..", "/", "a\\b", "a b", "ü", "x\x00y", strings.Repeat("l", 300), strings.Repeat("l", 301)} {
		name := FileName(p)
		if other, dup := seen[name]; dup {
			t.Fatalf("%q and %q share %s", p, other, name)
		}
		seen[name] = p
		if filepath.Base(name) != name || strings.ContainsAny(name, "/\\\x00 ") || !strings.HasPrefix(name, "snap_") ||
			!strings.HasSuffix(name, ".prom") || len(name) > 100 || name == "snap_..prom" {
			t.Fatalf("FileName(%q) = %q is not a safe file name", p, name)
		}
		dir := t.TempDir()
		if err := WriteTextfile(dir, Run{Profile: p, Time: t0, Success: true}); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != name {
			t.Fatalf("%q wrote %v", p, entries)
		}
	}
}

func TestDuplicateNamesStayOneSeries(t *testing.T) {
	dir := t.TempDir()
	r := fullRun("p")
	r.Backup.Items = []Item{{"db", 1, 1}, {"db", 2, 3}}
	r.Steps = []Step{{"backup", true}, {"backup", false}}
	if err := WriteTextfile(dir, r); err != nil {
		t.Fatal(err)
	}
	s := read(t, dir, "p") // checkFormat rejects duplicate series
	if v, _ := find(s, "snap_item_added_bytes", "item", "db"); v != 4 {
		t.Fatalf("items not summed: %v", v)
	}
	if v, _ := find(s, "snap_step_success", "step", "backup"); v != 0 {
		t.Fatal("a step that failed once reported success")
	}
}

func TestDedupRatio(t *testing.T) {
	for _, tc := range []struct {
		read, added int64
		want        float64
	}{{100, 10, 10}, {100, 0, 100}, {0, 0, 1}, {0, 5, 0}, {5, 10, 0.5}} {
		got := DedupRatio(tc.read, tc.added)
		if got != tc.want || math.IsInf(got, 0) || math.IsNaN(got) {
			t.Errorf("DedupRatio(%d, %d) = %v, want %v", tc.read, tc.added, got, tc.want)
		}
	}
}

// FuzzReadPrevious: the previous file is untrusted bytes (a garbled or
// foreign file): parsing must never panic, and only a finite positive value
// may come out.
func FuzzReadPrevious(f *testing.F) {
	good := render(fullRun("n8n"), 1772334000.25)
	f.Add(good, "n8n")
	f.Add([]byte(`snap_last_success_timestamp_seconds{profile="a\"b"} 12`), `a"b`)
	f.Add([]byte("snap_last_success_timestamp_seconds{profile=\"x\\"), "x")
	f.Add([]byte("{}\n# x\n\x00=\"\\\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, profile string) {
		v, ok := lastSuccess(data, profile)
		if ok && (math.IsNaN(v) || math.IsInf(v, 0) || v <= 0) {
			t.Fatalf("got %v", v)
		}
	})
}

// FuzzRoundTrip: whatever the profile, what WriteTextfile writes reads back.
func FuzzRoundTrip(f *testing.F) {
	f.Add("n8n", 1772334000.25)
	f.Add("a\"b\\c\nd}", 1.0)
	f.Fuzz(func(t *testing.T, profile string, ts float64) {
		if profile == "" || math.IsNaN(ts) || math.IsInf(ts, 0) || ts <= 0 {
			return
		}
		data := render(Run{Profile: profile, Time: t0}, ts)
		v, ok := lastSuccess(data, profile)
		if !ok || v != ts {
			t.Fatalf("wrote %v for %q, read %v %v:\n%s", ts, profile, v, ok, data)
		}
	})
}
