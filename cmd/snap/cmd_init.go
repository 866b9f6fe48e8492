package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"snap/chunk"
	"snap/crypt"
	"snap/repo"
	"snap/repo/backend"
)

type initOptions struct {
	Compression string
	ChunkMin    uint
	ChunkMax    uint
	ChunkBits   int
	ObjectLock  string // "30d"
	LockMode    string
}

// objectLockPreparer makes or checks a bucket for a repository under
// Object Lock (package s3).
type objectLockPreparer interface {
	PrepareObjectLock(ctx context.Context) error
}

// prepareObjectLock makes or checks the bucket for Object Lock when the
// store can lock (s3); locks says whether it can.
func prepareObjectLock(ctx context.Context, be backend.Backend) (locks bool, err error) {
	p, ok := backend.As[objectLockPreparer](be)
	if !ok {
		return false, nil
	}
	return true, p.PrepareObjectLock(ctx)
}

// parseLockPeriod reads --object-lock: a number of days, "30d".
func parseLockPeriod(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
	if err != nil || !strings.HasSuffix(s, "d") || n < 1 || n > repo.MaxLockDays {
		return 0, usagef("invalid --object-lock %q: give a number of days from 1 to %d, e.g. 30d", s, repo.MaxLockDays)
	}
	return n, nil
}

func init() {
	register(&command{
		name:    "init",
		summary: "create a new repository",
		usage: `Usage: snap init --repo DIR

The passphrase comes from a prompt, SNAP_PASSWORD or --password-file. With
--key-file FILE a new 0600 key file is written instead (and a passphrase slot
too if SNAP_PASSWORD or --password-file is given).

With --object-lock 30d (an s3: repository) every file snap writes is
locked in the bucket for 30 days (S3 Object Lock, in governance mode or,
with --object-lock-mode compliance, a mode nobody can lift), and forget,
prune and run keep extending the locks of what kept snapshots need. snap
makes the bucket with Object Lock (and so versioning) when it is missing,
and refuses an existing bucket without them. The setting is recorded in
the repository's config: a local repository records it for the buckets it
is synced to. See README, "Ransomware-proof offsite".

Examples:
  snap init --repo /srv/snap
  snap init --repo /srv/snap --key-file /root/snap-full.key
  snap init --repo s3:https://s3.example.com/backups/n8n --object-lock 30d --object-lock-mode compliance`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o initOptions
			fs.StringVar(&o.Compression, "compression", repo.DefaultLevel, "compression of new data: auto (zstd fastest; stored as is when that saves under 1/32), fastest, default or better")
			fs.UintVar(&o.ChunkMin, "chunk-min-size", chunk.DefaultMin, "minimum chunk size in bytes (fixed for the repository's life)")
			fs.UintVar(&o.ChunkMax, "chunk-max-size", chunk.DefaultMax, "maximum chunk size in bytes")
			fs.IntVar(&o.ChunkBits, "chunk-average-bits", chunk.DefaultAvgBits, "average chunk size past the minimum, as a power of two")
			fs.StringVar(&o.ObjectLock, "object-lock", "", "lock every file in the S3 bucket for this many days (e.g. 30d): nothing written can be deleted or overwritten before then")
			fs.StringVar(&o.LockMode, "object-lock-mode", backend.ModeGovernance, "Object Lock mode: governance (an account with the bypass permission can still delete) or compliance (nobody can)")
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runInit(ctx, g, &o, args)
			}
		},
	})
}

func runInit(ctx context.Context, g *globalOptions, o *initOptions, args []string) error {
	if len(args) != 0 {
		return usagef("init takes no arguments")
	}
	loc, err := g.location()
	if err != nil {
		return err
	}
	var lock *repo.ObjectLock
	if o.ObjectLock != "" {
		days, err := parseLockPeriod(o.ObjectLock)
		if err != nil {
			return err
		}
		if o.LockMode != backend.ModeGovernance && o.LockMode != backend.ModeCompliance {
			return usagef("invalid --object-lock-mode %q: give %s or %s", o.LockMode, backend.ModeGovernance, backend.ModeCompliance)
		}
		lock = &repo.ObjectLock{Mode: o.LockMode, Days: days}
	}
	// Under Object Lock the bucket is made by PrepareObjectLock, with it.
	be, err := g.openLocation(ctx, "", loc, lock == nil || loc.Scheme() != "s3")
	if err != nil {
		return err
	}
	locks := false // the store locks what it is sent (else the setting is only recorded)
	if lock != nil {
		if locks, err = prepareObjectLock(ctx, be); err != nil {
			return err
		}
	}
	newPass := g.getenv("SNAP_NEW_PASSWORD")
	wantSlot := g.KeyFile == "" || g.PasswordFile != "" || g.getenv("SNAP_PASSWORD") != "" || newPass != ""
	var pass string
	switch {
	case !wantSlot:
	case newPass != "":
		pass = newPass // a new passphrase, as 'snap key add' takes it
	default:
		if pass, err = g.passphrase("New repository passphrase: ", true); err != nil {
			return err
		}
	}
	if g.KeyFile != "" {
		if _, err := os.Stat(g.KeyFile); err == nil {
			return usagef("key file %s already exists: choose a new path", g.KeyFile)
		}
	}
	params := chunk.NewParams(crypt.NewRandomKey())
	params.Min, params.Max, params.AvgBits = o.ChunkMin, o.ChunkMax, o.ChunkBits
	if err := params.Validate(); err != nil {
		return usagef("%v", err)
	}
	m, err := repo.Init(ctx, be, repo.InitOptions{Level: o.Compression, Chunker: &params, ObjectLock: lock, Now: now})
	if err != nil {
		return fmt.Errorf("%s: %w", g.Repo, err)
	}
	if g.KeyFile != "" {
		if err := writeKeyFile(g.KeyFile, m); err != nil {
			return err
		}
	}
	if wantSlot {
		host, _ := os.Hostname()
		u, _ := user.Current()
		name := ""
		if u != nil {
			name = u.Username
		}
		if _, err := repo.AddKey(ctx, be, m, repo.KeyParams{Passphrase: pass, WorkFactor: slotWorkFactor, Host: host, User: name, Now: now()}); err != nil {
			return err
		}
	}
	if g.JSON {
		out := map[string]any{"repository": m.RepoID, "path": g.Repo}
		if lock != nil {
			out["object_lock"] = lock
		}
		writeJSON(g.stdout, out)
		return nil
	}
	g.printf("created repository %.8s at %s\n", m.RepoID, g.Repo)
	if g.KeyFile != "" {
		g.printf("full key written to %s (mode 0600): keep a copy offline, without it the data is lost\n", g.KeyFile)
	}
	if lock != nil {
		if locks {
			g.printf("object lock: every file is locked for %d days (%s mode), extended by forget, prune and run while snapshots need it\n", lock.Days, lock.Mode)
		} else {
			g.printf("object lock (%d days, %s mode) recorded: it applies in the S3 buckets this repository is synced to\n", lock.Days, lock.Mode)
		}
	}
	return nil
}
