package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"snap/sources"
	"snap/sources/docker"
)

// Spec is a profile item's sqlite: value: a database file as a container
// sees it ({container: n8n, path: /home/node/.n8n/database.sqlite}) or a
// file of the host ({file: /srv/app/data.sqlite}).
type Spec struct {
	Container string `yaml:"container"`
	Path      string `yaml:"path"`
	File      string `yaml:"file"`
}

func decode(dec func(any) error) (sources.Spec, error) {
	var s Spec
	if err := dec(&s); err != nil {
		return nil, err
	}
	switch {
	case s.File != "" && (s.Container != "" || s.Path != ""):
		return nil, errors.New("sqlite: give either file, or container and path")
	case s.File != "":
		if !filepath.IsAbs(s.File) {
			return nil, fmt.Errorf("sqlite: file %q is not an absolute path", s.File)
		}
	case s.Container == "" || s.Path == "":
		return nil, errors.New("sqlite: give the container and the database's path in it, or file")
	case !filepath.IsAbs(s.Path):
		return nil, fmt.Errorf("sqlite: path %q is not an absolute path", s.Path)
	}
	return &s, nil
}

// Resolve checks that the container exists; where the file is on the host
// is found when the item runs (a volume may be recreated meanwhile).
func (s *Spec) Resolve(ctx context.Context, env *sources.Env, name string) ([]*sources.PlanItem, error) {
	if s.File != "" {
		return []*sources.PlanItem{{Name: name, Source: HostFile(s.File)}}, nil
	}
	d, _, err := docker.ResolveItem(ctx, env, name, s.Container)
	if err != nil {
		return nil, err
	}
	return []*sources.PlanItem{{Name: name, Source: InContainer(d, s.Container, s.Path)}}, nil
}
