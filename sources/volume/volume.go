// Package volume is the volume source kind: a Docker volume read and
// written as a tar stream through a container that mounts it (so no host
// path of the volume is needed), stored as a file tree, restored with the
// containers using it stopped and verified by reading it back.
package volume

import (
	"context"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/mount"

	"snap/sources/docker"
)

// Volume is a named Docker volume (or a bind-mounted directory) as a
// container mounts it.
type Volume struct {
	Docker    *docker.Client
	Name      string // volume name
	Container string // a container that mounts it
	Path      string // where that container mounts it
	Image     string // image for short-lived helper containers (has /bin/sh)
}

// Tar returns the volume's content as a tar stream whose entries start
// with the mount point's base name (".n8n/config").
func (v *Volume) Tar(ctx context.Context) (io.ReadCloser, error) {
	rc, err := v.Docker.CopyFrom(ctx, v.Container, v.Path)
	if err != nil {
		return nil, fmt.Errorf("read volume %s: %w", v.Name, err)
	}
	return rc, nil
}

// Users returns the containers that mount the volume and whether each runs.
func (v *Volume) Users(ctx context.Context) (map[string]bool, error) {
	return v.Docker.VolumeUsers(ctx, v.Name)
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
	target := path.Join(helperMount, path.Base(v.Path))
	// One helper clears the volume; then the tar is copied into it (the
	// helper is stopped by then; copying into a stopped container's
	// volume works).
	h := docker.Helper{D: v.Docker, Image: v.Image, For: v.Container,
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: v.Name, Target: target}}}
	id, _, err := h.Run(ctx, "clear", `cd "$1" && rm -rf -- ./* ./.[!.]* ./..?*`, target)
	if err != nil {
		return fmt.Errorf("clearing volume %s: %w", v.Name, err)
	}
	defer h.Remove(ctx, id)
	if err := v.Docker.CopyTo(ctx, id, helperMount, tarStream); err != nil {
		return fmt.Errorf("writing volume %s: %w", v.Name, err)
	}
	return nil
}

// Space reports, in bytes, the room left on the filesystem that holds the
// volume and what its content uses now, measured by a helper container
// with the volume mounted (df and du: busybox has both).
func (v *Volume) Space(ctx context.Context) (free, used int64, err error) {
	target := path.Join(helperMount, path.Base(v.Path))
	h := docker.Helper{D: v.Docker, Image: v.Image, For: v.Container,
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: v.Name, Target: target, ReadOnly: true}}}
	id, out, err := h.Run(ctx, "space", `df -Pk "$1" | awk 'NR==2 {print $4}'; du -sk "$1" | cut -f1`, target)
	if id != "" {
		defer h.Remove(ctx, id)
	}
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(out)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("volume %s: unexpected df/du output %q", v.Name, out)
	}
	kf, err1 := strconv.ParseInt(f[len(f)-2], 10, 64)
	ku, err2 := strconv.ParseInt(f[len(f)-1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("volume %s: unexpected df/du output %q", v.Name, out)
	}
	return kf << 10, ku << 10, nil
}
