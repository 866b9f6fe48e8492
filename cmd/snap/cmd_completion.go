package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

func init() {
	register(&command{
		name:    "completion",
		summary: "print a shell completion script (bash, zsh, fish)",
		usage: `Usage: snap completion bash|zsh|fish

Completes commands, their flags, subcommands (key, schedule) and "latest"
for snapshot arguments. Generated from the commands snap has, so it never
lags behind them; it never opens the repository.

Examples:
  source <(snap completion bash)
  snap completion bash > /etc/bash_completion.d/snap
  snap completion zsh > "${fpath[1]}/_snap"
  snap completion fish > ~/.config/fish/completions/snap.fish`,
		setup: func(fs *pflag.FlagSet) runFunc {
			return func(ctx context.Context, g *globalOptions, args []string) error {
				if len(args) != 1 {
					return usagef("usage: snap completion bash|zsh|fish")
				}
				gen, ok := completionShells[args[0]]
				if !ok {
					return usagef("unknown shell %q: use bash, zsh or fish", args[0])
				}
				// The script is the output asked for: --quiet does not hide it.
				gen(g.stdout, completionModel())
				return nil
			}
		},
	})
}

var completionShells = map[string]func(io.Writer, []compCommand){
	"bash": completionBash,
	"zsh":  completionZsh,
	"fish": completionFish,
}

type compFlag struct {
	long, short, usage string
	value              bool // takes a value, so the next word is not an argument
	repeat             bool
	file               bool // the value is a path
}

type compCommand struct {
	name, summary string
	flags         []compFlag // the command's own, then the global ones
	subs          []string   // first-argument words from the usage (key list, backup n8n)
	strict        bool       // the first argument is always one of subs
	snapArgs      int        // leading arguments that are snapshots
}

var (
	subWord   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	snapWord  = regexp.MustCompile(`^SNAP(SHOT)?[0-9]*$`)
	fileishRE = regexp.MustCompile(`(?i)\b(file|dir|directory|path)\b`)
)

// completionModel reads every registered command the way printCommandHelp
// does, plus the first words of its usage lines ("snap key list", "snap ls
// SNAPSHOT"), so a new command is completed without touching this file.
func completionModel() []compCommand {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	gfs := pflag.NewFlagSet("global", pflag.ContinueOnError)
	gfs.SortFlags = false
	(&globalOptions{}).AddFlags(gfs)
	global := compFlags(gfs)
	out := make([]compCommand, 0, len(names)+2)
	for _, n := range names {
		c := commands[n]
		cc := compCommand{name: n, summary: c.summary}
		if c.setup != nil {
			fs := pflag.NewFlagSet(n, pflag.ContinueOnError)
			fs.SortFlags = false
			c.setup(fs)
			cc.flags = compFlags(fs)
		}
		cc.flags = append(cc.flags, global...)
		cc.subs, cc.strict, cc.snapArgs = usageArgs(n, c.usage)
		out = append(out, cc)
	}
	return append(out,
		compCommand{name: "help", summary: "show the help of a command"},
		compCommand{name: "version", summary: "print snap's version"})
}

func compFlags(fs *pflag.FlagSet) []compFlag {
	var out []compFlag
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" {
			return
		}
		typ := f.Value.Type()
		cf := compFlag{long: f.Name, short: f.Shorthand, usage: f.Usage,
			value:  typ != "bool" && f.NoOptDefVal == "",
			repeat: strings.Contains(typ, "Array") || strings.Contains(typ, "Slice")}
		cf.file = cf.value && (fileishRE.MatchString(f.Name) || fileishRE.MatchString(f.Usage) || f.Name == "repo" || f.Name == "config" || f.Name == "target")
		out = append(out, cf)
	})
	return out
}

// usageArgs reads the "Usage:" block (up to the first blank line).
func usageArgs(name, usage string) (subs []string, strict bool, snapArgs int) {
	strict = true
	lines := 0
	for i, l := range strings.Split(strings.TrimSpace(usage), "\n") {
		if strings.TrimSpace(l) == "" {
			break
		}
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "Usage:"))
		if len(f) < 2 || f[0] != "snap" || f[1] != name {
			continue
		}
		lines++
		matched := false
		if len(f) > 2 {
			for _, w := range strings.Split(f[2], "|") {
				if subWord.MatchString(w) {
					matched = true
					if !slices.Contains(subs, w) {
						subs = append(subs, w)
					}
				}
			}
		}
		if !matched {
			strict = false
		}
		if i == 0 {
			for _, w := range f[2:] {
				if !snapWord.MatchString(w) {
					break
				}
				snapArgs++
			}
		}
	}
	return subs, strict && lines > 0 && len(subs) > 0, snapArgs
}

func (c *compCommand) flagWords(valueOnly bool) string {
	var w []string
	for _, f := range c.flags {
		if valueOnly && !f.value {
			continue
		}
		w = append(w, "--"+f.long)
		if f.short != "" {
			w = append(w, "-"+f.short)
		}
	}
	return strings.Join(w, " ")
}

// takesFiles: backup's paths; not subcommands or snapshot arguments.
func (c *compCommand) takesFiles() bool {
	return !c.strict && c.snapArgs == 0 && c.name != "help" && c.name != "version"
}

// argWords are the words offered for the pos'th argument (0-based).
func (c *compCommand) argWords(pos int) []string {
	if pos == 0 && len(c.subs) > 0 {
		return c.subs
	}
	if pos < c.snapArgs {
		return []string{"latest"}
	}
	return nil
}

func commandNames(cmds []compCommand) string {
	var n []string
	for _, c := range cmds {
		n = append(n, c.name)
	}
	return strings.Join(n, " ")
}

func completionBash(w io.Writer, cmds []compCommand) {
	fmt.Fprintf(w, `# bash completion for snap, generated by 'snap completion bash'.
# Load it with: source <(snap completion bash)

_snap_commands="%s"

_snap_flags() {
    case "$1" in
`, commandNames(cmds))
	for _, c := range cmds {
		fmt.Fprintf(w, "        %s) echo %q ;;\n", c.name, c.flagWords(false))
	}
	fmt.Fprint(w, `    esac
}

# Flags that take a value: the word after one is not an argument.
_snap_value_flags() {
    case "$1" in
`)
	for _, c := range cmds {
		if v := c.flagWords(true); v != "" {
			fmt.Fprintf(w, "        %s) echo %q ;;\n", c.name, v)
		}
	}
	fmt.Fprint(w, `    esac
}

# Words for argument $2 (0-based) of command $1.
_snap_args() {
    case "$1 $2" in
`)
	for _, c := range cmds {
		for pos := 0; pos < 2 || pos < c.snapArgs; pos++ {
			if a := c.argWords(pos); len(a) > 0 {
				fmt.Fprintf(w, "        %q) echo %q ;;\n", fmt.Sprintf("%s %d", c.name, pos), strings.Join(a, " "))
			}
		}
	}
	fmt.Fprint(w, `        "help 0") echo "$_snap_commands" ;;
    esac
}

_snap() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd="" npos=0 skip=0 i w
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if ((skip)); then
            skip=0
            continue
        fi
        case $w in
            --*=*) ;;
            -*) [[ " $(_snap_value_flags "$cmd") " == *" $w "* ]] && skip=1 ;;
            *) if [[ -z $cmd ]]; then cmd=$w; else npos=$((npos + 1)); fi ;;
        esac
    done
    COMPREPLY=()
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "--help --version" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$_snap_commands" -- "$cur")
        fi
        return 0
    fi
    # A flag's value: no words, so bash completes file names (-o default).
    if [[ $prev == -* && " $(_snap_value_flags "$cmd") " == *" $prev "* ]]; then
        return 0
    fi
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_snap_flags "$cmd")" -- "$cur")
        return 0
    fi
    mapfile -t COMPREPLY < <(compgen -W "$(_snap_args "$cmd" "$npos")" -- "$cur")
    return 0
}

complete -o default -F _snap snap
`)
}

// zshQuote single-quotes s for zsh.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// zshDesc escapes what _arguments treats specially in [explanations].
func zshDesc(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, ":", `\:`).Replace(s)
}

func completionZsh(w io.Writer, cmds []compCommand) {
	fmt.Fprint(w, `#compdef snap
# zsh completion for snap, generated by 'snap completion zsh'.
# Install it as _snap in a directory of $fpath, or: source <(snap completion zsh)

_snap() {
  local -a commands
  commands=(
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "    %s\n", zshQuote(c.name+":"+c.summary))
	}
	fmt.Fprint(w, `  )
  local curcontext=$curcontext state line
  _arguments -C '1: :->command' '*:: :->args' && return
  case $state in
    command)
      _describe -t commands 'snap command' commands
      ;;
    args)
      curcontext=${curcontext%:*:*}:snap-${words[1]}:
      case ${words[1]} in
`)
	for _, c := range cmds {
		if c.name == "help" {
			fmt.Fprint(w, "        help) _describe -t commands 'snap command' commands ;;\n")
			continue
		}
		fmt.Fprintf(w, "        %s)\n          _arguments -s", c.name)
		for _, f := range c.flags {
			fmt.Fprintf(w, " \\\n            %s", zshFlagSpec(f))
		}
		for pos := 0; pos < 2 || pos < c.snapArgs; pos++ {
			a := c.argWords(pos)
			switch {
			case len(a) == 0:
			case pos == 0 && len(c.subs) > 0 && c.strict:
				fmt.Fprintf(w, " \\\n            %s", zshQuote(fmt.Sprintf("1:subcommand:(%s)", strings.Join(a, " "))))
			case pos == 0 && len(c.subs) > 0:
				fmt.Fprintf(w, " \\\n            %s", zshQuote(fmt.Sprintf(`1: :{_alternative "words:argument:(%s)" "files:file:_files"}`, strings.Join(a, " "))))
			default:
				fmt.Fprintf(w, " \\\n            %s", zshQuote(fmt.Sprintf("%d:snapshot:(%s)", pos+1, strings.Join(a, " "))))
			}
		}
		if c.takesFiles() {
			fmt.Fprintf(w, " \\\n            '*:file:_files'")
		}
		fmt.Fprint(w, "\n          ;;\n")
	}
	fmt.Fprint(w, `      esac
      ;;
  esac
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _snap "$@"
else
  compdef _snap snap
fi
`)
}

func zshFlagSpec(f compFlag) string {
	desc := "[" + zshDesc(f.usage) + "]"
	action := ""
	if f.value {
		action = ":" + f.long + ":"
		if f.file {
			action += "_files"
		}
	}
	rep := ""
	if f.repeat {
		rep = "*"
	}
	if f.short == "" {
		eq := ""
		if f.value {
			eq = "="
		}
		return zshQuote(rep + "--" + f.long + eq + desc + action)
	}
	short, long := "-"+f.short, "--"+f.long
	if f.value {
		short, long = short+"+", long+"="
	}
	excl := ""
	if !f.repeat {
		excl = "(-" + f.short + " --" + f.long + ")"
	}
	return zshQuote(rep+excl) + "{" + short + "," + long + "}" + zshQuote(desc+action)
}

// fishQuote single-quotes s for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func completionFish(w io.Writer, cmds []compCommand) {
	fmt.Fprint(w, `# fish completion for snap, generated by 'snap completion fish'.
# Install: snap completion fish > ~/.config/fish/completions/snap.fish

complete -c snap -f
complete -c snap -n __fish_use_subcommand -l help -d 'show help'
complete -c snap -n __fish_use_subcommand -l version -d 'print the version'
`)
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c snap -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	for _, c := range cmds {
		if c.name == "help" || c.name == "version" {
			continue
		}
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		for _, f := range c.flags {
			fmt.Fprintf(w, "complete -c snap -n %s", cond)
			if f.short != "" {
				fmt.Fprintf(w, " -s %s", f.short)
			}
			fmt.Fprintf(w, " -l %s", f.long)
			switch {
			case f.file:
				fmt.Fprint(w, " -r -F")
			case f.value:
				fmt.Fprint(w, " -x")
			}
			fmt.Fprintf(w, " -d %s\n", fishQuote(f.usage))
		}
		if len(c.subs) > 0 {
			subs := strings.Join(c.subs, " ")
			fmt.Fprintf(w, "complete -c snap -n %s -a %s\n",
				fishQuote("__fish_seen_subcommand_from "+c.name+"; and not __fish_seen_subcommand_from "+subs), fishQuote(subs))
		} else if c.snapArgs > 0 {
			fmt.Fprintf(w, "complete -c snap -n %s -a latest\n", cond)
		}
		if c.takesFiles() {
			fmt.Fprintf(w, "complete -c snap -n %s -F\n", cond)
		}
	}
	fmt.Fprintf(w, "complete -c snap -n '__fish_seen_subcommand_from help' -a %s\n", fishQuote(commandNames(cmds)))
}
