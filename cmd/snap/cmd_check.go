package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"snap/repo"
	"snap/repo/backend/meter"
)

type checkOptions struct {
	ReadData bool
	Subset   string
	Keyless  bool
}

func (o *checkOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.ReadData, "read-data", false, "also read every pack and verify every blob")
	fs.StringVar(&o.Subset, "read-data-subset", "", "read only some packs: a percentage (5%) or a group n/m (1/7 … 7/7 over a week)")
	fs.BoolVar(&o.Keyless, "keyless", false, "no key needed: check that every file's bytes hash to its name (for a disk that holds only copies)")
}

func init() {
	register(&command{
		name:    "check",
		summary: "find damage: structure, and with --read-data every blob",
		usage: `Usage: snap check [--read-data | --read-data-subset 5%|n/m] [--keyless]

Checks the config, key slots, index files, that every indexed pack exists
with the right size, that every blob each snapshot needs is in a pack, and
lock files. --read-data also reads every pack, checks it against its name
and header and decrypts and verifies every blob (a write-only key verifies
pack hashes and reference lists: data stays sealed to it);
--read-data-subset reads a part, for a nightly check. --keyless needs no
key at all: it reads every metadata file and checks it against its name,
and lists the packs; with --read-data (or a subset) it reads those packs
and checks them against their names too. Its summary says which.

Each problem names the file, the blob and the snapshots it affects, and the
output ends with the commands that fix what was found. Exit code 14 when
anything is wrong. check uses a private cache: it never trusts the local
one.

A pack found damaged (or missing) is recorded, in the repository (damaged/)
and in the local cache: new backups then never reuse its blobs but store
fresh copies, and restores read another copy first. check reports recorded
packs until 'snap repair packs' replaces or salvages them, or a data check
reads them intact; that is all check ever changes.

Examples:
  snap check
  snap check --read-data-subset 1/7        # a seventh each night: all of it weekly
  snap check --read-data
  snap check --keyless --read-data --repo /mnt/offsite/snap`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o checkOptions
			o.AddFlags(fs)
			return func(ctx context.Context, g *globalOptions, args []string) error {
				if len(args) != 0 {
					return usagef("check takes no arguments")
				}
				_, err := check(ctx, g, &o)
				return err
			}
		},
	})
}

// check runs a check and prints its result; snap run calls it too.
func check(ctx context.Context, g *globalOptions, o *checkOptions) (*repo.CheckResult, error) {
	var subset *repo.Subset
	if o.Subset != "" {
		var err error
		if subset, err = repo.ParseSubset(o.Subset); err != nil {
			return nil, usagef("%v", err)
		}
	}
	readData := o.ReadData || subset != nil
	var res *repo.CheckResult
	if o.Keyless {
		be, err := g.repoBackend(ctx)
		if err != nil {
			return nil, err
		}
		if res, err = repo.CheckKeyless(ctx, be, readData, subset); err != nil {
			return nil, err
		}
	} else {
		tmp, err := os.MkdirTemp("", "snap-check-cache-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		r, err := g.openWith(ctx, repo.Options{CacheDir: tmp, StateDir: g.stateDir(), SkipDamagedIndex: true})
		if err != nil {
			return nil, err
		}
		defer r.Close()
		lock, err := g.lock(ctx, r, repo.OpCheck, false)
		if err != nil {
			return nil, err
		}
		defer lock.Unlock()
		co := repo.CheckOptions{ReadData: readData, Subset: subset}
		if g.Verbose {
			co.Progress = func(s string) { g.printf("check: %s\n", s) }
		}
		if res, err = r.Check(ctx, co); err != nil {
			return nil, err
		}
	}
	if g.JSON {
		writeJSON(g.stdout, checkJSON(res, g.store.Counts()))
	} else {
		printCheck(g, res, readData, subset, o.Keyless)
	}
	if len(res.Problems) > 0 {
		return res, fmt.Errorf("%w: %d problems (listed above)", repo.ErrCheckFailed, len(res.Problems))
	}
	return res, nil
}

func printCheck(g *globalOptions, res *repo.CheckResult, readData bool, subset *repo.Subset, keyless bool) {
	if keyless {
		// Say exactly what was read and what was only listed: without
		// --read-data no pack is read, and a summary must not suggest one.
		g.printf("no key: every key, index, snapshot, lock and damage record read and checked against its name (%d snapshots, %d index files)\n",
			res.Snapshots, res.IndexFiles)
		switch {
		case !readData:
			g.printf("packs: %d listed, none read (--read-data reads them and checks each against its name)\n", res.Packs)
		case res.PacksRead == res.Packs:
			g.printf("packs: all %d read and checked against their names (%s)\n", res.Packs, formatBytes(res.BytesRead))
		default:
			part := ""
			if subset != nil {
				part = ", subset " + subset.String()
			}
			g.printf("packs: %d of %d read and checked against their names (%s%s); the other %d only listed\n",
				res.PacksRead, res.Packs, formatBytes(res.BytesRead), part, res.Packs-res.PacksRead)
		}
	} else {
		g.printf("%d snapshots, %d index files, %d packs, %d blobs\n", res.Snapshots, res.IndexFiles, res.Packs, res.Blobs)
	}
	if readData && !keyless {
		part := "all packs"
		if subset != nil {
			part = "subset " + subset.String()
		}
		g.printf("read %d packs (%s, %s), verified %d blobs\n", res.PacksRead, part, formatBytes(res.BytesRead), res.BlobsRead)
	}
	for _, w := range res.Warnings {
		warn(g, "%s", w)
	}
	// Problems go to stderr even with --quiet: they are why the exit code
	// is not 0.
	for _, p := range res.Problems {
		fmt.Fprintf(g.stderr, "problem: %s\n", p)
	}
	printDamaged(g, res)
	if len(res.Problems) == 0 {
		g.printf("no problems found\n")
		return
	}
	fmt.Fprintf(g.stderr, "to fix:\n")
	for i, h := range res.Hints {
		fmt.Fprintf(g.stderr, "  %d. %s\n", i+1, remedyWords(h, ""))
	}
}

// checkJSON is a check's result for --json, its hints in words.
// Store says what was asked of the store: a remote check with a subset
// downloads only that subset's packs.
func checkJSON(res *repo.CheckResult, store meter.Counts) any {
	out := struct {
		*repo.CheckResult
		Hints []string     `json:"hints,omitempty"`
		Store meter.Counts `json:"store"`
	}{CheckResult: res, Store: store}
	for _, h := range res.Hints {
		out.Hints = append(out.Hints, remedyWords(h, ""))
	}
	return out
}

// printDamaged says which packs are known to be damaged, what that means for
// new backups, and which snapshots need blobs only those packs hold.
func printDamaged(g *globalOptions, res *repo.CheckResult) {
	if len(res.Damaged) == 0 {
		return
	}
	n := fmt.Sprintf("%d damaged packs are", len(res.Damaged))
	if len(res.Damaged) == 1 {
		n = "1 damaged pack is"
	}
	fmt.Fprintf(g.stderr, "%s recorded: new backups do not reuse their blobs but store fresh copies (a backup of unchanged data also mends older snapshots that need them)\n", n)
	if len(res.Affected) == 0 {
		fmt.Fprintf(g.stderr, "no snapshot needs a blob whose only copies are in damaged packs\n")
		return
	}
	fmt.Fprintf(g.stderr, "affected: these need blobs whose only copies are in damaged packs:\n")
	for _, a := range res.Affected {
		fmt.Fprintf(g.stderr, "  %s\n", a)
	}
}
