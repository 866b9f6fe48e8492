package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// replay prints the report of a finished run from its results.json:
// tables, ratios and targets are recomputed from the recorded metrics, so
// a change to the report needs no new run.
func replay(path string, w io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rf resultsFile
	if err := json.Unmarshal(data, &rf); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	b := &bench{work: rf.Work, runs: rf.Runs, in: rf.Inputs, versions: rf.Versions, results: rf.Results,
		historyResults: rf.History, shapes: map[string]bool{}, s3Shape: streamShapes[0], pruneFresh: rf.PruneFresh,
		snapKeyFile: rf.SnapKeyFile || strings.Contains(rf.Notes["snap"], "key file"),
		pruneDays:   rf.Inputs.HistoryDays, pruneKeep: rf.Inputs.HistoryKeep}
	for _, s := range rf.Shapes {
		b.shapes[s] = true
	}
	names := rf.Tools
	if len(names) == 0 { // files written before "tools" was recorded
		for _, r := range rf.Results {
			if !slices.Contains(names, r.Tool) {
				names = append(names, r.Tool)
			}
		}
	}
	for _, n := range names {
		var t *tool
		switch n {
		case "snap":
			t = snapTool("", b.work, b.snapKeyFile)
		case "borg":
			t = borgTool("", b.work, "")
		case "kopia":
			t = kopiaTool("", b.work)
		case "restic14", "restic18":
			t = resticTool(n, "", b.work)
		default:
			return fmt.Errorf("%s: unknown tool %q", path, n)
		}
		if note, ok := rf.Notes[n]; ok {
			t.notes = note
		}
		b.tools = append(b.tools, t)
	}
	for _, r := range rf.Results {
		for _, f := range r.Failures {
			step, msg, _ := strings.Cut(f, ": ")
			b.failures = append(b.failures, failure{tool: r.Tool, where: fmt.Sprintf("run %d/%d", r.Run, rf.Runs), step: step, msg: msg})
		}
	}
	b.printReport(w)
	return nil
}
