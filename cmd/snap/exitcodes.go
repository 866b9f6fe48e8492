package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"snap/repo"
	"snap/repo/backend"
)

// Exit codes (README.md "Exit codes"). One table, matched with errors.Is.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitSource      = 3 // what was being backed up could not be read; no snapshot
	ExitRunStep     = 4 // snap run saved its snapshot, but a later step failed
	ExitNoRepo      = 10
	ExitLocked      = 11
	ExitWrongKey    = 12
	ExitVersion     = 13
	ExitDamaged     = 14
	ExitNoSpace     = 15
	ExitWriteOnly   = 16
	ExitNotFound    = 17
	ExitInterrupted = 130
)

var exitCodes = []struct {
	code int
	err  error
	desc string
}{
	{ExitNoRepo, repo.ErrNoRepository, "no repository at --repo"},
	{ExitLocked, repo.ErrLocked, "repository locked by another process"},
	{ExitWrongKey, repo.ErrWrongKey, "wrong passphrase or key"},
	{ExitVersion, repo.ErrVersion, "repository format version not supported"},
	{ExitDamaged, repo.ErrDamaged, "a repository file is damaged (named in the message)"},
	{ExitNoSpace, backend.ErrNoSpace, "no room: the repository's disk is full or too full for the next backup, or a restore target is too small (nothing was written)"},
	{ExitWriteOnly, repo.ErrWriteOnly, "this key cannot decrypt data (write-only key)"},
	{ExitNotFound, repo.ErrNotFound, "snapshot, item or key not found"},
	{ExitInterrupted, context.Canceled, "interrupted"},
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

func exitCode(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	// The snapshot exists: whatever failed after it is reported as such.
	var se *stepError
	if errors.As(err, &se) {
		return ExitRunStep
	}
	// Repository conditions first: a full disk while reading a source is
	// still a full disk.
	for _, e := range exitCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	var srcErr *repo.SourceError
	if errors.As(err, &srcErr) {
		return ExitSource
	}
	return ExitFailure
}

func exitCodeTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %3d  %s\n  %3d  %s\n  %3d  %s\n  %3d  %s\n", ExitOK, "success", ExitFailure, "failure", ExitUsage, "usage error",
		ExitSource, "a backup source failed (command exit, unreadable path); no snapshot written")
	fmt.Fprintf(&b, "  %3d  %s\n", ExitRunStep, "snap run: the snapshot was saved, a later step (check, forget, prune, sync, hook) failed")
	for _, e := range exitCodes {
		fmt.Fprintf(&b, "  %3d  %s\n", e.code, e.desc)
	}
	return b.String()
}
