// Package files is the files source kind: host paths walked by the
// repository's archiver (with its files cache) as one tree item, restored
// to where they were with the files there now kept beside them.
package files

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"snap/sources"
)

// Kind is the kind name, recorded as Meta["source"].
const Kind = "files"

func init() {
	sources.Register(sources.Kind{Name: Kind, ConfigKey: "paths", Decode: decode,
		// The recorded paths say where the files go: no plan item needed.
		Target: func(meta map[string]string) (sources.Source, error) {
			return New(splitPaths(meta["paths"]), "files"), nil
		}})
}

// Source is a set of host paths.
type Source struct {
	paths []string
	desc  string
}

// New is the source of paths, described by desc.
func New(paths []string, desc string) *Source { return &Source{paths: paths, desc: desc} }

func (s *Source) Kind() string     { return Kind }
func (s *Source) Describe() string { return s.desc }
func (s *Source) Paths() []string  { return s.paths }
func (s *Source) Meta() map[string]string {
	return map[string]string{"paths": strings.Join(s.paths, "\n")}
}
func (s *Source) RestoreOrder() int { return sources.OrderFiles }

func splitPaths(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "\n") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Restore writes the files back to the paths the snapshot recorded; a file
// that is there now is kept beside it as NAME.snap-old-TIME.
func (s *Source) Restore(ctx context.Context, st sources.Stored) (string, error) {
	tmp, err := os.MkdirTemp("", "snap-restore-files")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := st.Extract(ctx, tmp); err != nil {
		return "", err
	}
	stamp := time.Now().Format("20060102-150405")
	recorded := splitPaths(st.Meta()["paths"])
	for _, orig := range recorded {
		src := filepath.Join(tmp, filepath.Base(orig))
		if _, err := os.Lstat(orig); err == nil {
			if err := os.Rename(orig, orig+".snap-old-"+stamp); err != nil {
				return "", err
			}
		}
		if err := os.MkdirAll(filepath.Dir(orig), 0o755); err != nil {
			return "", err
		}
		if err := os.Rename(src, orig); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%s restored (previous versions kept as *.snap-old-%s)", strings.Join(recorded, ", "), stamp), nil
}

// spec is a profile item's paths: value.
type spec []string

func decode(dec func(any) error) (sources.Spec, error) {
	var s spec
	if err := dec(&s); err != nil {
		return nil, err
	}
	if len(s) == 0 {
		return nil, errors.New("paths: give at least one path")
	}
	return s, nil
}

func (s spec) Resolve(_ context.Context, _ *sources.Env, name string) ([]*sources.PlanItem, error) {
	return []*sources.PlanItem{{Name: name, Source: New(s, "files "+strings.Join(s, ", "))}}, nil
}
