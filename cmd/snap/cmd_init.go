package main

import (
	"context"
	"fmt"
	"os"
	"os/user"

	"github.com/spf13/pflag"

	"snap/chunk"
	"snap/crypt"
	"snap/repo"
)

type initOptions struct {
	Compression string
	ChunkMin    uint
	ChunkMax    uint
	ChunkBits   int
}

func init() {
	register(&command{
		name:    "init",
		summary: "create a new repository",
		usage: `Usage: snap init --repo DIR

The passphrase comes from a prompt, SNAP_PASSWORD or --password-file. With
--key-file FILE a new 0600 key file is written instead (and a passphrase slot
too if SNAP_PASSWORD or --password-file is given).

Examples:
  snap init --repo /srv/snap
  snap init --repo /srv/snap --key-file /root/snap-full.key`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o initOptions
			fs.StringVar(&o.Compression, "compression", repo.DefaultLevel, "zstd level for new data: fastest, default or better")
			fs.UintVar(&o.ChunkMin, "chunk-min-size", chunk.DefaultMin, "minimum chunk size in bytes (fixed for the repository's life)")
			fs.UintVar(&o.ChunkMax, "chunk-max-size", chunk.DefaultMax, "maximum chunk size in bytes")
			fs.IntVar(&o.ChunkBits, "chunk-average-bits", chunk.DefaultAvgBits, "average chunk size past the minimum, as a power of two")
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
	be, err := g.openLocation(ctx, "", loc, true)
	if err != nil {
		return err
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
	m, err := repo.Init(ctx, be, repo.InitOptions{Level: o.Compression, Chunker: &params})
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
		writeJSON(g.stdout, map[string]any{"repository": m.RepoID, "path": g.Repo})
		return nil
	}
	g.printf("created repository %.8s at %s\n", m.RepoID, g.Repo)
	if g.KeyFile != "" {
		g.printf("full key written to %s (mode 0600): keep a copy offline, without it the data is lost\n", g.KeyFile)
	}
	return nil
}
