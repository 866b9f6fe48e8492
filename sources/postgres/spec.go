package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"snap/sources"
	"snap/sources/docker"
)

// Spec is a profile item's postgres: value. Credentials not given are read
// from the container's POSTGRES_* environment.
type Spec struct {
	// URL is direct mode: postgres://USER:PASSWORD@HOST:PORT/DB with the
	// host's pg_dump and psql, instead of a container.
	URL       string `yaml:"url"`
	Container string `yaml:"container"`
	User      string `yaml:"user"`
	Database  string `yaml:"database"`
	Globals   bool   `yaml:"globals"` // also back up roles as NAME-globals
}

func decode(dec func(any) error) (sources.Spec, error) {
	var s Spec
	if err := dec(&s); err != nil {
		return nil, err
	}
	if s.URL == "" && s.Container == "" {
		return nil, errors.New("postgres: give a container or a url")
	}
	return &s, nil
}

// Resolve is the dump item, and NAME-globals when Globals is set.
func (s *Spec) Resolve(ctx context.Context, env *sources.Env, name string) ([]*sources.PlanItem, error) {
	var dump, globals string
	var db *Database
	if s.URL != "" {
		var err error
		if db, err = FromURL(s.URL); err != nil {
			return nil, fmt.Errorf("item %q: %w", name, err)
		}
		dump = fmt.Sprintf("pg_dump of database %q on %s with the host's client", db.Database, strings.TrimPrefix(db.Container, "host "))
		globals = "pg_dumpall --globals-only on " + db.Container
	} else {
		d, ins, err := docker.ResolveItem(ctx, env, name, s.Container)
		if err != nil {
			return nil, err
		}
		db = FromEnv(d, s.Container, ins.Config.Env)
		if s.User != "" {
			db.User = s.User
		}
		if s.Database != "" {
			db.Database = s.Database
		}
		dump = fmt.Sprintf("pg_dump of database %q inside %s", db.Database, db.Container)
		globals = "pg_dumpall --globals-only inside " + db.Container
	}
	items := []*sources.PlanItem{{Name: name, Source: NewDump(db, dump)}}
	if s.Globals {
		items = append([]*sources.PlanItem{{Name: name + "-globals", Source: NewGlobals(db, globals)}}, items...)
	}
	return items, nil
}
