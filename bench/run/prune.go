package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Metric and verification keys of the prune phase.
const (
	mHistSecs     = "prune_history_backups_s" // all daily backups, total
	mHistRSS      = "prune_history_peak_rss_kib"
	mPruneSecs    = "prune_forget_prune_s"
	mPruneRSS     = "prune_peak_rss_kib"
	mPruneBefore  = "prune_repo_before_bytes"
	mPruneAfter   = "prune_repo_after_bytes"
	mPruneFreed   = "prune_freed_bytes"
	mPruneRestore = "prune_restore_s"
	vPruneKept    = "prune_kept"
	vPruneRestore = "prune_restore"
)

// histRepo is one tool's prune history, built once (or once per run with
// -prune-fresh). Once built, the
// repository and cache are moved to *.orig; each run copies them back to
// the paths they were built at (so borg sees no relocated repository and
// each tool finds its cache as after a night's backup) and prunes there.
type histRepo struct {
	repo, cache string
	broken      string // why there is no complete history
	res         *runResult
}

const origSuffix = ".orig"

// historyItem names the history's stream in every tool.
const historyItem = "dump.sql"

// buildHistories backs up every day of the dump history into one
// repository per tool, for run (0: for all runs). Days are the outer loop,
// so each day's dump is written once and is in the page cache for every
// tool.
func (b *bench) buildHistories(run int) {
	var sessions []*session
	where, tag := "history", "history"
	if run > 0 {
		where, tag = fmt.Sprintf("history for run %d/%d", run, b.runs), fmt.Sprintf("history-run%d", run)
	}
	fmt.Fprintf(os.Stderr, "building the prune %s: %d daily backups of the dump per tool...\n", where, b.pruneDays)
	for _, t := range b.tools {
		if t.forgetPrune == nil {
			continue
		}
		h := &histRepo{repo: filepath.Join(b.work, "repos", t.name+"-history"), cache: filepath.Join(b.work, "cache-"+t.name+"-history"),
			res: &runResult{Tool: t.name, Run: run, Metrics: map[string]float64{}, Verify: map[string]string{}}}
		b.history[t.name] = h
		b.historyResults = append(b.historyResults, h.res)
		if t.broken != "" {
			h.broken = t.broken
			continue
		}
		s := &session{b: b, t: t, where: where, tag: tag, res: h.res, peak: map[string]int64{},
			env: append(toolEnv(t, h.cache), "TZ=UTC")}
		for _, p := range []string{h.repo, auxDir(h.repo), h.cache, h.repo + origSuffix, h.cache + origSuffix} {
			if err := os.RemoveAll(p); err != nil {
				log.Fatal(err)
			}
		}
		if !s.initRepo("history", h.repo, execOpts{}) {
			h.broken = "init failed"
			continue
		}
		sessions = append(sessions, s)
	}
	if len(sessions) == 0 {
		return
	}
	dayFile := filepath.Join(b.work, "history-day.sql")
	defer os.Remove(dayFile)
	start := time.Now()
	for day := 1; day <= b.pruneDays; day++ {
		sum, n, st, err := b.hist.writeDay(dayFile, day)
		if err != nil {
			log.Fatalf("writing history day %d: %v", day, err)
		}
		if day == b.pruneDays {
			b.in.HistoryLastBytes, b.in.historySum, b.in.HistoryLastDay = n, sum, st
		}
		for _, s := range sessions {
			h := b.history[s.t.name]
			if h.broken != "" {
				continue
			}
			step, ok := s.exec(fmt.Sprintf("history-backup-day%02d", day), s.t.backupStdin(h.repo, historyItem, day, snapTime(day)), execOpts{stdin: dayFile})
			if !ok {
				h.broken = fmt.Sprintf("backup of day %d failed", day)
				continue
			}
			h.res.Metrics[mHistSecs] += step.Seconds
			h.res.Metrics[mHistRSS] = max(h.res.Metrics[mHistRSS], float64(step.MaxRSSKiB))
		}
		if day%10 == 0 || day == b.pruneDays {
			fmt.Fprintf(os.Stderr, "%s: %d/%d days backed up (%s)\n", where, day, b.pruneDays, time.Since(start).Round(time.Second))
		}
	}
	for _, s := range sessions {
		h := b.history[s.t.name]
		if h.broken != "" {
			continue
		}
		n, err := duBytes(h.repo)
		if err == nil {
			h.res.Metrics[mPruneBefore] = float64(n)
			err = os.Rename(h.repo, h.repo+origSuffix)
		}
		if err == nil {
			if err = os.MkdirAll(h.cache, 0o755); err == nil { // a tool may not have made one
				err = os.Rename(h.cache, h.cache+origSuffix)
			}
		}
		if err != nil {
			h.broken = err.Error()
			s.fail("history-setup", err.Error(), "")
		}
	}
}

// removeHistories deletes the history repositories and caches.
func (b *bench) removeHistories() {
	for _, h := range b.history {
		for _, p := range []string{h.repo, auxDir(h.repo), h.cache, h.repo + origSuffix, h.cache + origSuffix} {
			os.RemoveAll(p)
		}
	}
}

// prunePhase copies the tool's history (repository and cache) and times
// forget --keep-daily KEEP with prune on the copy, then checks that KEEP
// snapshots are left and that the newest one still streams out byte-exact.
// With -keep the pruned copy is kept as repos/TOOL-RUN-prune and
// cache-TOOL-RUN-prune.
func (s *session) prunePhase() {
	h := s.b.history[s.t.name]
	if h == nil || h.broken != "" {
		msg := "no history"
		if h != nil {
			msg += ": " + h.broken
		}
		s.fail("prune-setup", msg, "")
		return
	}
	repo, cache := h.repo, h.cache
	for _, p := range []string{repo, cache} {
		if err := os.RemoveAll(p); err != nil {
			s.fail("prune-setup", err.Error(), "")
			return
		}
	}
	defer func() {
		if s.b.keep {
			os.Rename(repo, s.repo("prune"))
			os.Rename(cache, filepath.Join(s.b.work, fmt.Sprintf("cache-%s-%d-prune", s.t.name, s.run)))
		}
		os.RemoveAll(repo)
		os.RemoveAll(cache)
	}()
	if err := copyTree(h.repo+origSuffix, repo); err != nil {
		s.fail("prune-setup", "copying the history repository: "+err.Error(), "")
		return
	}
	if err := copyTree(h.cache+origSuffix, cache); err != nil {
		s.fail("prune-setup", "copying the history cache: "+err.Error(), "")
		return
	}
	ps := *s
	ps.env = append(toolEnv(s.t, cache), "TZ=UTC")
	m := s.res.Metrics
	m[mHistSecs], m[mHistRSS] = h.res.Metrics[mHistSecs], h.res.Metrics[mHistRSS]

	before, err := duBytes(repo)
	if err != nil {
		s.fail("prune-du", err.Error(), "")
		return
	}
	var secs float64
	var rss int64
	for _, in := range s.t.forgetPrune(repo, s.b.pruneKeep) {
		name := "prune"
		if in.label != "" {
			name += "-" + in.label
		}
		st, ok := ps.exec(name, in, execOpts{})
		if !ok {
			return
		}
		secs += st.Seconds
		rss = max(rss, st.MaxRSSKiB)
	}
	after, err := duBytes(repo)
	if err != nil {
		s.fail("prune-du", err.Error(), "")
		return
	}
	m[mPruneSecs], m[mPruneRSS] = secs, float64(rss)
	m[mPruneBefore], m[mPruneAfter], m[mPruneFreed] = float64(before), float64(after), float64(before-after)

	list := filepath.Join(s.b.work, "logs", fmt.Sprintf("%s-%s-prune-snapshots.json", s.t.name, s.tag))
	if _, ok := ps.exec("prune-snapshots", s.t.snapshots(repo), execOpts{stdout: list}); ok {
		n, err := countSnapshots(list)
		if err != nil {
			s.res.Verify[vPruneKept] = err.Error()
		} else if n != s.b.pruneKeep {
			s.res.Verify[vPruneKept] = fmt.Sprintf("%d snapshots left, want %d", n, s.b.pruneKeep)
		} else {
			s.res.Verify[vPruneKept] = "ok"
		}
		if v := s.res.Verify[vPruneKept]; v != "ok" {
			s.fail("prune-kept-verify", v+" (list in "+list+")", "")
		} else {
			s.logf("%d snapshots kept", n)
		}
	}

	out := filepath.Join(s.b.work, fmt.Sprintf("restore-%s-%d-prune.sql", s.t.name, s.run))
	st, ok := ps.exec("prune-restore", s.t.dumpStream(repo, historyItem, s.b.pruneDays, ""), execOpts{stdout: out})
	if !ok {
		return
	}
	m[mPruneRestore] = st.Seconds
	sum, n, err := hashFile(out)
	want := s.b.in.historySum
	switch {
	case err != nil:
		s.res.Verify[vPruneRestore] = err.Error()
	case n != s.b.in.HistoryLastBytes || sum != want:
		s.res.Verify[vPruneRestore] = fmt.Sprintf("restored %d bytes, sha256 %x; want %d bytes, sha256 %x",
			n, sum[:8], s.b.in.HistoryLastBytes, want[:8])
	default:
		s.res.Verify[vPruneRestore] = "ok"
	}
	s.verified(fmt.Sprintf("newest snapshot (day %d) after prune", s.b.pruneDays), vPruneRestore, out)
}

// countSnapshots reads a JSON snapshot list: an array (snap, restic) or
// borg's {"archives": [...]}.
func countSnapshots(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(data, &arr); err == nil {
		return len(arr), nil
	}
	var obj struct {
		Archives *[]json.RawMessage `json:"archives"`
	}
	if err := json.Unmarshal(data, &obj); err != nil || obj.Archives == nil {
		return 0, fmt.Errorf("cannot read the snapshot list: %s", strings.TrimSpace(firstLine(data)))
	}
	return len(*obj.Archives), nil
}

func firstLine(b []byte) string {
	l, _, _ := strings.Cut(string(b), "\n")
	if len(l) > 200 {
		l = l[:200]
	}
	return l
}
