package chunk

// Known answers for gear-v1 (docs/format.md "Chunking"). The values were
// computed once from the code of format v1 and are pinned here: the cut
// points of every stored stream depend on them, so a change to the table
// derivation or the cut rule orphans every repository's dedup and must fail
// here. Never regenerate them to make a test pass; a new format is a new
// algorithm name.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"snap/internal/kat"
	"testing"

	"github.com/zeebo/blake3"
)

// katInput returns n bytes of SplitMix64 output from seed, little-endian.
func katInput(seed uint64, n int) []byte {
	s := kat.SplitMix64(seed)
	return s.Bytes(n)
}

// katSeed is the chunker seed of every known answer here: bytes 1..32.
func katSeed() [32]byte {
	var s [32]byte
	for i := range s {
		s[i] = byte(i + 1)
	}
	return s
}

func katSmallParams() Params {
	p := NewParams(katSeed())
	p.Min, p.Max, p.AvgBits = 2<<10, 12<<10, 12
	return p
}

// cutEnds chunks b with the real chunker and returns each chunk's end offset.
func cutEnds(t *testing.T, p Params, b []byte) []int {
	t.Helper()
	c := New(bytes.NewReader(b), p)
	buf := make([]byte, 0, p.Max)
	var ends []int
	off := 0
	for {
		ch, err := c.Next(buf)
		if err == io.EOF {
			return ends
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ch, b[off:off+len(ch)]) {
			t.Fatalf("chunk at %d is not the input's bytes", off)
		}
		off += len(ch)
		ends = append(ends, off)
	}
}

// referenceEnds is the cut rule exactly as docs/format.md words it, written
// for clarity rather than speed: the spec and the chunker must agree.
func referenceEnds(p Params, b []byte) []int {
	tab := referenceTable(p.Seed)
	var ends []int
	start := 0
	for start < len(b) {
		var h uint64
		end := min(start+int(p.Max), len(b))
		for i := start + int(p.Min) - 64; i < len(b); i++ {
			h = h<<1 + tab[b[i]]
			n := i + 1 - start
			if n >= int(p.Min) && h>>(64-p.AvgBits) == 0 {
				end = i + 1
				break
			}
			if n >= int(p.Max) {
				break
			}
		}
		ends = append(ends, end)
		start = end
	}
	return ends
}

// referenceTable is T as the spec words it: the first 2048 bytes of the
// BLAKE3 XOF of the seed in derive-key mode with context
// "snap chunker gear table v1", as little-endian uint64s.
func referenceTable(seed []byte) [256]uint64 {
	raw := make([]byte, 2048)
	blake3.DeriveKey("snap chunker gear table v1", seed, raw)
	var t [256]uint64
	for i := range t {
		t[i] = binary.LittleEndian.Uint64(raw[i*8:])
	}
	return t
}

func TestKnownGearTable(t *testing.T) {
	seed := katSeed()
	p := NewParams(seed)
	tab := p.table()
	want := []uint64{
		0x8551ea0d043e393c, 0x8b5fb4f00af8ba7c, 0x80ea1ddb11363bbe, 0x7de182cc26010a13,
		0x854451e82423ee8f, 0xd0ac771a3140d8b6, 0xe620dc56eb5f915f, 0x10f8ba3cdbe452b8,
	}
	for i, w := range want {
		if tab[i] != w {
			t.Errorf("T[%d] = %#016x, pinned %#016x", i, tab[i], w)
		}
	}
	// All 256 entries, pinned as the SHA-256 of their little-endian bytes.
	raw := make([]byte, 0, 2048)
	for _, v := range tab {
		raw = binary.LittleEndian.AppendUint64(raw, v)
	}
	if got := hex.EncodeToString(sha256Sum(raw)); got != gearTableSHA256 {
		t.Errorf("SHA-256 of the gear table = %s, pinned %s", got, gearTableSHA256)
	}
	if ref := referenceTable(p.Seed); *tab != ref {
		t.Error("the gear table is not the derivation docs/format.md gives")
	}
}

const gearTableSHA256 = "3e6335134fa0a6b127dfc9897cdf5cb6394d0321b6a8478d32cdd48e6bfc60ee"

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func TestKnownInput(t *testing.T) {
	// The generator itself is pinned: its first outputs for seed 0 are
	// those of the published SplitMix64 reference.
	s := kat.SplitMix64(0)
	if a, b := s.Next(), s.Next(); a != 0xe220a8397b1dcdaf || b != 0x6e789e6aa1b965f4 {
		t.Fatalf("SplitMix64 gives %#x %#x", a, b)
	}
	if got := hex.EncodeToString(sha256Sum(katInput(1, 8<<20))); got != "b90e46b6528f14cd05f49c4f0105e3e446a20698f4a401f621d6bfac85143403" {
		t.Fatalf("SHA-256 of the known input = %s", got)
	}
}

func TestKnownBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Params
		n    int
		want []int
	}{
		{"default bounds, 8 MiB", NewParams(katSeed()), 8 << 20, []int{
			434236, 836762, 1404633, 1752828, 2529027, 2996009, 3940443, 4425499,
			5624544, 6031933, 6739343, 7726205, 8116227, 8382726, 8388608,
		}},
		{"2 KiB / 12 bits / 12 KiB, 256 KiB", katSmallParams(), 256 << 10, []int{
			2551, 6137, 8718, 13080, 17171, 19385, 25206, 29514,
			31806, 35986, 40597, 43067, 48440, 50921, 58219, 61370,
			64677, 69622, 74930, 80546, 82683, 85032, 89715, 97874,
			103393, 111448, 113603, 116027, 121921, 124615, 127399, 130728,
			142507, 153883, 156945, 162211, 167360, 169732, 174230, 176289,
			182267, 184525, 188827, 198039, 201590, 205122, 207985, 213752,
			218688, 222675, 234963, 247251, 255525, 257729, 261493, 262144,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := katInput(1, tc.n)
			got := cutEnds(t, tc.p, in)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("chunk ends %v\npinned     %v", got, tc.want)
			}
			if ref := referenceEnds(tc.p, in); fmt.Sprint(ref) != fmt.Sprint(got) {
				t.Errorf("the chunker's ends %v differ from the spec's %v", got, ref)
			}
		})
	}
}
