// Package sqlite is the sqlite source kind: consistent online copies of
// SQLite databases that an application keeps writing (n8n's default
// database.sqlite), checked before they are stored and again before they
// are put back.
//
// The copy runs on the Docker host, through the volume's or bind mount's
// host path, not inside the container: n8n's image has no sqlite3 binary
// and the host may not have one either, so snap uses SQLite itself
// (modernc.org/sqlite, a pure-Go build of the C library) in its own
// process. SQLite's POSIX advisory locks hold between a process on the
// host and one in a container, because they share the kernel and the
// file's inode: the online backup API reads inside one read transaction,
// so a copy is the database as of one commit and is never torn, in
// rollback-journal and WAL mode alike. The price is that snap must run as
// root on the Docker host (not with rootless or remote Docker); it says so
// when the path cannot be reached.
//
// Backup copies into a temporary file outside the app's volume, runs
// integrity_check on the copy (a failed check fails the item) and streams
// it. Restore proves the stored copy in scratch (integrity_check, the
// recorded table list), then, with every container that mounts the
// database's volume stopped, sets the live file aside when it differs and
// renames the new one into place with the recorded owner and mode.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
)

// ErrCorrupt: integrity_check did not answer "ok".
var ErrCorrupt = errors.New("sqlite database fails integrity_check")

// BusyTimeout is how long a copy waits for a writer's lock before it
// gives up. A writer holds its lock for one transaction (milliseconds in
// n8n), so waiting long is safe and failing fast would fail nightly runs.
const BusyTimeout = 60 * time.Second

// dsn opens path through a URI: read-only, never creating the file, with a
// busy timeout so a writer's lock is waited for, not reported.
func dsn(path string, readOnly bool) string {
	mode := "rw"
	if readOnly {
		mode = "ro"
	}
	u := url.URL{Scheme: "file", Path: path}
	q := url.Values{}
	q.Set("mode", mode)
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	u.RawQuery = q.Encode()
	return u.String()
}

type backuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// Copy writes a consistent copy of the live database at src to dst (which
// must not exist) with SQLite's online backup API, copying every page in
// one step: that step reads inside one read transaction, so the copy is
// the database as of one commit (in WAL mode writers go on meanwhile; in
// rollback-journal mode they wait for the copy, about a second per GiB).
// The page layout is kept, which keeps unchanged pages deduplicated from
// one night to the next.
func Copy(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("sqlite: copy target %s exists", dst)
	}
	db, err := sql.Open("sqlite", dsn(src, true))
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", src, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", src, err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		b, ok := dc.(backuper)
		if !ok {
			return errors.New("the SQLite driver has no online backup API")
		}
		bk, err := b.NewBackup(dst)
		if err != nil {
			return err
		}
		// Step returns true while pages remain; -1 asks for all of them.
		more, err := bk.Step(-1)
		if ferr := bk.Finish(); err == nil {
			err = ferr
		}
		if err == nil && more {
			err = errors.New("backup ended before the last page")
		}
		return err
	})
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("sqlite: online backup of %s: %w", src, err)
	}
	return nil
}

// Report is what Check found in a database file.
type Report struct {
	Tables      []string         // user tables, sorted
	Rows        map[string]int64 // rows per table, when asked for
	JournalMode string
	PageSize    int64
	Pages       int64
}

// Open opens a database file that is not live (a copy) read-only.
func Open(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// Check runs PRAGMA integrity_check on a database file and lists its
// tables (with row counts when rows is set). A failed check is ErrCorrupt
// with SQLite's first findings.
func Check(ctx context.Context, path string, rows bool) (*Report, error) {
	db, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return CheckDB(ctx, db, rows)
}

// CheckDB is Check on an open database.
func CheckDB(ctx context.Context, db *sql.DB, rows bool) (*Report, error) {
	res, err := db.QueryContext(ctx, "PRAGMA integrity_check(20)")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	var findings []string
	for res.Next() {
		var s string
		if err := res.Scan(&s); err != nil {
			res.Close()
			return nil, err
		}
		findings = append(findings, s)
	}
	if err := res.Close(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if len(findings) != 1 || findings[0] != "ok" {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(findings, "; "))
	}
	rep := &Report{Rows: map[string]int64{}}
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&rep.JournalMode); err != nil {
		return nil, err
	}
	if err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&rep.PageSize); err != nil {
		return nil, err
	}
	if err := db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&rep.Pages); err != nil {
		return nil, err
	}
	tr, err := db.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return nil, err
	}
	for tr.Next() {
		var name string
		if err := tr.Scan(&name); err != nil {
			tr.Close()
			return nil, err
		}
		rep.Tables = append(rep.Tables, name)
	}
	tr.Close()
	if rows {
		for _, t := range rep.Tables {
			var n int64
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM "`+strings.ReplaceAll(t, `"`, `""`)+`"`).Scan(&n); err != nil {
				return nil, err
			}
			rep.Rows[t] = n
		}
	}
	return rep, nil
}

// OpenRW opens a database file read-write, creating it if missing, with
// the busy timeout (tests and tools that write a database).
func OpenRW(path string) (*sql.DB, error) {
	u := strings.Replace(dsn(path, false), "mode=rw", "mode=rwc", 1)
	db, err := sql.Open("sqlite", u)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// QueryFile runs one read-only query in the database file at path (a copy,
// or the live file: SQLite's shared lock keeps the read consistent) and
// returns its rows as text (NULL as "").
func QueryFile(ctx context.Context, path, query string) ([][]string, error) {
	db, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query in %s: %w", path, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("sqlite: query in %s: %w", path, err)
		}
		rec := make([]string, len(cols))
		for i, v := range vals {
			rec[i] = v.String
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query in %s: %w", path, err)
	}
	return out, nil
}
