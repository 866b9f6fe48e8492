package postgres

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// fieldSep separates fields in QueryRows' psql output (records end with a
// NUL): neither appears in n8n's text, base64 or JSON columns.
const fieldSep = "\x1f"

// QueryRows runs one read-only query in db and returns its rows as text
// fields (NULL as "").
func (p *Database) queryRows(ctx context.Context, db, sql string) ([][]string, error) {
	var out bytes.Buffer
	args := psqlCmd("-A", "-t", "-0", "-F", fieldSep, "-c", "SET default_transaction_read_only = on", "-c", sql)
	if err := p.exec(ctx, db, nil, &out, args...); err != nil {
		return nil, err
	}
	var rows [][]string
	for _, rec := range strings.Split(out.String(), "\x00") {
		rec = strings.TrimSuffix(rec, "\n")
		if rec == "" {
			continue
		}
		rows = append(rows, strings.Split(rec, fieldSep))
	}
	return rows, nil
}

// QueryRows runs a read-only query in the live database.
func (p *Database) QueryRows(ctx context.Context, sql string) ([][]string, error) {
	rows, err := p.queryRows(ctx, p.database(), sql)
	if err != nil {
		return nil, fmt.Errorf("postgres: query in database %q in %s: %w", p.database(), p.Container, err)
	}
	return rows, nil
}

// QueryRows runs a read-only query in the scratch database (a
// sources.Querier): a plan check reads the restored rows before the swap.
func (s *Swap) QueryRows(ctx context.Context, sql string) ([][]string, error) {
	if s.done {
		return nil, fmt.Errorf("postgres: the scratch database %q is already committed or dropped", s.scratch)
	}
	rows, err := s.p.queryRows(ctx, s.scratch, sql)
	if err != nil {
		return nil, fmt.Errorf("postgres: query in the scratch database %q in %s: %w", s.scratch, s.p.Container, err)
	}
	return rows, nil
}

// QueryRows: the source kind's swap is a sources.Querier too.
func (s *swap) QueryRows(ctx context.Context, sql string) ([][]string, error) {
	return s.sw.QueryRows(ctx, sql)
}
