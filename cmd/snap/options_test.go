package main

import (
	"testing"

	"github.com/spf13/pflag"
)

// TestOptionsPerRun: each run gets fresh options, so a flag given to one
// in-process run is not seen by the next (run is called many times in one
// process by the tests, and could be by an embedding program).
func TestOptionsPerRun(t *testing.T) {
	tries := []string{"true", "7", "7m", "2d", "zz", "1%", "daily"}
	for name, c := range commands {
		first := pflag.NewFlagSet(name, pflag.ContinueOnError)
		c.setup(first)
		second := pflag.NewFlagSet(name, pflag.ContinueOnError)
		c.setup(second)
		first.VisitAll(func(f *pflag.Flag) {
			for _, v := range tries {
				if f.Value.Set(v) == nil {
					break
				}
			}
			g := second.Lookup(f.Name)
			if g.Value.String() != g.DefValue {
				t.Errorf("snap %s --%s: setting it in one run changed the next run's value to %q", name, f.Name, g.Value.String())
			}
		})
	}
}
