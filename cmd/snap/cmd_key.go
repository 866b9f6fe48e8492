package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"

	"github.com/spf13/pflag"

	"snap/crypt"
	"snap/internal/atomicfile"
	"snap/repo"
	"snap/repo/backend"
)

type keyOptions struct {
	NewPasswordFile string
	WriteOnly       bool
	Output          string
	Force           bool
}

func init() {
	register(&command{
		name:    "key",
		summary: "manage keys: list, add, remove, passwd, export",
		usage: `Usage: snap key list
       snap key add [--new-password-file F] [--write-only]
       snap key remove ID
       snap key passwd [--new-password-file F]
       snap key export [--write-only] --output FILE [--force]
       snap key export [--write-only] | COMMAND

The new passphrase comes from --new-password-file, SNAP_NEW_PASSWORD or a
prompt. 'key export --write-only' prints a key that can back up, list,
forget, prune and check but never decrypt data: give that one to the server
that runs the nightly backup, and keep the full key offline. --output
writes the key file with mode 0600 whatever the umask (a shell redirect
makes it 0644, which snap then refuses to read), atomically, and never over
an existing file unless --force.

Examples:
  snap key export --write-only --output /etc/snap/host.key
  snap key add --new-password-file /root/second-pass`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o keyOptions
			fs.StringVar(&o.NewPasswordFile, "new-password-file", "", "read the new passphrase from this file")
			fs.BoolVar(&o.WriteOnly, "write-only", false, "add or export a write-only key")
			fs.StringVarP(&o.Output, "output", "o", "", "export: write the key to this file (mode 0600, atomic)")
			fs.BoolVar(&o.Force, "force", false, "export: replace an existing --output file")
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runKey(ctx, g, &o, args)
			}
		},
	})
}

func runKey(ctx context.Context, g *globalOptions, o *keyOptions, args []string) error {
	if len(args) == 0 {
		return usagef("usage: snap key list|add|remove|passwd|export")
	}
	sub, args := args[0], args[1:]
	r, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	be := r.Backend()
	newPass := func() (string, error) {
		if o.NewPasswordFile != "" {
			return readPasswordFile(o.NewPasswordFile)
		}
		if p := g.getenv("SNAP_NEW_PASSWORD"); p != "" {
			return p, nil
		}
		return promptPassphrase("New passphrase: ", true)
	}
	addSlot := func(m *crypt.Master) (string, error) {
		p, err := newPass()
		if err != nil {
			return "", err
		}
		host, _ := os.Hostname()
		name := ""
		if u, _ := user.Current(); u != nil {
			name = u.Username
		}
		return repo.AddKey(ctx, be, m, repo.KeyParams{Passphrase: p, WorkFactor: slotWorkFactor, Host: host, User: name, Now: now()})
	}
	m := r.Master()
	switch sub {
	case "list":
		keys, err := repo.ListKeys(ctx, be)
		if err != nil {
			return err
		}
		if g.JSON {
			writeJSON(g.stdout, keys)
			return nil
		}
		if len(keys) == 0 {
			g.printf("no passphrase key slots: this repository opens only with key files (snap key add makes one)\n")
		}
		for _, k := range keys {
			cur := " "
			if k.ID == r.slot {
				cur = "*"
			}
			fmt.Fprintf(g.stdout, "%s %-8.8s  %-10s  %-12s  %-10s  %s\n", cur, k.ID, k.Kind, k.Host, k.User, k.Created.Local().Format("2006-01-02 15:04:05"))
		}
		return nil
	case "add":
		if o.WriteOnly {
			m = m.WriteOnly()
		}
		id, err := addSlot(m)
		if err != nil {
			return err
		}
		g.printf("added %s key %.8s\n", m.Kind(), id)
		return nil
	case "remove":
		if len(args) != 1 {
			return usagef("usage: snap key remove ID")
		}
		if r.slot != "" && len(args[0]) > 0 && len(r.slot) >= len(args[0]) && r.slot[:len(args[0])] == args[0] {
			return usagef("refusing to remove the key you opened the repository with: use another key, or 'snap key passwd'")
		}
		id, err := repo.RemoveKey(ctx, be, args[0])
		if err != nil {
			return err
		}
		g.printf("removed key %.8s\n", id)
		return nil
	case "passwd":
		if r.slot == "" {
			return usagef("key passwd changes a passphrase key slot; you opened the repository with a key file")
		}
		id, err := addSlot(m)
		if err != nil {
			return err
		}
		if err := be.Remove(ctx, backend.Handle{Type: backend.KeyFile, Name: r.slot}); err != nil {
			return fmt.Errorf("new key %.8s added but old key not removed: %w", id, err)
		}
		g.printf("passphrase changed (key %.8s replaces %.8s)\n", id, r.slot)
		return nil
	case "export":
		if o.WriteOnly {
			m = m.WriteOnly()
		}
		if o.Output != "" {
			return exportKeyFile(g, o, m)
		}
		if f, ok := g.stdout.(*os.File); ok && isTerminal(f) {
			return usagef("refusing to print a key to a terminal: use --output FILE (written with mode 0600)")
		}
		_, err := g.stdout.Write(crypt.MarshalKeyFile(m))
		return err
	}
	return usagef("unknown key command %q: use list, add, remove, passwd or export", sub)
}

// exportKeyFile writes a key file with mode 0600 whatever the umask, never
// half-written, and over an existing file only with --force.
func exportKeyFile(g *globalOptions, o *keyOptions, m *crypt.Master) error {
	write := atomicfile.WriteNew
	if o.Force {
		write = atomicfile.WriteFile
	}
	err := write(o.Output, crypt.MarshalKeyFile(m), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return usagef("%s already exists: choose another path, or add --force to replace it", o.Output)
	}
	if err != nil {
		return fmt.Errorf("writing key file: %w", err)
	}
	g.printf("%s key written to %s (mode 0600)\n", m.Kind(), o.Output)
	return nil
}
