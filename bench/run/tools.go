package main

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// invocation is one command line; dir is its working directory (empty: the
// runner's own; made if missing). label, if set, names the step when a tool
// needs several commands for one step (borg prune + compact).
type invocation struct {
	args  []string
	dir   string
	label string
}

func inv(args ...string) invocation { return invocation{args: args} }

// tool says how one backup program does each benchmark step. repo is a
// directory, or an s3: location for tools with s3 set. item names a
// stream (dump.sql); day is 1 or 2 (1 to 30 in the prune history). Trees
// are always backed up from parent/base, the same path on both days.
type tool struct {
	name  string
	bin   string
	notes string
	env   func(cacheDir string) []string
	cache func(run int) string // the tool's cache dir for a run, removed after it
	// broken, if set, says why the tool cannot run at all.
	broken string
	// s3 says the tool can use s3:http://HOST/BUCKET locations (restic's
	// form) with the AWS_* environment.
	s3 bool

	initRepo func(repo string) []invocation
	// backupStdin backs up the stream on stdin as day's snapshot of item,
	// taken at the given time (zero: now).
	backupStdin func(repo, item string, day int, at time.Time) invocation
	// latest, if set, lists the snapshots as JSON, and latestID picks the
	// newest one's id from it: a tool that cannot name "the newest
	// snapshot" in a restore command (kopia) gets it looked up, untimed,
	// before the timed restore.
	latest      func(repo string) invocation
	latestID    func(out []byte) (string, error)
	dumpStream  func(repo, item string, day int, id string) invocation // newest snapshot of item to stdout
	backupTree  func(repo string, day int, parent, base string) invocation
	restoreTree func(repo string, day int, id, target string) invocation
	// backupPaths backs up several absolute paths as one night's backup
	// (the whole-stack peers); nil for snap, which backs up the stack
	// itself with backupStack.
	backupPaths func(repo string, day int, paths []string) invocation
	backupStack func(repo, project string) invocation
	// forgetPrune keeps the newest snapshot of each of the last keepDaily
	// days and frees the space of the rest: one or more commands. nil:
	// the prune phase is not measured for this tool.
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

// auxDir is where a tool keeps per-repository files that are not the
// repository (kopia's config, cache and stdin source directories, snap's
// key file). It is removed with the repository, and not counted in its
// size.
func auxDir(repo string) string { return repo + ".aux" }

// localAux is auxDir for a repository that may be an s3: location: that
// one's lives under WORK/repos.
func localAux(work, repo string) string {
	if strings.HasPrefix(repo, "s3:") {
		return auxDir(filepath.Join(work, "repos", "s3-"+path.Base(repo)))
	}
	return auxDir(repo)
}

// resticTool is restic at bin; name tells versions apart (restic14 is
// Debian 12's 0.14, restic18 the latest release).
func resticTool(name, bin, work string) *tool {
	cache := cacheDir(work, "cache-"+name+"-%d")
	r := func(repo string, a ...string) invocation { return inv(append([]string{bin, "-r", repo}, a...)...) }
	return &tool{
		cache: cache,
		name:  name,
		bin:   bin,
		s3:    true,
		notes: name + ": defaults (repository v2, compression auto), cache in the work dir",
		env: func(cacheDir string) []string {
			return []string{
				"RESTIC_PASSWORD=bench",
				"RESTIC_CACHE_DIR=" + cacheDir,
			}
		},
		initRepo: func(repo string) []invocation { return []invocation{r(repo, "init")} },
		backupStdin: func(repo, item string, day int, at time.Time) invocation {
			a := []string{"backup", "--stdin", "--stdin-filename", item}
			if !at.IsZero() {
				a = append(a, "--time", stamp(at))
			}
			return r(repo, a...)
		},
		dumpStream: func(repo, item string, day int, id string) invocation {
			return r(repo, "dump", "latest", item)
		},
		backupTree: func(repo string, day int, parent, base string) invocation {
			return r(repo, "backup", filepath.Join(parent, base))
		},
		backupPaths: func(repo string, day int, paths []string) invocation {
			return r(repo, append([]string{"backup"}, paths...)...)
		},
		restoreTree: func(repo string, day int, id, target string) invocation {
			return r(repo, "restore", "latest", "--target", target)
		},
		forgetPrune: func(repo string, keep int) []invocation {
			return []invocation{r(repo, "forget", "--keep-daily", strconv.Itoa(keep), "--prune")}
		},
		snapshots: func(repo string) invocation { return r(repo, "snapshots", "--json") },
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
	archive := func(repo, item string, day int) string { return fmt.Sprintf("%s::%s-%d", repo, item, day) }
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
		initRepo: func(repo string) []invocation {
			return []invocation{inv(bin, "init", "--encryption=repokey-blake2", repo)}
		},
		backupStdin: func(repo, item string, day int, at time.Time) invocation {
			a := []string{"--stdin-name", item}
			if !at.IsZero() {
				a = append(a, "--timestamp", at.UTC().Format("2006-01-02T15:04:05")) // borg: UTC
			}
			return inv(create(append(a, archive(repo, item, day), "-")...)...)
		},
		dumpStream: func(repo, item string, day int, id string) invocation {
			return inv(bin, "extract", "--stdout", archive(repo, item, day))
		},
		// Relative path from the parent, so the archive (and a restore)
		// holds just base/...
		backupTree: func(repo string, day int, parent, base string) invocation {
			return invocation{args: create(archive(repo, "tree", day), base), dir: parent}
		},
		backupPaths: func(repo string, day int, paths []string) invocation {
			return inv(create(append([]string{archive(repo, "stack", day)}, paths...)...)...)
		},
		restoreTree: func(repo string, day int, id, target string) invocation {
			return invocation{args: []string{bin, "extract", archive(repo, "tree", day)}, dir: target}
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

// kopiaTool runs kopia with zstd-fastest compression set as the global
// policy (its default stores data uncompressed). Each repository gets its
// own config file and cache in auxDir(repo); a stream is backed up from
// its own directory there, since kopia names a stdin snapshot's source by
// the working directory. Restores look up the newest snapshot's root id
// first (untimed). The prune phase is not measured for kopia (its
// retention is a policy plus maintenance with safety delays, not one
// forget --prune).
func kopiaTool(bin, work string) *tool {
	cache := cacheDir(work, "cache-kopia-%d")
	k := func(repo string, a ...string) invocation {
		return inv(append([]string{bin, "--config-file=" + filepath.Join(auxDir(repo), "repository.config")}, a...)...)
	}
	return &tool{
		cache: cache,
		name:  "kopia",
		bin:   bin,
		notes: "kopia: defaults plus global policy --compression=zstd-fastest, a config and cache per repository",
		env: func(cacheDir string) []string {
			return []string{
				"KOPIA_PASSWORD=bench",
				"KOPIA_LOG_DIR=" + filepath.Join(cacheDir, "logs"),
				"KOPIA_CHECK_FOR_UPDATES=false",
			}
		},
		initRepo: func(repo string) []invocation {
			return []invocation{
				k(repo, "repository", "create", "filesystem", "--path", repo, "--cache-directory", filepath.Join(auxDir(repo), "cache")),
				k(repo, "policy", "set", "--global", "--compression=zstd-fastest"),
			}
		},
		backupStdin: func(repo, item string, day int, at time.Time) invocation {
			in := k(repo, "snapshot", "create", "--stdin-file", item, "-")
			in.dir = filepath.Join(auxDir(repo), "src-"+item)
			return in
		},
		latest:   func(repo string) invocation { return k(repo, "snapshot", "list", "--json", "--all") },
		latestID: kopiaLatest,
		dumpStream: func(repo, item string, day int, id string) invocation {
			return k(repo, "show", id+"/"+item)
		},
		backupTree: func(repo string, day int, parent, base string) invocation {
			return k(repo, "snapshot", "create", filepath.Join(parent, base))
		},
		backupPaths: func(repo string, day int, paths []string) invocation {
			return k(repo, append([]string{"snapshot", "create"}, paths...)...)
		},
		restoreTree: func(repo string, day int, id, target string) invocation {
			return k(repo, "snapshot", "restore", id, target)
		},
		snapshots: func(repo string) invocation { return k(repo, "snapshot", "list", "--json", "--all") },
	}
}

// kopiaSnapshot is what kopiaLatest reads of `kopia snapshot list --json`.
type kopiaSnapshot struct {
	StartTime time.Time `json:"startTime"`
	Root      struct {
		Obj string `json:"obj"`
	} `json:"rootEntry"`
}

// kopiaLatest returns the root object id of the newest snapshot in a
// `kopia snapshot list --json` array.
func kopiaLatest(out []byte) (string, error) {
	var snaps []kopiaSnapshot
	if err := json.Unmarshal(out, &snaps); err != nil {
		return "", fmt.Errorf("reading kopia's snapshot list: %w", err)
	}
	if len(snaps) == 0 {
		return "", fmt.Errorf("kopia lists no snapshots")
	}
	newest := slices.MaxFunc(snaps, func(a, b kopiaSnapshot) int { return a.StartTime.Compare(b.StartTime) })
	if newest.Root.Obj == "" || strings.ContainsAny(newest.Root.Obj, "/ ") {
		return "", fmt.Errorf("kopia's newest snapshot has no usable root id %q", newest.Root.Obj)
	}
	return newest.Root.Obj, nil
}

// snapTool runs snap with a passphrase (like the others here), or with
// keyFile set, with a key file: the recommended cron setup, which pays no
// key derivation per command. The key file is in the repository's aux dir.
func snapTool(bin, work string, keyFile bool) *tool {
	cache := cacheDir(work, "cache-snap-%d")
	notes := "snap: defaults, passphrase (scrypt 2^16 per command)"
	keyPath := func(repo string) string { return filepath.Join(localAux(work, repo), "bench.key") }
	if keyFile {
		notes = "snap: defaults, key file (no key derivation per command)"
	}
	args := func(repo string, a ...string) invocation {
		a = append([]string{bin}, a...)
		a = append(a, "--repo", repo)
		if keyFile {
			a = append(a, "--key-file", keyPath(repo))
		}
		return inv(a...)
	}
	return &tool{
		cache: cache,
		name:  "snap",
		bin:   bin,
		notes: notes,
		s3:    true,
		env: func(cacheDir string) []string {
			if keyFile {
				return []string{"SNAP_CACHE_DIR=" + cacheDir}
			}
			return []string{"SNAP_PASSWORD=bench", "SNAP_CACHE_DIR=" + cacheDir}
		},
		initRepo: func(repo string) []invocation {
			in := args(repo, "init")
			if keyFile {
				// init writes the key file; its directory must exist.
				in.dir = filepath.Dir(keyPath(repo))
			}
			return []invocation{in}
		},
		backupStdin: func(repo, item string, day int, at time.Time) invocation {
			a := []string{"backup", "--stdin", "--item", item}
			if !at.IsZero() {
				a = append(a, "--time", stamp(at))
			}
			return args(repo, a...)
		},
		dumpStream: func(repo, item string, day int, id string) invocation {
			return args(repo, "dump", "latest", item)
		},
		backupTree: func(repo string, day int, parent, base string) invocation {
			return args(repo, "backup", "--item", "tree", filepath.Join(parent, base))
		},
		backupStack: func(repo, project string) invocation {
			return args(repo, "backup", "n8n", "--project", project)
		},
		restoreTree: func(repo string, day int, id, target string) invocation {
			return args(repo, "restore", "latest", "--item", "tree", "--target", target)
		},
		forgetPrune: func(repo string, keep int) []invocation {
			return []invocation{args(repo, "forget", "--keep-daily", strconv.Itoa(keep), "--prune")}
		},
		snapshots: func(repo string) invocation { return args(repo, "snapshots", "--json") },
	}
}
