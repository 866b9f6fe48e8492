// Package shapes generates the kinds of data snap backs up, for tests and
// benchmarks: JSON-heavy and text-heavy dumps, incompressible and mixed
// streams, the files of a tree. Every generator is deterministic.
package shapes

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
)

var words = func() []string {
	r := rand.New(rand.NewPCG(1, 2))
	syl := []string{"ka", "lo", "mi", "tra", "ven", "sor", "el", "an", "dis", "pro", "ex", "tion",
		"ment", "ing", "er", "ly", "al", "re", "con", "sta", "ber", "nor", "qui", "zen"}
	out := make([]string, 3000)
	for i := range out {
		w := ""
		for range 1 + r.IntN(3) {
			w += syl[r.IntN(len(syl))]
		}
		out[i] = w
	}
	return out
}()

type shapeGen struct {
	r *rand.Rand
	z *rand.Zipf
}

func newShapeGen(seed uint64) *shapeGen {
	r := rand.New(rand.NewPCG(seed, 7))
	return &shapeGen{r: r, z: rand.NewZipf(r, 1.3, 2, uint64(len(words)-1))}
}

func (g *shapeGen) word() string { return words[g.z.Uint64()] }

func (g *shapeGen) hex(b []byte, n int) []byte {
	const digits = "0123456789abcdef"
	for range n {
		b = append(b, digits[g.r.IntN(16)])
	}
	return b
}

func (g *shapeGen) uuid(b []byte) []byte {
	b = g.hex(b, 8)
	b = g.hex(append(b, '-'), 4)
	b = g.hex(append(b, '-'), 4)
	b = g.hex(append(b, '-'), 4)
	return g.hex(append(b, '-'), 12)
}

// JSONRows is an n8n execution_data-like COPY block: each row a JSON
// document of node outputs full of random ids, floats and counters. It
// compresses to about 40%.
func JSONRows(seed uint64, n int) []byte {
	g := newShapeGen(seed)
	b := make([]byte, 0, n+4096)
	b = append(b, "COPY public.execution_data (\"executionId\", \"workflowData\", data) FROM stdin;\n"...)
	id := int64(100000)
	for len(b) < n {
		id += 1 + int64(g.r.IntN(3))
		b = strconv.AppendInt(b, id, 10)
		b = append(b, "\t{\"id\":\""...)
		b = g.hex(b, 16)
		b = append(b, "\",\"name\":\""...)
		b = append(b, g.word()...)
		b = append(b, "\",\"active\":false}\t[{\"startData\":\"1\",\"resultData\":\"2\",\"executionData\":\"3\"},{},{\"runData\":\"4\",\"lastNodeExecuted\":\""...)
		b = append(b, g.word()...)
		b = append(b, "\"},{\"json\":["...)
		for k := range 2 + g.r.IntN(6) {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, "{\"id\":"...)
			b = strconv.AppendInt(b, g.r.Int64N(1e12), 10)
			b = append(b, ",\"uuid\":\""...)
			b = g.uuid(b)
			b = append(b, "\",\"price\":"...)
			b = strconv.AppendFloat(b, g.r.Float64()*1e4, 'f', -1, 64)
			b = append(b, ",\"score\":"...)
			b = strconv.AppendFloat(b, g.r.NormFloat64(), 'g', -1, 64)
			b = append(b, ",\"count\":"...)
			b = strconv.AppendInt(b, int64(g.r.IntN(100000)), 10)
			b = append(b, ",\"label\":\""...)
			b = append(b, g.word()...)
			b = append(b, ' ')
			b = append(b, g.word()...)
			b = append(b, "\",\"ok\":"...)
			b = strconv.AppendBool(b, g.r.IntN(2) == 0)
			b = append(b, '}')
		}
		b = append(b, "]}]\n"...)
	}
	return b[:n]
}

// TextDump is a plain-SQL dump of text-heavy tables: timestamps, words
// from a fixed vocabulary, statuses. It compresses about 4–5×.
func TextDump(seed uint64, n int) []byte {
	g := newShapeGen(seed)
	statuses := []string{"active", "pending", "shipped", "cancelled", "archived"}
	b := make([]byte, 0, n+4096)
	b = append(b, "COPY public.orders (id, customer, created_at, status, note) FROM stdin;\n"...)
	id := int64(1)
	ts := int64(1672531200)
	for len(b) < n {
		id++
		ts += int64(g.r.IntN(90))
		b = strconv.AppendInt(b, id, 10)
		b = append(b, '\t')
		b = strconv.AppendInt(b, int64(g.r.IntN(50000)), 10)
		b = append(b, "\t2024-0"...)
		b = strconv.AppendInt(b, 1+ts%9, 10)
		b = append(b, '-', '1', byte('0'+ts%10), ' ', '1', byte('0'+ts%10), ':')
		b = strconv.AppendInt(b, 10+ts%50, 10)
		b = append(b, ":00+00\t"...)
		b = append(b, statuses[g.r.IntN(len(statuses))]...)
		b = append(b, '\t')
		for k := range 4 + g.r.IntN(14) {
			if k > 0 {
				b = append(b, ' ')
			}
			b = append(b, g.word()...)
		}
		b = append(b, '\n')
	}
	return b[:n]
}

// Random is incompressible: already-compressed or encrypted data.
func Random(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed)}))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

// Mixed alternates 1 MiB of incompressible data with 1 MiB of text, as in
// a volume that holds media next to logs.
func Mixed(seed uint64, n int) []byte {
	b := make([]byte, 0, n)
	for i := 0; len(b) < n; i++ {
		if i%2 == 0 {
			b = append(b, Random(seed+uint64(i), 1<<20)...)
		} else {
			b = append(b, TextDump(seed+uint64(i), 1<<20)...)
		}
	}
	return b[:n]
}

// TreeFiles are the files of a source tree or a volume: 1–60 KiB of text
// each, every file one blob.
func TreeFiles(seed uint64, total int) [][]byte {
	g := newShapeGen(seed)
	var out [][]byte
	for n := 0; n < total; {
		size := 1024 + g.r.IntN(60<<10)
		var f []byte
		switch g.r.IntN(3) {
		case 0:
			f = TextDump(g.r.Uint64(), size)
		case 1:
			f = JSONRows(g.r.Uint64(), size)
		default:
			f = []byte{}
			for len(f) < size {
				f = append(f, "2025-05-01T09:00:00.000Z INFO ["...)
				f = append(f, g.word()...)
				f = append(f, "] "...)
				f = append(f, g.word()...)
				f = append(f, ' ')
				f = append(f, g.word()...)
				f = append(f, " req="...)
				f = g.hex(f, 12)
				f = append(f, '\n')
			}
			f = f[:size]
		}
		out = append(out, f)
		n += size
	}
	return out
}

// Split cuts b into pieces of about a stream chunk's mean size (768 KiB).
func Split(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := min(len(b), 768<<10)
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// Gzipped is text compressed with gzip: already-compressed data as it is
// found in backups (archives, compressed dumps).
func Gzipped(seed uint64, n int) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	for i := uint64(0); buf.Len() < n; i++ {
		zw.Write(TextDump(seed+i, 4<<20))
		zw.Flush()
	}
	zw.Close()
	return buf.Bytes()[:n]
}
