package redis

import (
	"context"
	"errors"
	"fmt"

	"snap/sources"
	"snap/sources/docker"
)

// Spec is a profile item's redis: value; port and password not given are
// read from the container's command line and environment.
type Spec struct {
	Container string `yaml:"container"`
	Port      int    `yaml:"port"`
}

func decode(dec func(any) error) (sources.Spec, error) {
	var s Spec
	if err := dec(&s); err != nil {
		return nil, err
	}
	if s.Container == "" {
		return nil, errors.New("redis: give the container")
	}
	return &s, nil
}

// Resolve inspects the container for port and password.
func (s *Spec) Resolve(ctx context.Context, env *sources.Env, name string) ([]*sources.PlanItem, error) {
	d, ins, err := docker.ResolveItem(ctx, env, name, s.Container)
	if err != nil {
		return nil, err
	}
	r := FromContainer(d, s.Container, append(append([]string{}, ins.Config.Entrypoint...), ins.Config.Cmd...), ins.Config.Env)
	if s.Port != 0 {
		r.Port = s.Port
	}
	return []*sources.PlanItem{{Name: name, Source: NewSource(r, fmt.Sprintf("RDB of Redis on port %d inside %s", r.Port, r.Container))}}, nil
}
