// Command run benchmarks snap against borg, restic (Debian's 0.14 and
// 0.18.1) and kopia on a workload made by bench/gen:
//
//	bench/tools.sh                     # the peers, cached in /var/tmp/snap-bench-tools
//	go run ./bench/gen -out DIR -seed 1
//	go run ./bench/run -work DIR -runs 3 [-tools snap,borg,...] [-shapes sql,json,...]
//
// For every run and tool, on every shape: the stream shapes (sql, json,
// binary) are backed up from stdin on day 1 and day 2 and streamed back;
// the tree is backed up on day 1 and day 2 at the same path and restored;
// the stack (a small n8n stack from testenv/) is backed up twice; s3 backs
// the sql shape up to versitygw on 127.0.0.1 through a request-counting
// proxy and streams it back; prune times forget --keep-daily 7 with prune
// on a history of 30 daily dumps built once per tool. Every restore is
// checked against its input. It prints Markdown tables of medians with
// snap/peer ratios and the issues' targets (also to DIR/report.md), and
// writes every number to DIR/results.json. Without -snap it builds ./cmd/snap into DIR/snap.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// streamShape is one stream input: a pair of files made by gen, backed up
// from stdin as item.
type streamShape struct {
	name, label, item string
	file              string // day N is fmt.Sprintf(file, N)
}

func (sh *streamShape) path(work string, day int) string {
	return filepath.Join(work, fmt.Sprintf(sh.file, day))
}

var streamShapes = []*streamShape{
	{"sql", "text-heavy SQL dump", "dump.sql", "dump%d.sql"},
	{"json", "JSON-heavy n8n dump (execution_data)", "n8n.sql", "json%d.sql"},
	{"binary", "random, already-compressed stream", "archive.bin", "bin%d.dat"},
}

var allShapes = []string{"sql", "json", "binary", "tree", "stack", "s3", "prune"}
var allTools = []string{"snap", "borg", "restic14", "restic18", "kopia"}

// streamInput describes one stream shape's files.
type streamInput struct {
	Bytes1 int64 `json:"day1_bytes"`
	Bytes2 int64 `json:"day2_bytes"`
	sum2   [32]byte
}

// inputs describes the workload; computed once, used to check restores.
type inputs struct {
	Streams    map[string]*streamInput `json:"streams"`
	Tree1Bytes int64                   `json:"tree1_bytes"`
	Tree2Bytes int64                   `json:"tree2_bytes"`
	Tree1Files int                     `json:"tree1_files"`
	Tree2Files int                     `json:"tree2_files"`
	// What day 2 changes in the tree (by size and mtime).
	TreeChanged    int   `json:"tree_day2_changed_files"`
	TreeAdded      int   `json:"tree_day2_added_files"`
	TreeRemoved    int   `json:"tree_day2_removed_files"`
	TreeDeltaBytes int64 `json:"tree_day2_rewritten_bytes"`
	// The stack's size as the peers' script stages it (night 2).
	StackBytes int64 `json:"stack_bytes,omitempty"`
	// The prune phase's history: days, days kept, the newest day's size
	// and what it changed against the day before.
	HistoryDays      int      `json:"prune_history_days,omitempty"`
	HistoryKeep      int      `json:"prune_keep_daily,omitempty"`
	HistoryLastBytes int64    `json:"prune_history_last_day_bytes,omitempty"`
	HistoryLastDay   dayStats `json:"prune_history_last_day_changes"`

	historySum [32]byte
	tree2      map[string]fileSum
	marker     string // a top-level name of tree2, to find it in a restore
}

type bench struct {
	snapKeyFile bool
	work        string
	src         string // module root: testenv/ and ./cmd/snap
	runs        int
	timeout     time.Duration
	keep        bool
	tools       []*tool
	shapes      map[string]bool
	in          inputs
	delta       *delta
	results     []*runResult
	failures    []failure
	versions    map[string]string

	stack       *benchStack
	stackBroken string
	s3          *s3Server
	s3Broken    string
	s3Shape     *streamShape

	pruneDays      int
	pruneKeep      int
	pruneFresh     bool
	hist           *history
	history        map[string]*histRepo
	historyResults []*runResult
}

func (b *bench) dumpPath(day int) string { return streamShapes[0].path(b.work, day) }
func (b *bench) tree1() string           { return filepath.Join(b.work, "tree1") }
func (b *bench) tree2() string           { return filepath.Join(b.work, "tree2") }

func main() {
	toolsDir := os.Getenv("BENCH_TOOLS")
	if toolsDir == "" {
		toolsDir = "/var/tmp/snap-bench-tools"
	}
	work := flag.String("work", "", "workload directory made by bench/gen (required)")
	runs := flag.Int("runs", 3, "runs per tool, each with fresh repositories")
	toolList := flag.String("tools", strings.Join(allTools, ","), "comma-separated tools to run")
	shapeList := flag.String("shapes", strings.Join(allShapes, ","), "comma-separated shapes to run")
	snapBin := flag.String("snap", "", "snap binary (default: build ./cmd/snap into WORK/snap)")
	snapKeyFile := flag.Bool("snap-key-file", false, "run snap with a key file instead of a passphrase (its recommended cron setup)")
	src := flag.String("src", ".", "module root: ./cmd/snap is built from it, testenv/ is run from it")
	borgComp := flag.String("borg-compression", "", "borg --compression value (default: borg's own default, lz4)")
	restic14 := flag.String("restic14", "restic", "restic 0.14 binary (Debian 12's package)")
	restic18 := flag.String("restic18", filepath.Join(toolsDir, "bin", "restic-0.18.1"), "restic 0.18.1 binary (bench/tools.sh builds it)")
	kopiaBin := flag.String("kopia", "", "kopia binary (default: the newest "+toolsDir+"/bin/kopia-*, which bench/tools.sh builds)")
	timeout := flag.Duration("timeout", time.Hour, "limit for a single command")
	keep := flag.Bool("keep", false, "keep repositories and caches after each run")
	pruneDays := flag.Int("prune-days", 30, "days in the prune history")
	pruneKeep := flag.Int("prune-keep", 7, "forget --keep-daily value for the prune phase")
	pruneFresh := flag.Bool("prune-fresh", false, "rebuild the prune history in every run, not once (repository sizes then vary by run like the other rows)")
	reportOnly := flag.String("report", "", "print the tables of a finished run from its results.json, and exit")
	flag.Parse()
	log.SetFlags(0)
	if *reportOnly != "" {
		if err := replay(*reportOnly, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *work == "" || *runs < 1 || *pruneKeep < 1 || *pruneDays <= *pruneKeep {
		flag.Usage()
		os.Exit(2)
	}
	abs, err := filepath.Abs(*work)
	if err != nil {
		log.Fatal(err)
	}
	srcAbs, err := filepath.Abs(*src)
	if err != nil {
		log.Fatal(err)
	}
	b := &bench{work: abs, src: srcAbs, runs: *runs, timeout: *timeout, keep: *keep, versions: map[string]string{}, snapKeyFile: *snapKeyFile,
		pruneDays: *pruneDays, pruneKeep: *pruneKeep, pruneFresh: *pruneFresh, history: map[string]*histRepo{},
		shapes: map[string]bool{}, s3Shape: streamShapes[0]}
	for _, sh := range strings.Split(*shapeList, ",") {
		sh = strings.TrimSpace(sh)
		if !slices.Contains(allShapes, sh) {
			log.Fatalf("unknown shape %q (want some of %s)", sh, strings.Join(allShapes, ","))
		}
		b.shapes[sh] = true
	}
	var need []string
	for _, sh := range streamShapes {
		if b.shapes[sh.name] || (sh == b.s3Shape && b.shapes["s3"]) || (sh.name == "sql" && b.shapes["prune"]) {
			need = append(need, sh.path(abs, 1), sh.path(abs, 2))
		}
	}
	if b.shapes["tree"] {
		need = append(need, b.tree1(), b.tree2())
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			log.Fatalf("%v (make the workload with: go run ./bench/gen -out %s)", err, *work)
		}
	}
	if err := os.MkdirAll(filepath.Join(abs, "logs"), 0o755); err != nil {
		log.Fatal(err)
	}
	if *kopiaBin == "" {
		*kopiaBin = newest(filepath.Join(toolsDir, "bin", "kopia-*"))
	}
	for _, name := range strings.Split(*toolList, ",") {
		t, err := b.makeTool(strings.TrimSpace(name), *snapBin, *borgComp, *restic14, *restic18, *kopiaBin)
		if err != nil {
			log.Fatal(err)
		}
		b.tools = append(b.tools, t)
	}

	fmt.Fprintln(os.Stderr, "reading inputs (sizes, checksums, day-2 tree changes)...")
	if err := b.loadInputs(need); err != nil {
		log.Fatal(err)
	}

	// The servers live for the whole bench; an interrupt still stops them.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	stopServers := func() {
		if b.s3 != nil {
			b.s3.stop()
		}
		if b.stack != nil {
			b.stopStack()
		}
	}
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "interrupted: stopping versitygw and the stack")
		stopServers()
		os.Exit(130)
	}()
	if b.shapes["stack"] {
		if b.stack, err = b.startStack(); err != nil {
			b.stackBroken = err.Error()
			fmt.Fprintln(os.Stderr, "stack: ", err)
		}
	}
	if b.shapes["s3"] {
		if b.s3, err = b.startS3(); err != nil {
			b.s3Broken = err.Error()
			fmt.Fprintln(os.Stderr, "s3: ", err)
		}
	}
	if b.shapes["prune"] {
		b.in.HistoryDays, b.in.HistoryKeep = b.pruneDays, b.pruneKeep
		if b.hist, err = scanHistory(b.dumpPath(1)); err != nil {
			log.Fatal("prune history: ", err)
		}
		if !b.pruneFresh {
			b.buildHistories(0)
		}
	}

	// Runs are the outer loop so that slow drift of the machine (the other
	// developers' builds, thermal state) spreads over all tools alike.
	for run := 1; run <= b.runs; run++ {
		if b.shapes["prune"] && b.pruneFresh {
			b.buildHistories(run)
		}
		for _, t := range b.tools {
			s := b.newSession(t, run)
			if t.broken != "" {
				s.fail("setup", t.broken, "")
				continue
			}
			if err := warm(need...); err != nil {
				log.Fatal("warm-up: ", err)
			}
			for _, sh := range streamShapes {
				if b.shapes[sh.name] {
					s.localStream(sh)
				}
			}
			if b.shapes["tree"] {
				s.treePhase()
			}
			if b.shapes["stack"] {
				s.stackPhase()
			}
			if b.shapes["s3"] && t.s3 {
				s.s3Phase()
			}
			s.finish()
			if b.shapes["prune"] && t.forgetPrune != nil {
				s.prunePhase()
			}
		}
	}
	if b.shapes["prune"] && !b.keep {
		b.removeHistories()
	}
	stopServers()

	if err := b.writeJSON(filepath.Join(abs, "results.json")); err != nil {
		log.Print("writing results.json: ", err)
	}
	var report strings.Builder
	b.printReport(&report)
	fmt.Print(report.String())
	if err := os.WriteFile(filepath.Join(abs, "report.md"), []byte(report.String()), 0o644); err != nil {
		log.Print("writing report.md: ", err)
	}
}

// newest is the most recently modified file matching pattern, or "".
func newest(pattern string) string {
	matches, _ := filepath.Glob(pattern)
	var best string
	var bestT time.Time
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.ModTime().After(bestT) {
			best, bestT = m, fi.ModTime()
		}
	}
	return best
}

// makeTool resolves a tool's binary. A tool that cannot run is kept, marked
// broken, so its column shows the failure instead of vanishing.
func (b *bench) makeTool(name, snapBin, borgComp, restic14, restic18, kopia string) (*tool, error) {
	lookup := func(bin, hint string) (string, string) {
		if bin == "" {
			return "", "not found: " + hint
		}
		p, err := exec.LookPath(bin)
		if err != nil {
			return bin, err.Error() + " (" + hint + ")"
		}
		if p, err = filepath.Abs(p); err != nil {
			return bin, err.Error()
		}
		return p, ""
	}
	var t *tool
	var broken, bin, versionArg string
	switch name {
	case "restic14", "restic":
		bin, broken = lookup(restic14, "apt-get install restic, or bench/tools.sh")
		t, versionArg = resticTool("restic14", bin, b.work), "version"
	case "restic18":
		bin, broken = lookup(restic18, "bench/tools.sh builds it")
		t, versionArg = resticTool("restic18", bin, b.work), "version"
	case "borg":
		bin, broken = lookup("borg", "apt-get install borgbackup, or bench/tools.sh")
		t, versionArg = borgTool(bin, b.work, borgComp), "--version"
	case "kopia":
		bin, broken = lookup(kopia, "bench/tools.sh builds it")
		t, versionArg = kopiaTool(bin, b.work), "--version"
	case "snap":
		bin = snapBin
		if bin == "" {
			bin = filepath.Join(b.work, "snap")
			fmt.Fprintf(os.Stderr, "building snap: go build -o %s ./cmd/snap (in %s)\n", bin, b.src)
			cmd := exec.Command("go", "build", "-o", bin, "./cmd/snap")
			cmd.Dir = b.src
			if out, err := cmd.CombinedOutput(); err != nil {
				broken = fmt.Sprintf("go build ./cmd/snap: %v\n%s", err, strings.TrimSpace(string(out)))
			}
		} else {
			bin, broken = lookup(bin, "-snap")
		}
		if broken == "" {
			if _, err := os.Stat(bin); err != nil {
				broken = err.Error()
			}
		}
		t, versionArg = snapTool(bin, b.work, b.snapKeyFile), "version"
	default:
		return nil, fmt.Errorf("unknown tool %q (want some of %s)", name, strings.Join(allTools, ","))
	}
	t.broken = broken
	if broken == "" {
		b.versions[t.name] = version(bin, versionArg)
	}
	return t, nil
}

// version is best effort: it only labels the report.
func version(bin, arg string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, arg).Output()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func (b *bench) loadInputs(need []string) error {
	in := &b.in
	in.Streams = map[string]*streamInput{}
	for _, sh := range streamShapes {
		p1, p2 := sh.path(b.work, 1), sh.path(b.work, 2)
		if !slices.Contains(need, p1) {
			continue
		}
		si := &streamInput{}
		fi1, err := os.Stat(p1)
		if err != nil {
			return err
		}
		si.Bytes1 = fi1.Size()
		if si.sum2, si.Bytes2, err = hashFile(p2); err != nil {
			return err
		}
		in.Streams[sh.name] = si
	}
	if !b.shapes["tree"] {
		return nil
	}
	var err error
	if in.tree2, in.Tree2Bytes, err = manifest(b.tree2()); err != nil {
		return err
	}
	in.Tree2Files = len(in.tree2)
	err = filepath.WalkDir(b.tree1(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		in.Tree1Files++
		in.Tree1Bytes += fi.Size()
		return nil
	})
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(b.tree2())
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return fmt.Errorf("%s is empty", b.tree2())
	}
	in.marker = ents[0].Name()
	if b.delta, err = computeDelta(b.tree1(), b.tree2()); err != nil {
		return err
	}
	in.TreeChanged, in.TreeAdded, in.TreeRemoved = len(b.delta.changed), len(b.delta.added), len(b.delta.removed)
	in.TreeDeltaBytes = b.delta.bytes
	return nil
}

// resultsFile is WORK/results.json; -report reads it back.
type resultsFile struct {
	Time        time.Time         `json:"time"`
	Work        string            `json:"work"`
	Runs        int               `json:"runs"`
	Shapes      []string          `json:"shapes"`
	Tools       []string          `json:"tools"`
	SnapKeyFile bool              `json:"snap_key_file"`
	PruneFresh  bool              `json:"prune_fresh"`
	Inputs      inputs            `json:"inputs"`
	Versions    map[string]string `json:"versions"`
	Notes       map[string]string `json:"notes"`
	Results     []*runResult      `json:"results"`
	History     []*runResult      `json:"prune_history,omitempty"` // building the histories (run 0: shared by all runs)
}

func (b *bench) writeJSON(path string) error {
	notes := map[string]string{}
	for _, t := range b.tools {
		notes[t.name] = t.notes
	}
	out := resultsFile{time.Now().UTC(), b.work, b.runs, b.shapeNames(), b.toolNames(), b.snapKeyFile, b.pruneFresh,
		b.in, b.versions, notes, b.results, b.historyResults}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func (b *bench) shapeNames() []string {
	var out []string
	for _, s := range allShapes {
		if b.shapes[s] {
			out = append(out, s)
		}
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
