package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"

	"snap/sources"
)

// Kind names, recorded as Meta["source"].
const (
	KindDump    = "postgres"
	KindGlobals = "postgres-globals"
)

// errNoServer: a restore whose plan has no PostgreSQL container now.
var errNoServer = errors.New("no PostgreSQL container in the project now")

func init() {
	noServer := func(map[string]string) (sources.Source, error) { return nil, errNoServer }
	sources.Register(sources.Kind{Name: KindDump, ConfigKey: "postgres", Decode: decode, Target: noServer})
	sources.Register(sources.Kind{Name: KindGlobals, Target: noServer})
}

// Dump is the database as a plain-SQL dump.
type Dump struct {
	DB   *Database
	Desc string
}

// NewDump is the source of db's dump, described by desc.
func NewDump(db *Database, desc string) *Dump { return &Dump{DB: db, Desc: desc} }

func (s *Dump) Kind() string     { return KindDump }
func (s *Dump) Describe() string { return s.Desc }
func (s *Dump) Meta() map[string]string {
	return map[string]string{"container": s.DB.Container, "database": s.DB.Database, "user": s.DB.User}
}

// Stream records Metadata (owner, encoding, locale, tables) and then dumps.
func (s *Dump) Stream(ctx context.Context, w io.Writer) (map[string]string, error) {
	meta, err := s.DB.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	return meta, s.DB.Dump(ctx, w)
}

func (s *Dump) RestoreOrder() int { return sources.OrderDatabase }

// Prepare loads the dump into the scratch database and checks it.
func (s *Dump) Prepare(ctx context.Context, st sources.Stored) (sources.Swap, string, error) {
	space, err := s.DB.CheckSpace(ctx, st.Size())
	if err != nil {
		return nil, "", err
	}
	rc := st.Open(ctx)
	defer rc.Close()
	sw, err := s.DB.Prepare(ctx, rc, st.Meta())
	if err != nil {
		return nil, "", fmt.Errorf("%w (the live database was not touched)", err)
	}
	msg := fmt.Sprintf("loaded into a scratch database and checked (%s tables)", st.Meta()["table_count"])
	if space != "" {
		msg = fmt.Sprintf("loaded into a scratch database and checked (%s tables; %s)", st.Meta()["table_count"], space)
	}
	return &swap{sw: sw, name: st.Meta()["database"]}, msg, nil
}

type swap struct {
	sw   *Swap
	name string
}

func (s *swap) Commit(ctx context.Context) (string, error) {
	report, err := s.sw.Commit(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("database %s replaced: %s", s.name, report), nil
}

func (s *swap) Abort(ctx context.Context) error { return s.sw.Abort(ctx) }

// Drill loads the dump into a scratch database, checks and drops it.
func (s *Dump) Drill(ctx context.Context, st sources.Stored) (string, error) {
	if _, err := s.DB.CheckSpace(ctx, st.Size()); err != nil {
		return "", err
	}
	rc := st.Open(ctx)
	defer rc.Close()
	if err := s.DB.VerifyDump(ctx, rc, st.Meta()); err != nil {
		return "", err
	}
	return fmt.Sprintf("loads into a scratch database with %s tables", st.Meta()["table_count"]), nil
}

// Globals is the server's roles and tablespaces (pg_dumpall
// --globals-only), which a dump refers to but does not contain.
type Globals struct {
	DB   *Database
	Desc string
}

// NewGlobals is the source of db's server's roles, described by desc.
func NewGlobals(db *Database, desc string) *Globals { return &Globals{DB: db, Desc: desc} }

func (s *Globals) Kind() string     { return KindGlobals }
func (s *Globals) Describe() string { return s.Desc }
func (s *Globals) Meta() map[string]string {
	return map[string]string{"container": s.DB.Container, "database": s.DB.Database, "user": s.DB.User}
}

func (s *Globals) Stream(ctx context.Context, w io.Writer) (map[string]string, error) {
	return nil, s.DB.DumpGlobals(ctx, w)
}

func (s *Globals) RestoreOrder() int { return sources.OrderRoles }

// Restore applies the roles (existing ones are updated, not an error).
func (s *Globals) Restore(ctx context.Context, st sources.Stored) (string, error) {
	rc := st.Open(ctx)
	defer rc.Close()
	if err := s.DB.RestoreGlobals(ctx, rc); err != nil {
		return "", err
	}
	return "roles restored", nil
}

// Preview names the live database that would be replaced, with its table
// count now and the backup's.
func (s *Dump) Preview(ctx context.Context, st sources.Stored) (string, error) {
	now := "?"
	if t, err := s.DB.tables(ctx, s.DB.database()); err == nil {
		now = fmt.Sprint(len(t))
	}
	return fmt.Sprintf("database %q in %s (%s tables now) replaced by the backup's (%s tables), after it is loaded into a scratch database and checked",
		s.DB.database(), s.DB.Container, now, st.Meta()["table_count"]), nil
}

// Preview says the roles are added (existing ones are kept).
func (s *Globals) Preview(context.Context, sources.Stored) (string, error) {
	return fmt.Sprintf("roles of the backup created in %s (existing roles are kept)", s.DB.Container), nil
}
