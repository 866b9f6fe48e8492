package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"

	"snap/repo"
	"snap/repo/backend"
)

// freeSpacer is a store that can say how much room is left (a local
// directory; object stores have no such figure).
type freeSpacer interface {
	FreeSpace(ctx context.Context) (int64, error)
}

// SpaceError: not enough room to start; nothing was written. It wraps
// backend.ErrNoSpace, so it exits like a disk that filled up.
type SpaceError struct {
	Where      string
	Free, Need int64
	Why        string
}

func (e *SpaceError) Error() string {
	return fmt.Sprintf("%s has %s free, %s: nothing was written", e.Where, formatBytes(e.Free), e.Why)
}

func (e *SpaceError) Unwrap() error { return backend.ErrNoSpace }

// checkBackupSpace compares the repository's free space with what the last
// complete backup of the same host and profile added: below that it
// fails before anything is written (the seed scripts had a disk check;
// snap must not be less careful), below twice that it warns.
func checkBackupSpace(ctx context.Context, g *globalOptions, r *openedRepo, host, profile string) error {
	fsp, ok := r.Backend().(freeSpacer)
	if !ok {
		return nil
	}
	free, err := fsp.FreeSpace(ctx)
	if err != nil {
		return nil // not knowing is no reason to refuse a backup
	}
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return nil
	}
	var last *repo.Snapshot
	for _, s := range snaps {
		if s.Status != repo.StatusComplete || s.Host != host || s.Profile != profile {
			continue
		}
		if last == nil || s.Time.After(last.Time) {
			last = s
		}
	}
	if last == nil || last.Stored <= 0 {
		return nil
	}
	need := last.Stored
	switch {
	case free < need:
		return &SpaceError{Where: "the repository's disk", Free: free, Need: need,
			Why: fmt.Sprintf("less than the %s the last backup (%s) added", formatBytes(need), last.ID.Short())}
	case free < 2*need:
		warn(g, "the repository's disk has %s free, less than twice the %s the last backup added: make room soon (snap forget --prune, or a larger disk)", formatBytes(free), formatBytes(need))
	}
	return nil
}

// checkDirSpace refuses to restore need bytes into dir (or the nearest
// existing parent) when its filesystem has less room than that.
func checkDirSpace(dir string, need int64, what string) error {
	for {
		var st unix.Statfs_t
		err := unix.Statfs(dir, &st)
		if err == nil {
			free := int64(st.Bavail) * int64(st.Bsize)
			if free < need {
				return &SpaceError{Where: dir, Free: free, Need: need, Why: fmt.Sprintf("%s needs %s", what, formatBytes(need))}
			}
			return nil
		}
		parent := filepath.Dir(dir)
		if parent == dir || !errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		dir = parent
	}
}
