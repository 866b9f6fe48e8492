package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"
)

// The prune phase backs up a history of daily dumps. Day 1 is dump1.sql as
// is; day N is derived from it by a deterministic transform, streamed to a
// file one day at a time, so no 30 dumps ever sit on disk. Each day since
// the one before:
//
//   - scattered updates: a row is rewritten (updated_at, status) with
//     probability 1/histScatter, anywhere in the dump;
//   - hot rows: the newest 1/histHotFrac of each table's rows (recent
//     orders, fresh events) are rewritten with probability 1/histHot;
//   - growth: tables with at least 5% of the dump's rows get rows/histGrow
//     new rows at their end (the COPY block's end, as pg_dump orders them);
//   - retention: the log tables (events, audit_log) lose their oldest
//     rows/histExpire rows, so their head shifts every day.
//
// Updates are cumulative: day N holds, for every row, its version from the
// last day it was updated. A chunk that is rewritten later, or a row that
// expires, leaves data only the older snapshots reference, which is what
// forget+prune must find and free.
const (
	histScatter = 100_000
	histHotFrac = 100
	histHot     = 50
	histGrow    = 500
	histExpire  = 500
	histGrowMin = 0.05 // share of the dump's rows a table needs to grow
	histSeed    = 0x9e3779b97f4a7c15
	histTpl     = 1024 // template rows kept per table for appended rows
)

var (
	historyStart = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC) // day 1's snapshot time
	expiringTabs = map[string]bool{"events": true, "audit_log": true}
)

// snapTime is when day (1-based) is backed up: 02:00 UTC every day.
func snapTime(day int) time.Time { return historyStart.AddDate(0, 0, day-1) }

type histTable struct {
	idx        uint64
	name       string
	rows       int64 // rows in dump1
	created    int   // column indexes, -1 if absent
	updated    int
	status     int
	statuses   []string // distinct values seen, sorted
	templates  [][]byte // the table's last rows, without '\n'
	grow       int64    // rows appended per day
	expire     int64    // oldest rows deleted per day
	hotFrom    int64    // rows with ordinal > hotFrom are hot
	updatable  bool
	statusSeen map[string]bool
}

// history is the plan for deriving every day from dump1.sql.
type history struct {
	src    string
	tables map[string]*histTable
}

// dayStats says what one day changed against the day before.
type dayStats struct {
	Updated  int64 `json:"updated_rows"`
	Appended int64 `json:"appended_rows"`
	Expired  int64 `json:"deleted_rows"`
}

// scanHistory reads dump1.sql once: row counts, column positions, status
// values and template rows for every COPY block.
func scanHistory(src string) (*history, error) {
	h := &history{src: src, tables: map[string]*histTable{}}
	var total int64
	err := eachLine(src, func(line []byte, t *histTable, inCopy bool) (*histTable, error) {
		if !inCopy {
			if name, cols, ok := parseCopy(line); ok {
				t = &histTable{idx: uint64(len(h.tables) + 1), name: name, statusSeen: map[string]bool{},
					created: slices.Index(cols, "created_at"), updated: slices.Index(cols, "updated_at"),
					status: slices.Index(cols, "status")}
				t.updatable = t.updated >= 0 && t.status >= 0 && t.created >= 0
				h.tables[name] = t
			}
			return t, nil
		}
		t.rows++
		total++
		row := bytes.TrimSuffix(line, []byte{'\n'})
		if len(t.templates) < histTpl {
			t.templates = append(t.templates, slices.Clone(row))
		} else {
			i := t.rows % histTpl
			t.templates[i] = append(t.templates[i][:0], row...)
		}
		if t.status >= 0 && len(t.statusSeen) < 32 {
			if f := field(row, t.status); f != nil {
				t.statusSeen[string(f)] = true
			}
		}
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	if len(h.tables) == 0 {
		return nil, fmt.Errorf("%s: no COPY blocks", src)
	}
	for _, t := range h.tables {
		for s := range t.statusSeen {
			t.statuses = append(t.statuses, s)
		}
		slices.Sort(t.statuses)
		if len(t.statuses) == 0 {
			t.updatable = false
		}
		if t.updatable && float64(t.rows) >= histGrowMin*float64(total) {
			t.grow = max(1, t.rows/histGrow)
		}
		if t.updatable && expiringTabs[t.name] {
			t.expire = max(1, t.rows/histExpire)
		}
		t.hotFrom = t.rows - t.rows/histHotFrac
	}
	return h, nil
}

// eachLine calls f for every line of the dump with the table whose COPY
// block it is in (inCopy), or the table last seen.
func eachLine(src string, f func(line []byte, t *histTable, inCopy bool) (*histTable, error)) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	r := bufio.NewReaderSize(in, 1<<20)
	var t *histTable
	inCopy := false
	var long []byte
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			switch {
			case inCopy && string(line) == "\\.\n":
				inCopy = false
				if _, ferr := f(line, t, false); ferr != nil {
					return ferr
				}
				continue
			case !inCopy:
				nt, ferr := f(line, t, false)
				if ferr != nil {
					return ferr
				}
				if nt != t {
					t, inCopy = nt, true
				}
				continue
			}
			if _, ferr := f(line, t, true); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// parseCopy recognises "COPY public.NAME (a, b, c) FROM stdin;".
func parseCopy(line []byte) (string, []string, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("COPY public."))
	if !ok {
		return "", nil, false
	}
	name, rest, ok := bytes.Cut(rest, []byte(" ("))
	if !ok {
		return "", nil, false
	}
	list, _, ok := bytes.Cut(rest, []byte(")"))
	if !ok {
		return "", nil, false
	}
	var cols []string
	for _, c := range bytes.Split(list, []byte(", ")) {
		cols = append(cols, string(c))
	}
	return string(name), cols, true
}

// field returns the i-th tab-separated field of row, or nil.
func field(row []byte, i int) []byte {
	for ; i > 0; i-- {
		j := bytes.IndexByte(row, '\t')
		if j < 0 {
			return nil
		}
		row = row[j+1:]
	}
	if j := bytes.IndexByte(row, '\t'); j >= 0 {
		return row[:j]
	}
	return row
}

func mix(vs ...uint64) uint64 {
	x := uint64(histSeed)
	for _, v := range vs {
		x ^= v
		x += 0x9e3779b97f4a7c15
		x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
		x = (x ^ x>>27) * 0x94d049bb133111eb
		x ^= x >> 31
	}
	return x
}

// lastUpdate is the latest day in 2..day on which row ord of t is
// rewritten, or 0, and the hash that picks the new values.
func (t *histTable) lastUpdate(ord int64, day int) (int, uint64) {
	limit := ^uint64(0) / histScatter
	if ord > t.hotFrom {
		limit = ^uint64(0) / histHot
	}
	for d := day; d >= 2; d-- {
		if h := mix(t.idx, uint64(ord), uint64(d)); h < limit {
			return d, mix(h)
		}
	}
	return 0, 0
}

// writeDay writes day (1-based) of the history to path and returns its
// SHA-256, size and what changed since the day before.
func (h *history) writeDay(path string, day int) (sum [32]byte, n int64, st dayStats, err error) {
	out, err := os.Create(path)
	if err != nil {
		return sum, 0, st, err
	}
	defer out.Close()
	hash := sha256.New()
	cw := &countWriter{w: io.MultiWriter(out, hash)}
	w := bufio.NewWriterSize(cw, 1<<20)
	var ord int64
	var row []byte
	err = eachLine(h.src, func(line []byte, t *histTable, inCopy bool) (*histTable, error) {
		if inCopy {
			ord++
			if t.updatable && ord <= int64(day-1)*t.expire {
				if ord > int64(day-2)*t.expire {
					st.Expired++
				}
				return t, nil
			}
			if !t.updatable {
				w.Write(line)
				return t, nil
			}
			d, r := t.lastUpdate(ord, day)
			if d == 0 {
				w.Write(line)
				return t, nil
			}
			if d == day {
				st.Updated++
			}
			row = t.rewrite(row[:0], bytes.TrimSuffix(line, []byte{'\n'}), -1, time.Time{}, snapTime(d), r)
			w.Write(append(row, '\n'))
			return t, nil
		}
		if string(line) == "\\.\n" && t != nil {
			for d := 2; d <= day; d++ {
				for k := range t.grow {
					r := mix(t.idx, uint64(d), uint64(k), 1)
					tpl := t.templates[r%uint64(len(t.templates))]
					id := t.rows + int64(d-2)*t.grow + k + 1
					row = t.rewrite(row[:0], tpl, id, snapTime(d).Add(-24*time.Hour+time.Duration(k)*24*time.Hour/time.Duration(t.grow)), snapTime(d), r)
					w.Write(append(row, '\n'))
				}
				if d == day {
					st.Appended += t.grow
				}
			}
			w.Write(line)
			return t, nil
		}
		if name, _, ok := parseCopy(line); ok {
			ord = 0
			w.Write(line)
			return h.tables[name], nil
		}
		w.Write(h.setval(line, day))
		return t, nil
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = out.Close()
	}
	copy(sum[:], hash.Sum(nil))
	return sum, cw.n, st, err
}

// rewrite copies row with updated_at (and status) set as of upd; with id
// >= 0 it also replaces the id (first column) and created_at: a new row.
func (t *histTable) rewrite(b, row []byte, id int64, created, upd time.Time, r uint64) []byte {
	// Updates happen during the day before the 02:00 backup.
	ts := upd.Add(-time.Duration(1+r%uint64(22*time.Hour/time.Second)) * time.Second)
	if id >= 0 {
		ts = created
	}
	for i := 0; ; i++ {
		j := bytes.IndexByte(row, '\t')
		f := row
		if j >= 0 {
			f = row[:j]
		}
		switch {
		case i == 0 && id >= 0:
			b = strconv.AppendInt(b, id, 10)
		case i == t.created && id >= 0, i == t.updated:
			b = append(ts.UTC().AppendFormat(b, "2006-01-02 15:04:05"), "+00"...)
		case i == t.status:
			b = append(b, t.statuses[(r>>32)%uint64(len(t.statuses))]...)
		default:
			b = append(b, f...)
		}
		if j < 0 {
			return b
		}
		b = append(b, '\t')
		row = row[j+1:]
	}
}

// setval moves a sequence past the rows appended by day.
func (h *history) setval(line []byte, day int) []byte {
	rest, ok := bytes.CutPrefix(line, []byte("SELECT pg_catalog.setval('public."))
	if !ok {
		return line
	}
	name, _, ok := bytes.Cut(rest, []byte("_id_seq'"))
	if !ok {
		return line
	}
	t := h.tables[string(name)]
	if t == nil || t.grow == 0 {
		return line
	}
	return fmt.Appendf(nil, "SELECT pg_catalog.setval('public.%s_id_seq', %d, true);\n", name, t.rows+int64(day-1)*t.grow)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
