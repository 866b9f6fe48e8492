package n8n_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"snap/internal/teststack"
	"snap/repo"
	"snap/repo/backend/local"
	"snap/sources"
	"snap/sources/docker"
	"snap/sources/n8n"
	"snap/stack"
)

// newRepo is a fresh repository in a temporary directory.
func newRepo(t *testing.T) *repo.Repository {
	t.Helper()
	ctx := context.Background()
	be := local.New(t.TempDir())
	m, err := repo.Init(ctx, be, repo.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, be, m, repo.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func backup(t *testing.T, r *repo.Repository, plan *sources.Plan) *repo.Snapshot {
	t.Helper()
	snap, err := stack.Backup(context.Background(), r, plan, stack.BackupOptions{
		Lock: func(ctx context.Context) (stack.Lock, error) { return r.Lock(ctx, repo.LockOptions{Op: repo.OpBackup}) },
		Host: "test", Program: "snap test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// watchedDump records, at the moment the live database is replaced, which
// containers of the project run; fail makes that commit fail instead.
type watchedDump struct {
	sources.Source // the n8n plan's postgres item
	at             func()
	fail           bool
}

func (w *watchedDump) RestoreOrder() int { return sources.RestoreOrder(w.Source) }

func (w *watchedDump) Prepare(ctx context.Context, st sources.Stored) (sources.Swap, string, error) {
	sw, msg, err := w.Source.(sources.Preparer).Prepare(ctx, st)
	if err != nil {
		return nil, "", err
	}
	return &watchedSwap{Swap: sw, w: w}, msg, nil
}

type watchedSwap struct {
	sources.Swap
	w *watchedDump
}

var errCommit = errors.New("commit failed on purpose")

func (s *watchedSwap) Commit(ctx context.Context) (string, error) {
	s.w.at()
	if s.w.fail {
		_ = s.Swap.Abort(ctx) // the test's failure: drop the scratch database
		return "", errCommit
	}
	return s.Swap.Commit(ctx)
}

// running lists the project's containers and whether each runs.
func running(t *testing.T, s *teststack.Stack) map[string]bool {
	t.Helper()
	list, err := s.Docker.ProjectContainers(context.Background(), s.Project)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, c := range list {
		out[strings.TrimPrefix(c.Names[0], "/")] = c.State == "running"
	}
	return out
}

// TestQueueRestore: in queue mode discovery finds main, both workers and
// the webhook processor (which do not mount the data volume); a restore
// has every one of them stopped at the moment the database is replaced,
// starts them all again (also when that step fails), and main answers.
func TestQueueRestore(t *testing.T) {
	s := teststack.Start(t, "snaptqueue", "--queue", "2")
	ctx := context.Background()
	// A second PostgreSQL container in the project (an old one, stopped):
	// n8n's DB_POSTGRESDB_HOST=postgres tells them apart.
	out, err := exec.Command("docker", "create", "--name", s.Project+"-postgres-old-1", "--network", "none",
		"--label", "com.docker.compose.project="+s.Project, "--label", "com.docker.compose.service=postgres-old",
		"snap-test/postgres:15").CombinedOutput()
	if err != nil {
		t.Fatalf("docker create: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", s.Project+"-postgres-old-1").Run() })

	plan, err := sources.Discover(ctx, "n8n", s.Project)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	var apps []string
	for _, a := range plan.Apps {
		apps = append(apps, a.Role+" "+a.Container)
	}
	want := []string{"webhook " + s.Project + "-n8n-webhook-1", "worker " + s.Project + "-n8n-worker-1", "worker " + s.Project + "-n8n-worker-2", "main " + s.Project + "-n8n-1"}
	slices.Sort(apps[:3])
	if !slices.Equal(apps, want) {
		t.Fatalf("apps %q, want %q", apps, want)
	}
	if d := plan.Item("postgres").Source.Describe(); !strings.Contains(d, s.Project+"-postgres-1") {
		t.Fatalf("postgres resolved to %s", d)
	}
	r := newRepo(t)
	snap := backup(t, r, plan)
	var items []*repo.Item
	for i := range snap.Items {
		items = append(items, &snap.Items[i])
	}

	for _, fail := range []bool{false, true} {
		var mu sync.Mutex
		var atSwap map[string]bool
		w := &watchedDump{Source: plan.Item("postgres").Source, fail: fail, at: func() {
			mu.Lock()
			defer mu.Unlock()
			atSwap = running(t, s)
		}}
		wplan := *plan
		wplan.Items = slices.Clone(plan.Items)
		for i, it := range wplan.Items {
			if it.Name == "postgres" {
				wplan.Items[i] = &sources.PlanItem{Name: it.Name, Source: w}
			}
		}
		var say []string
		err := stack.Restore(ctx, r, &wplan, snap, items, stack.RestoreOptions{
			Containers: dockerContainers(plan),
			Say:        func(m string) { say = append(say, m) },
		})
		if fail != errors.Is(err, errCommit) {
			t.Fatalf("fail=%v: restore: %v", fail, err)
		}
		t.Logf("fail=%v: %q", fail, say)
		if atSwap == nil {
			t.Fatal("the database swap was not reached")
		}
		for _, a := range plan.Apps {
			if atSwap[a.Container] {
				t.Errorf("fail=%v: %s (%s) was running when the database was replaced", fail, a.Container, a.Role)
			}
		}
		if !atSwap[s.Project+"-postgres-1"] {
			t.Errorf("postgres was not running at the swap: %v", atSwap)
		}
		after := running(t, s)
		for _, a := range plan.Apps {
			if !after[a.Container] {
				t.Errorf("fail=%v: %s not running after the restore", fail, a.Container)
			}
		}
		if !slices.ContainsFunc(say, func(m string) bool { return strings.Contains(m, "(main) answers") }) {
			t.Errorf("fail=%v: main's /healthz not reported: %q", fail, say)
		}
	}
}

// TestQueueAmbiguousDatabase: two PostgreSQL containers and a
// DB_POSTGRESDB_HOST that names neither is refused with both listed; one
// that names a container's service picks that one. Created containers are
// enough: discovery decides before it needs them running.
func TestQueueAmbiguousDatabase(t *testing.T) {
	teststack.RequireRoot(t)
	project := "snaptqamb"
	create := func(name, service string, args ...string) {
		t.Helper()
		a := append([]string{"create", "--name", project + "-" + name, "--network", "none",
			"--label", "com.docker.compose.project=" + project, "--label", "com.docker.compose.service=" + service}, args...)
		if out, err := exec.Command("docker", a...).CombinedOutput(); err != nil {
			t.Fatalf("docker create: %v\n%s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", project+"-"+name).Run() })
	}
	create("db-a-1", "db-a", "snap-test/postgres:15")
	create("db-b-1", "db-b", "snap-test/postgres:15")
	create("n8n-1", "n8n", "-e", "DB_TYPE=postgresdb", "-e", "DB_POSTGRESDB_HOST=db.example.com", "snap-test/n8n:latest")
	_, err := sources.Discover(context.Background(), "n8n", project)
	if !errors.Is(err, n8n.ErrAmbiguous) || !strings.Contains(err.Error(), project+"-db-a-1") || !strings.Contains(err.Error(), project+"-db-b-1") {
		t.Fatalf("two databases, no match: %v", err)
	}
	_ = exec.Command("docker", "rm", "-f", project+"-n8n-1").Run()
	create("n8n-2", "n8n", "-e", "DB_TYPE=postgresdb", "-e", "DB_POSTGRESDB_HOST=db-b", "snap-test/n8n:latest")
	_, err = sources.Discover(context.Background(), "n8n", project)
	if errors.Is(err, n8n.ErrAmbiguous) || err == nil || !strings.Contains(err.Error(), project+"-db-b-1 is not running") {
		t.Fatalf("DB_POSTGRESDB_HOST=db-b should resolve to %s-db-b-1 (then fail: it is not running): %v", project, err)
	}
}

func dockerContainers(plan *sources.Plan) stack.Controller { return docker.Containers{Env: plan.Env} }
