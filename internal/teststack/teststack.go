// Package teststack brings up the compose-like n8n stacks of
// testenv/stack.sh (real PostgreSQL, Redis and Docker) for the tests of
// every package that needs one. Tests that need Docker fail in CI
// (CI=true) when it cannot be set up, and skip with the reason only on a
// developer's machine without root.
package teststack

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"snap/internal/testreq"
	"strings"
	"testing"
	"time"

	"snap/sources/docker"
)

// Stack is one stack, torn down (volumes too) when the test ends.
type Stack struct {
	t       testing.TB
	Project string
	Dir     string            // holds .env and docker-compose.yml
	Env     map[string]string // the stack's .env
	Docker  *docker.Client
}

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// RequireRoot skips the test without root (dockerd, the test images), or
// fails it in CI, which must run it.
func RequireRoot(t testing.TB) {
	t.Helper()
	testreq.Root(t, "testenv/setup.sh starts dockerd and builds the test images")
}

func script(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(Root(), "testenv", name)}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv/%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Start brings up a stack named project (each test uses its own project so
// tests do not disturb each other); args go to stack.sh up (--aof).
func Start(t testing.TB, project string, args ...string) *Stack {
	t.Helper()
	RequireRoot(t)
	script(t, "setup.sh")
	dir := filepath.Join(t.TempDir(), "stack")
	script(t, "stack.sh", append([]string{"up", "--project", project, "--dir", dir}, args...)...)
	t.Cleanup(func() {
		_ = exec.Command("bash", filepath.Join(Root(), "testenv", "stack.sh"), "down", "--project", project, "--dir", dir, "--purge").Run()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := docker.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	f, err := os.Open(filepath.Join(dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env, err := ReadDotEnv(f)
	if err != nil {
		t.Fatal(err)
	}
	return &Stack{t: t, Project: project, Dir: dir, Env: env, Docker: d}
}

// Up runs stack.sh up again on the same stack, with extra environment
// (N8N_ENCRYPTION_KEY=... recreates n8n with another key) and arguments,
// and rereads its .env.
func (s *Stack) Up(env []string, args ...string) {
	s.t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(Root(), "testenv", "stack.sh"), "up", "--project", s.Project, "--dir", s.Dir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("testenv/stack.sh up %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	f, err := os.Open(filepath.Join(s.Dir, ".env"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	if s.Env, err = ReadDotEnv(f); err != nil {
		s.t.Fatal(err)
	}
}

// ReadDotEnv parses KEY=VALUE lines as stack.sh writes them: blank lines
// and # comments skipped, quotes around a value dropped.
func ReadDotEnv(r io.Reader) (map[string]string, error) {
	env := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = strings.Trim(v, `"'`)
		}
	}
	return env, sc.Err()
}

// Container is the container name of a service (postgres, redis, n8n).
func (s *Stack) Container(service string) string { return s.Project + "-" + service + "-1" }

// Exec runs a command in a service's container and returns its trimmed
// output; a failure fails the test.
func (s *Stack) Exec(service string, env []string, cmd ...string) string {
	s.t.Helper()
	out, err := s.Docker.Output(context.Background(), s.Container(service), env, cmd...)
	if err != nil {
		s.t.Fatalf("%s: %v", strings.Join(cmd, " "), err)
	}
	return strings.TrimSpace(out)
}

// Psql runs SQL as the stack's n8n user on its n8n database.
func (s *Stack) Psql(sql string) string {
	return s.Exec("postgres", nil, "psql", "-X", "-q", "-At", "-U", "n8n", "-d", "n8n", "-c", sql)
}

// Redis runs redis-cli against the stack's Redis (port 6386, password).
func (s *Stack) Redis(args ...string) string {
	return s.Exec("redis", []string{"REDISCLI_AUTH=" + s.Env["REDIS_PASSWORD"]}, append([]string{"redis-cli", "-p", "6386"}, args...)...)
}

// Setup makes sure dockerd runs and the test images exist (testenv/setup.sh,
// idempotent), for tests that need Docker but not a whole stack.
func Setup(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	script(t, "setup.sh")
}
