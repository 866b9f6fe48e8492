package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

type dumpStats struct {
	bytes1, bytes2          int64
	rows, changed, appended int64
}

type column struct{ name, typ string }

// table is one COPY block. Rows are produced by row, which must put
// "updated_at<TAB>status" as one segment (seg) so day 2 can rewrite it the
// way an UPDATE would.
type table struct {
	name   string
	cols   []column
	share  float64 // fraction of the dump's bytes
	big    bool    // gets ~2% appended rows on day 2
	status []string
	row    func(g *gen, b []byte, id int64) []byte

	coarse   bool  // app-set timestamps with whole seconds
	sameTx   bool  // this row was inserted with the previous one: same created_at
	clock    int64 // created_at of the last row, µs
	last     int64 // no timestamp after this, µs
	next     int64 // where the clock should be now: rows spread evenly over time
	gap      int64 // jitter, about the time between two rows, µs
	seg      [2]int
	rows     int64
	appended int64
}

var (
	day1Start = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	day2Start = time.Date(2025, 6, 2, 1, 0, 0, 0, time.UTC).UnixMicro()
	span      = int64(880 * 24 * time.Hour / time.Microsecond)
)

// times appends "created<TAB>updated<TAB>status" and records the mutable
// segment.
func (t *table) times(g *gen, b []byte) []byte {
	if !t.sameTx {
		t.clock = max(t.clock+1, t.next+g.r.Int64N(t.gap))
	}
	created := t.clock
	if t.coarse {
		created -= created % 1e6
	}
	b = appendTS(b, created)
	b = append(b, '\t')
	t.seg[0] = len(b)
	upd := created // most rows are never updated after insert
	if g.r.IntN(2) == 0 {
		upd += g.r.Int64N(int64(30 * 24 * time.Hour / time.Microsecond))
		if upd > t.last {
			upd = t.last - g.r.Int64N(int64(time.Hour/time.Microsecond))
		}
		if t.coarse {
			upd -= upd % 1e6
		}
	}
	b = appendTS(b, upd)
	b = append(b, '\t')
	b = append(b, g.pick(t.status)...)
	t.seg[1] = len(b)
	return b
}

var (
	categories  = []string{"tools", "garden", "kitchen", "office", "toys", "books", "audio", "sports", "health", "auto"}
	domains     = []string{"example.com", "mail.test", "corp.example", "inbox.test", "web.example"}
	countries   = []string{"US", "DE", "FR", "GB", "NL", "PL", "ES", "IT", "SE", "CA", "BR", "JP"}
	currencies  = []string{"USD", "EUR", "GBP", "PLN", "SEK"}
	evTypes     = []string{"page_view", "click", "login", "logout", "add_to_cart", "checkout", "search", "api_call"}
	actions     = []string{"INSERT", "UPDATE", "UPDATE", "UPDATE", "DELETE"}
	plans       = []string{"free", "basic", "pro", "team", "enterprise"}
	auditTables = []string{"orders", "customers", "products", "order_items"}
	uaPool      = buildPool(40, func(g *gen, b []byte) []byte {
		b = append(b, "Mozilla/5.0 ("...)
		b = append(g.words(b, 2, ' '), ") "...)
		b = append(append(b, g.word()...), '/')
		return append(num(b, int64(60+g.r.IntN(70))), ".0"...)
	})
	devicePool = buildPool(60, func(g *gen, b []byte) []byte {
		b = append(b, `{"os": "`...)
		b = append(b, g.pick([]string{"Linux", "Windows 10", "Windows 11", "macOS 14", "iOS 17", "Android 14"})...)
		b = append(b, `", "browser": "`...)
		b = append(b, g.pick([]string{"Chrome", "Firefox", "Safari", "Edge"})...)
		b = append(b, `", "screen": "`...)
		b = append(b, g.pick([]string{"1920x1080", "1366x768", "2560x1440", "390x844", "1440x900"})...)
		b = append(b, `", "touch": `...)
		return append(strconv.AppendBool(b, g.r.IntN(3) == 0), '}')
	})
	utmPool = buildPool(80, func(g *gen, b []byte) []byte {
		b = append(b, `{"source": "`...)
		b = append(b, g.pick([]string{"google", "newsletter", "facebook", "direct", "partner"})...)
		b = append(b, `", "medium": "`...)
		b = append(b, g.pick([]string{"cpc", "email", "social", "none"})...)
		b = append(b, `", "campaign": "`...)
		b = g.words(b, 2, '-')
		return append(b, `"}`...)
	})
	addrPool = buildPool(3000, func(g *gen, b []byte) []byte {
		b = append(num(b, int64(1+g.r.IntN(9999))), ' ')
		b = append(append(b, g.word()...), " St, "...)
		b = append(append(b, g.word()...), ", "...)
		b = append(append(b, g.pick(countries)...), ' ')
		return num(b, int64(10000+g.r.IntN(89999)))
	})
	pathPool = buildPool(500, func(g *gen, b []byte) []byte {
		return g.words(append(b, '/'), 1+g.r.IntN(3), '/')
	})
)

// buildPool makes a fixed set of strings that rows pick from, the way real
// columns repeat a limited set of values.
func buildPool(n int, f func(g *gen, b []byte) []byte) []string {
	g := newGen(0x5eed, 0x9001)
	out := make([]string, n)
	for i := range out {
		out[i] = string(f(g, nil))
	}
	return out
}

func appendCents(b []byte, c int64) []byte {
	return pad2(append(num(b, c/100), '.'), int(c%100))
}

func tab(b []byte) []byte { return append(b, '\t') }

func num(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// tables builds the schema. Row functions close over the tables so that
// foreign keys can point at rows that exist.
func tables() []*table {
	products := &table{coarse: true, name: "products", share: 0.02,
		status: []string{"active", "discontinued", "draft", "archived"},
		cols: []column{{"id", "bigint NOT NULL"}, {"sku", "text NOT NULL"}, {"name", "text NOT NULL"},
			{"category", "text"}, {"price", "numeric(12,2)"}, {"stock", "integer"},
			{"created_at", "timestamp with time zone NOT NULL"}, {"updated_at", "timestamp with time zone"},
			{"status", "text NOT NULL"}, {"description", "text"}}}
	customers := &table{coarse: true, name: "customers", share: 0.08,
		status: []string{"active", "inactive", "suspended", "pending", "deleted"},
		cols: []column{{"id", "bigint NOT NULL"}, {"uuid", "uuid NOT NULL"}, {"first_name", "text"},
			{"last_name", "text"}, {"email", "text NOT NULL"}, {"country", "character(2)"}, {"phone", "text"},
			{"created_at", "timestamp with time zone NOT NULL"}, {"updated_at", "timestamp with time zone"},
			{"status", "text NOT NULL"}, {"attrs", "jsonb"}}}
	orders := &table{coarse: true, name: "orders", share: 0.22, big: true,
		status: []string{"pending", "paid", "shipped", "delivered", "cancelled", "refunded"},
		cols: []column{{"id", "bigint NOT NULL"}, {"customer_id", "bigint NOT NULL"}, {"order_no", "text NOT NULL"},
			{"currency", "character(3)"}, {"total", "numeric(12,2)"}, {"item_count", "integer"},
			{"created_at", "timestamp with time zone NOT NULL"}, {"updated_at", "timestamp with time zone"},
			{"status", "text NOT NULL"}, {"shipping_address", "text"}, {"notes", "text"}}}
	items := &table{coarse: true, name: "order_items", share: 0.18, big: true,
		status: []string{"reserved", "picked", "packed", "shipped", "returned"},
		cols: []column{{"id", "bigint NOT NULL"}, {"order_id", "bigint NOT NULL"}, {"product_id", "bigint NOT NULL"},
			{"quantity", "integer"}, {"unit_price", "numeric(12,2)"}, {"discount", "numeric(5,2)"}, {"tax", "numeric(12,2)"},
			{"created_at", "timestamp with time zone NOT NULL"}, {"updated_at", "timestamp with time zone"},
			{"status", "text NOT NULL"}}}
	events := &table{name: "events", share: 0.33, big: true,
		status: []string{"new", "processed", "failed", "retried", "ignored"},
		cols: []column{{"id", "bigint NOT NULL"}, {"customer_id", "bigint"}, {"session_id", "text"},
			{"event_type", "text NOT NULL"},
			{"created_at", "timestamp with time zone NOT NULL"}, {"updated_at", "timestamp with time zone"},
			{"status", "text NOT NULL"}, {"payload", "jsonb"}}}
	audit := &table{name: "audit_log", share: 0.17, big: true,
		status: []string{"recorded", "reviewed", "flagged", "archived"},
		cols: []column{{"id", "bigint NOT NULL"}, {"actor", "text"}, {"action", "text NOT NULL"},
			{"table_name", "text NOT NULL"}, {"row_id", "bigint"}, {"txid", "bigint"},
			{"created_at", "timestamp with time zone NOT NULL"}, {"updated_at", "timestamp with time zone"},
			{"status", "text NOT NULL"}, {"diff", "jsonb"}}}

	products.row = func(g *gen, b []byte, id int64) []byte {
		b = tab(num(b, id))
		b = append(b, "SKU-"...)
		b = tab(g.hex(b, 10))
		b = tab(g.words(b, 2+g.r.IntN(3), ' '))
		b = tab(append(b, g.pick(categories)...))
		b = tab(g.money(b, 500))
		b = tab(num(b, int64(g.r.IntN(10000))))
		b = tab(products.times(g, b))
		return g.sentence(b, 2+g.r.IntN(4))
	}
	customers.row = func(g *gen, b []byte, id int64) []byte {
		b = tab(num(b, id))
		b = tab(g.uuid(b))
		first, last := g.word(), g.word()
		b = tab(append(b, first...))
		b = tab(append(b, last...))
		b = append(append(append(b, first...), '.'), last...)
		b = num(b, int64(g.r.IntN(100)))
		b = tab(append(append(b, '@'), g.pick(domains)...))
		b = tab(append(b, g.pick(countries)...))
		b = append(b, "+1-555-"...)
		b = tab(num(b, int64(1000000+g.r.IntN(9000000))))
		b = tab(customers.times(g, b))
		b = append(b, `{"plan": "`...)
		b = append(b, g.pick(plans)...)
		b = append(b, `", "newsletter": `...)
		b = strconv.AppendBool(b, g.r.IntN(3) == 0)
		b = append(b, `, "ref": "`...)
		b = append(b, g.word()...)
		b = append(b, `", "score": `...)
		b = num(b, int64(g.r.IntN(1000)))
		return append(b, '}')
	}
	var lastOrder int64
	orders.row = func(g *gen, b []byte, id int64) []byte {
		cust := 1 + g.r.Int64N(max(customers.rows, 1))
		b = tab(num(b, id))
		b = tab(num(b, cust))
		b = append(b, "ORD-"...)
		b = tab(num(b, 10000000+id*7+int64(g.r.IntN(7))))
		b = tab(append(b, currencies[cust%int64(len(currencies))]...))
		b = tab(g.money(b, 2000))
		b = tab(num(b, int64(1+g.r.IntN(8))))
		b = tab(orders.times(g, b))
		b = tab(append(b, addrPool[cust%int64(len(addrPool))]...)) // customers reorder
		if g.r.IntN(10) < 4 {
			return append(b, `\N`...)
		}
		return g.sentence(b, 1+g.r.IntN(5))
	}
	items.row = func(g *gen, b []byte, id int64) []byte {
		items.sameTx = lastOrder != 0 && g.r.IntN(100) >= 45
		if !items.sameTx {
			lastOrder = min(lastOrder+1, max(orders.rows, 1))
		}
		// Popular products sell most; a product's price is fixed.
		pid := 1 + int64(g.z.Uint64())%max(products.rows, 1)
		cents := 99 + pid*7919%30000
		qty := int64(1)
		if g.r.IntN(10) < 4 {
			qty = int64(2 + g.r.IntN(11))
		}
		b = tab(num(b, id))
		b = tab(num(b, lastOrder))
		b = tab(num(b, pid))
		b = tab(num(b, qty))
		b = tab(appendCents(b, cents))
		if g.r.IntN(10) < 7 {
			b = tab(append(b, "0.00"...))
		} else {
			b = tab(pad2(append(b, "0."...), 5*(1+g.r.IntN(7))))
		}
		b = tab(appendCents(b, cents*qty*8/100))
		return items.times(g, b)
	}
	var session []byte
	var cust int64
	events.row = func(g *gen, b []byte, id int64) []byte {
		if session == nil || g.r.IntN(8) == 0 { // a session spans a few events
			session = g.hex(session[:0], 32)
			cust = 1 + g.r.Int64N(max(customers.rows, 1))
		}
		b = tab(num(b, id))
		b = tab(num(b, cust))
		b = tab(append(b, session...))
		b = tab(append(b, g.pick(evTypes)...))
		b = tab(events.times(g, b))
		b = append(b, `{"ip": "`...)
		b = num(append(b, "10."...), cust>>16&255) // one address per customer
		b = num(append(b, '.'), cust>>8&255)
		b = num(append(b, '.'), cust&255)
		b = append(b, `", "ua": "`...)
		b = append(b, uaPool[int(cust)%len(uaPool)]...)
		b = append(b, `", "path": "`...)
		b = append(b, pathPool[g.z.Uint64()%uint64(len(pathPool))]...)
		if g.r.IntN(3) == 0 {
			b = num(append(b, '/'), int64(g.r.IntN(100000)))
		}
		b = append(b, `", "device": `...)
		b = append(b, devicePool[int(cust*7)%len(devicePool)]...)
		b = append(b, `, "utm": `...)
		b = append(b, utmPool[g.z.Uint64()%uint64(len(utmPool))]...)
		b = append(b, `, "tags": ["`...)
		b = g.words(b, 1+g.r.IntN(3), ',')
		b = append(b, `"], "dur_ms": `...)
		b = num(b, int64(g.r.IntN(5000)))
		b = append(b, `, "ok": `...)
		b = strconv.AppendBool(b, g.r.IntN(10) != 0)
		b = append(b, `, "trace": "`...)
		b = g.hex(b, 16)
		return append(b, `"}`...)
	}
	var txid int64 = 5000000
	audit.row = func(g *gen, b []byte, id int64) []byte {
		txid += 1 + int64(g.r.IntN(3))
		b = tab(num(b, id))
		if g.r.IntN(4) == 0 {
			b = tab(append(b, "system"...))
		} else {
			b = tab(num(append(b, "user:"...), int64(1+g.r.IntN(500))))
		}
		b = tab(append(b, g.pick(actions)...))
		b = tab(append(b, g.pick(auditTables)...))
		b = tab(num(b, 1+g.r.Int64N(max(orders.rows, 1))))
		b = tab(num(b, txid))
		b = tab(audit.times(g, b))
		b = append(b, `{"field": "`...)
		b = append(b, g.word()...)
		b = append(b, `", "old": "`...)
		b = g.words(b, 1+g.r.IntN(4), ' ')
		b = append(b, `", "new": "`...)
		b = g.words(b, 1+g.r.IntN(4), ' ')
		b = append(b, `", "by": "`...)
		b = append(b, g.word()...)
		b = append(b, `", "meta": {"app": "backend", "version": "2.14.`...)
		b = num(b, int64(txid/200000%10))
		b = num(append(b, `", "host": "app-`...), int64(g.r.IntN(6)))
		return append(b, `"}}`...)
	}
	return []*table{products, customers, orders, items, events, audit}
}

const dumpHeader = `--
-- PostgreSQL database dump
--

-- Dumped from database version 15.6 (Debian 15.6-1.pgdg120+2)
-- Dumped by pg_dump version 15.6 (Debian 15.6-1.pgdg120+2)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

`

// genDumps writes day 1 and day 2 in one pass: each row is generated once
// and written to both files, except the rows day 2 updates or appends, which
// come from a second random stream so day 1 never depends on day 2.
func genDumps(path1, path2 string, seed uint64, total int64) (dumpStats, error) {
	var st dumpStats
	d, err := openDumps(path1, path2)
	if err != nil {
		return st, err
	}
	defer d.abort()
	w1, w2 := d.w1, d.w2
	both := d.both

	g := newGen(seed, 0xd1)  // day 1 content
	g2 := newGen(seed, 0xd2) // day 2 updates and appended rows
	tbls := tables()

	both(dumpHeader)
	for _, t := range tbls {
		var sb strings.Builder
		fmt.Fprintf(&sb, "--\n-- Name: %s; Type: TABLE; Schema: public; Owner: app\n--\n\n", t.name)
		fmt.Fprintf(&sb, "CREATE TABLE public.%s (\n", t.name)
		for i, c := range t.cols {
			sep := ","
			if i == len(t.cols)-1 {
				sep = ""
			}
			fmt.Fprintf(&sb, "    %s %s%s\n", c.name, c.typ, sep)
		}
		fmt.Fprintf(&sb, ");\n\n\nALTER TABLE public.%s OWNER TO app;\n\n", t.name)
		fmt.Fprintf(&sb, "CREATE SEQUENCE public.%s_id_seq\n    START WITH 1\n    INCREMENT BY 1\n    NO MINVALUE\n    NO MAXVALUE\n    CACHE 1;\n\n\n", t.name)
		fmt.Fprintf(&sb, "ALTER TABLE public.%s_id_seq OWNER TO app;\n\nALTER SEQUENCE public.%s_id_seq OWNED BY public.%s.id;\n\n\n", t.name, t.name, t.name)
		both(sb.String())
	}

	// Day-2 updates land every 15-60 KB of data, i.e. on ~0.5% of rows,
	// spread through the whole file.
	nextChange := func() int64 { return 15000 + g2.r.Int64N(45000) }
	untilChange := nextChange()
	var row, row2 []byte
	for _, t := range tbls {
		t.clock = day1Start
		t.last = day1Start + span
		t.gap = int64(time.Minute / time.Microsecond)
		names := make([]string, len(t.cols))
		for i, c := range t.cols {
			names[i] = c.name
		}
		both(fmt.Sprintf("--\n-- Data for Name: %s; Type: TABLE DATA; Schema: public; Owner: app\n--\n\nCOPY public.%s (%s) FROM stdin;\n",
			t.name, t.name, strings.Join(names, ", ")))
		target := int64(t.share * float64(total))
		var written int64
		for written < target {
			t.rows++
			t.next = day1Start + int64(float64(span)*float64(written)/float64(target))
			if t.rows > 1 {
				t.gap = max(1, 2*span*written/target/t.rows) // ~2 rows' worth of time
			}
			row = append(t.row(g, row[:0], t.rows), '\n')
			w1.Write(row)
			written += int64(len(row))
			untilChange -= int64(len(row))
			if untilChange > 0 {
				w2.Write(row)
				continue
			}
			untilChange = nextChange()
			st.changed++
			row2 = append(row2[:0], row[:t.seg[0]]...)
			row2 = appendTS(row2, day2Start+g2.r.Int64N(int64(20*time.Hour/time.Microsecond)))
			row2 = append(row2, '\t')
			row2 = append(row2, g2.pick(t.status)...)
			row2 = append(row2, row[t.seg[1]:]...)
			w2.Write(row2)
		}
		st.rows += t.rows
		if t.big {
			// New rows since yesterday, at the end of the table as
			// pg_dump emits them in physical order.
			t.appended = t.rows / 50
			day := int64(24 * time.Hour / time.Microsecond)
			t.last = day2Start
			for i := int64(1); i <= t.appended; i++ {
				t.next = day2Start - day + day*i/t.appended
				row = append(t.row(g2, row[:0], t.rows+i), '\n')
				w2.Write(row)
			}
			st.appended += t.appended
		}
		both("\\.\n\n\n")
	}

	for _, t := range tbls {
		fmt.Fprintf(w1, "SELECT pg_catalog.setval('public.%s_id_seq', %d, true);\n\n\n", t.name, t.rows)
		fmt.Fprintf(w2, "SELECT pg_catalog.setval('public.%s_id_seq', %d, true);\n\n\n", t.name, t.rows+t.appended)
	}
	for _, t := range tbls {
		both(fmt.Sprintf("ALTER TABLE ONLY public.%s\n    ADD CONSTRAINT %s_pkey PRIMARY KEY (id);\n\n\n", t.name, t.name))
		both(fmt.Sprintf("CREATE INDEX %s_created_at_idx ON public.%s USING btree (created_at);\n\n\n", t.name, t.name))
	}
	both("--\n-- PostgreSQL database dump complete\n--\n\n")

	return d.close(st)
}
