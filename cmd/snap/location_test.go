package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepositoryLocations: every place that takes a repository parses it
// as a location. Local paths behave as they always did (relative ones
// too); strings that only look like a location are usage errors that say
// why, and create nothing. (No test here names a remote host: an sftp:
// location would run ssh to it.)
func TestRepositoryLocations(t *testing.T) {
	e := newEnv(t)
	t.Chdir(e.dir)
	usage := func(says string, args ...string) {
		t.Helper()
		if r := e.expect(ExitUsage, nil, args...); !strings.Contains(r.stderr, says) {
			t.Fatalf("snap %s: stderr %q does not say %q", strings.Join(args, " "), r.stderr, says)
		}
	}

	// A relative path is created where it says, and opens.
	e.vars["SNAP_REPO"] = "rel/repo"
	e.ok(nil, "init")
	if fi, err := os.Stat(filepath.Join(e.dir, "rel", "repo", "config")); err != nil || fi.IsDir() {
		t.Fatalf("relative repository: %v", err)
	}
	e.ok(nil, "snapshots")
	// local: names the same directory.
	e.vars["SNAP_REPO"] = "local:" + filepath.Join(e.dir, "rel", "repo")
	e.ok(nil, "snapshots")
	// A missing directory is still "no repository".
	e.expect(ExitNoRepo, nil, "snapshots", "--repo", filepath.Join(e.dir, "missing"))

	usage("path missing after the host", "snapshots", "--repo", "sftp:backup@nas")
	usage(`unknown scheme "https"`, "init", "--repo", "https://s3.example.com/bucket")
	usage("bucket missing", "check", "--keyless", "--repo", "s3:https://s3.example.com")
	for _, p := range []string{"https:", "s3:https:", "sftp:backup@nas"} {
		if _, err := os.Lstat(filepath.Join(e.dir, p)); err == nil {
			t.Fatalf("a refused location made %s", p)
		}
	}

	// Sync destinations and repair's --from are locations too.
	usage("sync destination: repository location", "sync", "s3:https://h")
	usage(`sync destination: repository location "sftp:u@h": path missing`, "sync", "sftp:u@h")
	usage("is the repository itself", "sync", "rel/repo/")
	r := e.expect(ExitFailure, nil, "sync", filepath.Join(e.dir, "unmounted"))
	if !strings.Contains(r.stderr, "not a directory") {
		t.Fatalf("sync to a missing directory: %s", r.stderr)
	}
	copyDir := filepath.Join(e.dir, "copy")
	if err := os.Mkdir(copyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	e.ok(nil, "sync", "local:"+copyDir)
	e.ok(nil, "check", "--keyless", "--repo", copyDir)
	usage("--from "+filepath.Join(e.dir, "nowhere")+": no repository there", "repair", "packs", "--from", filepath.Join(e.dir, "nowhere"))
	usage(`--from: repository location "sftp:u@h": path missing`, "repair", "packs", "--from", "sftp:u@h")
	e.ok(nil, "repair", "packs", "--from", copyDir)

	// A config's sync targets are checked when it is read.
	cfg := filepath.Join(e.dir, "snap.yaml")
	for target, says := range map[string]string{
		"sftp:u@h":            "path missing after the host",
		"relative/copy":       "must be an absolute path",
		"S3:https://h/bucket": `scheme "S3" is written "s3"`,
	} {
		if err := os.WriteFile(cfg, []byte("profiles:\n  app:\n    items: [{name: v, command: echo}]\n    sync: ['"+target+"']\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		usage(says, "snapshots", "--config", cfg)
	}
}
