package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoSpace: the server's data directory has no room for the scratch
// copy a restore loads before it swaps.
var ErrNoSpace = errors.New("not enough disk space for the scratch database")

// NoSpaceError gives the figures.
type NoSpaceError struct {
	Container, Dir  string
	Avail, Need     int64 // bytes
	Live, DumpBytes int64
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("postgres: %v in %s: %s free in %s, the scratch copy needs about %s (the live database is %s, the dump %s) and sits beside the live database until the swap; the live database is untouched",
		ErrNoSpace, e.Container, mib(e.Avail), e.Dir, mib(e.Need), mib(e.Live), mib(e.DumpBytes))
}

func (e *NoSpaceError) Unwrap() error { return ErrNoSpace }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// spaceNeed is what a scratch copy may take: the larger of the live
// database and the plain dump (data without its indexes), a tenth more
// and 16 MiB for WAL and catalogs.
func spaceNeed(live, dump int64) int64 {
	n := max(live, dump)
	return n + n/10 + 16<<20
}

// parseDF reads the available bytes from `df -Pk DIR` output.
func parseDF(out string) (int64, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("unexpected df output %q", out)
	}
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 6 {
		return 0, fmt.Errorf("unexpected df output %q", out)
	}
	kb, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("unexpected df output %q", out)
	}
	return kb << 10, nil
}

// CheckSpace refuses a restore whose scratch copy would not fit in the
// server's data directory ($PGDATA inside the container): a full disk
// under the live database is worse than no restore. A server whose free
// space cannot be read (no df, direct mode) is not refused; the returned
// line says what was checked.
func (p *Database) CheckSpace(ctx context.Context, dumpSize int64) (string, error) {
	if p.Docker == nil {
		return "", nil
	}
	out, err := p.Docker.Output(ctx, p.Container, nil, "sh", "-c", `d="${PGDATA:-/var/lib/postgresql/data}"; echo "$d"; df -Pk "$d"`)
	if err != nil {
		return "free space of the data directory unknown (df failed)", nil
	}
	dir, dfOut, _ := strings.Cut(out, "\n")
	avail, err := parseDF(dfOut)
	if err != nil {
		return "free space of the data directory unknown (" + err.Error() + ")", nil
	}
	var live int64
	if s, err := p.query(ctx, p.maintenanceDB(), "SELECT coalesce(pg_catalog.pg_database_size(oid), 0) FROM pg_catalog.pg_database WHERE datname = "+quoteLiteral(p.database())); err == nil {
		live, _ = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	}
	need := spaceNeed(live, dumpSize)
	if avail < need {
		return "", &NoSpaceError{Container: p.Container, Dir: strings.TrimSpace(dir), Avail: avail, Need: need, Live: live, DumpBytes: dumpSize}
	}
	return fmt.Sprintf("%s free for it", mib(avail)), nil
}
