package main

import (
	"context"

	"github.com/spf13/pflag"

	"snap/crypt"
	"snap/repo"
)

type copyOptions struct {
	To             string
	ToKeyFile      string
	ToPasswordFile string
}

func init() {
	register(&command{
		name:    "copy",
		summary: "copy snapshots into another repository (other keys), re-encrypted",
		usage: `Usage: snap copy --to REPO [--to-key-file FILE | --to-password-file FILE] [SNAPSHOT...]

Copies snapshots (default: every complete one) into another repository
that has its own keys and chunker settings: each item is decrypted, then
chunked, deduplicated against what REPO holds and sealed with REPO's keys.
Snapshots copied before (REPO records where each copy came from) are
skipped, so it can run every night. It needs this repository's full key
and REPO's key (a write-only key is enough): --to-key-file, or a
passphrase from --to-password-file, SNAP_TO_PASSWORD or a prompt.

For an identical copy under the same keys, use 'snap sync': it copies
files without decrypting anything.

Examples:
  snap copy --to /mnt/partner/snap --to-key-file /etc/snap/partner-wo.key
  snap copy --to /mnt/partner/snap latest`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o copyOptions
			fs.StringVar(&o.To, "to", "", "the repository to copy into (env SNAP_TO_REPO)")
			fs.StringVar(&o.ToKeyFile, "to-key-file", "", "key file of the target (env SNAP_TO_KEY_FILE)")
			fs.StringVar(&o.ToPasswordFile, "to-password-file", "", "passphrase file of the target (env SNAP_TO_PASSWORD_FILE; or SNAP_TO_PASSWORD)")
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runCopy(ctx, g, &o, args)
			}
		},
	})
}

func runCopy(ctx context.Context, g *globalOptions, o *copyOptions, args []string) error {
	to := *g
	to.Repo, to.KeyFile, to.PasswordFile = o.To, o.ToKeyFile, o.ToPasswordFile
	to.getenv = func(k string) string {
		switch k {
		case "SNAP_PASSWORD":
			return g.getenv("SNAP_TO_PASSWORD")
		}
		return ""
	}
	if to.Repo == "" {
		to.Repo = g.getenv("SNAP_TO_REPO")
	}
	if to.KeyFile == "" {
		to.KeyFile = g.getenv("SNAP_TO_KEY_FILE")
	}
	if to.PasswordFile == "" {
		to.PasswordFile = g.getenv("SNAP_TO_PASSWORD_FILE")
	}
	if to.Repo == "" {
		return usagef("no target: give --to REPO")
	}
	src, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	if !src.CanRead() {
		return repo.ErrWriteOnly
	}
	if err := src.holdLock(ctx, g, repo.OpCopy); err != nil {
		return err
	}
	dst, err := to.open(ctx)
	if err != nil {
		return err
	}
	defer dst.Close()
	if src.Config().ID == dst.Config().ID {
		return usagef("the target is this repository: use 'snap sync' for a copy of it elsewhere")
	}
	lock, err := g.lock(ctx, dst, repo.OpCopy, false)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	have := map[crypt.ID]bool{}
	existing, err := dst.Snapshots(ctx)
	if err != nil {
		return err
	}
	for _, s := range existing {
		if s.CopiedFrom != nil {
			have[*s.CopiedFrom] = true
		}
	}
	var todo []*repo.Snapshot
	if len(args) == 0 {
		all, err := src.Snapshots(ctx)
		if err != nil {
			return err
		}
		for _, s := range all {
			if s.Status == repo.StatusComplete {
				todo = append(todo, s)
			}
		}
	}
	for _, ref := range args {
		s, err := src.FindSnapshot(ctx, ref)
		if err != nil {
			return err
		}
		todo = append(todo, s)
	}
	type copied struct {
		From string `json:"from"`
		To   string `json:"to,omitempty"`
		Skip bool   `json:"skipped,omitempty"`
	}
	var out []copied
	for _, s := range todo {
		if have[s.ID] {
			out = append(out, copied{From: s.ID.String(), Skip: true})
			g.printf("snapshot %s: copied before, skipped\n", s.ID.Short())
			continue
		}
		c, err := repo.CopySnapshot(ctx, src.Repository, s, dst.Repository, lock)
		if err != nil {
			return err
		}
		have[s.ID] = true
		out = append(out, copied{From: s.ID.String(), To: c.ID.String()})
		g.printf("snapshot %s → %s: %s added\n", s.ID.Short(), c.ID.Short(), formatBytes(c.Stored))
	}
	if g.JSON {
		writeJSON(g.stdout, out)
	}
	return nil
}
