// Package stack runs a plan (package sources) against a repository: the
// backup sequence that makes a snapshot all or nothing, the restore order
// that proves every item before it touches anything live, and the restore
// drill. It knows sources only through the interfaces of package sources
// and Docker only through Controller, so it is tested with fakes of both;
// cmd/snap adds flags, output and exit codes.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"snap/crypt"
	"snap/repo"
	"snap/repo/format"
	"snap/sources"
)

// Repo is what a backup needs of the repository (*repo.Repository).
type Repo interface {
	NewWriter(ctx context.Context) (*repo.Writer, error)
	OpenFilesCache(key string) *repo.FilesCache
	SaveSnapshot(ctx context.Context, s *repo.Snapshot) (crypt.ID, error)
}

// Lock is a held repository lock (*repo.Lock).
type Lock interface {
	// Check fails when the lock can no longer be trusted.
	Check() error
	Unlock()
}

// BackupOptions describe the snapshot and how the run reports.
type BackupOptions struct {
	// Lock takes the shared lock held from before the writer starts until
	// the snapshot is written; it is checked just before that commit.
	// Required.
	Lock func(ctx context.Context) (Lock, error)

	Time    time.Time // snapshot time; zero: Now()
	Host    string    // default: this host's name
	Profile string
	Tags    []string
	Program string // "snap VERSION"

	Now func() time.Time // clock for the time and the duration; nil: time.Now
	// Progress, if set, is started once the writer exists and stopped
	// when every item is done.
	Progress func(w *repo.Writer) (stop func())
	// Warn, if set, gets problems that do not fail the run.
	Warn func(msg string)
}

// ErrNoLock is returned by Backup without BackupOptions.Lock.
var ErrNoLock = errors.New("stack: a backup needs BackupOptions.Lock")

// Backup takes every item of plan concurrently as one snapshot: lock,
// writer, items in parallel, flush, lock check, and the snapshot written
// last. Any failed item fails the run: the other items are cancelled, no
// snapshot is written, and the error is the first real cause (not "canceled
// because another item failed"), naming the item.
func Backup(ctx context.Context, r Repo, plan *sources.Plan, o BackupOptions) (*repo.Snapshot, error) {
	if o.Lock == nil {
		return nil, ErrNoLock
	}
	// Names are checked here too, whoever built the plan: a name that
	// prints across lines would be stored for good.
	seen := map[string]bool{}
	for _, pi := range plan.Items {
		if err := format.CheckItemName(pi.Name); err != nil {
			return nil, err
		}
		if seen[pi.Name] {
			return nil, fmt.Errorf("%w: two items are named %q", format.ErrItemName, pi.Name)
		}
		seen[pi.Name] = true
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	snapTime := o.Time
	if snapTime.IsZero() {
		snapTime = start
	}
	host := o.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	lock, err := o.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	// Walk the trees while NewWriter syncs the index cache.
	pre := map[*sources.PlanItem]*repo.PreStat{}
	for _, pi := range plan.Items {
		if pl, ok := pi.Source.(sources.PathLister); ok {
			pre[pi] = repo.StartPreStat(pl.Paths(), 2)
		}
	}
	w, err := r.NewWriter(ctx)
	if err != nil {
		return nil, err
	}
	stop := func() {}
	if o.Progress != nil {
		stop = o.Progress(w)
	}
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make([]repo.Item, len(plan.Items))
	errs := make([]error, len(plan.Items))
	caches := make([]*repo.FilesCache, len(plan.Items))
	var wg sync.WaitGroup
	for i, pi := range plan.Items {
		wg.Go(func() {
			it, fc, err := backupItem(ictx, w, r, pi, plan.Meta(pi), pre[pi])
			if err != nil {
				errs[i] = fmt.Errorf("item %q (%s): %w", pi.Name, pi.Source.Describe(), err)
				cancel() // stop the other items: the run has failed
				return
			}
			items[i], caches[i] = it, fc
		})
	}
	wg.Wait()
	stop()
	if err := firstCause(errs); err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if err := lock.Check(); err != nil {
		return nil, err
	}
	snap := &repo.Snapshot{Time: snapTime, Host: host, Profile: o.Profile, Tags: o.Tags, Program: o.Program,
		Status: repo.StatusComplete, Items: items, Duration: now().Sub(start).Seconds(), Stored: w.Stats().BytesStored.Load()}
	if _, err := r.SaveSnapshot(ctx, snap); err != nil {
		return nil, err
	}
	for _, fc := range caches {
		if fc == nil {
			continue
		}
		if err := fc.Save(); err != nil && o.Warn != nil {
			o.Warn(fmt.Sprintf("files cache not saved (the next backup reads every file again): %v", err))
		}
	}
	return snap, nil
}

// firstCause returns the error of the item that failed first in spirit:
// one that is not just "canceled because another item failed".
func firstCause(errs []error) error {
	var canceled error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if errors.Is(err, context.Canceled) {
			canceled = err
			continue
		}
		return err
	}
	return canceled
}

// errUnknownBackup: a source that implements none of the three ways.
var errUnknownBackup = errors.New("the source has no way to back up (Streamer, Tarrer or PathLister)")

func backupItem(ctx context.Context, w *repo.Writer, r Repo, pi *sources.PlanItem, meta map[string]string, pre *repo.PreStat) (repo.Item, *repo.FilesCache, error) {
	it := repo.Item{Name: pi.Name, Kind: repo.KindStream, Meta: maps.Clone(meta)}
	if it.Meta == nil {
		it.Meta = map[string]string{}
	}
	switch src := pi.Source.(type) {
	case sources.Streamer:
		res, extra, err := pipeStream(ctx, w, src)
		if err != nil {
			return it, nil, err
		}
		maps.Copy(it.Meta, extra)
		if it.Refs, err = w.SaveRefs(res.Chunks); err != nil {
			return it, nil, err
		}
		it.Size = res.Size
		it.Added = w.Claim(res.Chunks, it.Refs)
		return it, nil, nil
	case sources.Tarrer:
		rc, err := src.Tar(ctx)
		if err != nil {
			return it, nil, &repo.SourceError{Err: err}
		}
		tres, err := w.SaveTar(rc)
		rc.Close()
		if err != nil {
			return it, nil, err
		}
		return treeItem(w, it, tres, nil)
	case sources.PathLister:
		paths := src.Paths()
		sorted := append([]string(nil), paths...)
		sort.Strings(sorted)
		fc := r.OpenFilesCache(strings.Join(sorted, "\x00"))
		tres, err := w.SaveTree(paths, fc, pre)
		if err != nil {
			return it, nil, err
		}
		return treeItem(w, it, tres, fc)
	}
	return it, nil, errUnknownBackup
}

// pipeStream runs the source's Stream (writing to a pipe) and saves what it
// writes. Whichever failed first is the cause: the source's own error (a
// *repo.SourceError, exit 3: the source, not the repository) over the read
// error it causes, and the repository's (a full disk) over the write error
// the source then meets.
func pipeStream(ctx context.Context, w *repo.Writer, src sources.Streamer) (repo.StreamResult, map[string]string, error) {
	pr, pw := io.Pipe()
	var extra map[string]string
	done := make(chan error, 1)
	go func() {
		var err error
		extra, err = src.Stream(ctx, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	res, err := w.SaveStream(pr)
	pr.CloseWithError(errors.New("backup stopped reading"))
	derr := <-done
	var se *repo.SourceError
	if err != nil && !errors.As(err, &se) {
		// SaveStream reports what it read as a SourceError: anything
		// else is the repository failing first.
		return res, nil, err
	}
	if derr != nil {
		if errors.As(derr, &se) {
			return res, nil, derr
		}
		return res, nil, &repo.SourceError{Err: derr}
	}
	return res, extra, err
}

func treeItem(w *repo.Writer, it repo.Item, tres repo.TreeResult, fc *repo.FilesCache) (repo.Item, *repo.FilesCache, error) {
	var err error
	if it.Refs, err = w.SaveTreeRefs(tres.Refs); err != nil {
		return it, nil, err
	}
	root := tres.Root
	it.Kind, it.Tree, it.Size, it.Files, it.Dirs = repo.KindTree, &root, tres.Size, tres.Files, tres.Dirs
	it.Added = w.Claim(tres.Refs, it.Refs)
	return it, fc, nil
}
