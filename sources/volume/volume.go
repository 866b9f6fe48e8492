// Package volume is the volume source kind: a Docker volume read and
// written as a tar stream through a container that mounts it (so no host
// path of the volume is needed), stored as a file tree, restored with the
// containers using it stopped and verified by reading it back.
package volume

import (
	"archive/tar"
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
	// Exclude are paths relative to the mount point (path.Match patterns,
	// "database.sqlite*"), with everything below them, that another item
	// takes (a live SQLite database): left out of the backup, and kept,
	// neither written nor deleted, by a restore.
	Exclude []string
}

// Excluded says whether the entry at rel (relative to the mount point)
// is left out.
func (v *Volume) Excluded(rel string) bool {
	for _, x := range v.Exclude {
		if ok, _ := path.Match(x, rel); ok {
			return true
		}
		for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
			if ok, _ := path.Match(x, d); ok {
				return true
			}
		}
	}
	return false
}

// Filter drops the excluded entries from a tar stream whose entries start
// with the mount point's base name, as Tar returns it (and a snapshot
// stores it). Without excludes it returns the stream itself.
func (v *Volume) Filter(rc io.ReadCloser) io.ReadCloser {
	if len(v.Exclude) == 0 {
		return rc
	}
	pr, pw := io.Pipe()
	go func() {
		tr, tw := tar.NewReader(rc), tar.NewWriter(pw)
		err := func() error {
			for {
				h, err := tr.Next()
				if err == io.EOF {
					return tw.Close()
				}
				if err != nil {
					return fmt.Errorf("reading volume %s: %w", v.Name, err)
				}
				if _, rel, ok := strings.Cut(strings.TrimPrefix(h.Name, "./"), "/"); ok && rel != "" && v.Excluded(strings.TrimSuffix(rel, "/")) {
					continue
				}
				if err := tw.WriteHeader(h); err != nil {
					return err
				}
				if _, err := io.Copy(tw, tr); err != nil {
					return err
				}
			}
		}()
		rc.Close()
		pw.CloseWithError(err)
	}()
	return pr
}

// Tar returns the volume's content as a tar stream whose entries start
// with the mount point's base name (".n8n/config").
func (v *Volume) Tar(ctx context.Context) (io.ReadCloser, error) {
	rc, err := v.Docker.CopyFrom(ctx, v.Container, v.Path)
	if err != nil {
		return nil, fmt.Errorf("read volume %s: %w", v.Name, err)
	}
	return v.Filter(rc), nil
}

// Users returns the containers that mount the volume and whether each runs.
func (v *Volume) Users(ctx context.Context) (map[string]bool, error) {
	return v.Docker.VolumeUsers(ctx, v.Name)
}

// helperMount is where helper containers mount the volume.
const helperMount = "/snap-volume"

// Replace clears the volume and unpacks tarStream (entries starting with
// the mount point's base name, as Tar returns them) into it, keeping
// uid/gid and modes. Excluded names are neither cleared nor written. Containers using the volume must be stopped by the
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
	script, args := `cd "$1" && rm -rf -- ./* ./.[!.]* ./..?*`, []string{target}
	if len(v.Exclude) > 0 {
		script, args = clearKeeping, append(args, v.Exclude...)
	}
	id, _, err := h.Run(ctx, "clear", script, args...)
	if err != nil {
		return fmt.Errorf("clearing volume %s: %w", v.Name, err)
	}
	defer h.Remove(ctx, id)
	filtered := v.Filter(io.NopCloser(tarStream))
	defer filtered.Close()
	if err := v.Docker.CopyTo(ctx, id, helperMount, filtered); err != nil {
		return fmt.Errorf("writing volume %s: %w", v.Name, err)
	}
	return nil
}

// Space reports, in bytes, the room left on the filesystem that holds the
// volume and what its content uses now, measured by a helper container
// with the volume mounted (df and du: busybox has both). used leaves out
// what the excludes keep: a restore does not clear it.
func (v *Volume) Space(ctx context.Context) (free, used int64, err error) {
	target := path.Join(helperMount, path.Base(v.Path))
	h := docker.Helper{D: v.Docker, Image: v.Image, For: v.Container,
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: v.Name, Target: target, ReadOnly: true}}}
	id, out, err := h.Run(ctx, "space", spaceScript, append([]string{target}, v.Exclude...)...)
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

// spaceScript prints the free KiB of $1's filesystem, then the KiB that
// clearing $1 would free: its du less that of the paths (patterns) after it.
const spaceScript = `df -Pk "$1" | awk 'NR==2 {print $4}'
cd "$1" || exit 1
shift
kept=0
for x in "$@"; do
	for f in $x; do
		[ -e "$f" ] || continue
		k=$(du -sk "$f" | cut -f1)
		kept=$((kept + k))
	done
done
echo $(($(du -sk . | cut -f1) - kept))`

// clearKeeping empties the directory $1 except the paths (patterns) given
// after it and the directories above them; children go before their
// directory (find -depth), so a directory is empty when it is removed.
const clearKeeping = `set -e
cd "$1"
shift
find . -mindepth 1 -depth | while IFS= read -r p; do
	p=${p#./}
	for x in "$@"; do
		case "$p" in $x | $x/*) continue 2 ;; esac
		case "$x" in "$p"/*) continue 2 ;; esac
	done
	if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir -- "$p"; else rm -f -- "$p"; fi
done`
