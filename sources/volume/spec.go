package volume

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"snap/sources"
	"snap/sources/docker"
)

// Spec is a profile item's volume: value, the path at which a container
// mounts the volume.
type Spec struct {
	Container string `yaml:"container"`
	Path      string `yaml:"path"`
	// Exclude: paths relative to Path (patterns) another item takes.
	Exclude []string `yaml:"exclude"`
}

func decode(dec func(any) error) (sources.Spec, error) {
	var s Spec
	if err := dec(&s); err != nil {
		return nil, err
	}
	if s.Container == "" || s.Path == "" {
		return nil, errors.New("volume: give the container and the path")
	}
	for _, x := range s.Exclude {
		if _, err := path.Match(x, ""); err != nil || x == "" || strings.Contains(x, ",") || path.IsAbs(x) || x != path.Clean(x) || strings.HasPrefix(x, "../") {
			return nil, fmt.Errorf("volume: exclude %q is not a clean path relative to %s", x, s.Path)
		}
	}
	return &s, nil
}

// Resolve finds the volume mounted at Path.
func (s *Spec) Resolve(ctx context.Context, env *sources.Env, name string) ([]*sources.PlanItem, error) {
	d, ins, err := docker.ResolveItem(ctx, env, name, s.Container)
	if err != nil {
		return nil, err
	}
	v := &Volume{Docker: d, Container: s.Container, Path: s.Path, Image: ins.Config.Image, Exclude: s.Exclude}
	for _, m := range ins.Mounts {
		if m.Destination == s.Path {
			v.Name = m.Name
		}
	}
	if v.Name == "" {
		return nil, fmt.Errorf("item %q: container %s mounts no volume at %s", name, s.Container, s.Path)
	}
	return []*sources.PlanItem{{Name: name, Source: NewSource(v, fmt.Sprintf("volume %s (%s in %s)", v.Name, v.Path, v.Container))}}, nil
}
