package main

import (
	"fmt"
	"io"
	"strings"
)

type unit int

const (
	rate     unit = iota // input MB / median seconds
	mbytes               // median bytes, shown in MB
	seconds              // median seconds
	mib                  // median KiB, shown in MiB
	cores                // median CPU seconds per wall second
	cpuPerGB             // median CPU seconds (wall × cores of key's step) per GB of input
)

type metricRow struct {
	label  string
	key    string
	unit   unit
	input  func(*inputs) int64 // for rates
	verify string              // Verify key whose failures mark the cell
}

// section is one table: a phase's rows for the tools that take part.
type section struct {
	title string
	rows  []metricRow
	tools []string
}

func streamInputBytes(name string, day int) func(*inputs) int64 {
	return func(in *inputs) int64 {
		si := in.Streams[name]
		if si == nil {
			return 0
		}
		if day == 1 {
			return si.Bytes1
		}
		return si.Bytes2
	}
}

func streamRows(phase, shape string) []metricRow {
	k := func(n string) string { return key(phase, n) }
	return []metricRow{
		{"backup day 1 (MB/s)", k(mBackup1) + sfxSecs, rate, streamInputBytes(shape, 1), ""},
		{"backup day 1 CPU (cores busy)", k(mBackup1) + sfxCores, cores, nil, ""},
		{"backup day 1 CPU (s per GB)", k(mBackup1), cpuPerGB, streamInputBytes(shape, 1), ""},
		{"backup day 2 (MB/s)", k(mBackup2) + sfxSecs, rate, streamInputBytes(shape, 2), ""},
		{"backup day 2 CPU (cores busy)", k(mBackup2) + sfxCores, cores, nil, ""},
		{"repo after day 1 (MB)", k(mRepo1), mbytes, nil, ""},
		{"day-2 bytes added (MB)", k(mAdded), mbytes, nil, ""},
		{"restore (MB/s)", k(mRestore) + sfxSecs, rate, streamInputBytes(shape, 2), k(vRestore)},
		{"restore CPU (cores busy)", k(mRestore) + sfxCores, cores, nil, ""},
		{"restore CPU (s per GB)", k(mRestore), cpuPerGB, streamInputBytes(shape, 2), ""},
		{"peak RSS (MiB)", k(mPeakRSS), mib, nil, ""},
	}
}

func treeRows() []metricRow {
	k := func(n string) string { return key("tree", n) }
	return []metricRow{
		{"backup day 1 (MB/s)", k(mBackup1) + sfxSecs, rate, func(in *inputs) int64 { return in.Tree1Bytes }, ""},
		{"backup day 1 CPU (cores busy)", k(mBackup1) + sfxCores, cores, nil, ""},
		{"backup day 1 CPU (s per GB)", k(mBackup1), cpuPerGB, func(in *inputs) int64 { return in.Tree1Bytes }, ""},
		{"backup day 2 (s)", k(mBackup2) + sfxSecs, seconds, nil, ""},
		{"backup day 2 CPU (cores busy)", k(mBackup2) + sfxCores, cores, nil, ""},
		{"repo after day 1 (MB)", k(mRepo1), mbytes, nil, ""},
		{"day-2 bytes added (MB)", k(mAdded), mbytes, nil, ""},
		{"restore (MB/s)", k(mRestore) + sfxSecs, rate, func(in *inputs) int64 { return in.Tree2Bytes }, k(vRestore)},
		{"restore CPU (cores busy)", k(mRestore) + sfxCores, cores, nil, ""},
		{"restore CPU (s per GB)", k(mRestore), cpuPerGB, func(in *inputs) int64 { return in.Tree2Bytes }, ""},
		{"peak RSS (MiB)", k(mPeakRSS), mib, nil, ""},
	}
}

func stackRows() []metricRow {
	k := func(n string) string { return key("stack", n) }
	return []metricRow{
		{"night 1 backup, empty repo (s)", k(mBackup1) + sfxSecs, seconds, nil, ""},
		{"night 1 CPU (cores busy)", k(mBackup1) + sfxCores, cores, nil, ""},
		{"night 2 backup (s)", k(mBackup2) + sfxSecs, seconds, nil, ""},
		{"night 2 CPU (cores busy)", k(mBackup2) + sfxCores, cores, nil, ""},
		{"repo after night 2 (MB)", k(mRepo2), mbytes, nil, ""},
		{"peak RSS (MiB)", k(mPeakRSS), mib, nil, ""},
	}
}

// pruneRows are shown with the prune shape.
var pruneRows = []metricRow{
	{label: "history backups, all days (s)", key: mHistSecs, unit: seconds},
	{label: "repo before (MB)", key: mPruneBefore, unit: mbytes},
	{label: "forget+prune (s)", key: mPruneSecs, unit: seconds, verify: vPruneRestore},
	{label: "forget+prune peak RSS (MiB)", key: mPruneRSS, unit: mib},
	{label: "repo after (MB)", key: mPruneAfter, unit: mbytes, verify: vPruneKept},
	{label: "bytes freed (MB)", key: mPruneFreed, unit: mbytes},
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
		if r.unit == cpuPerGB {
			secs, ok1 := res.Metrics[r.key+sfxSecs]
			busy, ok2 := res.Metrics[r.key+sfxCores]
			v, ok = secs*busy, ok1 && ok2
		}
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
	case cpuPerGB:
		v = m / (float64(r.input(&b.in)) / 1e9)
	case mbytes:
		v = m / 1e6
	case seconds, cores:
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
		c.ok = false
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

// sections lists the tables of the shapes that ran.
func (b *bench) sections() []section {
	var all, s3, prune []string
	for _, t := range b.tools {
		all = append(all, t.name)
		if t.s3 {
			s3 = append(s3, t.name)
		}
		if t.forgetPrune != nil {
			prune = append(prune, t.name)
		}
	}
	var out []section
	for _, sh := range streamShapes {
		if b.shapes[sh.name] {
			si := b.in.Streams[sh.name]
			out = append(out, section{fmt.Sprintf("%s: %s, %s MB, backed up from stdin", sh.name, sh.label, num(float64(si.Bytes1)/1e6)),
				streamRows(sh.name, sh.name), all})
		}
	}
	if b.shapes["tree"] {
		out = append(out, section{fmt.Sprintf("tree: %d files, %s MB", b.in.Tree1Files, num(float64(b.in.Tree1Bytes)/1e6)), treeRows(), all})
	}
	if b.shapes["stack"] {
		out = append(out, section{"stack: the small n8n stack (PostgreSQL, Redis, n8n volume, .env), nightly backup", stackRows(), all})
	}
	if b.shapes["s3"] {
		si := b.in.Streams[b.s3Shape.name]
		out = append(out, section{fmt.Sprintf("s3: the %s shape (%s MB) to versitygw on 127.0.0.1, through the counting proxy", b.s3Shape.name, num(float64(si.Bytes1)/1e6)),
			streamRows("s3", b.s3Shape.name), s3})
	}
	if b.shapes["prune"] {
		out = append(out, section{fmt.Sprintf("prune: forget --keep-daily %d with prune, on %d daily dumps", b.pruneKeep, b.pruneDays), pruneRows, prune})
	}
	return out
}

func (b *bench) printTable(w io.Writer, sec section) {
	var peers []string
	for _, n := range sec.tools {
		if n != "snap" {
			peers = append(peers, n)
		}
	}
	hasSnap := len(peers) < len(sec.tools)
	fmt.Fprintf(w, "| %s | %s |", sec.title, strings.Join(sec.tools, " | "))
	if hasSnap {
		for _, p := range peers {
			fmt.Fprintf(w, " snap/%s |", p)
		}
	}
	fmt.Fprintln(w)
	cols := len(sec.tools)
	if hasSnap {
		cols += len(peers)
	}
	fmt.Fprintf(w, "|---|%s\n", strings.Repeat("---:|", cols))
	for _, r := range sec.rows {
		cells := map[string]cell{}
		var texts []string
		for _, n := range sec.tools {
			cells[n] = b.cell(n, r)
			texts = append(texts, cells[n].text)
		}
		fmt.Fprintf(w, "| %s | %s |", r.label, strings.Join(texts, " | "))
		if hasSnap {
			for _, p := range peers {
				fmt.Fprintf(w, " %s |", ratio(cells["snap"], cells[p]))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// printRequests is the S3 request table: medians per tool and step.
func (b *bench) printRequests(w io.Writer) {
	fmt.Fprintf(w, "| S3 requests (median per command) | %s | MB up | MB down |\n", strings.Join(requestTypes, " | "))
	fmt.Fprintf(w, "|---|%s---:|---:|\n", strings.Repeat("---:|", len(requestTypes)))
	for _, t := range b.tools {
		if !t.s3 {
			continue
		}
		for _, st := range []struct{ label, name string }{{"backup day 1", mBackup1}, {"backup day 2", mBackup2}, {"restore", mRestore}} {
			k := key("s3", st.name) + "_req_"
			var texts []string
			for _, typ := range append(append([]string{}, requestTypes...), reqUp, reqDown) {
				r := metricRow{key: k + typ, unit: seconds}
				if typ == reqUp || typ == reqDown {
					r.unit = mbytes
				}
				c := b.cell(t.name, r)
				if c.text == "FAILED" {
					c.text = "0" // no request of that type
				}
				if r.unit == seconds && c.ok {
					c.text = fmt.Sprintf("%.0f", c.value)
				}
				texts = append(texts, c.text)
			}
			fmt.Fprintf(w, "| %s %s | %s |\n", t.name, st.label, strings.Join(texts, " | "))
		}
	}
	fmt.Fprintln(w)
}

func (b *bench) printReport(w io.Writer) {
	fmt.Fprintf(w, "Command: go run ./bench/run -work %s -runs %d -shapes %s -tools %s%s\n\n", b.work, b.runs,
		strings.Join(b.shapeNames(), ","), strings.Join(b.toolNames(), ","), map[bool]string{true: " -snap-key-file"}[b.snapKeyFile])
	for _, sec := range b.sections() {
		b.printTable(w, sec)
		if strings.HasPrefix(sec.title, "s3:") {
			b.printRequests(w)
		}
	}
	b.printTargets(w)

	in := b.in
	fmt.Fprintf(w, "Medians of %d runs, fresh repositories each run, all tools in one invocation. MB = 10^6 bytes; "+
		"MB/s = input size / median wall time; ratios are snap's value over the other tool's "+
		"(MB/s: >1 is faster; MB, s, MiB: <1 is smaller). CPU is (user + system) / wall of the command "+
		"and everything it waited for: 2.00 is both cores of this machine busy. Peak RSS is the largest max-RSS "+
		"of any single command of the phase.\n\n", b.runs)
	if b.shapes["tree"] {
		fmt.Fprintf(w, "Tree: tree1 %d files %s MB, tree2 %d files %s MB (day 2: %d changed, %d added, %d removed files, %s MB rewritten), "+
			"backed up from the same path on both days (a copy of tree1 edited in place into tree2), so unchanged files keep "+
			"inode, ctime and mtime and files caches apply.\n\n",
			in.Tree1Files, num(float64(in.Tree1Bytes)/1e6), in.Tree2Files, num(float64(in.Tree2Bytes)/1e6),
			in.TreeChanged, in.TreeAdded, in.TreeRemoved, num(float64(in.TreeDeltaBytes)/1e6))
	}
	if b.shapes["stack"] {
		fmt.Fprintln(w, "Stack: snap runs `snap backup n8n --project "+stackProject+"`; each peer runs, as one timed command, "+
			"the shell script an operator would write: pg_dump and pg_dumpall --roles-only to files, Redis BGSAVE "+
			"(polled until done) and docker cp of dump.rdb, then one backup of those files, the n8n volume's "+
			"directory and the project directory (.env, compose file). Restores of the stack are not timed.")
		fmt.Fprintln(w)
	}
	if b.shapes["s3"] {
		fmt.Fprintln(w, "S3: every tool talks to a reverse proxy in bench/run that counts requests by type "+
			"(LIST is a GET of the bucket; POST is multipart create/complete and multi-object delete) "+
			"and forwards them to versitygw (posix backend) on 127.0.0.1; the proxy's CPU is the runner's, not the tool's.")
		fmt.Fprintln(w)
	}
	if b.shapes["prune"] {
		d := in.HistoryLastDay
		once := "built once and shared by all runs, so its sizes are one sample of each repository's random chunker parameters"
		if b.pruneFresh {
			once = "built afresh in every run"
		}
		fmt.Fprintf(w, "Prune: each tool backs up %d daily dumps derived from dump1.sql (snapshot times 02:00 UTC; %s; "+
			"day %d is %s MB and, against the day before, rewrites %d rows, appends %d and deletes %d), then each run times "+
			"forget --keep-daily %d with prune on a fresh copy of that repository and cache "+
			"(restic forget --prune; borg prune + compact; snap forget --prune; kopia not measured). "+
			"It checks that %d snapshots are left and that the newest streams out byte-exact. Freed = repo before − after.\n\n",
			in.HistoryDays, once, in.HistoryDays, num(float64(in.HistoryLastBytes)/1e6), d.Updated, d.Appended, d.Expired,
			in.HistoryKeep, in.HistoryKeep)
	}
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

func (b *bench) toolNames() []string {
	var out []string
	for _, t := range b.tools {
		out = append(out, t.name)
	}
	return out
}
