package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// --as-of TIME: read the repository as it was at TIME from the object
// versions of its bucket (after an attack deleted or overwrote files).
// Only commands that read take it; the view refuses writes anyway.

// asOfLayouts are the forms --as-of takes besides RFC 3339; they are read
// in local time.
var asOfLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

const asOfForms = `RFC 3339 ("2026-12-01T02:00:00Z", "2026-12-01T02:00:00+01:00") or local time ("2026-12-01 02:00", "2026-12-01 02:00:30", "2026-12-01")`

// parseAsOf reads an --as-of time.
func parseAsOf(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, l := range asOfLayouts {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid --as-of %q: give %s", s, asOfForms)
}

// asOfFlag is a pflag.Value setting a time.
type asOfFlag struct{ t *time.Time }

func (f asOfFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}
func (asOfFlag) Type() string { return "TIME" }
func (f asOfFlag) Set(s string) error {
	t, err := parseAsOf(s)
	if err != nil {
		return err
	}
	*f.t = t
	return nil
}

// addAsOfFlag adds --as-of to a reading command.
func addAsOfFlag(fs *pflag.FlagSet, t *time.Time) {
	fs.Var(asOfFlag{t}, "as-of", "read the repository as it was at TIME, from the bucket's object versions (an s3: repository in a versioned bucket): "+asOfForms)
}

// checkAsOf refuses an --as-of in the future (location.Open makes the
// view: package location, Options.AsOf).
func (g *globalOptions) checkAsOf() error {
	if t := g.asOf; t.After(now()) {
		return usagef("--as-of %s is in the future", t.Format(time.RFC3339))
	}
	return nil
}

// privateState gives a repository opened --as-of a cache and a record of
// damaged packs of its own, removed at Close: the view's index files are
// not the repository's current ones, and nothing learnt from it may
// change this host's state.
func (g *globalOptions) privateState() (string, error) {
	if g.asOf.IsZero() {
		return "", nil
	}
	return os.MkdirTemp("", "snap-as-of-")
}
