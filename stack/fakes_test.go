package stack_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"snap/chunk"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/local"
	"snap/sources"
	"snap/stack"
)

// events is the one ordered log every fake writes to.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(format string, a ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, fmt.Sprintf(format, a...))
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

func (e *events) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = nil
}

// index is the position of the first event with that prefix, or -1.
func (e *events) index(prefix string) int {
	for i, s := range e.all() {
		if strings.HasPrefix(s, prefix) {
			return i
		}
	}
	return -1
}

// last is the position of the last event with that prefix, or -1.
func (e *events) last(prefix string) int {
	all := e.all()
	for i := len(all) - 1; i >= 0; i-- {
		if strings.HasPrefix(all[i], prefix) {
			return i
		}
	}
	return -1
}

func (e *events) has(s string) bool { return slices.Contains(e.all(), s) }

// faults injects an error at a named step ("backup db", "commit db", ...).
type faults map[string]error

func (f faults) at(step string) error { return f[step] }

// recBackend records every file saved and fails the saves fail chooses.
type recBackend struct {
	backend.Backend
	ev   *events
	mu   sync.Mutex
	fail map[backend.FileType]error
}

func (b *recBackend) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	b.mu.Lock()
	err := b.fail[h.Type]
	b.mu.Unlock()
	if err != nil {
		return err
	}
	b.ev.add("save %s", h.Type)
	return b.Backend.Save(ctx, h, rd)
}

func (b *recBackend) failSaves(t backend.FileType, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail == nil {
		b.fail = map[backend.FileType]error{}
	}
	b.fail[t] = err
}

func (b *recBackend) count(t *testing.T, ft backend.FileType) int {
	t.Helper()
	n := 0
	if err := b.Backend.List(context.Background(), ft, func(backend.FileInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// clock is a test clock that moves one second per reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// world is a real repository in a temp dir with every call recorded.
type world struct {
	t     *testing.T
	ev    *events
	be    *recBackend
	r     *repo.Repository
	clock *clock
	dir   string // the repository's directory
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ev := &events{}
	dir := t.TempDir()
	be := &recBackend{Backend: local.New(dir), ev: ev}
	p := chunk.NewParams([32]byte{7})
	p.Min, p.Max, p.AvgBits = 16<<10, 256<<10, 15
	m, err := repo.Init(context.Background(), be, repo.InitOptions{Chunker: &p, PackSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)}
	r, err := repo.Open(context.Background(), be, m, repo.Options{CacheDir: t.TempDir(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ev.reset()
	return &world{t: t, ev: ev, be: be, r: r, clock: c, dir: dir}
}

// lock takes a real shared lock, recorded.
func (w *world) lock(ctx context.Context) (stack.Lock, error) {
	l, err := w.r.Lock(ctx, repo.LockOptions{Op: repo.OpBackup})
	if err != nil {
		return nil, err
	}
	w.ev.add("lock")
	return recLock{l, w.ev}, nil
}

type recLock struct {
	stack.Lock
	ev *events
}

func (l recLock) Check() error {
	l.ev.add("lock check")
	return l.Lock.Check()
}

func (l recLock) Unlock() {
	l.ev.add("unlock")
	l.Lock.Unlock()
}

func (w *world) backupOptions() stack.BackupOptions {
	return stack.BackupOptions{Lock: w.lock, Host: "h", Program: "snap test", Tags: []string{"t"}, Now: w.clock.Now}
}

func (w *world) backup(plan *sources.Plan) *repo.Snapshot {
	w.t.Helper()
	snap, err := stack.Backup(context.Background(), w.r, plan, w.backupOptions())
	if err != nil {
		w.t.Fatal(err)
	}
	return snap
}

func (w *world) snapshots() int { return w.be.count(w.t, backend.SnapshotFile) }

// base is what every fake source shares: a name, the log, faults.
type base struct {
	name  string
	ev    *events
	fault faults
}

func (b *base) Kind() string            { return "fake" }
func (b *base) Describe() string        { return "fake " + b.name }
func (b *base) Meta() map[string]string { return map[string]string{"fake": b.name} }

// step logs a call and returns the fault injected there.
func (b *base) step(what string) error {
	b.ev.add("%s %s", what, b.name)
	return b.fault.at(what + " " + b.name)
}

// stream is a Streamer holding its data; a database if prepare is set
// (Preparer, Driller), else restored in one step (Restorer).
type stream struct {
	base
	data  []byte
	order int
	// block makes Stream wait for the run to be cancelled.
	block bool
}

func (s *stream) RestoreOrder() int { return s.order }

func (s *stream) Stream(ctx context.Context, w io.Writer) (map[string]string, error) {
	if err := s.step("backup"); err != nil {
		return nil, err
	}
	if s.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	_, err := w.Write(s.data)
	return map[string]string{"extra": fmt.Sprint(len(s.data))}, err
}

// check reads the stored item and compares it with the data.
func (s *stream) check(ctx context.Context, st sources.Stored) error {
	rc := st.Open(ctx)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("%s: reading the stored item: %w", s.name, err)
	}
	if !bytes.Equal(got, s.data) {
		return fmt.Errorf("%s: stored %d bytes differ from the %d backed up", s.name, len(got), len(s.data))
	}
	return nil
}

// roles is restored in one step.
type roles struct{ stream }

func (s *roles) Restore(ctx context.Context, st sources.Stored) (string, error) {
	if err := s.step("restore"); err != nil {
		return "", err
	}
	if err := s.check(ctx, st); err != nil {
		return "", err
	}
	return "restored", nil
}

// db is loaded into scratch space first.
type db struct{ stream }

func (s *db) Prepare(ctx context.Context, st sources.Stored) (sources.Swap, string, error) {
	if err := s.step("prepare"); err != nil {
		return nil, "", err
	}
	if err := s.check(ctx, st); err != nil {
		return nil, "", err
	}
	return &swap{s: s}, "prepared", nil
}

func (s *db) Drill(ctx context.Context, st sources.Stored) (string, error) {
	if err := s.step("drill"); err != nil {
		return "", err
	}
	if err := s.check(ctx, st); err != nil {
		return "", err
	}
	return "drilled", nil
}

type swap struct{ s *db }

func (w *swap) Commit(context.Context) (string, error) {
	if err := w.s.step("commit"); err != nil {
		return "", err
	}
	return "committed", nil
}

func (w *swap) Abort(context.Context) error { return w.s.step("abort") }

// vol is a Tarrer whose users must be stopped during its restore.
type vol struct {
	base
	files map[string]string
	users []string
}

func (v *vol) RestoreOrder() int { return sources.OrderVolume }

func (v *vol) Tar(context.Context) (io.ReadCloser, error) {
	if err := v.step("backup"); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range sortedKeys(v.files) {
		body := v.files[name]
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1e9, 0)})
		tw.Write([]byte(body))
	}
	tw.Close()
	return io.NopCloser(&buf), nil
}

func (v *vol) MustStop(context.Context) ([]string, error) {
	if err := v.step("muststop"); err != nil {
		return nil, err
	}
	return v.users, nil
}

func (v *vol) Restore(ctx context.Context, st sources.Stored) (string, error) {
	if err := v.step("restore"); err != nil {
		return "", err
	}
	rc := st.Open(ctx)
	defer rc.Close()
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		b, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeReg {
			got[h.Name] = string(b)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(v.files) {
		return "", fmt.Errorf("tar holds %v, want %v", got, v.files)
	}
	return "replaced", nil
}

// dir is a PathLister of a temp directory, restored with Extract.
type dir struct {
	base
	path string
}

func (d *dir) RestoreOrder() int { return sources.OrderFiles }
func (d *dir) Paths() []string   { return []string{d.path} }

func (d *dir) Restore(ctx context.Context, st sources.Stored) (string, error) {
	if err := d.step("restore"); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "stack-test")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := st.Extract(ctx, tmp); err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(tmp, filepath.Base(d.path), "f"))
	if err != nil || string(b) != "file body" {
		return "", fmt.Errorf("extracted %q, %v", b, err)
	}
	return "written", nil
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// controller is a fake container controller.
type controller struct {
	ev      *events
	fault   faults
	mu      sync.Mutex
	running map[string]bool
}

func (c *controller) Stop(_ context.Context, id string) (bool, error) {
	c.ev.add("stop %s", id)
	if err := c.fault.at("stop " + id); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ran := c.running[id]
	c.running[id] = false
	return ran, nil
}

func (c *controller) Start(_ context.Context, id string) error {
	c.ev.add("start %s", id)
	if err := c.fault.at("start " + id); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running[id] = true
	return nil
}

// stackFixture is a stack of every fake kind with data, as one plan.
type stackFixture struct {
	plan  *sources.Plan
	fault faults
	ctl   *controller
	files string
}

func newStackFixture(t *testing.T, ev *events) *stackFixture {
	t.Helper()
	f := &stackFixture{fault: faults{}}
	b := func(name string) base { return base{name: name, ev: ev, fault: f.fault} }
	f.files = filepath.Join(t.TempDir(), "config")
	if err := os.MkdirAll(f.files, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.files, "f"), []byte("file body"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("row of a table\n"), 40000) // several chunks
	f.plan = &sources.Plan{Project: "p", RecordAs: "project", Apps: []sources.App{{Container: "app"}}, Items: []*sources.PlanItem{
		{Name: "db", Source: &db{stream: stream{base: b("db"), data: big, order: sources.OrderDatabase}}},
		{Name: "roles", Source: &roles{stream: stream{base: b("roles"), data: []byte("CREATE ROLE x;\n"), order: sources.OrderRoles}}},
		{Name: "cache", Source: &db{stream: stream{base: b("cache"), data: []byte("REDIS0011..."), order: sources.OrderCache}}},
		{Name: "vol", Source: &vol{base: b("vol"), files: map[string]string{"data/a": "alpha", "data/b": "beta"}, users: []string{"c1", "c2"}}},
		{Name: "config", Source: &dir{base: b("config"), path: f.files}},
	}}
	f.ctl = &controller{ev: ev, fault: f.fault, running: map[string]bool{"app": true, "c1": true, "c2": false}}
	return f
}

func (f *stackFixture) restoreOptions(say *[]string) stack.RestoreOptions {
	return stack.RestoreOptions{Containers: f.ctl, Say: func(msg string) { *say = append(*say, msg) }}
}

func items(s *repo.Snapshot) []*repo.Item {
	var out []*repo.Item
	for i := range s.Items {
		out = append(out, &s.Items[i])
	}
	return out
}

var errInjected = errors.New("injected failure")
