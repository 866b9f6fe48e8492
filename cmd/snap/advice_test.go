package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snap/crypt"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/retry"
	"snap/repo/backend/s3"
)

// TestAdvice: the library's errors name no flag or command; the command
// line adds the advice, found through wrapping.
func TestAdvice(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("snapshot 1a2b3c4d: %w", err) }
	cases := []struct {
		err  error
		want []string // one substring per advice line, in order
	}{
		{wrap(repo.ErrWriteOnly), []string{"hint: give the full key (the one kept offline) with --key-file FILE or SNAP_KEY_FILE, or its passphrase"}},
		{fmt.Errorf("%w: %w", repo.ErrWrongKey, repo.ErrNoKeySlots), []string{"hint: give its key file with --key-file FILE"}},
		{wrap(&repo.LockError{Holder: &repo.LockInfo{Op: repo.OpPrune}}), []string{"hint: wait for it to finish, or give --retry-lock a longer time; if that process is gone, 'snap unlock' removes stale locks"}},
		{fmt.Errorf("%w: %w: locks/ab (bad)", repo.ErrLocked, repo.ErrLockUnreadable), []string{"hint: 'snap unlock' removes it"}},
		{fmt.Errorf("%w: %w (locks/ab)", repo.ErrLockLost, repo.ErrLockRemoved), []string{"'snap unlock --remove-all'"}},
		{fmt.Errorf("/srv/snap: %w", repo.ErrRepositoryExists), []string{"hint: give another --repo, or use this one"}},
		{fmt.Errorf("%w: %w", repo.ErrNoCacheDir, errors.New("$HOME is not defined")), []string{"hint: set SNAP_CACHE_DIR or --cache-dir"}},
		{repo.ErrLastFullKey, []string{"('snap key add')"}},
		{fmt.Errorf("%w: no snapshot with id %q", repo.ErrSnapshotNotFound, "ff"), []string{"'snap snapshots' lists them"}},
		{&repo.ItemUnavailableError{Item: "db", Intact: []string{"redis", "env"}}, []string{"hint: restore the intact items one by one: --item redis --item env"}},
		{&repo.ItemUnavailableError{Item: "db"}, []string{"hint: restore an earlier snapshot"}},
		{wrap(&repo.RemedyError{Err: repo.ErrDamaged, Remedy: repo.RemedyRepairIndex}), []string{"to fix: snap repair index"}},
		{&repo.RemedyError{Err: repo.ErrDamaged, Remedy: repo.RemedyRepairPacksFrom, From: "/mnt/offsite"}, []string{"to fix: snap repair packs --from /mnt/offsite"}},
		// A damaged pack a write-only key cannot salvage: both ways out.
		{&repo.RemedyError{Err: fmt.Errorf("pack ab: %w", repo.ErrWriteOnly), Remedy: repo.RemedyRepairPacksFrom}, []string{"to fix: snap repair packs --from DIR", "hint: give the full key"}},
		{wrap(&repo.MissingBlobsError{Blobs: make([]crypt.ID, 1)}), []string{"to fix: 'snap check' for details, then 'snap repair snapshots'"}},
		{&backend.LockedError{Location: "s3:http://h/b", File: "data/ab/ab", Version: "v1", Mode: backend.ModeCompliance, Until: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"hint: that is Object Lock doing its job"}},
		{fmt.Errorf("s3:http://h/b: bucket b has %w", backend.ErrNoObjectLock), []string{"hint: 'snap init --object-lock 30d' makes a new bucket"}},
		{fmt.Errorf("s3:http://h/b as of 2026-12-01T02:00:00Z: %w", backend.ErrReadOnly), []string{"hint: a repository opened --as-of is read-only"}},
		{wrap(&s3.Error{Status: 403, Code: "SignatureDoesNotMatch", Err: errors.New("denied")}), []string{"hint: check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"}},
		{wrap(&retry.GaveUpError{Attempts: 9, Elapsed: 90 * time.Second, Err: errors.New("reset")}), []string{"hint: the storage kept failing for 1m30s; --remote-retries and --remote-timeout"}},
		{errors.New("plain"), nil},
		{fmt.Errorf("%w: no snapshot", repo.ErrNotFound), nil}, // not a snapshot id
	}
	for _, c := range cases {
		got := advice(c.err)
		if len(got) != len(c.want) {
			t.Errorf("%v: advice %q, want %d lines", c.err, got, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%v: advice line %q, want %q in it", c.err, got[i], w)
			}
		}
	}
	// The library's text names no flag and no command.
	for _, c := range cases {
		if msg := c.err.Error(); strings.Contains(msg, "--") || strings.Contains(msg, "snap ") {
			t.Errorf("library text names the command line: %q", msg)
		}
	}
}

// Every remedy check or an error can report has words.
func TestRemedyWords(t *testing.T) {
	for _, r := range []repo.Remedy{repo.RemedyCheck, repo.RemedyCheckReadData, repo.RemedyRepairIndex, repo.RemedyRepairPacks,
		repo.RemedyRepairPacksFrom, repo.RemedyMissingPacks, repo.RemedyDamagedPacks, repo.RemedyRepairSnapshots,
		repo.RemedyReplaceKeySlot, repo.RemedyReplaceSnapshot, repo.RemedyCopyBack, repo.RemedyPruneUnusedOnly} {
		if w := remedyWords(r, ""); w == string(r) {
			t.Errorf("remedy %s has no words", r)
		}
	}
}

// TestAdviceCLI: the advice follows the error on stderr, and is in the
// JSON error object.
func TestAdviceCLI(t *testing.T) {
	e := newEnv(t)
	e.ok(nil, "init")
	r := e.expect(ExitFailure, nil, "init")
	if !strings.Contains(r.stderr, "already exists") || !strings.HasSuffix(r.stderr, "\nhint: give another --repo, or use this one\n") {
		t.Fatalf("second init: %s", r.stderr)
	}
	e.ok(strings.NewReader("x"), "backup", "--stdin")
	r = e.expect(ExitNotFound, nil, "dump", "ffffffff", "stdin", "--json")
	var out struct {
		Error    string   `json:"error"`
		ExitCode int      `json:"exit_code"`
		Hints    []string `json:"hints"`
	}
	if err := json.Unmarshal([]byte(r.stderr), &out); err != nil {
		t.Fatalf("--json error: %v\n%s", err, r.stderr)
	}
	if !strings.Contains(out.Error, `no snapshot with id "ffffffff"`) || out.ExitCode != ExitNotFound || len(out.Hints) != 1 || !strings.Contains(out.Hints[0], "snap snapshots") {
		t.Fatalf("--json error: %+v", out)
	}

	wo := filepath.Join(e.dir, "host.key")
	if err := os.WriteFile(wo, []byte(e.ok(nil, "key", "export", "--write-only").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.expect(ExitWriteOnly, nil, "dump", "latest", "stdin", "--key-file", wo)
	if !strings.Contains(r.stderr, "cannot decrypt data") || !strings.Contains(r.stderr, "\nhint: give the full key (the one kept offline) with --key-file FILE") {
		t.Fatalf("write-only dump: %s", r.stderr)
	}
}
