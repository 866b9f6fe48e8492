package postgres

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"snap/internal/teststack"
	"snap/sources/docker"
)

func TestPostgresNames(t *testing.T) {
	if got := quoteIdent(`a"b`); got != `"a""b"` {
		t.Errorf("quoteIdent = %s", got)
	}
	if got := quoteLiteral(`it's`); got != `'it''s'` {
		t.Errorf("quoteLiteral = %s", got)
	}
	if got := quoteLiteral(`a\b'`); got != `E'a\\b'''` {
		t.Errorf("quoteLiteral = %s", got)
	}
	if got := ScratchName("n8n"); got != "n8n__snap_restore" {
		t.Errorf("ScratchName = %s", got)
	}
	// 63 bytes is the longest name: the scratch name must still differ
	// from it and fit, also when cut next to a multi-byte character.
	for _, long := range []string{strings.Repeat("x", 63), strings.Repeat("x", 48) + "é" + strings.Repeat("y", 13)} {
		s := ScratchName(long)
		if len(s) > 63 || s == long || !strings.HasSuffix(s, "__snap_restore") || !strings.HasPrefix(long, strings.TrimSuffix(s, "__snap_restore")) {
			t.Errorf("ScratchName(%q) = %q", long, s)
		}
	}
	p := FromEnv(nil, "c", []string{"PATH=/bin", "POSTGRES_PASSWORD=pw=x"})
	if p.User != "postgres" || p.Database != "postgres" || p.Password != "pw=x" {
		t.Errorf("FromEnv defaults: %+v", p)
	}
	p = FromEnv(nil, "c", []string{"POSTGRES_USER=n8n"})
	if p.User != "n8n" || p.Database != "n8n" || p.maintenanceDB() != "postgres" {
		t.Errorf("FromEnv user: %+v", p)
	}
	if (&Database{}).maintenanceDB() != "template1" {
		t.Error("restoring the postgres database must not use it as maintenance database")
	}
}

// pgFingerprint is a count and a digest of every row of the seeded tables.
const pgFingerprint = `SELECT string_agg(t || ':' || n || ':' || h, ' ' ORDER BY t) FROM (
SELECT 'migrations' t, count(*) n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) h FROM migrations x UNION ALL
SELECT 'settings', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM settings x UNION ALL
SELECT 'user', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM "user" x UNION ALL
SELECT 'workflow_entity', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM workflow_entity x UNION ALL
SELECT 'tag_entity', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM tag_entity x UNION ALL
SELECT 'workflows_tags', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM workflows_tags x UNION ALL
SELECT 'credentials_entity', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM credentials_entity x UNION ALL
SELECT 'webhook_entity', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM webhook_entity x UNION ALL
SELECT 'execution_entity', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM execution_entity x UNION ALL
SELECT 'execution_data', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM execution_data x) s`

func pgQuery(t *testing.T, p *Database, db string, sql ...string) string {
	t.Helper()
	out, err := p.query(context.Background(), db, sql...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func pgDatabaseExists(t *testing.T, p *Database, name string) bool {
	t.Helper()
	return pgQuery(t, p, "postgres", "SELECT count(*) FROM pg_database WHERE datname = "+quoteLiteral(name)) == "1"
}

// stripRestrict drops pg_dump's \restrict/\unrestrict lines, whose key is
// random in every dump.
func stripRestrict(dump []byte) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(dump), "\n") {
		if !strings.HasPrefix(line, `\restrict `) && !strings.HasPrefix(line, `\unrestrict `) {
			b.WriteString(line)
		}
	}
	return b.String()
}

func timed(t *testing.T, what string) func() {
	start := time.Now()
	return func() { t.Logf("%s: %s", what, time.Since(start).Round(time.Millisecond)) }
}

// TestPostgres runs against the real PostgreSQL 15 of a test stack. Every
// subtest leaves the live database with the seeded data.
func TestPostgres(t *testing.T) {
	done := timed(t, "stack up")
	s := teststack.Start(t, "snaptpg")
	done()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ctr := s.Container("postgres")
	p := &Database{Docker: s.Docker, Container: ctr, User: "n8n", Password: s.Env["POSTGRES_PASSWORD"], Database: "n8n"}
	scratch := ScratchName("n8n")
	seeded := pgQuery(t, p, "n8n", pgFingerprint)
	if !strings.Contains(seeded, "workflow_entity:250:") || !strings.Contains(seeded, "execution_data:5000:") {
		t.Fatalf("unexpected seeded data: %s", seeded)
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		if got := pgQuery(t, p, "n8n", pgFingerprint); got != seeded {
			t.Fatalf("live database changed:\n got %s\nwant %s", got, seeded)
		}
		if pgDatabaseExists(t, p, scratch) {
			t.Fatalf("scratch database %s left behind", scratch)
		}
	}

	var dump bytes.Buffer
	done = timed(t, "pg_dump")
	if err := p.Dump(ctx, &dump); err != nil {
		t.Fatal(err)
	}
	done()
	meta, err := p.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dump %d bytes; metadata %v", dump.Len(), meta)

	t.Run("DumpMetadata", func(t *testing.T) {
		for _, want := range []string{"COPY public.workflow_entity ", "COPY public.execution_data ", "CREATE TABLE public.\"user\"", dumpEnd} {
			if !strings.Contains(dump.String(), want) {
				t.Errorf("dump lacks %q", want)
			}
		}
		if !strings.HasPrefix(meta["server_version"], "15.") || meta["database"] != "n8n" || meta["owner"] != "n8n" || meta["encoding"] != "UTF8" {
			t.Errorf("metadata %v", meta)
		}
		tables := strings.Split(meta["tables"], ",")
		if meta["table_count"] != "10" || len(tables) != 10 {
			t.Errorf("table_count %s, tables %q", meta["table_count"], tables)
		}
		for _, want := range []string{"public.workflow_entity", "public.user", "public.execution_data"} {
			found := false
			for _, tb := range tables {
				found = found || tb == want
			}
			if !found {
				t.Errorf("tables %q lack %s", meta["tables"], want)
			}
		}
	})

	t.Run("MissingDatabase", func(t *testing.T) {
		nope := *p
		nope.Database = "nope"
		var out bytes.Buffer
		err := nope.Dump(ctx, &out)
		var ee *docker.ExecError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), `database "nope" does not exist`) || !strings.Contains(err.Error(), ctr) {
			t.Fatalf("got %v", err)
		}
		t.Log(err)
	})

	t.Run("VerifyDump", func(t *testing.T) {
		done := timed(t, "VerifyDump")
		if err := p.VerifyDump(ctx, bytes.NewReader(dump.Bytes()), meta); err != nil {
			t.Fatal(err)
		}
		done()
		unchanged(t)
	})

	t.Run("FailureSafety", func(t *testing.T) {
		half := dump.Bytes()[:dump.Len()/2]
		atLine := half[:bytes.LastIndexByte(half, '\n')+1]
		schemaCut := strings.Index(dump.String(), "CREATE TABLE public.workflow_entity") + 50
		wrong := map[string]string{}
		for k, v := range meta {
			wrong[k] = v
		}
		wrong["table_count"] = "11"
		wrong["tables"] += ",public.gone"
		for _, c := range []struct {
			name, dump, want string
			meta             map[string]string
		}{
			// psql ends a COPY at EOF without complaint, keeping the cut
			// row: only the missing end marker tells
			{"half", string(half), "incomplete", meta},
			{"half at a line end", string(atLine), "incomplete", meta},
			{"cut in a statement", dump.String()[:schemaCut], "psql in container", meta},
			{"garbage first", "THIS IS NOT SQL;\n" + dump.String()[:schemaCut], "syntax error", meta},
			// psql stops at once while megabytes of input are still to come
			{"garbage before 5MB", "THIS IS NOT SQL;\n" + dump.String(), "syntax error", meta},
			{"no end marker", strings.Replace(dump.String(), dumpEnd, "-- cut", 1), "incomplete", meta},
			{"table count", dump.String(), "missing: public.gone", wrong},
			{"no metadata", dump.String(), "table_count", nil},
		} {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				swap, err := p.Prepare(ctx, strings.NewReader(c.dump), c.meta)
				if err == nil {
					swap.Abort(ctx)
					t.Fatal("Prepare succeeded")
				}
				t.Log(err)
				if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "live database is untouched") {
					t.Errorf("error lacks %q or the untouched note", c.want)
				}
				unchanged(t)
			})
		}
	})

	t.Run("Globals", func(t *testing.T) {
		var g bytes.Buffer
		if err := p.DumpGlobals(ctx, &g); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(g.String(), "CREATE ROLE n8n;") {
			t.Fatalf("globals lack the n8n role:\n%s", g.String())
		}
		if err := p.RestoreGlobals(ctx, bytes.NewReader(g.Bytes())); err != nil {
			t.Fatal(err)
		}
		// a new role is created, other errors are not tolerated
		extra := g.String() + "CREATE ROLE snap_test_reader;\n"
		if err := p.RestoreGlobals(ctx, strings.NewReader(extra)); err != nil {
			t.Fatal(err)
		}
		if pgQuery(t, p, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'snap_test_reader'") != "1" {
			t.Error("role snap_test_reader was not created")
		}
		pgQuery(t, p, "postgres", "DROP ROLE snap_test_reader")
		err := p.RestoreGlobals(ctx, strings.NewReader(g.String()+"SELECT 1/0;\nCREATE ROLE n8n;\n"))
		if err == nil || !strings.Contains(err.Error(), "division by zero") || strings.Contains(err.Error(), "already exists") {
			t.Fatalf("got %v", err)
		}
		t.Log(err)
	})

	t.Run("RoundTrip", func(t *testing.T) {
		pgQuery(t, p, "n8n", "DROP TABLE webhook_entity", `UPDATE workflow_entity SET name = 'changed'`, "DELETE FROM execution_entity WHERE id > 4000")
		if pgQuery(t, p, "n8n", "SELECT count(*) FROM workflow_entity WHERE name = 'changed'") != "250" {
			t.Fatal("mutation failed")
		}
		// A client connected to the live database (an app left running)
		// is disconnected by Commit.
		busy := make(chan error, 1)
		go func() {
			_, err := p.query(ctx, "n8n", "SELECT pg_sleep(300)")
			busy <- err
		}()
		for pgQuery(t, p, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'n8n' AND query LIKE 'SELECT pg_sleep(300)%'") != "1" {
			select {
			case err := <-busy:
				t.Fatalf("pg_sleep client ended early: %v", err)
			default:
			}
		}

		done := timed(t, "Prepare")
		swap, err := p.Prepare(ctx, bytes.NewReader(dump.Bytes()), meta)
		if err != nil {
			t.Fatal(err)
		}
		done()
		if !pgDatabaseExists(t, p, scratch) || swap.Scratch() != scratch {
			t.Fatal("no scratch database after Prepare")
		}
		if pgQuery(t, p, "n8n", "SELECT count(*) FROM pg_tables WHERE tablename = 'webhook_entity'") != "0" {
			t.Fatal("Prepare touched the live database")
		}
		done = timed(t, "Commit")
		report, err := swap.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		done()
		t.Log(report)
		if !strings.Contains(report, "10 tables") {
			t.Errorf("report %q", report)
		}
		if err := <-busy; err == nil || !strings.Contains(err.Error(), "terminat") {
			t.Errorf("the connected client: %v", err)
		}
		unchanged(t)
		if _, err := swap.Commit(ctx); err == nil {
			t.Error("second Commit succeeded")
		}

		var again bytes.Buffer
		if err := p.Dump(ctx, &again); err != nil {
			t.Fatal(err)
		}
		if a, b := stripRestrict(dump.Bytes()), stripRestrict(again.Bytes()); a != b {
			t.Errorf("dump after restore differs (%d vs %d bytes)", len(a), len(b))
		}
		meta2, err := p.Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range meta {
			if meta2[k] != v {
				t.Errorf("metadata %s: %q, was %q", k, meta2[k], v)
			}
		}
	})

	t.Run("LeftoverScratch", func(t *testing.T) {
		// a scratch database left by a crashed restore is replaced
		pgQuery(t, p, "postgres", "CREATE DATABASE "+quoteIdent(scratch))
		pgQuery(t, p, scratch, "CREATE TABLE junk (x int)")
		swap, err := p.Prepare(ctx, bytes.NewReader(dump.Bytes()), meta)
		if err != nil {
			t.Fatal(err)
		}
		if err := swap.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		unchanged(t)
	})
}
