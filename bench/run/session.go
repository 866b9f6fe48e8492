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
	Name       string   `json:"name"`
	Command    []string `json:"command"`
	Dir        string   `json:"dir,omitempty"`
	Seconds    float64  `json:"seconds"`
	UserSecs   float64  `json:"user_seconds"`
	SystemSecs float64  `json:"system_seconds"`
	MaxRSSKiB  int64    `json:"max_rss_kib"`
	// Requests counts the S3 requests the step made, by type (PUT, GET,
	// LIST, HEAD, DELETE, POST), and the bytes sent and received.
	Requests map[string]int64 `json:"requests,omitempty"`
	Error    string           `json:"error,omitempty"`
	Log      string           `json:"log"`
}

// cores is the step's CPU utilisation: CPU time (user + system, of the
// command and every process it waited for) over wall time. 2.0 is both
// cores of this machine busy the whole time.
func (st step) cores() float64 {
	if st.Seconds <= 0 {
		return 0
	}
	return (st.UserSecs + st.SystemSecs) / st.Seconds
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

// Metric names within a phase; a metric's key is PHASE_NAME (sql_restore_s).
const (
	mBackup1      = "backup_day1"
	mBackup2      = "backup_day2"
	mRestore      = "restore"
	mRepo1        = "repo_day1_bytes"
	mRepo2        = "repo_day2_bytes"
	mAdded        = "day2_added_bytes"
	mPeakRSS      = "peak_rss_kib"
	sfxSecs       = "_s"
	sfxCores      = "_cores"
	vRestore      = "restore"
	failTailLines = 15
)

func key(phase, name string) string { return phase + "_" + name }

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
	peak  map[string]int64 // max RSS per phase
}

// toolEnv is the runner's environment minus anything that could point a
// tool at another repository, password or object store, plus the tool's
// own settings with its cache in cacheDir.
func toolEnv(t *tool, cacheDir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "RESTIC_") || strings.HasPrefix(k, "BORG_") || strings.HasPrefix(k, "SNAP_") ||
			strings.HasPrefix(k, "KOPIA_") || strings.HasPrefix(k, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, t.env(cacheDir)...)
}

// newSession starts a run of a tool, with its cache (left over by an
// interrupted bench, perhaps) removed.
func (b *bench) newSession(t *tool, run int) *session {
	os.RemoveAll(t.cache(run))
	res := &runResult{Tool: t.name, Run: run, Metrics: map[string]float64{}, Verify: map[string]string{}}
	b.results = append(b.results, res)
	return &session{b: b, t: t, run: run, where: fmt.Sprintf("run %d/%d", run, b.runs), tag: fmt.Sprintf("run%d", run),
		env: toolEnv(t, t.cache(run)), res: res, peak: map[string]int64{}}
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

// execOpts are what a command reads and writes besides its log.
type execOpts struct {
	stdin, stdout string   // files, when given
	env           []string // added to the session's environment
	reqs          *counter // S3 requests to attribute to the step
}

// exec runs one command with stdin and stdout taken from files when given
// (passed as *os.File, so no copying goroutine sits in the measurement) and
// everything else going to a log file. It returns false on any failure.
func (s *session) exec(name string, in invocation, o execOpts) (step, bool) {
	logPath := filepath.Join(s.b.work, "logs", fmt.Sprintf("%s-%s-%s.log", s.t.name, s.tag, name))
	st := step{Name: name, Command: in.args, Dir: in.dir, Log: logPath}
	defer func() { s.res.Steps = append(s.res.Steps, st) }()
	failed := func(err error) (step, bool) {
		st.Error = err.Error()
		s.fail(name, err.Error(), "")
		return st, false
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return failed(err)
	}
	defer lf.Close()
	fmt.Fprintf(lf, "$ %s\n", strings.Join(in.args, " "))
	if in.dir != "" {
		fmt.Fprintf(lf, "# in %s\n", in.dir)
		if err := os.MkdirAll(in.dir, 0o755); err != nil {
			return failed(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), s.b.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.args[0], in.args[1:]...)
	cmd.Dir = in.dir
	cmd.Env = append(s.env, o.env...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.WaitDelay = 10 * time.Second
	// A runner stopped by a signal takes its command along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if o.stdin != "" {
		f, err := os.Open(o.stdin)
		if err != nil {
			return failed(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	if o.stdout != "" {
		f, err := os.Create(o.stdout)
		if err != nil {
			return failed(err)
		}
		defer f.Close()
		cmd.Stdout = f
	}

	var before map[string]int64
	if o.reqs != nil {
		before = o.reqs.snapshot()
	}
	start := time.Now()
	err = cmd.Run()
	st.Seconds = time.Since(start).Seconds()
	if o.reqs != nil {
		st.Requests = diffCounts(o.reqs.snapshot(), before)
	}
	if ps := cmd.ProcessState; ps != nil {
		// wait4's rusage: the command and every descendant it waited
		// for (a shell pipeline's programs too).
		st.UserSecs, st.SystemSecs = ps.UserTime().Seconds(), ps.SystemTime().Seconds()
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
	s.logf("%-22s %8.2fs  %4.2f cores  rss %6.0f MiB%s", name, st.Seconds, st.cores(), float64(st.MaxRSSKiB)/1024, fmtCounts(st.Requests))
	return st, true
}

// record stores a timed step as PHASE_NAME_s and PHASE_NAME_cores (and its
// S3 request counts), and counts its RSS towards the phase's peak.
func (s *session) record(phase, name string, st step) {
	m := s.res.Metrics
	m[key(phase, name)+sfxSecs] = st.Seconds
	m[key(phase, name)+sfxCores] = st.cores()
	for k, v := range st.Requests {
		m[key(phase, name)+"_req_"+k] = float64(v)
	}
	s.peak[phase] = max(s.peak[phase], st.MaxRSSKiB)
	m[key(phase, mPeakRSS)] = float64(s.peak[phase])
}

// initRepo runs the tool's init commands (untimed).
func (s *session) initRepo(phase, repo string, o execOpts) bool {
	for i, in := range s.t.initRepo(repo) {
		if _, ok := s.exec(fmt.Sprintf("%s-init%d", phase, i+1), in, o); !ok {
			return false
		}
	}
	return true
}

// latestID looks up, untimed, the id a restore needs (kopia); "" for the
// tools that say "latest" themselves.
func (s *session) latestID(phase, repo string, o execOpts) (string, bool) {
	if s.t.latest == nil {
		return "", true
	}
	list := filepath.Join(s.b.work, "logs", fmt.Sprintf("%s-%s-%s-list.json", s.t.name, s.tag, phase))
	o.stdout, o.stdin = list, ""
	if _, ok := s.exec(phase+"-list", s.t.latest(repo), o); !ok {
		return "", false
	}
	out, err := os.ReadFile(list)
	if err == nil {
		var id string
		if id, err = s.t.latestID(out); err == nil {
			return id, true
		}
	}
	s.fail(phase+"-list", err.Error(), "")
	return "", false
}

// repo is a local repository path for a phase; its aux dir is beside it.
func (s *session) repo(kind string) string {
	return filepath.Join(s.b.work, "repos", fmt.Sprintf("%s-%d-%s", s.t.name, s.run, kind))
}

func removeRepo(repo string) {
	os.RemoveAll(repo)
	os.RemoveAll(auxDir(repo))
}

// streamRun is one stream phase: a shape's day 1 and day 2 into one
// repository, then day 2 back out.
type streamRun struct {
	phase string // metric prefix: the shape's name, or "s3"
	shape *streamShape
	repo  string
	size  func() (int64, error) // the repository's bytes
	env   []string
	reqs  *counter
}

// streamPhase: day 1 and day 2 of a stream shape into one repository
// from stdin, then the day-2 stream back out to a file, checked.
func (s *session) streamPhase(r streamRun) {
	o := execOpts{env: r.env, reqs: r.reqs}
	if !s.initRepo(r.phase, r.repo, o) {
		return
	}
	m := s.res.Metrics
	var size [3]int64
	for day := 1; day <= 2; day++ {
		name := []string{"", mBackup1, mBackup2}[day]
		o.stdin = r.shape.path(s.b.work, day)
		st, ok := s.exec(fmt.Sprintf("%s-backup-day%d", r.phase, day), s.t.backupStdin(r.repo, r.shape.item, day, time.Time{}), o)
		if !ok {
			return
		}
		s.record(r.phase, name, st)
		n, err := r.size()
		if err != nil {
			s.fail(r.phase+"-du", err.Error(), "")
			return
		}
		size[day] = n
	}
	m[key(r.phase, mRepo1)] = float64(size[1])
	m[key(r.phase, mRepo2)] = float64(size[2])
	m[key(r.phase, mAdded)] = float64(size[2] - size[1])

	o.stdin = ""
	id, ok := s.latestID(r.phase, r.repo, o)
	if !ok {
		return
	}
	out := filepath.Join(s.b.work, fmt.Sprintf("restore-%s-%d-%s", s.t.name, s.run, r.shape.item))
	o.stdout = out
	st, ok := s.exec(r.phase+"-restore", s.t.dumpStream(r.repo, r.shape.item, 2, id), o)
	if !ok {
		return
	}
	s.record(r.phase, mRestore, st)
	in := s.b.in.Streams[r.shape.name]
	vkey := key(r.phase, vRestore)
	sum, n, err := hashFile(out)
	switch {
	case err != nil:
		s.res.Verify[vkey] = err.Error()
	case n != in.Bytes2 || sum != in.sum2:
		s.res.Verify[vkey] = fmt.Sprintf("restored %d bytes, sha256 %x; want %d bytes, sha256 %x", n, sum[:8], in.Bytes2, in.sum2[:8])
	default:
		s.res.Verify[vkey] = "ok"
	}
	s.verified(r.phase+" restore", vkey, out)
}

// localStream runs a stream shape on a local repository.
func (s *session) localStream(sh *streamShape) {
	repo := s.repo(sh.name)
	removeRepo(repo)
	s.streamPhase(streamRun{phase: sh.name, shape: sh, repo: repo, size: func() (int64, error) { return duBytes(repo) }})
	if !s.b.keep {
		removeRepo(repo)
	}
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
	const phase = "tree"
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

	repo := s.repo(phase)
	removeRepo(repo)
	if !s.b.keep {
		defer removeRepo(repo)
	}
	if !s.initRepo(phase, repo, execOpts{}) {
		return
	}
	m := s.res.Metrics
	var size [3]int64
	for day := 1; day <= 2; day++ {
		if day == 2 {
			if err := s.b.delta.apply(s.b.tree2(), cur); err != nil {
				s.fail("tree-setup", "turning cur into tree2: "+err.Error(), "")
				return
			}
		}
		st, ok := s.exec(fmt.Sprintf("tree-backup-day%d", day), s.t.backupTree(repo, day, w, "cur"), execOpts{})
		if !ok {
			return
		}
		s.record(phase, []string{"", mBackup1, mBackup2}[day], st)
		n, err := duBytes(repo)
		if err != nil {
			s.fail("tree-du", err.Error(), "")
			return
		}
		size[day] = n
	}
	m[key(phase, mRepo1)] = float64(size[1])
	m[key(phase, mRepo2)] = float64(size[2])
	m[key(phase, mAdded)] = float64(size[2] - size[1])

	target := filepath.Join(w, fmt.Sprintf("restore-%s-%d", s.t.name, s.run))
	if err := os.RemoveAll(target); err != nil {
		s.fail("tree-setup", err.Error(), "")
		return
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		s.fail("tree-setup", err.Error(), "")
		return
	}
	id, ok := s.latestID(phase, repo, execOpts{})
	if !ok {
		return
	}
	st, ok := s.exec("tree-restore", s.t.restoreTree(repo, 2, id, target), execOpts{})
	if !ok {
		return
	}
	s.record(phase, mRestore, st)
	root := s.b.restoredRoot(target, cur)
	got, _, err := manifest(root)
	vkey := key(phase, vRestore)
	switch {
	case err != nil:
		s.res.Verify[vkey] = err.Error()
	default:
		if d := compareManifests(s.b.in.tree2, got); d != "" {
			s.res.Verify[vkey] = "in " + root + ": " + d
		} else {
			s.res.Verify[vkey] = "ok"
		}
	}
	s.verified("tree restore", vkey, target)
}

// restoredRoot finds where in target the tools put the tree: restic keeps
// the absolute source path, borg the relative one it was given, and a tool
// may also restore an item's contents straight into target (snap, kopia).
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

// finish removes the run's cache.
func (s *session) finish() {
	if !s.b.keep {
		os.RemoveAll(s.t.cache(s.run))
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
