// Package command is the command source kind (a shell command's stdout,
// run on the host) and the stdin source of 'snap backup --stdin'. Neither
// has a restore: their items are dumped or restored to a directory.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"snap/internal/tail"
	"snap/sources"
)

// Kind names, recorded as Meta["source"].
const (
	Kind      = "command"
	KindStdin = "stdin"
)

func init() {
	sources.Register(sources.Kind{Name: Kind, ConfigKey: "command", Decode: decode})
	sources.Register(sources.Kind{Name: KindStdin})
}

// Command is a shell command whose stdout is the item.
type Command struct{ Cmd string }

// New is the source of c's output.
func New(c string) *Command { return &Command{Cmd: c} }

func (c *Command) Kind() string            { return Kind }
func (c *Command) Describe() string        { return "output of: " + c.Cmd }
func (c *Command) Meta() map[string]string { return nil }

// Name is the item name a command gets when none is given: its program's
// base name.
func Name(c string) string {
	f := strings.Fields(c)
	if len(f) == 0 {
		return "command"
	}
	return filepath.Base(f[0])
}

// Stream runs the command with /bin/sh and copies its stdout to w. A
// command exiting non-zero is an error with its stderr's tail (the backup
// reports a Stream error as the source's). A cancelled backup kills it.
func (c *Command) Stream(ctx context.Context, w io.Writer) (map[string]string, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.Cmd)
	var errTail tail.Buffer
	cmd.Stderr = &errTail
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("command %q: %w", c.Cmd, err)
	}
	_, cerr := io.Copy(w, out)
	// Drain what the chunker did not read so the command can exit.
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		msg := strings.TrimSpace(errTail.String())
		if msg != "" {
			msg = ": " + msg
		}
		return nil, fmt.Errorf("command %q failed (%v)%s", c.Cmd, err, msg)
	}
	return nil, cerr
}

// Stdin is snap's standard input as an item.
type Stdin struct{ R io.Reader }

func (s *Stdin) Kind() string            { return KindStdin }
func (s *Stdin) Describe() string        { return "standard input" }
func (s *Stdin) Meta() map[string]string { return nil }

// Stream copies the input to w.
func (s *Stdin) Stream(_ context.Context, w io.Writer) (map[string]string, error) {
	_, err := io.Copy(w, s.R)
	return nil, err
}

type spec string

func decode(dec func(any) error) (sources.Spec, error) {
	var s spec
	if err := dec(&s); err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(s)) == "" {
		return nil, errors.New("command: give the command to run")
	}
	return s, nil
}

func (s spec) Resolve(_ context.Context, _ *sources.Env, name string) ([]*sources.PlanItem, error) {
	return []*sources.PlanItem{{Name: name, Source: New(string(s))}}, nil
}
