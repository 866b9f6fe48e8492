package sources

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// ItemSpec is one item of a profile written by hand (docs: README
// "Profiles"). Exactly one source field is set.
type ItemSpec struct {
	Name     string        `yaml:"name"`
	Postgres *PostgresSpec `yaml:"postgres"`
	Redis    *RedisSpec    `yaml:"redis"`
	Volume   *VolumeSpec   `yaml:"volume"`
	Paths    []string      `yaml:"paths"`
	Command  string        `yaml:"command"`
}

// PostgresSpec names a database in a container. Credentials not given are
// read from the container's POSTGRES_* environment.
type PostgresSpec struct {
	// URL is direct mode: postgres://USER:PASSWORD@HOST:PORT/DB with the
	// host's pg_dump and psql, instead of a container.
	URL       string `yaml:"url"`
	Container string `yaml:"container"`
	User      string `yaml:"user"`
	Database  string `yaml:"database"`
	Globals   bool   `yaml:"globals"` // also back up roles as NAME-globals
}

// RedisSpec names a Redis container; port and password not given are read
// from its command line and environment.
type RedisSpec struct {
	Container string `yaml:"container"`
	Port      int    `yaml:"port"`
}

// VolumeSpec names a path in a container (a mounted volume).
type VolumeSpec struct {
	Container string `yaml:"container"`
	Path      string `yaml:"path"`
}

// SourceCommand is a command's stdout, run on the host.
const SourceCommand = "command"

// inspectFor inspects the container an item names.
func inspectFor(ctx context.Context, d *Docker, item, ctr string) (container.InspectResponse, error) {
	if d == nil {
		return container.InspectResponse{}, fmt.Errorf("item %q needs Docker", item)
	}
	ins, err := d.c.ContainerInspect(ctx, ctr)
	if err != nil {
		return ins, fmt.Errorf("%w: item %q: container %q: %v (is the name right? see 'docker ps -a')", ErrDocker, item, ctr, err)
	}
	return ins, nil
}

// PlanFromSpecs builds a plan from hand-written items, inspecting the named
// containers for what the spec leaves out.
func PlanFromSpecs(ctx context.Context, d *Docker, profile string, specs []ItemSpec) (*Plan, error) {
	plan := &Plan{Project: profile}
	for i, sp := range specs {
		if sp.Name == "" || strings.ContainsAny(sp.Name, "/\x00") {
			return nil, fmt.Errorf("profile %s: item %d: a name (no '/') is required", profile, i+1)
		}
		set := 0
		for _, b := range []bool{sp.Postgres != nil, sp.Redis != nil, sp.Volume != nil, len(sp.Paths) > 0, sp.Command != ""} {
			if b {
				set++
			}
		}
		if set != 1 {
			return nil, fmt.Errorf("profile %s: item %q: give exactly one of postgres, redis, volume, paths, command", profile, sp.Name)
		}
		var it *PlanItem
		switch {
		case sp.Postgres != nil && sp.Postgres.URL != "":
			pg, err := PostgresFromURL(sp.Postgres.URL)
			if err != nil {
				return nil, fmt.Errorf("profile %s: item %q: %w", profile, sp.Name, err)
			}
			it = &PlanItem{Name: sp.Name, Source: SourcePostgres, PG: pg, Describe: fmt.Sprintf("pg_dump of database %q on %s with the host's client", pg.Database, strings.TrimPrefix(pg.Container, "host "))}
			if sp.Postgres.Globals {
				plan.Items = append(plan.Items, &PlanItem{Name: sp.Name + "-globals", Source: SourcePostgresGlobals, PG: pg, Describe: "pg_dumpall --globals-only on " + pg.Container})
			}
		case sp.Postgres != nil:
			ins, err := inspectFor(ctx, d, sp.Name, sp.Postgres.Container)
			if err != nil {
				return nil, err
			}
			pg := PostgresFromEnv(d, sp.Postgres.Container, ins.Config.Env)
			if sp.Postgres.User != "" {
				pg.User = sp.Postgres.User
			}
			if sp.Postgres.Database != "" {
				pg.Database = sp.Postgres.Database
			}
			it = &PlanItem{Name: sp.Name, Source: SourcePostgres, PG: pg, Describe: fmt.Sprintf("pg_dump of database %q inside %s", pg.Database, pg.Container)}
			if sp.Postgres.Globals {
				plan.Items = append(plan.Items, &PlanItem{Name: sp.Name + "-globals", Source: SourcePostgresGlobals, PG: pg, Describe: "pg_dumpall --globals-only inside " + pg.Container})
			}
		case sp.Redis != nil:
			ins, err := inspectFor(ctx, d, sp.Name, sp.Redis.Container)
			if err != nil {
				return nil, err
			}
			r := RedisFromContainer(d, sp.Redis.Container, append(append([]string{}, ins.Config.Entrypoint...), ins.Config.Cmd...), ins.Config.Env)
			if sp.Redis.Port != 0 {
				r.Port = sp.Redis.Port
			}
			it = &PlanItem{Name: sp.Name, Source: SourceRedis, Redis: r, Describe: fmt.Sprintf("RDB of Redis on port %d inside %s", r.Port, r.Container)}
		case sp.Volume != nil:
			ins, err := inspectFor(ctx, d, sp.Name, sp.Volume.Container)
			if err != nil {
				return nil, err
			}
			v := &Volume{Docker: d, Container: sp.Volume.Container, Path: sp.Volume.Path, Image: ins.Config.Image}
			for _, m := range ins.Mounts {
				if m.Destination == sp.Volume.Path {
					v.Name = m.Name
				}
			}
			if v.Name == "" {
				return nil, fmt.Errorf("item %q: container %s mounts no volume at %s", sp.Name, sp.Volume.Container, sp.Volume.Path)
			}
			it = &PlanItem{Name: sp.Name, Source: SourceVolume, Volume: v, Describe: fmt.Sprintf("volume %s (%s in %s)", v.Name, v.Path, v.Container)}
		case len(sp.Paths) > 0:
			it = &PlanItem{Name: sp.Name, Source: SourceFiles, Paths: sp.Paths, Describe: "files " + strings.Join(sp.Paths, ", ")}
		default:
			it = &PlanItem{Name: sp.Name, Source: SourceCommand, Command: sp.Command, Describe: "output of: " + sp.Command}
		}
		plan.Items = append(plan.Items, it)
	}
	recordMeta(plan, "profile", profile)
	return plan, nil
}
