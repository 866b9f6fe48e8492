package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

type unit int

const (
	rate    unit = iota // input MB / median seconds
	mbytes              // median bytes, shown in MB
	seconds             // median seconds
	mib                 // median KiB, shown in MiB
)

type metricRow struct {
	label  string
	key    string
	unit   unit
	input  func(*inputs) int64 // for rates
	verify string              // Verify key whose failures mark the cell
}

var rows = []metricRow{
	{"dump backup day 1 (MB/s)", mDumpDay1, rate, func(in *inputs) int64 { return in.Dump1Bytes }, ""},
	{"dump backup day 2 (MB/s)", mDumpDay2, rate, func(in *inputs) int64 { return in.Dump2Bytes }, ""},
	{"dump day-2 bytes added (MB)", mDumpAdded, mbytes, nil, ""},
	{"dump restore (MB/s)", mDumpRestore, rate, func(in *inputs) int64 { return in.Dump2Bytes }, vDumpRestore},
	{"tree backup day 1 (MB/s)", mTreeDay1, rate, func(in *inputs) int64 { return in.Tree1Bytes }, ""},
	{"tree backup day 2 (s)", mTreeDay2, seconds, nil, ""},
	{"tree day-2 bytes added (MB)", mTreeAdded, mbytes, nil, ""},
	{"tree restore (MB/s)", mTreeRestore, rate, func(in *inputs) int64 { return in.Tree2Bytes }, vTreeRestore},
	{"peak RSS (MiB, max over dump and tree operations)", mPeakRSS, mib, nil, ""},
	{"dump repo after day 1 (MB)", mDumpRepo1, mbytes, nil, ""},
	{"tree repo after day 1 (MB)", mTreeRepo1, mbytes, nil, ""},
}

// pruneRows are shown with -prune.
var pruneRows = []metricRow{
	{label: "prune: history backups, all days (s)", key: mHistSecs, unit: seconds},
	{label: "prune: repo before (MB)", key: mPruneBefore, unit: mbytes},
	{label: "prune: forget+prune (s)", key: mPruneSecs, unit: seconds, verify: vPruneRestore},
	{label: "prune: forget+prune peak RSS (MiB)", key: mPruneRSS, unit: mib},
	{label: "prune: repo after (MB)", key: mPruneAfter, unit: mbytes, verify: vPruneKept},
	{label: "prune: bytes freed (MB)", key: mPruneFreed, unit: mbytes},
}

// cell is one tool's summary of one metric.
type cell struct {
	value float64
	ok    bool // value is usable (at least one run succeeded)
	text  string
}

func (b *bench) cell(tool string, r metricRow) cell {
	var vals []float64
	var runs, missing, badVerify int
	for _, res := range b.results {
		if res.Tool != tool {
			continue
		}
		runs++
		v, ok := res.Metrics[r.key]
		if !ok {
			missing++
			continue
		}
		vals = append(vals, v)
		if r.verify != "" && res.Verify[r.verify] != "ok" {
			badVerify++
		}
	}
	if runs == 0 {
		return cell{text: "–"}
	}
	if len(vals) == 0 {
		return cell{text: "FAILED"}
	}
	m := median(vals)
	var v float64
	switch r.unit {
	case rate:
		v = float64(r.input(&b.in)) / 1e6 / m
	case mbytes:
		v = m / 1e6
	case seconds:
		v = m
	case mib:
		v = m / 1024
	}
	c := cell{value: v, ok: true, text: num(v)}
	if missing > 0 {
		c.text += fmt.Sprintf(" (FAILED %d/%d)", missing, runs)
	}
	if badVerify > 0 {
		c.text += fmt.Sprintf(" FAILED verify %d/%d", badVerify, len(vals))
	}
	return c
}

func num(v float64) string {
	switch a := max(v, -v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ratio(a, b cell) string {
	if !a.ok || !b.ok || b.value == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a.value/b.value)
}

func (b *bench) printReport(w io.Writer) {
	var names []string
	for _, t := range b.tools {
		names = append(names, t.name)
	}
	fmt.Fprintf(w, "| metric | %s | snap/borg | snap/restic |\n", strings.Join(names, " | "))
	fmt.Fprintf(w, "|---|%s---:|---:|\n", strings.Repeat("---:|", len(names)))
	shown := rows
	if b.prune {
		shown = append(slices.Clip(rows), pruneRows...)
	}
	for _, r := range shown {
		cells := map[string]cell{}
		var texts []string
		for _, n := range names {
			cells[n] = b.cell(n, r)
			texts = append(texts, cells[n].text)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.label, strings.Join(texts, " | "),
			ratio(cells["snap"], cells["borg"]), ratio(cells["snap"], cells["restic"]))
	}

	in := b.in
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Medians of %d runs, fresh repositories each run. MB = 10^6 bytes; MB/s = input size / median wall time; "+
		"ratios are snap's value over the other tool's (MB/s: >1 is faster; MB, s, MiB: <1 is smaller). "+
		"Peak RSS is the largest max-RSS of any single command in a run.\n\n", b.runs)
	fmt.Fprintf(w, "Inputs: dump1.sql %s MB, dump2.sql %s MB; tree1 %d files %s MB, tree2 %d files %s MB "+
		"(day 2: %d changed, %d added, %d removed files, %s MB rewritten).\n\n",
		num(float64(in.Dump1Bytes)/1e6), num(float64(in.Dump2Bytes)/1e6),
		in.Tree1Files, num(float64(in.Tree1Bytes)/1e6), in.Tree2Files, num(float64(in.Tree2Bytes)/1e6),
		in.TreeChanged, in.TreeAdded, in.TreeRemoved, num(float64(in.TreeDeltaBytes)/1e6))
	fmt.Fprintln(w, "Tree day 2 is backed up from the same path as day 1 (a copy of tree1 edited in place into tree2), "+
		"so unchanged files keep inode, ctime and mtime and files caches apply. Page cache is warm for every tool.")
	if b.prune {
		d := in.HistoryLastDay
		once := "built once and shared by all runs, so its sizes are one sample of each repository's random chunker parameters"
		if b.pruneFresh {
			once = "built afresh in every run"
		}
		fmt.Fprintf(w, "\nPrune: each tool backs up %d daily dumps derived from dump1.sql (snapshot times 02:00 UTC; %s; "+
			"day %d is %s MB and, against the day before, rewrites %d rows, appends %d and deletes %d), then each run times "+
			"forget --keep-daily %d with prune on a fresh copy of that repository and cache "+
			"(restic forget --prune; borg prune + compact; snap forget --prune). "+
			"It checks that %d snapshots are left and that the newest streams out byte-exact. Freed = repo before − after.\n",
			in.HistoryDays, once, in.HistoryDays, num(float64(in.HistoryLastBytes)/1e6), d.Updated, d.Appended, d.Expired,
			in.HistoryKeep, in.HistoryKeep)
	}
	fmt.Fprintln(w)
	for _, t := range b.tools {
		v := b.versions[t.name]
		if v == "" {
			v = "unavailable"
		}
		fmt.Fprintf(w, "- %s (%s)\n", t.notes, v)
	}
	fmt.Fprintf(w, "\nRaw numbers: %s/results.json; command logs: %s/logs/\n", b.work, b.work)

	if len(b.failures) > 0 {
		fmt.Fprintf(w, "\n### Failures\n\n```\n")
		for _, f := range b.failures {
			fmt.Fprint(w, f.String())
		}
		fmt.Fprintln(w, "```")
	}
}
