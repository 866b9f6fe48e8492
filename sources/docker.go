// Package sources reads what snap backs up and puts it back: PostgreSQL,
// Redis, Docker volumes, host files and commands, and the stack presets
// (n8n) that discover them. It hands streams to the repository through
// small interfaces and knows nothing of how bytes are stored.
package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Docker is the subset of the Engine API snap uses.
type Docker struct {
	c *client.Client
}

// ErrDocker wraps failures to talk to the Docker Engine.
var ErrDocker = errors.New("docker")

// NewDocker connects to the Engine (DOCKER_HOST or the default socket) with
// API version negotiation: Debian's engine speaks 1.41.
func NewDocker(ctx context.Context) (*Docker, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDocker, err)
	}
	if _, err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w: cannot reach the Docker Engine (is dockerd running? DOCKER_HOST=%q): %v", ErrDocker, client.DefaultDockerHost, err)
	}
	return &Docker{c: c}, nil
}

// Close releases the connection.
func (d *Docker) Close() error { return d.c.Close() }

// Client exposes the Engine client for the sources in this package.
func (d *Docker) Client() *client.Client { return d.c }

// ExecError is a command inside a container that exited non-zero.
type ExecError struct {
	Container string
	Cmd       string
	Code      int
	Stderr    string
}

func (e *ExecError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg != "" {
		msg = ": " + msg
	}
	where := "in container " + e.Container
	if strings.HasPrefix(e.Container, "host ") {
		where = "on " + e.Container // direct mode: the host's client
	}
	return fmt.Sprintf("%s %s exited with code %d%s", e.Cmd, where, e.Code, msg)
}

// ExecOptions are one command run inside a container.
type ExecOptions struct {
	Cmd   []string
	Env   []string // secrets go here, never in Cmd
	User  string
	Stdin io.Reader
	// Stdout receives the command's output (demultiplexed from stderr).
	Stdout io.Writer
}

// Exec runs a command in a running container without a TTY, streams its
// stdout, keeps the tail of stderr and returns an *ExecError when it exits
// non-zero (checked through exec inspect, not guessed from output).
func (d *Docker) Exec(ctx context.Context, ctr string, o ExecOptions) error {
	cfg := container.ExecOptions{
		Cmd: o.Cmd, Env: o.Env, User: o.User,
		AttachStdout: true, AttachStderr: true, AttachStdin: o.Stdin != nil,
	}
	created, err := d.c.ContainerExecCreate(ctx, ctr, cfg)
	if err != nil {
		return fmt.Errorf("%w: exec in %s: %v", ErrDocker, ctr, err)
	}
	att, err := d.c.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("%w: attach to exec in %s: %v", ErrDocker, ctr, err)
	}
	defer att.Close()
	stdinErr := make(chan error, 1)
	if o.Stdin != nil {
		go func() {
			_, err := io.Copy(att.Conn, o.Stdin)
			_ = att.CloseWrite()
			stdinErr <- err
		}()
	} else {
		stdinErr <- nil
	}
	stdout := o.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	var errTail tail
	_, outErr := stdcopy.StdCopy(stdout, &errTail, att.Reader)
	// The output has ended, so the command has exited. If it stopped reading
	// before the end of its input, the daemon no longer reads the socket
	// either and the stdin copy is stuck in a write: closing the connection
	// ends it at once (else it waits for the daemon, 10-70 s here).
	att.Close()
	inErr := <-stdinErr
	ins, err := d.c.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return fmt.Errorf("%w: exec inspect in %s: %v", ErrDocker, ctr, err)
	}
	if ins.Running {
		if outErr != nil {
			return fmt.Errorf("%w: reading output of %s in %s: %v", ErrDocker, o.Cmd[0], ctr, outErr)
		}
		return fmt.Errorf("%w: %s in %s still running after its output ended", ErrDocker, o.Cmd[0], ctr)
	}
	// A failed command explains a broken input stream, not the reverse.
	if ins.ExitCode != 0 {
		return &ExecError{Container: ctr, Cmd: o.Cmd[0], Code: ins.ExitCode, Stderr: errTail.String()}
	}
	if outErr != nil {
		return fmt.Errorf("%w: reading output of %s in %s: %v", ErrDocker, o.Cmd[0], ctr, outErr)
	}
	if inErr != nil {
		return fmt.Errorf("writing input of %s in %s: %w", o.Cmd[0], ctr, inErr)
	}
	return nil
}

// Output runs a command and returns its stdout.
func (d *Docker) Output(ctx context.Context, ctr string, env []string, cmd ...string) (string, error) {
	var out bytes.Buffer
	err := d.Exec(ctx, ctr, ExecOptions{Cmd: cmd, Env: env, Stdout: &out})
	return out.String(), err
}

// ProjectContainers lists the containers (running or not) of a compose
// project, by the label Docker Compose sets.
func (d *Docker) ProjectContainers(ctx context.Context, project string) ([]container.Summary, error) {
	f := filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+project))
	list, err := d.c.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("%w: list containers: %v", ErrDocker, err)
	}
	return list, nil
}

// tail keeps the last 4 KiB written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(bytes.ToValidUTF8(t.b, nil)) }
