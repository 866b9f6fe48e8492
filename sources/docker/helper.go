package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

// Labels every helper container carries: what it is for and the
// container it works for, so that leftovers can be found (Helpers).
const (
	labelHelper = "org.snap.helper"
	labelFor    = "org.snap.helper.for"
)

// Helper makes throwaway containers of the image of the container it
// works for (nothing is pulled), with the network off and the given
// mounts.
type Helper struct {
	D      *Client
	Image  string // image (id or name) with /bin/sh
	For    string // the container it works for: names and labels helpers
	Mounts []mount.Mount
}

// Create makes a helper; a nil entrypoint keeps the image's.
func (h Helper) Create(ctx context.Context, purpose string, entrypoint, cmd []string, user string) (string, error) {
	base := strings.TrimPrefix(h.For, "/")
	name := fmt.Sprintf("%s-snap-%s-%d", base, purpose, time.Now().UnixNano())
	cfg := &container.Config{
		Image: h.Image, Entrypoint: entrypoint, Cmd: cmd, User: user,
		Labels: map[string]string{labelHelper: purpose, labelFor: base},
	}
	hc := &container.HostConfig{NetworkMode: "none", Mounts: h.Mounts}
	created, err := h.D.c.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	if err != nil {
		return "", fmt.Errorf("%w: create helper container %s: %v", ErrDocker, name, err)
	}
	return created.ID, nil
}

// Start starts a created helper.
func (h Helper) Start(ctx context.Context, id string) error {
	if err := h.D.c.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("%w: start helper: %v", ErrDocker, err)
	}
	return nil
}

// Remove deletes a helper and its anonymous volumes (an image's VOLUME
// that nothing is mounted on; named volumes are never removed), even when
// ctx is done.
func (h Helper) Remove(ctx context.Context, id string) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_ = h.D.c.ContainerRemove(bg, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
}

// Wait waits (bounded) for a started helper to exit and returns its exit
// code and the end of its output.
func (h Helper) Wait(ctx context.Context, id string, timeout time.Duration) (int64, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	okc, errc := h.D.c.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case res := <-okc:
		logs := h.D.Logs(ctx, id, 50)
		if res.Error != nil {
			return 0, logs, fmt.Errorf("%w: wait for helper: %s", ErrDocker, res.Error.Message)
		}
		return res.StatusCode, logs, nil
	case err := <-errc:
		return 0, "", fmt.Errorf("%w: wait for helper: %v", ErrDocker, err)
	}
}

// Run runs a shell script as root in a new helper to completion and
// returns the helper, stopped but kept (to copy into its mounts); the
// caller removes it. A non-zero exit is an error carrying the output, and
// the helper is removed then.
func (h Helper) Run(ctx context.Context, purpose, script string, args ...string) (string, string, error) {
	id, err := h.Create(ctx, purpose, []string{"/bin/sh", "-c", script, "snap"}, args, "0")
	if err != nil {
		return "", "", err
	}
	if err := h.Start(ctx, id); err != nil {
		h.Remove(ctx, id)
		return "", "", err
	}
	code, logs, err := h.Wait(ctx, id, 5*time.Minute)
	if err == nil && code != 0 {
		err = fmt.Errorf("helper script exited with code %d: %s", code, strings.TrimSpace(logs))
	}
	if err != nil {
		h.Remove(ctx, id)
		return "", logs, err
	}
	return id, logs, nil
}

// Sh runs a shell script as root in a helper with the mounts, removes the
// helper and returns the script's output; a non-zero exit is an error.
func (h Helper) Sh(ctx context.Context, script string, args ...string) (string, error) {
	id, logs, err := h.Run(ctx, "sh", script, args...)
	if err != nil {
		return logs, err
	}
	h.Remove(ctx, id)
	return logs, nil
}
