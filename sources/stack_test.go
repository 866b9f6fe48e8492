package sources

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testStack is a compose-like n8n stack started by testenv/stack.sh for one
// test package run. Tests that need Docker fail in CI (CI=true) when it
// cannot be set up, and skip with the reason only on a developer's machine.
type testStack struct {
	Project string
	Dir     string
	Env     map[string]string // the stack's .env
	Docker  *Docker
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func dockerOrSkip(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root to start dockerd for the Docker tests")
		}
		t.Skip("needs root to run testenv/setup.sh (dockerd, test images); CI runs this test")
	}
}

// startStack brings up a stack named project (each test file uses its own
// project so tests do not disturb each other) and tears it down after.
func startStack(t *testing.T, project string, args ...string) *testStack {
	t.Helper()
	dockerOrSkip(t)
	root := repoRoot()
	run := func(name string, a ...string) {
		t.Helper()
		cmd := exec.Command("bash", append([]string{filepath.Join(root, "testenv", name)}, a...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("testenv/%s %s: %v\n%s", name, strings.Join(a, " "), err, out)
		}
	}
	run("setup.sh")
	dir := filepath.Join(t.TempDir(), "stack")
	run("stack.sh", append([]string{"up", "--project", project, "--dir", dir}, args...)...)
	t.Cleanup(func() {
		cmd := exec.Command("bash", filepath.Join(root, "testenv", "stack.sh"), "down", "--project", project, "--dir", dir, "--purge")
		_ = cmd.Run()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := NewDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &testStack{Project: project, Dir: dir, Env: readDotEnv(t, filepath.Join(dir, ".env")), Docker: d}
}

func readDotEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = strings.Trim(v, `"'`)
		}
	}
	return env
}

func (s *testStack) container(service string) string { return s.Project + "-" + service + "-1" }
