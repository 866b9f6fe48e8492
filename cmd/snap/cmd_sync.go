package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"snap/repo"
	"snap/repo/backend/location"
)

type syncOptions struct {
	Delete bool
	AsOf   time.Time
}

func init() {
	register(&command{
		name:    "sync",
		summary: "copy the repository, encrypted, to another disk, an S3 bucket or an SFTP server",
		usage: `Usage: snap sync DEST [--delete]

Copies every file DEST lacks (key slots, packs, index files, snapshots, in
that order) to DEST, a directory on another disk or an S3 bucket
(s3:https://HOST/BUCKET[/PREFIX], made when missing, credentials from
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE) or a directory
over SFTP (sftp:USER@HOST[:PORT]/PATH, through ssh with your ~/.ssh keys and
known_hosts; SNAP_SSH_COMMAND adds ssh options): an empty one, or an earlier
sync of this repository. Each file is checked against its name
before it is copied, so damage is reported and never spread, and read back
after. An interrupted sync leaves DEST a consistent repository and the next
one carries on. --delete then removes what the source no longer has (a
prune ran there), once everything new is copied.

DEST is a normal repository: the same key file or passphrase opens it,
'snap check --repo DEST' checks it, 'snap restore --repo DEST' restores
from it, and 'snap repair packs --from DEST' mends the source with it.
Only the metadata key is needed (a write-only key can sync).

With --as-of TIME the source is the repository as it was at TIME (an s3:
repository in a versioned bucket, read from its earlier object versions):
after an attack, copy the bucket as it was before it to a disk, then
restore from there.

A repository under Object Lock (snap init --object-lock) locks what it
copies into a bucket (made with Object Lock when missing), and moves the
locks of what the bucket already had and the source still has forward.

Examples:
  snap sync /mnt/offsite/snap
  snap sync /mnt/usb/snap --delete
  snap sync s3:https://s3.eu-central-1.amazonaws.com/acme-backups/n8n
  snap sync sftp:backup@storage.example.com/srv/snap/n8n
  snap check --keyless --read-data --repo /mnt/offsite/snap
  snap sync --repo s3:https://s3.example.com/backups/n8n --as-of "2026-12-01 02:00" /srv/snap-restored`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o syncOptions
			fs.BoolVar(&o.Delete, "delete", false, "remove files the source no longer has (after copying)")
			addAsOfFlag(fs, &o.AsOf)
			return func(ctx context.Context, g *globalOptions, args []string) error {
				g.asOf = o.AsOf
				if len(args) != 1 {
					return usagef("usage: snap sync DEST [--delete]")
				}
				r, err := g.open(ctx)
				if err != nil {
					return err
				}
				defer r.Close()
				_, err = syncRepo(ctx, g, r, args[0], &o)
				return err
			}
		},
	})
}

// syncRepo copies r to dest under a shared lock on r; snap run calls it.
func syncRepo(ctx context.Context, g *globalOptions, r *openedRepo, dest string, o *syncOptions) (*repo.SyncStats, error) {
	src, err := g.location()
	if err != nil {
		return nil, err
	}
	dloc, err := parseLocation("sync destination", dest)
	if err != nil {
		return nil, err
	}
	if sameLocation(src, dloc) {
		return nil, usagef("sync destination %s is the repository itself", dest)
	}
	if l, ok := dloc.(location.Local); ok {
		// Never start a copy on the disk under an unmounted mount point.
		abs, err := filepath.Abs(l.Path)
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("sync destination %s: not a directory (is the disk mounted? create the directory to start a new copy)", dest)
		}
		dloc = location.Local{Path: abs}
	}
	// A bucket is made when missing: the mount-point worry that keeps
	// sync from creating a directory has no S3 counterpart.
	// A bucket for a repository under Object Lock is made with it (below).
	_, isLocal := dloc.(location.Local)
	locked := r.Config().ObjectLock != nil && dloc.Scheme() == "s3"
	dst, err := g.openLocation(ctx, "sync destination", dloc, !isLocal && !locked)
	if err != nil {
		return nil, err
	}
	if locked {
		if _, err := prepareObjectLock(ctx, dst); err != nil {
			return nil, err
		}
	}
	if g.asOf.IsZero() { // a view of the past takes no lock (see holdLock)
		lock, err := g.lock(ctx, r, repo.OpSync, false)
		if err != nil {
			return nil, err
		}
		defer lock.Unlock()
	}
	so := repo.SyncOptions{Delete: o.Delete, CacheDir: g.CacheDir, Lock: g.lockOptions(repo.OpSync, true), DestName: dest, Workers: g.connections()}
	tty := g.progressTTY()
	if tty != nil {
		so.Progress = func(st repo.SyncStats) {
			fmt.Fprintf(tty, "\r\033[K%d/%d files, %s/%s", st.FilesCopied, st.FilesToCopy, formatBytes(st.BytesCopied), formatBytes(st.BytesToCopy))
		}
	}
	st, err := r.Sync(ctx, dst, so)
	if tty != nil {
		fmt.Fprint(tty, "\r\033[K")
	}
	if st != nil {
		if g.JSON {
			writeJSON(g.stdout, st)
		}
		g.printf("sync to %s: copied %d files (%s), %d already there, deleted %d\n", dest, st.FilesCopied, formatBytes(st.BytesCopied), st.FilesPresent, st.FilesDeleted)
	}
	if st != nil && err == nil {
		printLocks(g, "sync", st.Locks)
	}
	return st, err
}
