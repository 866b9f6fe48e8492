package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"snap/internal/testreq"
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	e := newEnv(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			out := e.ok(nil, "completion", shell, "--quiet").stdout
			// Every registered command, so new ones need no generator change.
			for name := range commands {
				if !strings.Contains(out, name) {
					t.Errorf("%s script lacks command %s", shell, name)
				}
			}
			// A sample command's own and global flags, as each shell spells them.
			flag := func(f string) string {
				if shell == "fish" {
					return "-l " + f
				}
				return "--" + f
			}
			for _, want := range []string{flag("dry-run"), flag("at"), flag("systemd"), flag("cron"), flag("repo"), flag("key-file"), "install", "list", "remove", "latest"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s script lacks %s", shell, want)
				}
			}
			path := filepath.Join(t.TempDir(), "snap."+shell)
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("%s is not installed: syntax not checked", shell)
			}
			if b, err := exec.Command(shell, "-n", path).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", shell, err, b)
			}
			// The generated bash script is held to make lint's shellcheck
			// rules like the scripts in the repository.
			if shell == "bash" {
				if b, err := exec.Command(testreq.Tool(t, "shellcheck", "shellcheck"), "-s", "bash", path).CombinedOutput(); err != nil {
					t.Fatalf("shellcheck: %v\n%s", err, b)
				}
			}
		})
	}
	e.expect(ExitUsage, nil, "completion", "tcsh")
	e.expect(ExitUsage, nil, "completion")
}

// The model behind the scripts: flags per command from its FlagSet, first
// arguments from its usage.
func TestCompletionModel(t *testing.T) {
	byName := map[string]compCommand{}
	for _, c := range completionModel() {
		byName[c.name] = c
	}
	sched := byName["schedule"]
	if strings.Join(sched.subs, " ") != "install list remove" || !sched.strict {
		t.Errorf("schedule: subs %q strict %v", sched.subs, sched.strict)
	}
	if w := sched.flagWords(false); !strings.Contains(w, "--at") || !strings.Contains(w, "--repo -r") {
		t.Errorf("schedule flags: %s", w)
	}
	if w := sched.flagWords(true); !strings.Contains(w, "--at") || strings.Contains(w, "--cron") {
		t.Errorf("schedule value flags: %s", w)
	}
	if k := byName["key"]; !k.strict || len(k.subs) != 5 {
		t.Errorf("key: %+v", k.subs)
	}
	if b := byName["backup"]; b.strict || len(b.subs) != 1 || b.subs[0] != "n8n" || !b.takesFiles() {
		t.Errorf("backup: subs %q strict %v", b.subs, b.strict)
	}
	if l := byName["ls"]; l.snapArgs != 1 || l.takesFiles() || l.argWords(0)[0] != "latest" {
		t.Errorf("ls: %+v", l)
	}
	if _, ok := commands["diff"]; ok && byName["diff"].snapArgs != 2 {
		t.Errorf("diff: %d snapshot arguments", byName["diff"].snapArgs)
	}
}

// Drive the bash function as bash would.
func TestCompletionBashWords(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	e := newEnv(t)
	script := filepath.Join(t.TempDir(), "snap.bash")
	os.WriteFile(script, []byte(e.ok(nil, "completion", "bash").stdout), 0o644)
	for words, want := range map[string]string{
		"snap sch":                        "schedule",
		"snap schedule ":                  "install list remove",
		"snap schedule install --a":       "--at",
		"snap ls --repo /x ":              "latest",
		"snap key --new-password-file f ": "list add remove passwd export",
		"snap help snaps":                 "snapshots",
		"snap completion ":                "bash zsh fish",
		"snap ls latest --js":             "--json",
	} {
		cmd := exec.Command("bash", "-c", `source "$1"; read -ra COMP_WORDS <<<"$2"; [[ $2 == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _snap; echo "${COMPREPLY[*]}"`, "bash", script, words)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("%q: got %q (%v), want %q", words, out, err, want)
		}
	}
}
