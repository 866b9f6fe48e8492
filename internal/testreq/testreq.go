// Package testreq is how tests ask for what they need from the machine (a
// program, root): in CI a missing need fails the test loudly, since make
// test installs everything; on a developer's laptop it skips, saying why
// and what to install. Standard library only, so any test can import it.
package testreq

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether this is a CI run: CI set, and not to "false".
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false"
}

// Missing fails the test in CI and skips it elsewhere.
func Missing(t testing.TB, format string, a ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, a...)
	if InCI() {
		t.Fatalf("%s: CI must provide it (make test installs it)", msg)
	}
	t.Skipf("%s; CI runs this test", msg)
}

// Tool returns the path of a program the test needs; pkg is the Debian
// package that provides it.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not installed (apt-get install %s)", name, pkg)
	}
	return p
}

// Root makes sure the test runs as root (dockerd, tmpfs mounts).
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Getuid() != 0 {
		Missing(t, "needs root (%s)", why)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago
// (a server started on it may still lose a race: retry on another).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
