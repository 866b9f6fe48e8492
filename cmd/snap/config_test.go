package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigFile(t *testing.T) {
	e := newEnv(t)
	cfgPath := filepath.Join(e.dir, "snap.yaml")
	repoDir := e.vars["SNAP_REPO"]
	delete(e.vars, "SNAP_REPO")
	e.vars["SNAP_CONFIG"] = cfgPath
	src := filepath.Join(e.dir, "app")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644)
	os.WriteFile(cfgPath, []byte(`repository: `+repoDir+`
profiles:
  app:
    items:
      - name: files
        paths: [`+src+`]
      - name: version
        command: echo v1
`), 0o600)
	e.ok(nil, "init")
	e.ok(nil, "backup", "app")
	s := e.snapshots()
	if len(s) != 1 || len(s[0].Items) != 2 || s[0].Items[1].Name != "version" || s[0].Profile != "app" {
		t.Fatalf("profile backup: %+v", s)
	}
	if got := e.ok(nil, "dump", "latest", "version").stdout; got != "v1\n" {
		t.Fatalf("command item: %q", got)
	}
	// Unknown keys are errors that name the key and the line.
	os.WriteFile(cfgPath, []byte("repository: /x\nprofiles:\n  app:\n    itemz: []\n"), 0o600)
	r := e.expect(ExitUsage, nil, "snapshots")
	if !strings.Contains(r.stderr, "line 4") || !strings.Contains(r.stderr, "itemz") {
		t.Fatalf("unknown key error: %s", r.stderr)
	}
	os.WriteFile(cfgPath, []byte("profiles:\n  app:\n    preset: wordpress\n"), 0o600)
	if r := e.expect(ExitUsage, nil, "snapshots"); !strings.Contains(r.stderr, "wordpress") {
		t.Fatalf("unknown preset: %s", r.stderr)
	}
}
