package chunk

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

func testParams() Params {
	p := NewParams([32]byte{1, 2, 3})
	p.Min, p.Max, p.AvgBits = 64<<10, 512<<10, 16
	return p
}

func cut(t *testing.T, p Params, b []byte) []int {
	t.Helper()
	var sizes []int
	c := New(iotestHalfReader{bytes.NewReader(b)}, p)
	buf := make([]byte, 0, p.Max)
	for {
		ch, err := c.Next(buf)
		if err == io.EOF {
			return sizes
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(ch))
	}
}

// iotestHalfReader returns short reads, as pipes do.
type iotestHalfReader struct{ r io.Reader }

func (h iotestHalfReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:(len(p)+1)/2]
	}
	return h.r.Read(p)
}

func TestBoundsAndDeterminism(t *testing.T) {
	p := testParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(data)
	a, b := cut(t, p, data), cut(t, p, data)
	total := 0
	for i, n := range a {
		total += n
		if n != b[i] {
			t.Fatal("chunking is not deterministic")
		}
		if n > int(p.Max) || (n < int(p.Min) && i != len(a)-1) {
			t.Fatalf("chunk %d has %d bytes, outside [%d, %d]", i, n, p.Min, p.Max)
		}
	}
	if total != len(data) {
		t.Fatalf("chunks cover %d of %d bytes", total, len(data))
	}
	// Average near min + 2^AvgBits: far from always-max or always-min.
	avg := total / len(a)
	if avg < int(p.Min) || avg > int(p.Min)+4<<p.AvgBits {
		t.Fatalf("average chunk %d for min %d avg bits %d", avg, p.Min, p.AvgBits)
	}
	// Zeroes never match the cut rule by luck: every chunk is max size.
	for _, n := range cut(t, p, make([]byte, 3*p.Max)) {
		if n != int(p.Max) && n != 0 {
			t.Fatalf("zero stream cut at %d", n)
		}
	}
}

// TestResync: after an insertion, boundaries return to the same places.
func TestResync(t *testing.T) {
	p := testParams()
	data := make([]byte, 8<<20)
	_, _ = rand.NewChaCha8([32]byte{2}).Read(data)
	ends := func(sizes []int, shift int) map[int]bool {
		m := map[int]bool{}
		off := 0
		for _, n := range sizes {
			off += n
			m[off-shift] = true
		}
		return m
	}
	a := ends(cut(t, p, data), 0)
	ins := append(append(append([]byte(nil), data[:1<<20]...), []byte("inserted")...), data[1<<20:]...)
	b := ends(cut(t, p, ins), len("inserted"))
	same := 0
	for off := range a {
		if off > 2<<20 && b[off] {
			same++
		}
	}
	after := 0
	for off := range a {
		if off > 2<<20 {
			after++
		}
	}
	if same < after-1 {
		t.Fatalf("only %d of %d boundaries after the insertion survived", same, after)
	}
}

func TestSeedChangesBoundaries(t *testing.T) {
	p, q := testParams(), testParams()
	q.Seed = bytes.Repeat([]byte{9}, 32)
	data := make([]byte, 4<<20)
	_, _ = rand.NewChaCha8([32]byte{3}).Read(data)
	a, b := cut(t, p, data), cut(t, q, data)
	if len(a) == len(b) {
		equal := true
		for i := range a {
			equal = equal && a[i] == b[i]
		}
		if equal {
			t.Fatal("another seed gives the same boundaries: they are not secret")
		}
	}
}

func TestValidateRejects(t *testing.T) {
	good := testParams()
	bad := []func(*Params){
		func(p *Params) { p.Algorithm = "rabin" },
		func(p *Params) { p.Seed = p.Seed[:5] },
		func(p *Params) { p.Min, p.Max = 1<<20, 1<<10 },
		func(p *Params) { p.AvgBits = 40 },
		func(p *Params) { p.Min = 10 },
	}
	for i, f := range bad {
		p := good
		f(&p)
		if p.Validate() == nil {
			t.Errorf("case %d accepted", i)
		}
	}
}

func BenchmarkChunker(b *testing.B) {
	p := NewParams([32]byte{})
	data := make([]byte, 64<<20)
	_, _ = rand.NewChaCha8([32]byte{4}).Read(data)
	buf := make([]byte, 0, p.Max)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := New(bytes.NewReader(data), p)
		for {
			if _, err := c.Next(buf); err != nil {
				break
			}
		}
	}
}
