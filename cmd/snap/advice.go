package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/retry"
	"snap/repo/backend/s3"
	"snap/sources"
	"snap/sources/postgres"
)

// advice says what the user can do about err, in the command line's words:
// the library's errors state what happened, and the flags and commands
// that help are named here. Each line is complete ("to fix: ..." for a
// remedy, "hint: ..." otherwise); none may be empty.
func advice(err error) []string {
	var lines []string
	hint := func(format string, a ...any) { lines = append(lines, "hint: "+fmt.Sprintf(format, a...)) }
	var re *repo.RemedyError
	if errors.As(err, &re) {
		lines = append(lines, "to fix: "+remedyWords(re.Remedy, re.From))
	}
	var mb *repo.MissingBlobsError
	if errors.As(err, &mb) {
		lines = append(lines, "to fix: 'snap check' for details, then 'snap repair snapshots' to set the damaged items aside")
	}
	var le *repo.LockError
	switch {
	case errors.As(err, &le):
		hint("wait for it to finish, or give --retry-lock a longer time; if that process is gone, 'snap unlock' removes stale locks (a lock not refreshed for %d minutes is ignored anyway)",
			int(repo.LockStaleAfter/time.Minute))
	case errors.Is(err, repo.ErrLockUnreadable):
		hint("'snap unlock' removes it")
	case errors.Is(err, repo.ErrLockRemoved):
		hint("was 'snap unlock --remove-all' run meanwhile? It removes live locks too")
	}
	var se *SpaceError
	switch {
	case errors.As(err, &se) && !se.Repo:
		hint("restore into a directory on a disk with more room")
	case errors.Is(err, backend.ErrNoSpace):
		hint("make room: 'snap forget --keep-daily N --prune' removes old snapshots ('snap prune --max-unused unlimited' needs no room to work), or move the repository to a larger disk")
	}
	var s3e *s3.Error
	if errors.As(err, &s3e) && (s3e.Status == 401 || s3e.Status == 403) && !errors.Is(err, backend.ErrNoSpace) && !errors.Is(err, backend.ErrLocked) {
		hint("check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and that they may use this bucket")
	}
	var gu *retry.GaveUpError
	if errors.As(err, &gu) {
		hint("the storage kept failing for %s; --remote-retries and --remote-timeout make snap wait longer", gu.Elapsed.Round(time.Second))
	}
	switch {
	case errors.Is(err, backend.ErrLocked):
		hint("that is Object Lock doing its job: nobody can delete the file before its date; a later 'snap prune' deletes it once the lock has run out")
	case errors.Is(err, backend.ErrNoObjectLock):
		hint("'snap init --object-lock 30d' makes a new bucket with Object Lock; on an existing bucket its owner must turn on versioning and Object Lock (aws s3api put-object-lock-configuration --bucket BUCKET --object-lock-configuration ObjectLockEnabled=Enabled)")
	case errors.Is(err, backend.ErrReadOnly):
		hint("a repository opened --as-of is read-only: copy it to a disk with 'snap sync --as-of TIME DIR' and work on that copy")
	}
	if errors.Is(err, repo.ErrWriteOnly) {
		hint("give the full key (the one kept offline) with --key-file FILE or SNAP_KEY_FILE, or its passphrase")
	}
	if errors.Is(err, repo.ErrNoKeySlots) {
		hint("give its key file with --key-file FILE or SNAP_KEY_FILE")
	}
	if errors.Is(err, repo.ErrRepositoryExists) {
		hint("give another --repo, or use this one")
	}
	if errors.Is(err, repo.ErrNoCacheDir) {
		hint("set SNAP_CACHE_DIR or --cache-dir")
	}
	if errors.Is(err, repo.ErrLastFullKey) {
		hint("add another key first ('snap key add')")
	}
	if errors.Is(err, repo.ErrSnapshotNotFound) {
		hint("'snap snapshots' lists them")
	}
	if errors.Is(err, sources.ErrRefused) {
		hint("nothing was stopped or replaced; 'snap restore SNAPSHOT --force --yes' restores anyway")
	}
	if errors.Is(err, postgres.ErrNoSpace) {
		hint("free space on the PostgreSQL volume (or grow it) and restore again; 'snap restore SNAPSHOT --item NAME --target DIR' writes the dump to a directory instead")
	}
	var iu *repo.ItemUnavailableError
	if errors.As(err, &iu) {
		if len(iu.Intact) > 0 {
			hint("restore the intact items one by one: --item %s", strings.Join(iu.Intact, " --item "))
		} else {
			hint("restore an earlier snapshot")
		}
	}
	return lines
}

// errorText is err with its advice, one line each, for a place that shows
// a whole error at once (a notification, a hook, the run log).
func errorText(err error) string {
	return strings.Join(append([]string{err.Error()}, advice(err)...), "\n")
}

// remedyWords says how to apply a remedy with snap's commands. from is
// the other copy of the repository for RemedyRepairPacksFrom, if known.
func remedyWords(r repo.Remedy, from string) string {
	const elsewhere = "if another copy of the repository (a 'snap sync' destination) has"
	switch r {
	case repo.RemedyCheck:
		return "snap check, then the repairs it names"
	case repo.RemedyCheckReadData:
		return "snap check --read-data"
	case repo.RemedyRepairIndex:
		return "snap repair index"
	case repo.RemedyRepairPacks:
		return "snap repair packs"
	case repo.RemedyRepairPacksFrom:
		if from == "" {
			return "snap repair packs --from DIR, DIR being another copy of the repository (a 'snap sync' destination)"
		}
		return "snap repair packs --from " + from
	case repo.RemedyMissingPacks:
		return elsewhere + " them: snap repair packs --from DIR; otherwise: snap repair index, then snap repair snapshots"
	case repo.RemedyDamagedPacks:
		return elsewhere + " these packs: snap repair packs --from DIR; otherwise: snap repair packs, then snap repair snapshots"
	case repo.RemedyRepairSnapshots:
		return "snap repair snapshots"
	case repo.RemedyReplaceKeySlot:
		return "remove the damaged key slot ('snap key remove') and add it again ('snap key add')"
	case repo.RemedyReplaceSnapshot:
		return "copy the snapshot file back from another copy of the repository, or remove it ('snap forget ID')"
	case repo.RemedyCopyBack:
		return "copy the damaged files back from another copy of the repository"
	case repo.RemedyPruneUnusedOnly:
		return "'snap prune --max-unused unlimited' deletes wholly unused packs, which needs no room for repacking"
	}
	return string(r) // a remedy without words yet still names itself
}
