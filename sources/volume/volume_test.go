package volume

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"snap/internal/teststack"
	"snap/sources"
	"snap/sources/docker"
)

type sized struct{ size int64 }

func (s sized) Name() string                          { return "n8n-data" }
func (s sized) Size() int64                           { return s.size }
func (s sized) Meta() map[string]string               { return nil }
func (s sized) Open(context.Context) io.ReadCloser    { return io.NopCloser(strings.NewReader("")) }
func (s sized) Extract(context.Context, string) error { return nil }

func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestPrepareChecksRoom: a volume restore that cannot fit on the volume's
// disk is refused before anything is touched; one that fits is prepared.
func TestPrepareChecksRoom(t *testing.T) {
	teststack.Setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := "snaptvolspace"
	exec.Command("docker", "rm", "-f", name+"-app").Run()
	exec.Command("docker", "volume", "rm", "-f", name).Run()
	dockerCLI(t, "volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=2m", name)
	t.Cleanup(func() { exec.Command("docker", "volume", "rm", "-f", name).Run() })
	dockerCLI(t, "create", "--name", name+"-app", "--network", "none", "-v", name+":/home/node/.n8n", "snap-test/n8n:latest")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name+"-app").Run() })
	d, err := docker.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	src := NewSource(&Volume{Docker: d, Name: name, Container: name + "-app", Path: "/home/node/.n8n", Image: "snap-test/n8n:latest"}, "test volume")
	var p sources.Preparer = src
	if _, _, err := p.Prepare(ctx, sized{8 << 20}); err == nil || !strings.Contains(err.Error(), "make room") || !strings.Contains(err.Error(), "nothing was touched") {
		t.Fatalf("8 MiB into a 2 MiB volume: %v", err)
	}
	sw, msg, err := p.Prepare(ctx, sized{512 << 10})
	if err != nil || sw == nil || !strings.Contains(msg, "room checked") {
		t.Fatalf("512 KiB into a 2 MiB volume: %q, %v", msg, err)
	}
}
