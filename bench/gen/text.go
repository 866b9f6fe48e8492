package main

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"time"
)

// vocab is a fixed vocabulary of pseudo-words. It is built from its own
// constant seed so that every workload seed draws from the same words, like
// real data draws from one language.
var vocab = buildVocab(6000)

var syllables = []string{
	"ka", "lo", "mi", "tra", "ven", "sor", "el", "an", "dis", "pro", "ex", "tion",
	"ment", "ing", "er", "ly", "al", "re", "con", "sta", "ber", "nor", "qui", "zen",
	"fa", "gu", "hal", "io", "jet", "mar", "pel", "rus", "ti", "ur", "vo", "wen",
	"bra", "cle", "dro", "fin", "gra", "hen", "is", "ju", "kel", "lum", "mo", "nex",
}

// phrases are fixed word sequences, like log messages and stock sentences:
// real text repeats whole phrases, not only words.
var phrases = buildPhrases(400)

func buildPhrases(n int) []string {
	r := rand.New(rand.NewPCG(0x5eed, 0x9a5e))
	z := rand.NewZipf(r, 1.2, 2, uint64(len(vocab)-1))
	out := make([]string, n)
	for i := range out {
		var b []byte
		for j := 0; j < 3+r.IntN(8); j++ {
			if j > 0 {
				b = append(b, ' ')
			}
			b = append(b, vocab[z.Uint64()]...)
		}
		out[i] = string(b)
	}
	return out
}

func buildVocab(n int) []string {
	r := rand.New(rand.NewPCG(0x5eed, 0x7077))
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		k := 1 + r.IntN(3)
		if r.IntN(4) == 0 {
			k++
		}
		w := ""
		for i := 0; i < k; i++ {
			w += syllables[r.IntN(len(syllables))]
		}
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// gen bundles one random stream with the helpers that turn it into text.
// Each independent output (dump day 1, dump changes, trees) owns one gen so
// that changing one output never shifts the bytes of another.
type gen struct {
	r *rand.Rand
	z *rand.Zipf // word ranks: real text reuses a few words a lot
	p *rand.Zipf // phrase ranks

	scratch []byte
}

func newGen(seed, stream uint64) *gen {
	r := rand.New(rand.NewPCG(seed, stream))
	return &gen{r: r,
		z: rand.NewZipf(r, 1.5, 2, uint64(len(vocab)-1)),
		p: rand.NewZipf(r, 1.1, 4, uint64(len(phrases)-1)),
	}
}

func (g *gen) word() string { return vocab[g.z.Uint64()] }

func (g *gen) phrase() string { return phrases[g.p.Uint64()] }

// sentence mixes stock phrases with free words.
func (g *gen) sentence(b []byte, n int) []byte {
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		if g.r.IntN(3) == 0 {
			b = append(b, g.word()...)
		} else {
			b = append(b, g.phrase()...)
		}
	}
	return b
}

func (g *gen) words(b []byte, n int, sep byte) []byte {
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, g.word()...)
	}
	return b
}

const hexdigits = "0123456789abcdef"

// hex appends n random hex digits: ids, hashes and tokens are the
// incompressible part of real dumps.
func (g *gen) hex(b []byte, n int) []byte {
	for n > 0 {
		v := g.r.Uint64()
		for i := 0; i < 16 && n > 0; i++ {
			b = append(b, hexdigits[v&15])
			v >>= 4
			n--
		}
	}
	return b
}

func (g *gen) uuid(b []byte) []byte {
	b = g.hex(b, 8)
	b = append(b, '-')
	b = g.hex(b, 4)
	b = append(b, '-', '4')
	b = g.hex(b, 3)
	b = append(b, '-', '8')
	b = g.hex(b, 3)
	b = append(b, '-')
	return g.hex(b, 12)
}

func (g *gen) pick(s []string) string { return s[g.r.IntN(len(s))] }

// money appends a decimal with two places below max.
func (g *gen) money(b []byte, max int) []byte {
	c := g.r.IntN(max * 100)
	b = strconv.AppendInt(b, int64(c/100), 10)
	b = append(b, '.')
	return append(b, byte('0'+c/10%10), byte('0'+c%10))
}

func pad2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

// appendTS formats a pg timestamptz ("2024-03-05 12:34:56.123456+00").
func appendTS(b []byte, usec int64) []byte {
	t := time.UnixMicro(usec).UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, '-')
	b = pad2(b, int(mo))
	b = append(b, '-')
	b = pad2(b, d)
	b = append(b, ' ')
	b = pad2(b, h)
	b = append(b, ':')
	b = pad2(b, mi)
	b = append(b, ':')
	b = pad2(b, s)
	us := t.Nanosecond() / 1000
	if us == 0 { // pg prints whole seconds without a fraction
		return append(b, "+00"...)
	}
	b = append(b, '.')
	var tmp [6]byte
	for i := 5; i >= 0; i-- {
		tmp[i] = byte('0' + us%10)
		us /= 10
	}
	b = append(b, tmp[:]...)
	return append(b, "+00"...)
}

// fillBinary fills p with "random-ish but partially compressible" bytes, the
// way disk images and databases mix compressed payloads, fixed-size records,
// text and zeroed space. Each 64 KiB block picks one style.
func (g *gen) fillBinary(p []byte, pos int64) {
	const blk = 64 << 10
	for len(p) > 0 {
		n := blk - int(pos%blk)
		if n > len(p) {
			n = len(p)
		}
		b := p[:n]
		switch k := g.r.IntN(100); {
		case k < 40: // already-compressed payload
			g.fillRandom(b)
		case k < 75: // 64-byte records: counters, small fields, padding
			var rec [64]byte
			base := g.r.Uint64()
			for i := 0; i < len(b); i += 64 {
				clear(rec[:])
				binary.LittleEndian.PutUint64(rec[0:], base+uint64(i/64))
				binary.LittleEndian.PutUint32(rec[8:], g.r.Uint32()&0xffff)
				binary.LittleEndian.PutUint64(rec[16:], g.r.Uint64())
				copy(rec[32:], g.word())
				copy(b[i:], rec[:])
			}
		case k < 90: // embedded text
			t := g.scratch[:0]
			for len(t) < n {
				t = append(t, g.word()...)
				t = append(t, ' ')
			}
			copy(b, t)
			g.scratch = t
		default: // mostly zeroed pages with sparse headers
			clear(b)
			for i := 0; i < len(b); i += 4096 {
				binary.LittleEndian.PutUint64(b[i:], g.r.Uint64())
			}
		}
		p = p[n:]
		pos += int64(n)
	}
}

func (g *gen) fillRandom(b []byte) {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], g.r.Uint64())
	}
	for ; i < len(b); i++ {
		b[i] = byte(g.r.Uint32())
	}
}
