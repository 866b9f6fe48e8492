package sources

import (
	"context"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
)

// Volume is a named Docker volume, read and written through a container
// that mounts it (CopyFromContainer / CopyToContainer give tar streams, so
// no host path of the volume is needed).
type Volume struct {
	Docker    *Docker
	Name      string // volume name
	Container string // a container that mounts it
	Path      string // where that container mounts it
	Image     string // image for short-lived helper containers (has /bin/sh)
}

// Tar returns the volume's content as a tar stream whose entries start
// with the mount point's base name (".n8n/config").
func (v *Volume) Tar(ctx context.Context) (io.ReadCloser, error) {
	rc, _, err := v.Docker.c.CopyFromContainer(ctx, v.Container, v.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: read volume %s from %s:%s: %v", ErrDocker, v.Name, v.Container, v.Path, err)
	}
	return rc, nil
}

// Users returns the containers that mount the volume and whether each runs.
func (v *Volume) Users(ctx context.Context) (map[string]bool, error) {
	list, err := v.Docker.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("volume", v.Name))})
	if err != nil {
		return nil, fmt.Errorf("%w: list users of volume %s: %v", ErrDocker, v.Name, err)
	}
	out := map[string]bool{}
	for _, c := range list {
		out[c.ID] = c.State == "running"
	}
	return out, nil
}

// helperMount is where helper containers mount the volume.
const helperMount = "/snap-volume"

// Replace clears the volume and unpacks tarStream (entries starting with
// the mount point's base name, as Tar returns them) into it, keeping
// uid/gid and modes. Containers using the volume must be stopped by the
// caller; Replace refuses to run while one is running.
func (v *Volume) Replace(ctx context.Context, tarStream io.Reader) error {
	users, err := v.Users(ctx)
	if err != nil {
		return err
	}
	for id, running := range users {
		if running {
			return fmt.Errorf("volume %s is in use by running container %.12s: stop it first", v.Name, id)
		}
	}
	base := path.Base(v.Path)
	target := path.Join(helperMount, base)
	// One helper clears the volume; then the tar is copied into it (the
	// helper is stopped by then; copying into a stopped container's
	// volume works).
	id, err := v.Docker.runHelper(ctx, v.Image, []mount.Mount{{Type: mount.TypeVolume, Source: v.Name, Target: target}},
		[]string{"/bin/sh", "-c", `cd "$1" && rm -rf -- ./* ./.[!.]* ./..?*`, "sh", target})
	if err != nil {
		return fmt.Errorf("clearing volume %s: %w", v.Name, err)
	}
	defer v.Docker.removeContainer(id)
	// Not CopyUIDGID: that chowns everything to the container's user. By
	// default the daemon applies each tar header's uid/gid, which is what
	// n8n (uid 1000) needs.
	err = v.Docker.c.CopyToContainer(ctx, id, helperMount, tarStream, container.CopyToContainerOptions{})
	if err != nil {
		return fmt.Errorf("%w: writing volume %s: %v", ErrDocker, v.Name, err)
	}
	return nil
}

// runHelper creates a container with no network from image, runs cmd to
// completion and returns its id (the caller removes it). A non-zero exit is
// an error carrying the container's output.
func (d *Docker) runHelper(ctx context.Context, image string, mounts []mount.Mount, cmd []string) (string, error) {
	created, err := d.c.ContainerCreate(ctx, &container.Config{Image: image, Entrypoint: cmd[:1], Cmd: cmd[1:], User: "0", Labels: map[string]string{"snap.helper": "1"}},
		&container.HostConfig{NetworkMode: "none", Mounts: mounts}, nil, nil, "")
	if err != nil {
		return "", fmt.Errorf("%w: create helper container from %s: %v", ErrDocker, image, err)
	}
	if err := d.c.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		d.removeContainer(created.ID)
		return "", fmt.Errorf("%w: start helper container: %v", ErrDocker, err)
	}
	waitC, errC := d.c.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case res := <-waitC:
		if res.StatusCode != 0 {
			logs := d.logs(created.ID)
			d.removeContainer(created.ID)
			return "", fmt.Errorf("helper %v exited with %d: %s", cmd, res.StatusCode, logs)
		}
	case err := <-errC:
		d.removeContainer(created.ID)
		return "", fmt.Errorf("%w: wait for helper container: %v", ErrDocker, err)
	}
	return created.ID, nil
}

func (d *Docker) logs(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := d.c.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var t tail
	_, _ = io.Copy(&t, rc)
	return t.String()
}

func (d *Docker) removeContainer(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = d.c.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: false})
}

// Stop stops a container (if running) and reports whether it was running.
func (d *Docker) Stop(ctx context.Context, ctr string) (bool, error) {
	ins, err := d.c.ContainerInspect(ctx, ctr)
	if err != nil {
		return false, fmt.Errorf("%w: inspect %s: %v", ErrDocker, ctr, err)
	}
	if !ins.State.Running {
		return false, nil
	}
	if err := d.c.ContainerStop(ctx, ctr, container.StopOptions{}); err != nil {
		return true, fmt.Errorf("%w: stop %s: %v", ErrDocker, ctr, err)
	}
	return true, nil
}

// Start starts a container.
func (d *Docker) Start(ctx context.Context, ctr string) error {
	if err := d.c.ContainerStart(ctx, ctr, container.StartOptions{}); err != nil {
		return fmt.Errorf("%w: start %s: %v", ErrDocker, ctr, err)
	}
	return nil
}
