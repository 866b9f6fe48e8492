package chunk

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

func TestBoundsAndDeterminism(t *testing.T) {
	p := Params{Pol: 0x3DA3358B4DC173, Min: 64 << 10, Max: 512 << 10, AvgBits: 16}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(data)
	cut := func(b []byte) []int {
		var sizes []int
		c := New(bytes.NewReader(b), p)
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
	a, b := cut(data), cut(data)
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
}

func TestValidateRejects(t *testing.T) {
	good, err := NewParams()
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Params{
		{Pol: 3, Min: good.Min, Max: good.Max, AvgBits: 20},
		{Pol: good.Pol, Min: 1 << 20, Max: 1 << 10, AvgBits: 20},
		{Pol: good.Pol, Min: good.Min, Max: good.Max, AvgBits: 40},
	} {
		if p.Validate() == nil {
			t.Errorf("accepted %+v", p)
		}
	}
}
