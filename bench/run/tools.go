package main

import (
	"fmt"
	"path/filepath"
)

// invocation is one command line; dir is its working directory (empty: the
// runner's own).
type invocation struct {
	args []string
	dir  string
}

func inv(args ...string) invocation { return invocation{args: args} }

// tool says how one backup program does each benchmark step. day is 1 or 2.
// Trees are always backed up from parent/base, the same path on both days.
type tool struct {
	name  string
	bin   string
	notes string
	env   func(run int) []string
	cache func(run int) string // the tool's cache dir for a run, removed after it
	// broken, if set, says why the tool cannot run at all.
	broken string

	initRepo    func(repo string) invocation
	backupStdin func(repo string, day int) invocation // stream on stdin
	dumpStream  func(repo string, day int) invocation // stream to stdout
	backupTree  func(repo string, day int, parent, base string) invocation
	restoreTree func(repo string, day int, target string) invocation
}

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
		env: func(run int) []string {
			return []string{
				"RESTIC_PASSWORD=bench",
				"RESTIC_CACHE_DIR=" + cache(run),
			}
		},
		initRepo: func(repo string) invocation { return inv(bin, "-r", repo, "init") },
		backupStdin: func(repo string, day int) invocation {
			return inv(bin, "-r", repo, "backup", "--stdin", "--stdin-filename", "dump.sql")
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
		env: func(run int) []string {
			return []string{
				"BORG_PASSPHRASE=bench",
				"BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes",
				"BORG_RELOCATED_REPO_ACCESS_IS_OK=yes",
				"BORG_BASE_DIR=" + cache(run),
			}
		},
		initRepo: func(repo string) invocation {
			return inv(bin, "init", "--encryption=repokey-blake2", repo)
		},
		backupStdin: func(repo string, day int) invocation {
			return inv(create("--stdin-name", "dump.sql", fmt.Sprintf("%s::day%d", repo, day), "-")...)
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
		env: func(run int) []string {
			if keyFile {
				return []string{"SNAP_CACHE_DIR=" + cache(run)}
			}
			return []string{"SNAP_PASSWORD=bench", "SNAP_CACHE_DIR=" + cache(run)}
		},
		initRepo: init,
		backupStdin: func(repo string, day int) invocation {
			return args(repo, "backup", "--repo", repo, "--stdin", "--item", "dump")
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
	}
}
