package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// The targets of issues 13 (speed on every shape) and 11 (S3), checked
// against this run's medians. A target whose numbers are missing (a tool
// or shape not run, a failure) is listed as not measured.

type targetLine struct {
	what, measured  string
	met, measuredOK bool
}

func (b *bench) hasTool(name string) bool {
	return slices.ContainsFunc(b.tools, func(t *tool) bool { return t.name == name && t.broken == "" })
}

// snapOver returns snap's value over peer's for a row, and whether both exist.
func (b *bench) snapOver(peer string, r metricRow) (float64, bool) {
	s, p := b.cell("snap", r), b.cell(peer, r)
	if !s.ok || !p.ok || p.value == 0 {
		return 0, false
	}
	return s.value / p.value, true
}

// row is the row of rows with label (the tables' rows are the targets'
// inputs; a label that is not there is a programming error).
func row(rows []metricRow, label string) metricRow {
	for _, r := range rows {
		if r.label == label {
			return r
		}
	}
	panic("no row " + label)
}

func (b *bench) targets() []targetLine {
	var out []targetLine
	// ratioTarget: snap's rate over the best of peers must be >= want.
	ratioTarget := func(what string, r metricRow, peers []string, want float64) {
		best, bestPeer := 0.0, ""
		for _, p := range peers {
			if !b.hasTool(p) {
				continue
			}
			if c := b.cell(p, r); c.ok && c.value > best {
				best, bestPeer = c.value, p
			}
		}
		s := b.cell("snap", r)
		if bestPeer == "" || !s.ok {
			out = append(out, targetLine{what: what, measured: "not measured"})
			return
		}
		got := s.value / best
		out = append(out, targetLine{what: what, met: got >= want, measuredOK: true,
			measured: fmt.Sprintf("%.2f× %s (snap %s, %s %s)", got, bestPeer, num(s.value), bestPeer, num(best))})
	}
	var streams []*streamShape
	for _, sh := range streamShapes {
		if b.shapes[sh.name] {
			streams = append(streams, sh)
		}
	}
	for _, sh := range streams {
		rows := streamRows(sh.name, sh.name)
		for _, r := range []metricRow{row(rows, "backup day 1 (MB/s)"), row(rows, "backup day 2 (MB/s)")} {
			day := strings.TrimSuffix(strings.TrimPrefix(r.label, "backup "), " (MB/s)")
			ratioTarget(fmt.Sprintf("%s backup %s ≥ 1.5× borg", sh.name, day), r, []string{"borg"}, 1.5)
			ratioTarget(fmt.Sprintf("%s backup %s ≥ 1.2× max(kopia, restic18)", sh.name, day), r, []string{"kopia", "restic18"}, 1.2)
		}
	}
	peers := []string{"borg", "restic14", "restic18", "kopia"}
	for _, sh := range streams {
		ratioTarget(fmt.Sprintf("%s restore ≥ 2× every peer", sh.name), row(streamRows(sh.name, sh.name), "restore (MB/s)"), peers, 2)
	}
	if b.shapes["tree"] {
		tr := treeRows()
		ratioTarget("tree restore ≥ 2× every peer", row(tr, "restore (MB/s)"), peers, 2)
		for _, p := range []string{"restic14", "restic18"} {
			added := row(tr, "day-2 bytes added (MB)")
			if v, ok := b.snapOver(p, added); ok {
				out = append(out, targetLine{what: "tree day-2 bytes ≤ " + p + "'s", met: v <= 1, measuredOK: true,
					measured: fmt.Sprintf("%.2f× (snap %s MB, %s %s MB)", v, b.cell("snap", added).text, p, b.cell(p, added).text)})
			}
		}
		// Times: snap's rate over kopia's for day 1, kopia's seconds over snap's for day 2.
		ratioTarget("tree backup day 1 time ≤ kopia's", row(tr, "backup day 1 (MB/s)"), []string{"kopia"}, 1)
		day2 := row(tr, "backup day 2 (s)")
		if v, ok := b.snapOver("kopia", day2); ok {
			out = append(out, targetLine{what: "tree backup day 2 time ≤ kopia's", met: v <= 1, measuredOK: true,
				measured: fmt.Sprintf("%.2f× (snap %s s, kopia %s s)", v, b.cell("snap", day2).text, b.cell("kopia", day2).text)})
		}
	}
	if b.shapes["stack"] {
		for _, r := range stackRows() {
			if r.unit != seconds {
				continue
			}
			c := b.cell("snap", r)
			tl := targetLine{what: "stack " + strings.TrimSuffix(r.label, " (s)") + " ≤ 2 s wall", measured: "not measured"}
			if c.ok {
				tl.measuredOK, tl.met, tl.measured = true, c.value <= 2, c.text+" s"
			}
			out = append(out, tl)
		}
	}
	// Peak RSS: snap's largest phase median.
	worst, where := 0.0, ""
	for _, sec := range b.sections() {
		for _, r := range sec.rows {
			if r.unit != mib {
				continue
			}
			if c := b.cell("snap", r); c.ok && c.value > worst {
				worst, where = c.value, strings.SplitN(sec.title, ":", 2)[0]
			}
		}
	}
	if where != "" {
		out = append(out, targetLine{what: "snap peak RSS < 256 MiB everywhere (10 GB dump not run here)", met: worst < 256, measuredOK: true,
			measured: fmt.Sprintf("%s MiB (%s)", num(worst), where)})
	}
	if b.shapes["s3"] {
		rows := streamRows("s3", b.s3Shape.name)
		for _, p := range []string{"restic18", "restic14"} {
			ratioTarget("S3 backup day 1 ≥ "+p+"'s speed", row(rows, "backup day 1 (MB/s)"), []string{p}, 1)
			ratioTarget("S3 backup day 2 ≥ "+p+"'s speed", row(rows, "backup day 2 (MB/s)"), []string{p}, 1)
			ratioTarget("S3 restore ≥ 1.5× "+p, row(rows, "restore (MB/s)"), []string{p}, 1.5)
		}
	}
	return out
}

func (b *bench) printTargets(w io.Writer) {
	lines := b.targets()
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "| target (issues 13, 11) | this run | |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, t := range lines {
		verdict := "not measured"
		if t.measuredOK {
			verdict = map[bool]string{true: "met", false: "**missed**"}[t.met]
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.what, t.measured, verdict)
	}
	fmt.Fprintln(w)
}
