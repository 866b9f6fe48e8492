package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

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
	Where string
	Free  int64
	Why   string
	Repo  bool // the repository's disk, not a restore target
}

func (e *SpaceError) Error() string {
	return fmt.Sprintf("%s has %s free, %s: nothing was written", e.Where, formatBytes(e.Free), e.Why)
}

func (e *SpaceError) Unwrap() error { return backend.ErrNoSpace }

// spaceHistory is how many recent backups of a group the estimate looks at.
const spaceHistory = 7

// checkBackupSpace compares the repository's free space with what a backup
// of the same host and profile usually adds: the median of its last
// backups, leaving out the group's first (which stored everything). Below
// that it fails before anything is written (the seed scripts had a disk
// check; snap must not be less careful), below twice that it warns. With
// only the first backup to go by it warns, never refuses: the next run
// adds what changed, which may be little.
func checkBackupSpace(ctx context.Context, g *globalOptions, r *openedRepo, host, profile string) error {
	fsp, ok := backend.As[freeSpacer](r.Backend())
	if !ok {
		return nil
	}
	free, err := fsp.FreeSpace(ctx)
	if err != nil {
		return nil // not knowing is no reason to refuse a backup
	}
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		warn(g, "could not read the snapshots to estimate the room this backup needs (backing up anyway): %v", err)
		return nil
	}
	var group []*repo.Snapshot // oldest first, as Snapshots sorts them
	for _, s := range snaps {
		if s.Status == repo.StatusComplete && s.Host == host && s.Profile == profile && s.Stored > 0 {
			group = append(group, s)
		}
	}
	if len(group) == 0 {
		return nil
	}
	first := len(group) == 1
	if !first {
		group = group[1:]
	}
	group = group[max(0, len(group)-spaceHistory):]
	sizes := make([]int64, len(group))
	for i, s := range group {
		sizes[i] = s.Stored
	}
	slices.Sort(sizes)
	need := sizes[len(sizes)/2]
	what := fmt.Sprintf("the %s a backup of this host and profile usually adds (median of the last %d)", formatBytes(need), len(sizes))
	if first {
		what = fmt.Sprintf("the %s the first backup of this host and profile added", formatBytes(need))
	}
	switch {
	case free < need && !first:
		return &SpaceError{Where: "the repository's disk (" + g.Repo + ")", Repo: true, Free: free, Why: "less than " + what}
	case free < 2*need:
		warn(g, "the repository's disk has %s free, less than twice %s: make room soon (snap forget --prune, or a larger disk)", formatBytes(free), what)
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
				return &SpaceError{Where: dir, Free: free, Why: fmt.Sprintf("%s needs %s", what, formatBytes(need))}
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
