// Command snap is an encrypted, deduplicating snapshot repository for
// application stacks. See README.md and docs/format.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

var version = "0.1.0-dev"

// runFunc runs a command with the arguments left after its flags.
type runFunc func(ctx context.Context, g *globalOptions, args []string) error

// command is one subcommand. setup makes the options of one run: it adds
// their flags to fs and returns the function that runs with them, so no
// option outlives its run (run is called many times in one test process).
type command struct {
	name    string
	summary string
	usage   string
	setup   func(fs *pflag.FlagSet) runFunc
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// memoryLimit is a soft heap limit: the pipeline's buffers are bounded, and
// this keeps the garbage collector from letting RSS drift far above them.
const memoryLimit = 160 << 20

func main() {
	debug.SetMemoryLimit(memoryLimit)
	if p := os.Getenv("SNAP_CPUPROFILE"); p != "" {
		// For performance work only (make bench); never needed in operation.
		if f, err := os.Create(p); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if p := os.Getenv("SNAP_MEMPROFILE"); p != "" {
		go peakHeapProfile(p) // for performance work only
	}
	// A write to a closed pipe returns EPIPE instead of killing snap, so
	// 'snap dump ... | head' still releases its lock.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	pprof.StopCPUProfile()
	if os.Getenv("SNAP_REPORT_PEAK_RSS") != "" {
		// VmHWM is this process's own peak: rusage of a child started with
		// vfork also counts the parent's memory at exec time.
		if b, err := os.ReadFile("/proc/self/status"); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "VmHWM:") {
					fmt.Fprintln(os.Stderr, "snap: peak RSS", strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")))
				}
			}
		}
	}
	os.Exit(code)
}

// peakHeapProfile writes a heap profile to path each time the heap in use
// grows 10% past its previous peak, so the file ends up showing the peak.
func peakHeapProfile(path string) {
	runtime.MemProfileRate = 64 << 10
	var peak uint64
	var ms runtime.MemStats
	for range time.Tick(20 * time.Millisecond) {
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak*11/10 {
			peak = ms.HeapInuse
			if f, err := os.Create(path); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}

// run is the whole program, callable from tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				printCommandHelp(stdout, c)
				return ExitOK
			}
		}
		printHelp(stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintf(stdout, "snap %s\n", version)
		return ExitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "snap: unknown command %q (see 'snap help')\n", args[0])
		return ExitUsage
	}
	fs := pflag.NewFlagSet("snap "+c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	g.AddFlags(fs)
	runCmd := c.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if err == pflag.ErrHelp {
			printCommandHelp(stdout, c)
			return ExitOK
		}
		fmt.Fprintf(stderr, "snap %s: %v (see 'snap help %s')\n", c.name, err, c.name)
		return ExitUsage
	}
	g.changed = func(f string) bool { return fs.Changed(f) }
	err := g.fillFromEnv()
	if err == nil {
		err = runCmd(ctx, g, fs.Args())
	}
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	hints := advice(err)
	if g.JSON {
		out := map[string]any{"error": err.Error(), "exit_code": code}
		if len(hints) > 0 {
			out["hints"] = hints
		}
		writeJSON(stderr, out)
	} else {
		fmt.Fprintf(stderr, "snap %s: %v\n", c.name, err)
		for _, h := range hints {
			fmt.Fprintln(stderr, h)
		}
	}
	return code
}

func printHelp(w io.Writer) {
	fmt.Fprintf(w, "snap %s: encrypted, deduplicating snapshots of application stacks\n\nUsage: snap COMMAND [flags]\n\nCommands:\n", version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'snap help COMMAND' for a command's flags. Exit codes:\n%s", exitCodeTable())
}

func printCommandHelp(w io.Writer, c *command) {
	fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
	fs.SortFlags = false
	c.setup(fs)
	fmt.Fprintf(w, "%s\n\n%s\n", c.summary, strings.TrimSpace(c.usage))
	if fs.HasFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
	gfs := pflag.NewFlagSet("global", pflag.ContinueOnError)
	(&globalOptions{}).AddFlags(gfs)
	fmt.Fprintf(w, "\nGlobal flags:\n%s", gfs.FlagUsages())
}
