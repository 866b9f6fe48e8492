// Command run benchmarks snap against restic and borg on a workload made by
// bench/gen:
//
//	go run ./bench/gen -out DIR -seed 1
//	go run ./bench/run -work DIR -runs 3 [-tools snap,restic,borg] [-snap PATH]
//
// For every run and tool it backs up the SQL dump (day 1, day 2) from stdin
// and streams day 2 back out, then backs up the tree (day 1, day 2 at the same
// path) and restores day 2; each restore is checked against its input. With
// -prune (the default) it first builds, once per tool (per run with
// -prune-fresh), a history of 30 daily dumps derived from dump1.sql, and in
// every run times forget --keep-daily 7 with prune on a copy of it. It prints a Markdown table of medians and
// writes every number to DIR/results.json. Without -snap it builds
// ./cmd/snap into DIR/snap.
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
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// inputs describes the workload; computed once, used to check restores.
type inputs struct {
	Dump1Bytes int64 `json:"dump1_bytes"`
	Dump2Bytes int64 `json:"dump2_bytes"`
	Tree1Bytes int64 `json:"tree1_bytes"`
	Tree2Bytes int64 `json:"tree2_bytes"`
	Tree1Files int   `json:"tree1_files"`
	Tree2Files int   `json:"tree2_files"`
	// What day 2 changes in the tree (by size and mtime).
	TreeChanged    int   `json:"tree_day2_changed_files"`
	TreeAdded      int   `json:"tree_day2_added_files"`
	TreeRemoved    int   `json:"tree_day2_removed_files"`
	TreeDeltaBytes int64 `json:"tree_day2_rewritten_bytes"`
	// The prune phase's history: days, days kept, the newest day's size
	// and what it changed against the day before.
	HistoryDays      int      `json:"prune_history_days,omitempty"`
	HistoryKeep      int      `json:"prune_keep_daily,omitempty"`
	HistoryLastBytes int64    `json:"prune_history_last_day_bytes,omitempty"`
	HistoryLastDay   dayStats `json:"prune_history_last_day_changes"`

	historySum [32]byte
	dump2Sum   [32]byte
	tree2      map[string]fileSum
	marker     string // a top-level name of tree2, to find it in a restore
}

type bench struct {
	snapKeyFile bool
	work        string
	runs        int
	timeout     time.Duration
	keep        bool
	tools       []*tool
	in          inputs
	delta       *delta
	results     []*runResult
	failures    []failure
	versions    map[string]string

	prune          bool
	pruneDays      int
	pruneKeep      int
	pruneFresh     bool
	hist           *history
	history        map[string]*histRepo
	historyResults []*runResult
}

func (b *bench) dumpPath(day int) string {
	return filepath.Join(b.work, fmt.Sprintf("dump%d.sql", day))
}
func (b *bench) tree1() string { return filepath.Join(b.work, "tree1") }
func (b *bench) tree2() string { return filepath.Join(b.work, "tree2") }

func main() {
	work := flag.String("work", "", "workload directory made by bench/gen (required)")
	runs := flag.Int("runs", 3, "runs per tool, each with fresh repositories")
	toolList := flag.String("tools", "snap,restic,borg", "comma-separated tools to run")
	snapBin := flag.String("snap", "", "snap binary (default: build ./cmd/snap into WORK/snap)")
	snapKeyFile := flag.Bool("snap-key-file", false, "run snap with a key file instead of a passphrase (its recommended cron setup)")
	src := flag.String("src", ".", "module root that -snap's default is built from")
	borgComp := flag.String("borg-compression", "", "borg --compression value (default: borg's own default, lz4)")
	timeout := flag.Duration("timeout", time.Hour, "limit for a single command")
	keep := flag.Bool("keep", false, "keep repositories and caches after each run")
	prune := flag.Bool("prune", true, "also time forget+prune on a history of daily dumps (built once per tool)")
	pruneDays := flag.Int("prune-days", 30, "days in the prune history")
	pruneKeep := flag.Int("prune-keep", 7, "forget --keep-daily value for the prune phase")
	pruneFresh := flag.Bool("prune-fresh", false, "rebuild the prune history in every run, not once (repository sizes then vary by run like the other rows)")
	flag.Parse()
	log.SetFlags(0)
	if *work == "" || *runs < 1 || *pruneKeep < 1 || *pruneDays <= *pruneKeep {
		flag.Usage()
		os.Exit(2)
	}
	abs, err := filepath.Abs(*work)
	if err != nil {
		log.Fatal(err)
	}
	b := &bench{work: abs, runs: *runs, timeout: *timeout, keep: *keep, versions: map[string]string{}, snapKeyFile: *snapKeyFile,
		prune: *prune, pruneDays: *pruneDays, pruneKeep: *pruneKeep, pruneFresh: *pruneFresh, history: map[string]*histRepo{}}
	for _, p := range []string{b.dumpPath(1), b.dumpPath(2), b.tree1(), b.tree2()} {
		if _, err := os.Stat(p); err != nil {
			log.Fatalf("%v (make the workload with: go run ./bench/gen -out %s)", err, *work)
		}
	}
	if err := os.MkdirAll(filepath.Join(abs, "logs"), 0o755); err != nil {
		log.Fatal(err)
	}
	for _, name := range strings.Split(*toolList, ",") {
		t, err := b.makeTool(strings.TrimSpace(name), *snapBin, *src, *borgComp)
		if err != nil {
			log.Fatal(err)
		}
		b.tools = append(b.tools, t)
	}

	fmt.Fprintln(os.Stderr, "reading inputs (sizes, checksums, day-2 tree changes)...")
	if err := b.loadInputs(); err != nil {
		log.Fatal(err)
	}
	if b.prune {
		b.in.HistoryDays, b.in.HistoryKeep = b.pruneDays, b.pruneKeep
		if b.hist, err = scanHistory(b.dumpPath(1)); err != nil {
			log.Fatal("prune history: ", err)
		}
		if !b.pruneFresh {
			b.buildHistories(0)
		}
	}

	// Runs are the outer loop so that slow drift of the machine (the other
	// developer's build, thermal state) spreads over all tools alike.
	for run := 1; run <= b.runs; run++ {
		if b.prune && b.pruneFresh {
			b.buildHistories(run)
		}
		for _, t := range b.tools {
			s := b.newSession(t, run)
			if t.broken != "" {
				s.fail("setup", t.broken, "")
				continue
			}
			if err := warm(b.dumpPath(1), b.dumpPath(2), b.tree1(), b.tree2()); err != nil {
				log.Fatal("warm-up: ", err)
			}
			s.dumpPhase()
			s.treePhase()
			s.finish()
			if b.prune {
				s.prunePhase()
			}
		}
	}
	if b.prune && !b.keep {
		b.removeHistories()
	}

	if err := b.writeJSON(filepath.Join(abs, "results.json")); err != nil {
		log.Print("writing results.json: ", err)
	}
	b.printReport(os.Stdout)
}

// makeTool resolves a tool's binary. A tool that cannot run is kept, marked
// broken, so its column shows the failure instead of vanishing.
func (b *bench) makeTool(name, snapBin, src, borgComp string) (*tool, error) {
	switch name {
	case "restic", "borg":
		bin, err := exec.LookPath(name)
		var t *tool
		if name == "restic" {
			t = resticTool(bin, b.work)
		} else {
			t = borgTool(bin, b.work, borgComp)
		}
		if err != nil {
			t.broken = err.Error()
		} else {
			b.versions[name] = version(bin, map[string]string{"restic": "version", "borg": "--version"}[name])
		}
		return t, nil
	case "snap":
		bin := snapBin
		var broken string
		if bin == "" {
			bin = filepath.Join(b.work, "snap")
			fmt.Fprintf(os.Stderr, "building snap: go build -o %s ./cmd/snap (in %s)\n", bin, src)
			cmd := exec.Command("go", "build", "-o", bin, "./cmd/snap")
			cmd.Dir = src
			if out, err := cmd.CombinedOutput(); err != nil {
				broken = fmt.Sprintf("go build ./cmd/snap: %v\n%s", err, strings.TrimSpace(string(out)))
			}
		} else if p, err := filepath.Abs(bin); err == nil {
			bin = p // commands may run in other directories
		}
		if broken == "" {
			if _, err := os.Stat(bin); err != nil {
				broken = err.Error()
			} else {
				b.versions[name] = version(bin, "version")
			}
		}
		t := snapTool(bin, b.work, b.snapKeyFile)
		t.broken = broken
		return t, nil
	}
	return nil, fmt.Errorf("unknown tool %q (want snap, restic or borg)", name)
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

func (b *bench) loadInputs() error {
	in := &b.in
	fi1, err := os.Stat(b.dumpPath(1))
	if err != nil {
		return err
	}
	in.Dump1Bytes = fi1.Size()
	if in.dump2Sum, in.Dump2Bytes, err = hashFile(b.dumpPath(2)); err != nil {
		return err
	}
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

func (b *bench) writeJSON(path string) error {
	notes := map[string]string{}
	for _, t := range b.tools {
		notes[t.name] = t.notes
	}
	out := struct {
		Time     time.Time         `json:"time"`
		Work     string            `json:"work"`
		Runs     int               `json:"runs"`
		Inputs   inputs            `json:"inputs"`
		Versions map[string]string `json:"versions"`
		Notes    map[string]string `json:"notes"`
		Results  []*runResult      `json:"results"`
		History  []*runResult      `json:"prune_history,omitempty"` // building the histories (run 0: shared by all runs)
	}{time.Now().UTC(), b.work, b.runs, b.in, b.versions, notes, b.results, b.historyResults}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
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
