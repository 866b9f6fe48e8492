package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// invocation is one command line; dir is its working directory (empty: the
// runner's own). label, if set, names the step when a tool needs several
// commands for one step (borg prune + compact).
type invocation struct {
	args  []string
	dir   string
	label string
}

func inv(args ...string) invocation { return invocation{args: args} }

// tool says how one backup program does each benchmark step. day is 1 or 2
// (1 to 30 in the prune history). Trees are always backed up from
// parent/base, the same path on both days.
type tool struct {
	name  string
	bin   string
	notes string
	env   func(cacheDir string) []string
	cache func(run int) string // the tool's cache dir for a run, removed after it
	// broken, if set, says why the tool cannot run at all.
	broken string

	initRepo func(repo string) invocation
	// backupStdin backs up the stream on stdin as day's snapshot, taken at
	// the given time (zero: now).
	backupStdin func(repo string, day int, at time.Time) invocation
	dumpStream  func(repo string, day int) invocation // newest snapshot (day) to stdout
	backupTree  func(repo string, day int, parent, base string) invocation
	restoreTree func(repo string, day int, target string) invocation
	// forgetPrune keeps the newest snapshot of each of the last keepDaily
	// days and frees the space of the rest: one or more commands.
	forgetPrune func(repo string, keepDaily int) []invocation
	// snapshots lists the snapshots as JSON: an array, or an object
	// with an "archives" array (borg).
	snapshots func(repo string) invocation
}

// stamp formats a snapshot time the way restic and snap take it.
func stamp(at time.Time) string { return at.UTC().Format("2006-01-02 15:04:05") }

// cacheDir returns where a tool keeps its cache for one run: inside the
// work dir, fresh per run, so no run profits from an earlier one.
func cacheDir(work, pattern string) func(int) string {
	return func(run int) string { return filepath.Join(work, fmt.Sprintf(pattern, run)) }
}

func resticTool(bin, work string) *tool {
	cache := cacheDir(work, "cache-restic-%d")
	return &tool{
		cache: cache,
		name:  "restic",
		bin:   bin,
		notes: "restic: defaults (repository v2, compression auto), cache in the work dir",
		env: func(cacheDir string) []string {
			return []string{
				"RESTIC_PASSWORD=bench",
				"RESTIC_CACHE_DIR=" + cacheDir,
			}
		},
		initRepo: func(repo string) invocation { return inv(bin, "-r", repo, "init") },
		backupStdin: func(repo string, day int, at time.Time) invocation {
			a := []string{bin, "-r", repo, "backup", "--stdin", "--stdin-filename", "dump.sql"}
			if !at.IsZero() {
				a = append(a, "--time", stamp(at))
			}
			return inv(a...)
		},
		dumpStream: func(repo string, day int) invocation {
			return inv(bin, "-r", repo, "dump", "latest", "dump.sql")
		},
		backupTree: func(repo string, day int, parent, base string) invocation {
			return inv(bin, "-r", repo, "backup", filepath.Join(parent, base))
		},
		restoreTree: func(repo string, day int, target string) invocation {
			return inv(bin, "-r", repo, "restore", "latest", "--target", target)
		},
		forgetPrune: func(repo string, keep int) []invocation {
			return []invocation{inv(bin, "-r", repo, "forget", "--keep-daily", strconv.Itoa(keep), "--prune")}
		},
		snapshots: func(repo string) invocation { return inv(bin, "-r", repo, "snapshots", "--json") },
	}
}

// borgTool uses borg's default compression (lz4) unless compression is set:
// that is borg's fastest common setup and the baseline snap is compared to.
func borgTool(bin, work, compression string) *tool {
	var comp []string
	notes := "borg: repokey-blake2, default compression (lz4)"
	if compression != "" {
		comp = []string{"--compression", compression}
		notes = "borg: repokey-blake2, compression " + compression
	}
	cache := cacheDir(work, "base-borg-%d")
	create := func(extra ...string) []string {
		return append(append([]string{bin, "create"}, comp...), extra...)
	}
	return &tool{
		name:  "borg",
		cache: cache,
		bin:   bin,
		notes: notes,
		env: func(cacheDir string) []string {
			return []string{
				"BORG_PASSPHRASE=bench",
				"BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes",
				"BORG_RELOCATED_REPO_ACCESS_IS_OK=yes",
				"BORG_BASE_DIR=" + cacheDir,
			}
		},
		initRepo: func(repo string) invocation {
			return inv(bin, "init", "--encryption=repokey-blake2", repo)
		},
		backupStdin: func(repo string, day int, at time.Time) invocation {
			a := []string{"--stdin-name", "dump.sql"}
			if !at.IsZero() {
				a = append(a, "--timestamp", at.UTC().Format("2006-01-02T15:04:05")) // borg: UTC
			}
			return inv(create(append(a, fmt.Sprintf("%s::day%d", repo, day), "-")...)...)
		},
		dumpStream: func(repo string, day int) invocation {
			return inv(bin, "extract", "--stdout", fmt.Sprintf("%s::day%d", repo, day))
		},
		// Relative path from the parent, so the archive (and a restore)
		// holds just base/...
		backupTree: func(repo string, day int, parent, base string) invocation {
			return invocation{args: create(fmt.Sprintf("%s::t%d", repo, day), base), dir: parent}
		},
		restoreTree: func(repo string, day int, target string) invocation {
			return invocation{args: []string{bin, "extract", fmt.Sprintf("%s::t%d", repo, day)}, dir: target}
		},
		// borg 1.2's prune only marks segments' space free; compact
		// gives it back (segments with >= 10% free, its default).
		forgetPrune: func(repo string, keep int) []invocation {
			return []invocation{
				{args: []string{bin, "prune", "--list", "--keep-daily", strconv.Itoa(keep), repo}, label: "prune"},
				{args: []string{bin, "compact", "--verbose", repo}, label: "compact"},
			}
		},
		snapshots: func(repo string) invocation { return inv(bin, "list", "--json", repo) },
	}
}

// snapTool runs snap with a passphrase (like restic and borg here), or
// with keyFile set, with a key file: the recommended cron setup, which pays
// no key derivation per command.
func snapTool(bin, work string, keyFile bool) *tool {
	cache := cacheDir(work, "cache-snap-%d")
	notes := "snap: defaults, passphrase (scrypt 2^16 per command)"
	var key []string
	init := func(repo string) invocation { return inv(bin, "init", "--repo", repo) }
	if keyFile {
		notes = "snap: defaults, key file (no key derivation per command)"
		init = func(repo string) invocation {
			return inv(bin, "init", "--repo", repo, "--key-file", filepath.Join(repo, "bench.key"))
		}
	}
	args := func(repo string, a ...string) invocation {
		if keyFile {
			key = []string{"--key-file", filepath.Join(repo, "bench.key")}
		}
		return inv(append(append([]string{bin}, a...), key...)...)
	}
	return &tool{
		cache: cache,
		name:  "snap",
		bin:   bin,
		notes: notes,
		env: func(cacheDir string) []string {
			if keyFile {
				return []string{"SNAP_CACHE_DIR=" + cacheDir}
			}
			return []string{"SNAP_PASSWORD=bench", "SNAP_CACHE_DIR=" + cacheDir}
		},
		initRepo: init,
		backupStdin: func(repo string, day int, at time.Time) invocation {
			a := []string{"backup", "--repo", repo, "--stdin", "--item", "dump"}
			if !at.IsZero() {
				a = append(a, "--time", stamp(at))
			}
			return args(repo, a...)
		},
		dumpStream: func(repo string, day int) invocation {
			return args(repo, "dump", "--repo", repo, "latest", "dump")
		},
		backupTree: func(repo string, day int, parent, base string) invocation {
			return args(repo, "backup", "--repo", repo, "--item", "tree", filepath.Join(parent, base))
		},
		restoreTree: func(repo string, day int, target string) invocation {
			return args(repo, "restore", "--repo", repo, "latest", "--item", "tree", "--target", target)
		},
		forgetPrune: func(repo string, keep int) []invocation {
			return []invocation{args(repo, "forget", "--repo", repo, "--keep-daily", strconv.Itoa(keep), "--prune")}
		},
		snapshots: func(repo string) invocation { return args(repo, "snapshots", "--repo", repo, "--json") },
	}
}
