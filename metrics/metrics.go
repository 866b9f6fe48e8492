// Package metrics writes a run's outcome for Prometheus' node_exporter
// textfile collector (--collector.textfile.directory), so "the nightly
// backup has not succeeded for two days" can be an alert rule:
//
//	time() - snap_last_success_timestamp_seconds > 2 * 86400
//
// After each run, call WriteTextfile(dir, run). It replaces
// <dir>/snap_<profile>.prom atomically (see FileName for odd profile
// names), so the collector never reads half a file. All metrics are gauges
// labelled profile="..."; per-item ones also item="...", per-step ones
// step="...":
//
//	snap_last_run_timestamp_seconds      when the run ended
//	snap_last_run_success                1 or 0
//	snap_last_success_timestamp_seconds  when a run last succeeded; 0 = never
//	snap_last_run_duration_seconds
//	snap_step_success{step}              1/0 for each step that ran
//	snap_backup_bytes_read               } only when the run has Backup
//	snap_backup_bytes_added              }
//	snap_backup_dedup_ratio              } read/added, see DedupRatio
//	snap_item_size_bytes{item}           }
//	snap_item_added_bytes{item}          }
//	snap_snapshots                       } only when the run has Repo
//	snap_repository_size_bytes           }
//
// A failed run cannot know when the last success was, so WriteTextfile
// reads it back from the file it is replacing; a missing or garbled file
// means no success recorded (0).
package metrics

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"snap/internal/atomicfile"
)

// ErrNoProfile: Run.Profile is empty; every metric is labelled by it.
var ErrNoProfile = errors.New("metrics: run has no profile")

// Run is what one `snap run` did.
type Run struct {
	Profile  string
	Time     time.Time // when the run ended; zero: now
	Duration time.Duration
	Success  bool
	Steps    []Step  // in the order they ran
	Backup   *Backup // nil when no backup stats exist (it failed early, or did not run)
	Repo     *Repo   // nil when the repository was not measured
}

// Step is the outcome of one step: backup, verify, forget, prune, sync.
type Step struct {
	Name    string
	Success bool
}

// Backup is what the backup step read and stored.
type Backup struct {
	BytesRead  int64
	BytesAdded int64
	Items      []Item
}

// Item is one profile item's share of the backup.
type Item struct {
	Name       string
	SizeBytes  int64
	AddedBytes int64
}

// Repo describes the repository after the run.
type Repo struct {
	Snapshots int
	SizeBytes int64
}

// DedupRatio is read/added: how many bytes were read for each byte stored.
// When nothing was added it divides by 1 byte instead (so a run that found
// everything already stored scores as high as possible, and stays finite:
// +Inf and NaN break PromQL sums and averages); nothing read and nothing
// added is 1.
func DedupRatio(read, added int64) float64 {
	if added <= 0 {
		if read <= 0 {
			return 1
		}
		added = 1
	}
	return float64(read) / float64(added)
}

// FileName is the textfile for a profile: snap_<profile>.prom. A profile
// with characters outside [A-Za-z0-9._-] (or a very long one) has them
// replaced by "_" and a hash of the real name appended, so the name stays
// inside the directory and two profiles never share a file.
func FileName(profile string) string {
	var b strings.Builder
	changed := false
	for _, r := range profile {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
			changed = true
		}
	}
	s := b.String()
	if len(s) > 64 { // file names stop at 255 bytes
		s, changed = s[:64], true
	}
	if changed || s == "" {
		sum := sha256.Sum256([]byte(profile))
		s += "-" + hex.EncodeToString(sum[:4])
	}
	return "snap_" + s + ".prom"
}

// WriteTextfile replaces dir/FileName(r.Profile) with r's metrics. On a
// failed run it keeps snap_last_success_timestamp_seconds from the file it
// replaces.
func WriteTextfile(dir string, r Run) error {
	if r.Profile == "" {
		return ErrNoProfile
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	name := FileName(r.Profile)
	path := filepath.Join(dir, name)
	last := 0.0
	if r.Success {
		last = seconds(r.Time)
	} else if v, ok := readPrevious(path, r.Profile); ok {
		last = v
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, name), render(r, last), 0o644); err != nil {
		return fmt.Errorf("metrics: write %s: %w", path, err)
	}
	return nil
}

func seconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

// Metric names, shared by render and readPrevious.
const lastSuccessName = "snap_last_success_timestamp_seconds"

// render produces the exposition text. Every family is a gauge with
// HELP and TYPE before its samples; families with no samples are left out.
func render(r Run, lastSuccess float64) []byte {
	w := &writer{profile: r.Profile}
	w.family("snap_last_run_timestamp_seconds", "Unix time the last snap run ended.")
	w.sample(seconds(r.Time))
	w.family("snap_last_run_success", "1 if the last snap run succeeded, else 0.")
	w.sample(bool01(r.Success))
	w.family(lastSuccessName, "Unix time of the last successful snap run; 0 if none is recorded.")
	w.sample(lastSuccess)
	w.family("snap_last_run_duration_seconds", "How long the last snap run took.")
	w.sample(r.Duration.Seconds())

	if len(r.Steps) > 0 {
		w.family("snap_step_success", "1 if the step succeeded in the last run, else 0; only steps that ran.")
		ok := map[string]bool{}
		var order []string
		for _, s := range r.Steps { // a repeated step succeeded only if every try did
			if prev, seen := ok[s.Name]; seen {
				ok[s.Name] = prev && s.Success
				continue
			}
			ok[s.Name] = s.Success
			order = append(order, s.Name)
		}
		for _, name := range order {
			w.sample(bool01(ok[name]), "step", name)
		}
	}

	if b := r.Backup; b != nil {
		w.family("snap_backup_bytes_read", "Bytes the last backup read from the profile's items.")
		w.sample(float64(b.BytesRead))
		w.family("snap_backup_bytes_added", "Bytes the last backup added to the repository.")
		w.sample(float64(b.BytesAdded))
		w.family("snap_backup_dedup_ratio", "Bytes read per byte added in the last backup (read/max(added,1); 1 if both are 0).")
		w.sample(DedupRatio(b.BytesRead, b.BytesAdded))
		// Two items with one name would be a duplicate series, which makes
		// the collector drop the whole file: sum them instead.
		items, order := map[string]Item{}, []string(nil)
		for _, it := range b.Items {
			sum, seen := items[it.Name]
			if !seen {
				order = append(order, it.Name)
			}
			sum.SizeBytes += it.SizeBytes
			sum.AddedBytes += it.AddedBytes
			items[it.Name] = sum
		}
		if len(order) > 0 {
			w.family("snap_item_size_bytes", "Size of each item in the last backup.")
			for _, n := range order {
				w.sample(float64(items[n].SizeBytes), "item", n)
			}
			w.family("snap_item_added_bytes", "Bytes each item added to the repository in the last backup.")
			for _, n := range order {
				w.sample(float64(items[n].AddedBytes), "item", n)
			}
		}
	}

	if p := r.Repo; p != nil {
		w.family("snap_snapshots", "Snapshots in the repository after the last run.")
		w.sample(float64(p.Snapshots))
		w.family("snap_repository_size_bytes", "Size of the repository after the last run.")
		w.sample(float64(p.SizeBytes))
	}
	return w.buf.Bytes()
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type writer struct {
	buf     bytes.Buffer
	profile string
	name    string
}

func (w *writer) family(name, help string) {
	w.name = name
	help = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
	fmt.Fprintf(&w.buf, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
}

// sample writes name{profile="...",k="v"} value for the current family.
func (w *writer) sample(v float64, kv ...string) {
	w.buf.WriteString(w.name)
	w.buf.WriteString(`{profile="` + escape(w.profile) + `"`)
	for i := 0; i+1 < len(kv); i += 2 {
		w.buf.WriteString(`,` + kv[i] + `="` + escape(kv[i+1]) + `"`)
	}
	w.buf.WriteString("} " + formatValue(v) + "\n")
}

// escape makes a label value: \ " and newline escaped, invalid UTF-8
// replaced (the format is UTF-8, and one bad byte fails the whole file).
func escape(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	// 'f', not 'g': timestamps read as 1718000000.123, not 1.718000000123e+09.
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// maxPrevious bounds how much of an old file is read: ours are a few kB,
// anything bigger is not ours.
const maxPrevious = 1 << 20

// readPrevious returns the last success time recorded for profile in the
// file at path. Any problem means "none recorded".
func readPrevious(path, profile string) (float64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPrevious))
	if err != nil {
		return 0, false
	}
	return lastSuccess(data, profile)
}

// lastSuccess finds snap_last_success_timestamp_seconds{profile=...} in
// exposition text. It reads untrusted bytes, so it is tolerant: unparsable
// lines are skipped, and only a finite, positive value counts.
func lastSuccess(data []byte, profile string) (float64, bool) {
	want := strings.ToValidUTF8(profile, "\uFFFD") // as escape wrote it
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxPrevious)
	for sc.Scan() {
		name, labels, value, ok := parseSample(sc.Text())
		if !ok || name != lastSuccessName || labels["profile"] != want {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			continue
		}
		return v, true
	}
	return 0, false
}

// parseSample splits `name{k="v",...} value [timestamp]`.
func parseSample(line string) (name string, labels map[string]string, value string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", nil, "", false
	}
	i := 0
	for i < len(line) && isNameChar(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return "", nil, "", false
	}
	name, rest := line[:i], strings.TrimLeft(line[i:], " \t")
	labels = map[string]string{}
	if strings.HasPrefix(rest, "{") {
		var lok bool
		rest, lok = parseLabels(rest[1:], labels)
		if !lok {
			return "", nil, "", false
		}
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return "", nil, "", false
	}
	return name, labels, fields[0], true
}

// parseLabels reads k="v" pairs up to "}" and returns what follows.
func parseLabels(s string, into map[string]string) (string, bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return s[1:], true
		}
		i := 0
		for i < len(s) && isNameChar(s[i], i == 0) && s[i] != ':' {
			i++
		}
		if i == 0 {
			return "", false
		}
		key := s[:i]
		s = strings.TrimLeft(s[i:], " \t")
		if !strings.HasPrefix(s, "=") {
			return "", false
		}
		s = strings.TrimLeft(s[1:], " \t")
		if !strings.HasPrefix(s, `"`) {
			return "", false
		}
		s = s[1:]
		var v strings.Builder
		closed := false
		for j := 0; j < len(s); j++ {
			c := s[j]
			if c == '"' {
				s, closed = s[j+1:], true
				break
			}
			if c == '\\' && j+1 < len(s) {
				j++
				switch s[j] {
				case 'n':
					v.WriteByte('\n')
				case '\\', '"':
					v.WriteByte(s[j])
				default: // not an escape: keep it as written
					v.WriteByte('\\')
					v.WriteByte(s[j])
				}
				continue
			}
			v.WriteByte(c)
		}
		if !closed {
			return "", false
		}
		into[key] = v.String()
		s = strings.TrimPrefix(strings.TrimLeft(s, " \t"), ",")
	}
}

func isNameChar(c byte, first bool) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
}
