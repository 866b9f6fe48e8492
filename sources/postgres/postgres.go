// Package postgres is the postgres source kind: a plain-SQL pg_dump of one
// database (run inside its container, or with the host's client for a
// postgres:// URL) and its roles (pg_dumpall --globals-only), restored by
// loading into a scratch database that is checked and then swapped in.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"snap/internal/tail"
	"snap/sources/docker"
)

// Database is one database in a PostgreSQL container. Every client program
// (pg_dump, pg_dumpall, psql) runs inside the container through Docker.Exec,
// so the client always matches the server and no port has to be reachable.
type Database struct {
	Docker    *docker.Client
	Container string // name or id
	User      string // default "postgres"
	Password  string // passed through the exec environment (PGPASSWORD), never argv
	Database  string // default = User

	// Direct mode (Docker nil): the host's pg_dump and psql connect with
	// these libpq variables (PGHOST, PGPORT, PGSSLMODE...), from a URL.
	hostEnv []string
}

// FromURL is direct mode: the host's own pg_dump/psql connect to
// postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=...]. The password
// moves to PGPASSWORD, so it never reaches argv. Use a client of at least
// the server's major version.
func FromURL(raw string) (*Database, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("postgres: %q is not a postgres:// URL", redactURL(raw))
	}
	p := &Database{Container: "host " + u.Host}
	if u.User != nil {
		p.User = u.User.Username()
		p.Password, _ = u.User.Password()
	}
	p.Database = strings.TrimPrefix(u.Path, "/")
	if h := u.Hostname(); h != "" {
		p.hostEnv = append(p.hostEnv, "PGHOST="+h)
	}
	if port := u.Port(); port != "" {
		p.hostEnv = append(p.hostEnv, "PGPORT="+port)
	}
	for k, v := range u.Query() {
		switch k {
		case "sslmode":
			p.hostEnv = append(p.hostEnv, "PGSSLMODE="+v[0])
		case "host": // a socket directory: postgres:///db?host=/run/postgresql
			p.hostEnv = append(p.hostEnv, "PGHOST="+v[0])
		default:
			return nil, fmt.Errorf("postgres: URL parameter %q is not supported (sslmode, host are)", k)
		}
	}
	p.User, p.Database = p.user(), p.database()
	return p, nil
}

func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// run runs a client program in the container, or on the host in direct mode.
func (p *Database) run(ctx context.Context, o docker.ExecOptions) error {
	if p.Docker != nil {
		return p.Docker.Exec(ctx, p.Container, o)
	}
	cmd := exec.CommandContext(ctx, o.Cmd[0], o.Cmd[1:]...)
	cmd.Env = append(append(os.Environ(), p.hostEnv...), o.Env...)
	cmd.Stdin, cmd.Stdout = o.Stdin, o.Stdout
	var errTail tail.Buffer
	cmd.Stderr = &errTail
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return &docker.ExecError{Container: p.Container, Cmd: o.Cmd[0], Code: ee.ExitCode(), Stderr: errTail.String()}
		}
		return fmt.Errorf("postgres: running %s: %w", o.Cmd[0], err)
	}
	return nil
}

// FromEnv describes the database a postgres container was started
// for, from its environment (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB),
// with the official image's defaults.
func FromEnv(d *docker.Client, container string, env []string) *Database {
	p := &Database{Docker: d, Container: container}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "POSTGRES_USER":
			p.User = v
		case "POSTGRES_PASSWORD":
			p.Password = v
		case "POSTGRES_DB":
			p.Database = v
		}
	}
	p.User = p.user()
	p.Database = p.database()
	return p
}

func (p *Database) user() string {
	if p.User == "" {
		return "postgres"
	}
	return p.User
}

func (p *Database) database() string {
	if p.Database == "" {
		return p.user()
	}
	return p.Database
}

// maintenanceDB is where CREATE/DROP/RENAME DATABASE run: "postgres", unless
// that is the database being restored (one cannot drop the database one is
// connected to).
func (p *Database) maintenanceDB() string {
	if p.database() == "postgres" {
		return "template1"
	}
	return "postgres"
}

// exec runs a client program in the container connected to db. User and
// database go through PGUSER/PGDATABASE rather than -U/-d: the names come
// from container env, and in argv a name containing "=" would be parsed as
// a connection string. PGOPTIONS silences NOTICEs so the stderr tail that
// docker.ExecError keeps holds the actual error.
func (p *Database) exec(ctx context.Context, db string, stdin io.Reader, stdout io.Writer, cmd ...string) error {
	return p.run(ctx, docker.ExecOptions{Cmd: cmd, Env: p.clientEnv(db), Stdin: stdin, Stdout: stdout})
}

// clientEnv is the environment a client program connects to db with.
func (p *Database) clientEnv(db string) []string {
	env := []string{"PGUSER=" + p.user(), "PGDATABASE=" + db, "PGOPTIONS=-c client_min_messages=warning"}
	if p.Password != "" {
		env = append(env, "PGPASSWORD="+p.Password)
	}
	return env
}

// psqlCmd is psql without psqlrc, quiet, never prompting, stopping at the
// first error; extra arguments follow.
func psqlCmd(args ...string) []string {
	return append([]string{"psql", "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1"}, args...)
}

// query runs SQL statements (each its own -c, so each runs outside a
// transaction block as DROP DATABASE requires) and returns unaligned,
// tuples-only output with fields separated by NUL bytes.
func (p *Database) query(ctx context.Context, db string, sql ...string) (string, error) {
	args := []string{"-A", "-t", "-z"}
	for _, s := range sql {
		args = append(args, "-c", s)
	}
	var out bytes.Buffer
	err := p.exec(ctx, db, nil, &out, psqlCmd(args...)...)
	return out.String(), err
}

// Dump writes a plain-SQL pg_dump of the database to w: plain format and no
// compression, so that unchanged rows dedup from one backup to the next. On
// error w may have received part of a dump, which the caller must discard.
func (p *Database) Dump(ctx context.Context, w io.Writer) error {
	if err := p.exec(ctx, p.database(), nil, w, "pg_dump", "--no-password"); err != nil {
		return fmt.Errorf("postgres: pg_dump of database %q in %s: %w", p.database(), p.Container, err)
	}
	return nil
}

// DumpGlobals writes `pg_dumpall --globals-only` (roles with their password
// hashes, tablespaces) to w: pg_dump leaves them out, and a dump whose
// objects belong to roles that do not exist cannot be loaded.
func (p *Database) DumpGlobals(ctx context.Context, w io.Writer) error {
	if err := p.exec(ctx, p.maintenanceDB(), nil, w, "pg_dumpall", "--globals-only", "--no-password"); err != nil {
		return fmt.Errorf("postgres: pg_dumpall --globals-only in %s: %w", p.Container, err)
	}
	return nil
}

// tablesSQL lists user tables (ordinary and partitioned) as schema.table,
// one query for both the backup's record and the restore's check.
const tablesSQL = `SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'`

// Metadata records what restore needs (owner, encoding and locale of the
// database, to create its replacement alike) and what it checks (tables).
// Keys: server_version, server_version_num, database, owner, encoding,
// lc_collate, lc_ctype, tables (comma-separated schema.table, sorted),
// table_count.
func (p *Database) Metadata(ctx context.Context) (map[string]string, error) {
	db := p.database()
	out, err := p.query(ctx, db, `SELECT current_setting('server_version'), current_setting('server_version_num'),
current_database(), pg_catalog.pg_get_userbyid(d.datdba), pg_catalog.pg_encoding_to_char(d.encoding),
d.datcollate, d.datctype
FROM pg_catalog.pg_database d WHERE d.datname = current_database()`)
	if err != nil {
		return nil, fmt.Errorf("postgres: metadata of database %q in %s: %w", db, p.Container, err)
	}
	f := strings.Split(strings.TrimSuffix(out, "\n"), "\x00")
	if len(f) != 7 {
		return nil, fmt.Errorf("postgres: metadata of database %q in %s: unexpected psql output %q", db, p.Container, out)
	}
	tables, err := p.tables(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("postgres: metadata of database %q in %s: %w", db, p.Container, err)
	}
	return map[string]string{
		"server_version": f[0], "server_version_num": f[1],
		"database": f[2], "owner": f[3], "encoding": f[4], "lc_collate": f[5], "lc_ctype": f[6],
		"tables": strings.Join(tables, ","), "table_count": strconv.Itoa(len(tables)),
	}, nil
}

// tables returns the sorted user tables of db.
func (p *Database) tables(ctx context.Context, db string) ([]string, error) {
	var out bytes.Buffer
	// -0: NUL between records, so that a name with a newline stays one name
	if err := p.exec(ctx, db, nil, &out, psqlCmd("-A", "-t", "-0", "-c", tablesSQL)...); err != nil {
		return nil, err
	}
	var tables []string
	for _, t := range strings.Split(out.String(), "\x00") {
		if t = strings.TrimSuffix(t, "\n"); t != "" {
			tables = append(tables, t)
		}
	}
	sort.Strings(tables)
	return tables, nil
}

// serverVersion is server_version_num (e.g. 150020) of the running server.
func (p *Database) serverVersion(ctx context.Context) (int, error) {
	out, err := p.query(ctx, p.maintenanceDB(), "SHOW server_version_num")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// ScratchName is the database a restore loads into before it replaces
// name: "<name>__snap_restore". Identifiers longer than 63 bytes are
// silently truncated by the server, which could make the scratch name equal
// the live one, so a long name is shortened (at a UTF-8 boundary) first.
func ScratchName(name string) string {
	const suffix, max = "__snap_restore", 63
	base := name
	for len(base)+len(suffix) > max {
		_, n := utf8.DecodeLastRuneInString(base)
		base = base[:len(base)-n]
	}
	return base + suffix
}

// quoteIdent quotes a SQL identifier: double quotes, doubled inside.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteLiteral quotes a SQL string literal; with a backslash it is an E'...'
// literal with the backslashes doubled, right whatever
// standard_conforming_strings says.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, `'`, `''`)
	if strings.Contains(s, `\`) {
		return `E'` + strings.ReplaceAll(s, `\`, `\\`) + `'`
	}
	return `'` + s + `'`
}

// dropSQL drops a database even while something is connected to it where
// the server can (WITH (FORCE), PostgreSQL 13+).
func dropSQL(name string, version int) string {
	if version >= 130000 {
		return "DROP DATABASE IF EXISTS " + quoteIdent(name) + " WITH (FORCE)"
	}
	return "DROP DATABASE IF EXISTS " + quoteIdent(name)
}

func terminateSQL(name string) string {
	return "SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity WHERE datname = " +
		quoteLiteral(name) + " AND pid <> pg_catalog.pg_backend_pid()"
}

// dumpEnd is the last comment pg_dump writes; a dump without it was cut
// short, even if every statement in it loaded.
const dumpEnd = "-- PostgreSQL database dump complete"

// Swap is a verified scratch database waiting to replace the live one.
type Swap struct {
	p       *Database
	live    string
	scratch string
	version int    // server_version_num
	summary string // tables, rows, size of the scratch database
	done    bool
}

// Scratch is the name of the database holding the restored data.
func (s *Swap) Scratch() string { return s.scratch }

// Prepare loads a plain dump from r into a scratch database
// "<db>__snap_restore" (dropped first if a previous attempt left it) created
// with the owner, encoding and locale recorded in meta, runs ANALYZE and
// checks the tables against meta. The live database is not touched; on any
// failure the scratch database is dropped again.
//
// The load runs with ON_ERROR_STOP but not in a single transaction: the
// scratch database is thrown away on failure anyway, and one transaction
// over thousands of tables can exhaust the lock table.
func (p *Database) Prepare(ctx context.Context, r io.Reader, meta map[string]string) (*Swap, error) {
	live := p.database()
	s := &Swap{p: p, live: live, scratch: ScratchName(live)}
	fail := func(err error) (*Swap, error) {
		msg := fmt.Sprintf("postgres: restore of database %q in %s failed, the live database is untouched", live, p.Container)
		if derr := s.drop(context.WithoutCancel(ctx)); derr != nil {
			msg += fmt.Sprintf(" (and dropping the scratch database %q failed: %v)", s.scratch, derr)
		}
		return nil, fmt.Errorf("%s: %w", msg, err)
	}
	want, err := strconv.Atoi(meta["table_count"])
	if err != nil {
		return nil, fmt.Errorf("postgres: restore of database %q: the backup's metadata has no valid table_count (%q); the live database is untouched", live, meta["table_count"])
	}
	if s.version, err = p.serverVersion(ctx); err != nil {
		return nil, fmt.Errorf("postgres: restore of database %q in %s: %w; the live database is untouched", live, p.Container, err)
	}

	create := "CREATE DATABASE " + quoteIdent(s.scratch) + " TEMPLATE template0"
	if o := meta["owner"]; o != "" {
		create += " OWNER " + quoteIdent(o)
	}
	for _, kv := range [][2]string{{"ENCODING", "encoding"}, {"LC_COLLATE", "lc_collate"}, {"LC_CTYPE", "lc_ctype"}} {
		if v := meta[kv[1]]; v != "" {
			create += " " + kv[0] + " " + quoteLiteral(v)
		}
	}
	if _, err := p.query(ctx, p.maintenanceDB(), dropSQL(s.scratch, s.version), create); err != nil {
		return fail(fmt.Errorf("creating the scratch database %q: %w", s.scratch, err))
	}

	// The whole dump goes through: psql reads to EOF, and the tail tells
	// whether pg_dump finished writing it.
	var end tail.Buffer
	if err := p.exec(ctx, s.scratch, io.TeeReader(r, &end), nil, psqlCmd()...); err != nil {
		return fail(fmt.Errorf("loading the dump into %q: %w", s.scratch, err))
	}
	if !strings.Contains(end.String(), dumpEnd) {
		return fail(fmt.Errorf("the dump is incomplete: it does not end with %q", dumpEnd))
	}

	out, err := p.query(ctx, s.scratch, "ANALYZE",
		`SELECT count(*), coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint, pg_catalog.pg_size_pretty(pg_catalog.pg_database_size(current_database()))
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'`)
	if err != nil {
		return fail(fmt.Errorf("ANALYZE of %q: %w", s.scratch, err))
	}
	f := strings.Split(strings.TrimSpace(out), "\x00")
	if len(f) != 3 {
		return fail(fmt.Errorf("unexpected psql output %q", out))
	}
	got, err := p.tables(ctx, s.scratch)
	if err != nil {
		return fail(fmt.Errorf("listing the tables of %q: %w", s.scratch, err))
	}
	if len(got) != want {
		msg := fmt.Sprintf("the restored database has %d tables, the backup recorded %d", len(got), want)
		if rec, ok := meta["tables"]; ok {
			if d := tableDiff(strings.Split(rec, ","), got); d != "" {
				msg += " (" + d + ")"
			}
		}
		return fail(errors.New(msg))
	}
	s.summary = fmt.Sprintf("%d tables, ~%s rows, %s", len(got), f[1], f[2])
	return s, nil
}

// tableDiff names tables missing from got or not in want (a few of each).
func tableDiff(want, got []string) string {
	in := func(list []string) map[string]bool {
		m := map[string]bool{}
		for _, t := range list {
			if t != "" {
				m[t] = true
			}
		}
		return m
	}
	w, g := in(want), in(got)
	var missing, extra []string
	for t := range w {
		if !g[t] {
			missing = append(missing, t)
		}
	}
	for t := range g {
		if !w[t] {
			extra = append(extra, t)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	few := func(l []string) string {
		if len(l) > 5 {
			return strings.Join(l[:5], ", ") + fmt.Sprintf(" and %d more", len(l)-5)
		}
		return strings.Join(l, ", ")
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing: "+few(missing))
	}
	if len(extra) > 0 {
		parts = append(parts, "not in the backup: "+few(extra))
	}
	return strings.Join(parts, "; ")
}

// Commit replaces the live database with the scratch one, from the
// maintenance database, in one psql session: terminate the live database's
// other backends, drop it (WITH (FORCE) on 13+; older servers get a
// terminate-and-drop loop, since DROP waits only 5 s for backends to exit
// and a client may reconnect in between), then rename scratch to live. The
// application should be stopped first: it cannot connect in between.
func (s *Swap) Commit(ctx context.Context) (string, error) {
	if s.done {
		return "", fmt.Errorf("postgres: restore of database %q already committed or aborted", s.live)
	}
	p, maint := s.p, s.p.maintenanceDB()
	start := time.Now()
	rename := "ALTER DATABASE " + quoteIdent(s.scratch) + " RENAME TO " + quoteIdent(s.live)
	var err error
	if s.version >= 130000 {
		_, err = p.query(ctx, maint, terminateSQL(s.live), dropSQL(s.live, s.version), rename)
	} else {
		for try := 1; ; try++ {
			_, err = p.query(ctx, maint, terminateSQL(s.live), dropSQL(s.live, s.version))
			var ee *docker.ExecError
			if err == nil || try == 5 || !errors.As(err, &ee) || !strings.Contains(ee.Stderr, "is being accessed by other users") {
				break
			}
		}
		if err == nil {
			_, err = p.query(ctx, maint, rename)
		}
	}
	if err != nil {
		// Either step may have failed: say which state the server is in.
		state := "the scratch database " + strconv.Quote(s.scratch) + " is kept"
		if left, lerr := p.query(context.WithoutCancel(ctx), maint,
			"SELECT datname FROM pg_catalog.pg_database WHERE datname = "+quoteLiteral(s.live)); lerr == nil && strings.TrimSpace(left) == "" {
			state = "the live database is gone and the restored data is in " + strconv.Quote(s.scratch) + ": rename it by hand"
		} else if lerr == nil {
			state += ", the live database is untouched"
		}
		return "", fmt.Errorf("postgres: replacing database %q in %s: %w (%s)", s.live, p.Container, err, state)
	}
	s.done = true
	return fmt.Sprintf("database %q in %s replaced: %s (swap %s)", s.live, p.Container, s.summary, time.Since(start).Round(time.Millisecond)), nil
}

// Abort drops the scratch database.
func (s *Swap) Abort(ctx context.Context) error {
	if s.done {
		return nil
	}
	if err := s.drop(ctx); err != nil {
		return fmt.Errorf("postgres: dropping the scratch database %q in %s: %w", s.scratch, s.p.Container, err)
	}
	s.done = true
	return nil
}

func (s *Swap) drop(ctx context.Context) error {
	_, err := s.p.query(ctx, s.p.maintenanceDB(), dropSQL(s.scratch, s.version))
	return err
}

// RestoreGlobals runs pg_dumpall's globals SQL against the maintenance
// database. psql continues past errors here so that roles which already
// exist (CREATE ROLE fails; the ALTER ROLE after it still applies the dumped
// attributes) do not stop it; every other error fails the call. psql exits 0
// after such errors and Exec keeps only a stderr tail, so its stderr is
// merged into stdout by sh (every postgres image has /bin/sh) and read whole.
func (p *Database) RestoreGlobals(ctx context.Context, r io.Reader) error {
	var out bytes.Buffer
	err := p.run(ctx, docker.ExecOptions{
		Cmd:   []string{"sh", "-c", `exec psql -X -q --no-password 2>&1`},
		Env:   p.clientEnv(p.maintenanceDB()),
		Stdin: r, Stdout: &out,
	})
	var bad []string
	for _, line := range strings.Split(out.String(), "\n") {
		if i := strings.Index(line, "ERROR:"); i >= 0 && !strings.Contains(line, "already exists") {
			bad = append(bad, strings.TrimSpace(line))
		} else if strings.Contains(line, "FATAL:") {
			bad = append(bad, strings.TrimSpace(line))
		}
	}
	if err == nil && len(bad) == 0 {
		return nil
	}
	msg := strings.Join(bad, "; ")
	if err != nil {
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return fmt.Errorf("postgres: restoring roles in %s: %w: %s", p.Container, err, msg)
	}
	return fmt.Errorf("postgres: restoring roles in %s: %s", p.Container, msg)
}

// VerifyDump is the restore drill: load the dump into a scratch database,
// check it, drop it. The live database is never touched.
func (p *Database) VerifyDump(ctx context.Context, r io.Reader, meta map[string]string) error {
	s, err := p.Prepare(ctx, r, meta)
	if err != nil {
		return err
	}
	return s.Abort(ctx)
}
