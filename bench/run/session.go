package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// step is one measured command.
type step struct {
	Name      string   `json:"name"`
	Command   []string `json:"command"`
	Dir       string   `json:"dir,omitempty"`
	Seconds   float64  `json:"seconds"`
	MaxRSSKiB int64    `json:"max_rss_kib"`
	Error     string   `json:"error,omitempty"`
	Log       string   `json:"log"`
}

// runResult is everything one run of one tool produced.
type runResult struct {
	Tool     string             `json:"tool"`
	Run      int                `json:"run"`
	Metrics  map[string]float64 `json:"metrics"`
	Verify   map[string]string  `json:"verify"` // "ok" or what was wrong
	Steps    []step             `json:"steps"`
	Failures []string           `json:"failures,omitempty"`
}

// Metric keys, shared by the session that records them and the table.
const (
	mDumpDay1     = "dump_backup_day1_s"
	mDumpDay2     = "dump_backup_day2_s"
	mDumpRepo1    = "dump_repo_day1_bytes"
	mDumpRepo2    = "dump_repo_day2_bytes"
	mDumpAdded    = "dump_day2_added_bytes"
	mDumpRestore  = "dump_restore_s"
	mTreeDay1     = "tree_backup_day1_s"
	mTreeDay2     = "tree_backup_day2_s"
	mTreeRepo1    = "tree_repo_day1_bytes"
	mTreeRepo2    = "tree_repo_day2_bytes"
	mTreeAdded    = "tree_day2_added_bytes"
	mTreeRestore  = "tree_restore_s"
	mPeakRSS      = "peak_rss_kib"
	vDumpRestore  = "dump_restore"
	vTreeRestore  = "tree_restore"
	failTailLines = 15
)

// session is one run of one tool (or, with run 0, the building of its
// prune history).
type session struct {
	b     *bench
	t     *tool
	run   int
	where string // "run 2/3" or "history", for messages
	tag   string // "run2" or "history", for log file names
	env   []string
	res   *runResult
}

// toolEnv is the runner's environment minus anything that could point a
// tool at another repository or password, plus the tool's own settings
// with its cache in cacheDir.
func toolEnv(t *tool, cacheDir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RESTIC_") && !strings.HasPrefix(kv, "BORG_") && !strings.HasPrefix(kv, "SNAP_") {
			env = append(env, kv)
		}
	}
	return append(env, t.env(cacheDir)...)
}

func (b *bench) newSession(t *tool, run int) *session {
	res := &runResult{Tool: t.name, Run: run, Metrics: map[string]float64{}, Verify: map[string]string{}}
	b.results = append(b.results, res)
	return &session{b: b, t: t, run: run, where: fmt.Sprintf("run %d/%d", run, b.runs), tag: fmt.Sprintf("run%d", run),
		env: toolEnv(t, t.cache(run)), res: res}
}

func (s *session) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s %s] %s\n", s.t.name, s.where, fmt.Sprintf(format, args...))
}

// fail records a failure, prints it at once and keeps it for the report.
func (s *session) fail(stepName, msg, logPath string) {
	f := failure{tool: s.t.name, where: s.where, step: stepName, msg: msg, log: logPath}
	if logPath != "" {
		f.tail = tail(logPath, failTailLines)
	}
	s.b.failures = append(s.b.failures, f)
	s.res.Failures = append(s.res.Failures, stepName+": "+msg)
	fmt.Fprintln(os.Stderr, f.String())
}

// exec runs one command with stdin and stdout taken from files when given
// (passed as *os.File, so no copying goroutine sits in the measurement) and
// everything else going to a log file. It returns false on any failure.
func (s *session) exec(name string, in invocation, stdin, stdout string) (step, bool) {
	logPath := filepath.Join(s.b.work, "logs", fmt.Sprintf("%s-%s-%s.log", s.t.name, s.tag, name))
	st := step{Name: name, Command: in.args, Dir: in.dir, Log: logPath}
	defer func() { s.res.Steps = append(s.res.Steps, st) }()
	lf, err := os.Create(logPath)
	if err != nil {
		st.Error = err.Error()
		s.fail(name, err.Error(), "")
		return st, false
	}
	defer lf.Close()
	fmt.Fprintf(lf, "$ %s\n", strings.Join(in.args, " "))
	if in.dir != "" {
		fmt.Fprintf(lf, "# in %s\n", in.dir)
	}

	ctx, cancel := context.WithTimeout(context.Background(), s.b.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.args[0], in.args[1:]...)
	cmd.Dir = in.dir
	cmd.Env = s.env
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.WaitDelay = 10 * time.Second
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			st.Error = err.Error()
			s.fail(name, err.Error(), "")
			return st, false
		}
		defer f.Close()
		cmd.Stdin = f
	}
	if stdout != "" {
		f, err := os.Create(stdout)
		if err != nil {
			st.Error = err.Error()
			s.fail(name, err.Error(), "")
			return st, false
		}
		defer f.Close()
		cmd.Stdout = f
	}

	start := time.Now()
	err = cmd.Run()
	st.Seconds = time.Since(start).Seconds()
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			st.MaxRSSKiB = ru.Maxrss // KiB on Linux
		}
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %s (%w)", s.b.timeout, err)
		}
		st.Error = err.Error()
		s.fail(name, fmt.Sprintf("%v after %.1fs: %s", err, st.Seconds, strings.Join(in.args, " ")), logPath)
		return st, false
	}
	s.logf("%-18s %8.2fs  rss %6.0f MiB", name, st.Seconds, float64(st.MaxRSSKiB)/1024)
	return st, true
}

func (s *session) repo(kind string) string {
	return filepath.Join(s.b.work, "repos", fmt.Sprintf("%s-%d-%s", s.t.name, s.run, kind))
}

// dumpPhase: day 1 and day 2 of the SQL dump into one repository from
// stdin, then the day-2 stream back out to a file.
func (s *session) dumpPhase() {
	repo := s.repo("dump")
	if err := os.RemoveAll(repo); err != nil {
		s.fail("dump-setup", err.Error(), "")
		return
	}
	if _, ok := s.exec("dump-init", s.t.initRepo(repo), "", ""); !ok {
		return
	}
	var size [3]int64
	for day := 1; day <= 2; day++ {
		st, ok := s.exec(fmt.Sprintf("dump-backup-day%d", day), s.t.backupStdin(repo, day, time.Time{}), s.b.dumpPath(day), "")
		if !ok {
			return
		}
		s.res.Metrics[[]string{"", mDumpDay1, mDumpDay2}[day]] = st.Seconds
		n, err := duBytes(repo)
		if err != nil {
			s.fail("dump-du", err.Error(), "")
			return
		}
		size[day] = n
	}
	s.res.Metrics[mDumpRepo1] = float64(size[1])
	s.res.Metrics[mDumpRepo2] = float64(size[2])
	s.res.Metrics[mDumpAdded] = float64(size[2] - size[1])

	out := filepath.Join(s.b.work, fmt.Sprintf("restore-%s-%d.sql", s.t.name, s.run))
	st, ok := s.exec("dump-restore", s.t.dumpStream(repo, 2), "", out)
	if !ok {
		return
	}
	s.res.Metrics[mDumpRestore] = st.Seconds
	sum, n, err := hashFile(out)
	switch {
	case err != nil:
		s.res.Verify[vDumpRestore] = err.Error()
	case n != s.b.in.Dump2Bytes || sum != s.b.in.dump2Sum:
		s.res.Verify[vDumpRestore] = fmt.Sprintf("restored %d bytes, sha256 %x; want %d bytes, sha256 %x",
			n, sum[:8], s.b.in.Dump2Bytes, s.b.in.dump2Sum[:8])
	default:
		s.res.Verify[vDumpRestore] = "ok"
	}
	s.verified("dump restore", vDumpRestore, out)
}

// verified reports a verification and removes the restored output if it
// matched; a mismatch stays on disk to look at.
func (s *session) verified(what, key, out string) {
	if v := s.res.Verify[key]; v != "ok" {
		s.fail(strings.ReplaceAll(key, "_", "-")+"-verify", fmt.Sprintf("%s does not match the input: %s (kept in %s)", what, v, out), "")
		return
	}
	s.logf("%s verified", what)
	os.RemoveAll(out)
}

// treePhase: tree1 then tree2 into one repository, both from WORK/cur,
// then a full restore of day 2.
//
// cur starts as a copy of tree1 and is edited in place into tree2, so day
// 2 looks like a real machine's next night: same path, and unchanged files
// keep inode, ctime and mtime. (Renaming tree2 into place would give every
// file a new inode and defeat restic's and borg's files caches, which
// compare inodes and ctimes by default.)
func (s *session) treePhase() {
	w := s.b.work
	cur := filepath.Join(w, "cur")
	if err := os.RemoveAll(cur); err != nil {
		s.fail("tree-setup", err.Error(), "")
		return
	}
	if err := copyTree(s.b.tree1(), cur); err != nil {
		s.fail("tree-setup", "copying tree1: "+err.Error(), "")
		return
	}
	defer os.RemoveAll(cur)

	repo := s.repo("tree")
	if err := os.RemoveAll(repo); err != nil {
		s.fail("tree-setup", err.Error(), "")
		return
	}
	if _, ok := s.exec("tree-init", s.t.initRepo(repo), "", ""); !ok {
		return
	}
	var size [3]int64
	for day := 1; day <= 2; day++ {
		if day == 2 {
			if err := s.b.delta.apply(s.b.tree2(), cur); err != nil {
				s.fail("tree-setup", "turning cur into tree2: "+err.Error(), "")
				return
			}
		}
		st, ok := s.exec(fmt.Sprintf("tree-backup-day%d", day), s.t.backupTree(repo, day, w, "cur"), "", "")
		if !ok {
			return
		}
		s.res.Metrics[[]string{"", mTreeDay1, mTreeDay2}[day]] = st.Seconds
		n, err := duBytes(repo)
		if err != nil {
			s.fail("tree-du", err.Error(), "")
			return
		}
		size[day] = n
	}
	s.res.Metrics[mTreeRepo1] = float64(size[1])
	s.res.Metrics[mTreeRepo2] = float64(size[2])
	s.res.Metrics[mTreeAdded] = float64(size[2] - size[1])

	target := filepath.Join(w, fmt.Sprintf("restore-%s-%d", s.t.name, s.run))
	if err := os.RemoveAll(target); err != nil {
		s.fail("tree-setup", err.Error(), "")
		return
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		s.fail("tree-setup", err.Error(), "")
		return
	}
	st, ok := s.exec("tree-restore", s.t.restoreTree(repo, 2, target), "", "")
	if !ok {
		return
	}
	s.res.Metrics[mTreeRestore] = st.Seconds
	root := s.b.restoredRoot(target, cur)
	got, _, err := manifest(root)
	switch {
	case err != nil:
		s.res.Verify[vTreeRestore] = err.Error()
	default:
		if d := compareManifests(s.b.in.tree2, got); d != "" {
			s.res.Verify[vTreeRestore] = "in " + root + ": " + d
		} else {
			s.res.Verify[vTreeRestore] = "ok"
		}
	}
	s.verified("tree restore", vTreeRestore, target)
}

// restoredRoot finds where in target the tools put the tree: restic keeps
// the absolute source path, borg the relative one it was given, and a tool
// may also restore an item's contents straight into target.
func (b *bench) restoredRoot(target, src string) string {
	for _, c := range []string{
		filepath.Join(target, strings.TrimPrefix(src, string(filepath.Separator))),
		filepath.Join(target, filepath.Base(src)),
	} {
		if _, err := os.Stat(filepath.Join(c, b.in.marker)); err == nil {
			return c
		}
	}
	return target
}

// finish records the peak RSS of the dump and tree phases and removes their
// repositories and cache.
func (s *session) finish() {
	var peak int64
	for _, st := range s.res.Steps {
		peak = max(peak, st.MaxRSSKiB)
	}
	if peak > 0 {
		s.res.Metrics[mPeakRSS] = float64(peak)
	}
	if s.b.keep {
		return
	}
	for _, p := range []string{s.repo("dump"), s.repo("tree"), s.t.cache(s.run)} {
		os.RemoveAll(p)
	}
}

type failure struct {
	tool, where, step, msg, log, tail string
}

func (f failure) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "!! %s %s: %s FAILED: %s\n", f.tool, f.where, f.step, f.msg)
	if f.log != "" {
		fmt.Fprintf(&b, "   log: %s\n", f.log)
	}
	if f.tail != "" {
		b.WriteString("   output tail:\n")
		for _, l := range strings.Split(f.tail, "\n") {
			b.WriteString("   | " + l + "\n")
		}
	}
	return b.String()
}
