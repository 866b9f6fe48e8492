package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"time"
)

// The JSON-heavy shape: a plain-SQL dump of an n8n database whose bulk is
// execution_data, one row per workflow run: the workflow's JSON (the same
// for every run of a workflow) and the run's data in n8n's "flatted" JSON
// form, full of ids, amounts, coordinates, timestamps and tokens drawn at
// random. zstd -3 compresses it to about 40%, against about 20% for the
// text-heavy dump: random digits and hex carry 3.3-4 bits per byte, which
// no level of zstd gets under.
//
// Day 2 is the next night: n8n's execution pruning deleted the oldest
// runs (the head of both tables), new runs were appended, and a few
// executions changed status (finished waiting runs).

var (
	nodeTypes = []string{"n8n-nodes-base.httpRequest", "n8n-nodes-base.set", "n8n-nodes-base.if", "n8n-nodes-base.code",
		"n8n-nodes-base.postgres", "n8n-nodes-base.slack", "n8n-nodes-base.webhook", "n8n-nodes-base.merge",
		"n8n-nodes-base.splitInBatches", "n8n-nodes-base.googleSheets"}
	execModes    = []string{"trigger", "webhook", "manual", "retry", "integrated"}
	execStatuses = []string{"success", "success", "success", "success", "error", "canceled", "waiting"}
	fieldNames   = []string{"id", "orderId", "customerId", "amount", "price", "qty", "lat", "lng", "score", "ts",
		"token", "ref", "balance", "rate", "count", "sessionId", "deviceId", "temp", "humidity", "latencyMs"}
)

// workflow is one of the instance's workflows: its JSON is stored again
// with every execution, and its nodes fix the shape of the run data.
type workflow struct {
	id    string
	json  []byte
	nodes []string
}

func buildWorkflows(g *gen, n int) []workflow {
	out := make([]workflow, n)
	for i := range out {
		w := &out[i]
		w.id = string(g.hex(nil, 16))
		var b []byte
		b = append(b, `{"id":"`...)
		b = append(b, w.id...)
		b = append(b, `","name":"`...)
		b = g.words(b, 2+g.r.IntN(3), ' ')
		b = append(b, `","active":true,"nodes":[`...)
		nn := 3 + g.r.IntN(6)
		for j := 0; j < nn; j++ {
			name := strings.ToUpper(g.word()[:1]) + g.word()
			w.nodes = append(w.nodes, name)
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"parameters":{"url":"https://api.`...)
			b = append(b, g.word()...)
			b = append(b, `.example/v2/`...)
			b = g.words(b, 2, '/')
			b = append(b, `","options":{}},"id":"`...)
			b = g.uuid(b)
			b = append(b, `","name":"`...)
			b = append(b, name...)
			b = append(b, `","type":"`...)
			b = append(b, g.pick(nodeTypes)...)
			b = append(b, `","typeVersion":`...)
			b = num(b, int64(1+g.r.IntN(4)))
			b = append(b, `,"position":[`...)
			b = num(b, int64(200*j+g.r.IntN(100)))
			b = append(b, ',')
			b = num(b, int64(g.r.IntN(600)))
			b = append(b, `]}`...)
		}
		b = append(b, `],"connections":{`...)
		for j := 0; j+1 < nn; j++ {
			if j > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `"%s":{"main":[[{"node":"%s","type":"main","index":0}]]}`, w.nodes[j], w.nodes[j+1])
		}
		b = append(b, `},"settings":{"executionOrder":"v1"},"staticData":null,"pinData":{}}`...)
		w.json = b
	}
	return out
}

// fixed appends a random decimal with d fractional digits below max.
func (g *gen) fixed(b []byte, max int64, d int) []byte {
	b = num(b, g.r.Int64N(max))
	b = append(b, '.')
	for i := 0; i < d; i++ {
		b = append(b, byte('0'+g.r.IntN(10)))
	}
	return b
}

// runItem appends one item of a node's output: {"json":{...}} with a
// random subset of fields, every value random.
func (g *gen) runItem(b []byte, at int64) []byte {
	b = append(b, `{"json":{`...)
	nf := 8 + g.r.IntN(8)
	start := g.r.IntN(len(fieldNames))
	for k := 0; k < nf; k++ {
		f := fieldNames[(start+k)%len(fieldNames)]
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, f...)
		b = append(b, `":`...)
		switch f {
		case "id", "orderId", "customerId": // snowflake-style ids
			b = num(b, 1e17+g.r.Int64N(9e17))
		case "count":
			b = num(b, g.r.Int64N(1e6))
		case "amount", "price", "balance":
			b = g.fixed(b, 1000000, 2)
		case "lat", "lng":
			b = g.fixed(b, 180, 7)
		case "rate", "score", "temp", "humidity": // JavaScript prints doubles in full
			b = g.fixed(b, 1, 16)
		case "ts":
			b = num(b, at/1000+g.r.Int64N(60000))
		case "token", "sessionId", "deviceId":
			b = append(b, '"')
			b = g.hex(b, 32)
			b = append(b, '"')
		case "ref":
			b = append(b, '"')
			b = g.uuid(b)
			b = append(b, '"')
		default:
			b = num(b, g.r.Int64N(100000))
		}
	}
	b = append(b, '}')
	if g.r.IntN(8) == 0 {
		// n8n's default binary mode keeps files in the execution data,
		// base64-encoded: small images, PDFs, attachments.
		n := 200 + g.r.IntN(1200)
		b = append(b, `,"binary":{"data":{"mimeType":"image/png","fileType":"image","fileExtension":"png","data":"`...)
		raw := g.scratch[:0]
		for range n {
			raw = append(raw, byte(g.r.Uint32()))
		}
		g.scratch = raw
		b = base64.StdEncoding.AppendEncode(b, raw)
		b = append(b, `","fileName":"`...)
		b = append(b, g.word()...)
		b = append(b, `.png","fileSize":"`...)
		b = num(b, int64(n))
		b = append(b, ` B"}}`...)
	}
	return append(b, '}')
}

// runData appends an execution's data column: n8n's flatted JSON, an
// array whose first elements are the skeleton and whose rest are the
// node outputs.
func (g *gen) runData(b []byte, w *workflow, at int64) []byte {
	b = append(b, `[{"startData":"1","resultData":"2","executionData":"3"},{},{"runData":"4","lastNodeExecuted":"`...)
	b = append(b, w.nodes[len(w.nodes)-1]...)
	b = append(b, `"},{"contextData":{},"nodeExecutionStack":[],"waitingExecution":{}},{`...)
	for j, n := range w.nodes {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, n...)
		b = append(b, `":[{"startTime":`...)
		b = num(b, at/1000+int64(j*40))
		b = append(b, `,"executionTime":`...)
		b = num(b, int64(g.r.IntN(900)))
		b = append(b, `,"source":[],"executionStatus":"success","data":{"main":[[`...)
		items := 1 + g.r.IntN(6)
		for k := 0; k < items; k++ {
			if k > 0 {
				b = append(b, ',')
			}
			b = g.runItem(b, at)
		}
		b = append(b, `]]}}]`...)
	}
	return append(b, `}]`...)
}

// copyEscape appends s as a COPY text field: backslashes doubled (JSON's
// own escapes are the only ones it holds).
func copyEscape(b, s []byte) []byte {
	for _, c := range s {
		if c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return b
}

// genJSONDumps writes json1.sql and json2.sql, about total bytes each.
func genJSONDumps(path1, path2 string, seed uint64, total int64) (dumpStats, error) {
	var st dumpStats
	d, err := openDumps(path1, path2)
	if err != nil {
		return st, err
	}
	defer d.abort()
	w1, w2 := d.w1, d.w2
	both := d.both
	g := newGen(seed, 0x1d1)  // day 1 content
	g2 := newGen(seed, 0x1d2) // day 2 changes and new runs
	wfs := buildWorkflows(newGen(seed, 0x1d0), 40)

	both(dumpHeader)
	both(`CREATE TABLE public.execution_entity (
    id integer NOT NULL,
    finished boolean NOT NULL,
    mode character varying NOT NULL,
    "retryOf" character varying,
    "retrySuccessId" character varying,
    "startedAt" timestamp(3) with time zone,
    "stoppedAt" timestamp(3) with time zone,
    "waitTill" timestamp(3) with time zone,
    status character varying NOT NULL,
    "workflowId" character varying(36) NOT NULL,
    "deletedAt" timestamp(3) with time zone,
    "createdAt" timestamp(3) with time zone DEFAULT CURRENT_TIMESTAMP(3) NOT NULL
);


ALTER TABLE public.execution_entity OWNER TO n8n;

CREATE TABLE public.execution_data (
    "executionId" integer NOT NULL,
    "workflowData" json NOT NULL,
    data text NOT NULL
);


ALTER TABLE public.execution_data OWNER TO n8n;

`)
	// Rows are planned first (cheap) so that both tables agree on ids,
	// times and workflows: row i of execution_entity is run i.
	type run struct {
		wf     int
		at     int64 // µs
		status string
	}
	// ~10.9 KB per run on average: size the run count from total.
	n := max(20, int(total/10900))
	runs := make([]run, n)
	clock := day1Start
	step := span / int64(n)
	for i := range runs {
		clock += step/2 + g.r.Int64N(step)
		runs[i] = run{wf: int(g.z.Uint64() % uint64(len(wfs))), at: clock, status: g.pick(execStatuses)}
	}
	pruned := n / 50 // day 2: the oldest 2% are gone
	added := n / 40  // and 2.5% more ran
	for i := 0; i < added; i++ {
		clock = day2Start - int64(24*time.Hour/time.Microsecond) + int64(i)*int64(24*time.Hour/time.Microsecond)/int64(added)
		runs = append(runs, run{wf: int(g2.z.Uint64() % uint64(len(wfs))), at: clock, status: g2.pick(execStatuses)})
	}
	st.rows, st.appended = int64(n), int64(added)

	entity := func(b []byte, id int, r run, status string) []byte {
		b = tab(num(b, int64(id)))
		if status == "waiting" {
			b = tab(append(b, 'f'))
		} else {
			b = tab(append(b, 't'))
		}
		b = tab(append(b, execModes[id%len(execModes)]...))
		b = append(b, "\\N\t\\N\t"...)
		b = tab(appendTS(b, r.at-r.at%1000))
		b = tab(appendTS(b, r.at-r.at%1000+int64(1+id%900)*1000))
		b = append(b, "\\N\t"...)
		b = tab(append(b, status...))
		b = tab(append(b, wfs[r.wf].id...))
		b = append(b, "\\N\t"...)
		return append(appendTS(b, r.at-r.at%1000), '\n')
	}
	both("COPY public.execution_entity (id, finished, mode, \"retryOf\", \"retrySuccessId\", \"startedAt\", \"stoppedAt\", \"waitTill\", status, \"workflowId\", \"deletedAt\", \"createdAt\") FROM stdin;\n")
	var row []byte
	for i, r := range runs {
		id := i + 1
		if i < n {
			row = entity(row[:0], id, r, r.status)
			w1.Write(row)
		}
		if i < pruned {
			continue
		}
		status := r.status
		if i < n && status == "waiting" && g2.r.IntN(2) == 0 { // finished overnight
			status = "success"
			st.changed++
		}
		row = entity(row[:0], id, r, status)
		w2.Write(row)
	}
	both("\\.\n\n\n")

	both("COPY public.execution_data (\"executionId\", \"workflowData\", data) FROM stdin;\n")
	var data []byte
	for i, r := range runs {
		gg := g
		if i >= n {
			gg = g2
		}
		row = tab(num(row[:0], int64(i+1)))
		row = tab(copyEscape(row, wfs[r.wf].json))
		data = gg.runData(data[:0], &wfs[r.wf], r.at)
		row = append(copyEscape(row, data), '\n')
		if i < n {
			w1.Write(row)
		}
		if i >= pruned {
			w2.Write(row)
		}
	}
	both("\\.\n\n\n")
	fmt.Fprintf(w1, "SELECT pg_catalog.setval('public.execution_entity_id_seq', %d, true);\n\n\n", n)
	fmt.Fprintf(w2, "SELECT pg_catalog.setval('public.execution_entity_id_seq', %d, true);\n\n\n", len(runs))
	both("ALTER TABLE ONLY public.execution_entity\n    ADD CONSTRAINT pk_e3e63bbf55ad1ac1a41bd8cf2b PRIMARY KEY (id);\n\n\n")
	both("ALTER TABLE ONLY public.execution_data\n    ADD CONSTRAINT \"PK_ea7a1ca9d3a0bbd8c2bf9bc1b9a\" PRIMARY KEY (\"executionId\");\n\n\n")
	both("--\n-- PostgreSQL database dump complete\n--\n\n")
	return d.close(st)
}

// dumpPair is day 1 and day 2 of a stream shape, written side by side.
type dumpPair struct {
	path1, path2 string
	f1, f2       *os.File
	w1, w2       *bufio.Writer
}

func openDumps(path1, path2 string) (*dumpPair, error) {
	f1, err := os.Create(path1)
	if err != nil {
		return nil, err
	}
	f2, err := os.Create(path2)
	if err != nil {
		f1.Close()
		return nil, err
	}
	return &dumpPair{path1: path1, path2: path2, f1: f1, f2: f2,
		w1: bufio.NewWriterSize(f1, 1<<20), w2: bufio.NewWriterSize(f2, 1<<20)}, nil
}

// both writes s to both days.
func (d *dumpPair) both(s string) {
	d.w1.WriteString(s)
	d.w2.WriteString(s)
}

// abort closes the files on an error path (a second Close is harmless).
func (d *dumpPair) abort() {
	d.f1.Close()
	d.f2.Close()
}

// close flushes and closes both days and records their sizes.
func (d *dumpPair) close(st dumpStats) (dumpStats, error) {
	for _, w := range []*bufio.Writer{d.w1, d.w2} {
		if err := w.Flush(); err != nil {
			return st, err
		}
	}
	for _, f := range []*os.File{d.f1, d.f2} {
		if err := f.Close(); err != nil {
			return st, err
		}
	}
	fi1, err := os.Stat(d.path1)
	if err != nil {
		return st, err
	}
	fi2, err := os.Stat(d.path2)
	if err != nil {
		return st, err
	}
	st.bytes1, st.bytes2 = fi1.Size(), fi2.Size()
	return st, nil
}
