// Package docker is snap's one Docker Engine client: exec with stdout and
// stderr demultiplexed and the exit code from exec inspect, a Compose
// project's containers, stop and start, copying tar streams in and out,
// throwaway helper containers and their logs. Every container-based source
// kind uses it; a plan shares one connection (From).
package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"snap/internal/tail"
	"snap/sources"
)

// Client is the subset of the Engine API snap uses.
type Client struct {
	c *client.Client
}

// ErrDocker wraps failures to talk to the Docker Engine.
var ErrDocker = errors.New("docker")

// New connects to the Engine (DOCKER_HOST or the default socket) with API
// version negotiation: Debian's engine speaks 1.41.
func New(ctx context.Context) (*Client, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDocker, err)
	}
	if _, err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w: cannot reach the Docker Engine at %s (is dockerd running? set DOCKER_HOST for another one): %v", ErrDocker, c.DaemonHost(), err)
	}
	return &Client{c: c}, nil
}

// From returns the plan's shared client, connecting on first use: a plan
// of host files and commands never talks to Docker.
func From(ctx context.Context, env *sources.Env) (*Client, error) {
	c, err := env.Shared(ctx, "docker", func(ctx context.Context) (io.Closer, error) { return New(ctx) })
	if err != nil {
		return nil, err
	}
	return c.(*Client), nil
}

// Close releases the connection.
func (d *Client) Close() error { return d.c.Close() }

// ExecError is a command inside a container (or, for a direct-mode
// database client, on the host) that exited non-zero.
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
func (d *Client) Exec(ctx context.Context, ctr string, o ExecOptions) error {
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
	var errTail tail.Buffer
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
func (d *Client) Output(ctx context.Context, ctr string, env []string, cmd ...string) (string, error) {
	var out bytes.Buffer
	err := d.Exec(ctx, ctr, ExecOptions{Cmd: cmd, Env: env, Stdout: &out})
	return out.String(), err
}

// ProjectContainers lists the containers (running or not) of a compose
// project, by the label Docker Compose sets.
func (d *Client) ProjectContainers(ctx context.Context, project string) ([]container.Summary, error) {
	return d.list(ctx, "list containers", filters.Arg("label", "com.docker.compose.project="+project))
}

// VolumeUsers returns the containers that mount a volume and whether each
// runs.
func (d *Client) VolumeUsers(ctx context.Context, volume string) (map[string]bool, error) {
	list, err := d.list(ctx, "list users of volume "+volume, filters.Arg("volume", volume))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range list {
		out[c.ID] = c.State == "running"
	}
	return out, nil
}

// Helpers lists the helper containers made for ctr that are still there.
func (d *Client) Helpers(ctx context.Context, ctr string) ([]container.Summary, error) {
	return d.list(ctx, "list helpers of "+ctr, filters.Arg("label", labelFor+"="+ctr))
}

func (d *Client) list(ctx context.Context, what string, f ...filters.KeyValuePair) ([]container.Summary, error) {
	list, err := d.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(f...)})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDocker, what, err)
	}
	return list, nil
}

// Inspect returns a container's configuration and state.
func (d *Client) Inspect(ctx context.Context, ctr string) (container.InspectResponse, error) {
	ins, err := d.c.ContainerInspect(ctx, ctr)
	if err != nil {
		return ins, fmt.Errorf("%w: inspect %s: %v", ErrDocker, ctr, err)
	}
	return ins, nil
}

// Stop stops a container (if running) with the runtime's default grace
// period and reports whether it was running.
func (d *Client) Stop(ctx context.Context, ctr string) (bool, error) {
	return d.StopTimeout(ctx, ctr, 0)
}

// StopTimeout stops a container (if running) with SIGTERM, waiting up to
// timeout (0: the runtime's default) for it to exit before the runtime
// kills it, and reports whether it was running.
func (d *Client) StopTimeout(ctx context.Context, ctr string, timeout time.Duration) (bool, error) {
	ins, err := d.Inspect(ctx, ctr)
	if err != nil {
		return false, err
	}
	if ins.State == nil || !ins.State.Running {
		return false, nil
	}
	var opts container.StopOptions
	if timeout > 0 {
		secs := int((timeout + time.Second - 1) / time.Second)
		opts.Timeout = &secs
	}
	if err := d.c.ContainerStop(ctx, ctr, opts); err != nil {
		return true, fmt.Errorf("%w: stop %s: %v", ErrDocker, ctr, err)
	}
	return true, nil
}

// Start starts a container.
func (d *Client) Start(ctx context.Context, ctr string) error {
	if err := d.c.ContainerStart(ctx, ctr, container.StartOptions{}); err != nil {
		return fmt.Errorf("%w: start %s: %v", ErrDocker, ctr, err)
	}
	return nil
}

// Restart restarts a container.
func (d *Client) Restart(ctx context.Context, ctr string) error {
	if err := d.c.ContainerRestart(ctx, ctr, container.StopOptions{}); err != nil {
		return fmt.Errorf("%w: restart %s: %v", ErrDocker, ctr, err)
	}
	return nil
}

// CopyFrom reads a path of a container (running or not) as a tar stream
// whose entries start with the path's base name.
func (d *Client) CopyFrom(ctx context.Context, ctr, path string) (io.ReadCloser, error) {
	rc, _, err := d.c.CopyFromContainer(ctx, ctr, path)
	if err != nil {
		return nil, fmt.Errorf("%w: copy %s out of %s: %v", ErrDocker, path, ctr, err)
	}
	return rc, nil
}

// CopyTo unpacks a tar stream into dir of a container (running or not).
// Not CopyUIDGID: that chowns everything to the container's user; by
// default the daemon applies each tar header's uid/gid.
func (d *Client) CopyTo(ctx context.Context, ctr, dir string, tarStream io.Reader) error {
	if err := d.c.CopyToContainer(ctx, ctr, dir, tarStream, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("%w: copy into %s:%s: %v", ErrDocker, ctr, dir, err)
	}
	return nil
}

// Logs returns the last lines of a container's stdout and stderr,
// demultiplexed (a container without a TTY interleaves both in frames).
func (d *Client) Logs(ctx context.Context, id string, lines int) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rc, err := d.c.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(lines)})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var t tail.Buffer
	_, _ = stdcopy.StdCopy(&t, &t, rc)
	return t.String()
}

// Containers controls containers through a plan's shared client,
// connecting on first use; it is what a stack restore stops and starts
// the app with.
type Containers struct{ Env *sources.Env }

// Stop stops a container and reports whether it was running.
func (c Containers) Stop(ctx context.Context, id string) (bool, error) {
	return c.StopTimeout(ctx, id, 0)
}

// StopTimeout stops a container, waiting up to timeout for it to exit.
func (c Containers) StopTimeout(ctx context.Context, id string, timeout time.Duration) (bool, error) {
	d, err := From(ctx, c.Env)
	if err != nil {
		return false, err
	}
	return d.StopTimeout(ctx, id, timeout)
}

// Start starts a container.
func (c Containers) Start(ctx context.Context, id string) error {
	d, err := From(ctx, c.Env)
	if err != nil {
		return err
	}
	return d.Start(ctx, id)
}

// InspectItem inspects the container a profile item names, with an error
// that says which item and what to check.
func InspectItem(ctx context.Context, d *Client, item, ctr string) (container.InspectResponse, error) {
	ins, err := d.c.ContainerInspect(ctx, ctr)
	if err != nil {
		return ins, fmt.Errorf("%w: item %q: container %q: %v (is the name right? see 'docker ps -a')", ErrDocker, item, ctr, err)
	}
	return ins, nil
}

// VolumeMountpoint is where a named volume's data lives on the Docker
// host (its Mountpoint in volume inspect). The path is the daemon's: it is
// reachable from snap only when snap runs on that host with root's rights.
func (d *Client) VolumeMountpoint(ctx context.Context, volume string) (string, error) {
	v, err := d.c.VolumeInspect(ctx, volume)
	if err != nil {
		return "", fmt.Errorf("%w: inspect volume %s: %v", ErrDocker, volume, err)
	}
	return v.Mountpoint, nil
}

// BindUsers returns the containers that bind-mount the host path source
// and whether each runs (VolumeUsers for a named volume).
func (d *Client) BindUsers(ctx context.Context, source string) (map[string]bool, error) {
	list, err := d.list(ctx, "list users of "+source)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range list {
		for _, m := range c.Mounts {
			if m.Type == "bind" && m.Source == source {
				out[c.ID] = c.State == "running"
			}
		}
	}
	return out, nil
}

// ResolveItem is what a profile item naming a container starts with: the
// plan's shared client and the container's inspection, with an error that
// names the item.
func ResolveItem(ctx context.Context, env *sources.Env, item, ctr string) (*Client, container.InspectResponse, error) {
	d, err := From(ctx, env)
	if err != nil {
		return nil, container.InspectResponse{}, err
	}
	ins, err := InspectItem(ctx, d, item, ctr)
	return d, ins, err
}

// Running lists, sorted, the ids of users (id → running) that run.
func Running(users map[string]bool) []string {
	var ids []string
	for id, running := range users {
		if running {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// MountHolding is the deepest of a container's mounts that holds path p
// (its destination is p or a parent of it), and p relative to it.
func MountHolding(mounts []container.MountPoint, p string) (container.MountPoint, string, bool) {
	var best container.MountPoint
	rel, found := "", false
	for _, m := range mounts {
		r, err := filepath.Rel(filepath.Clean(m.Destination), filepath.Clean(p))
		if err != nil || r == ".." || strings.HasPrefix(r, "../") || (found && len(m.Destination) <= len(best.Destination)) {
			continue
		}
		best, rel, found = m, r, true
	}
	return best, rel, found
}
