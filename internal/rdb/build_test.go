package rdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// builder writes synthetic RDBs for the value types and opcodes that the
// local Redis (7.0) does not write, following rdb.c's layouts.
type builder struct{ bytes.Buffer }

func newRDB(version int) *builder {
	b := &builder{}
	fmt.Fprintf(b, "REDIS%04d", version)
	return b
}

// finish adds the EOF opcode and, from version 5, the CRC-64.
func (b *builder) finish() []byte {
	b.WriteByte(opEOF)
	out := bytes.Clone(b.Bytes())
	if v := out[5:9]; string(v) >= "0005" {
		out = binary.LittleEndian.AppendUint64(out, crc(0, out))
	}
	return out
}

func (b *builder) op(x ...byte) *builder { b.Write(x); return b }

// len writes a length in its shortest encoding.
func (b *builder) len(n uint64) *builder {
	switch {
	case n < 1<<6:
		b.WriteByte(byte(n))
	case n < 1<<14:
		b.Write([]byte{0x40 | byte(n>>8), byte(n)})
	case n <= 0xffffffff:
		b.WriteByte(0x80)
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
	default:
		b.len64(n)
	}
	return b
}

func (b *builder) len32(n uint32) *builder {
	b.WriteByte(0x80)
	b.Write(binary.BigEndian.AppendUint32(nil, n))
	return b
}

func (b *builder) len64(n uint64) *builder {
	b.WriteByte(0x81)
	b.Write(binary.BigEndian.AppendUint64(nil, n))
	return b
}

func (b *builder) str(s string) *builder { return b.bytes([]byte(s)) }

func (b *builder) bytes(s []byte) *builder {
	b.len(uint64(len(s)))
	b.Write(s)
	return b
}

// intStr writes v in the 1, 2 or 4 byte integer string encoding.
func (b *builder) intStr(v int32) *builder {
	switch {
	case v >= -128 && v <= 127:
		b.Write([]byte{0xc0, byte(v)})
	case v >= -32768 && v <= 32767:
		b.WriteByte(0xc1)
		b.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	default:
		b.WriteByte(0xc2)
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(v)))
	}
	return b
}

// lzfStr writes s LZF-compressed.
func (b *builder) lzfStr(s []byte) *builder {
	c := lzfCompress(s)
	b.WriteByte(0xc3)
	b.len(uint64(len(c))).len(uint64(len(s)))
	b.Write(c)
	return b
}

func (b *builder) u64(v uint64) *builder {
	b.Write(binary.LittleEndian.AppendUint64(nil, v))
	return b
}

// key writes a value type and a key name.
func (b *builder) key(t Type, name string) *builder {
	b.WriteByte(byte(t))
	return b.str(name)
}

func (b *builder) selectDB(n uint64) *builder { b.WriteByte(opSelectDB); return b.len(n) }

func (b *builder) aux(k, v string) *builder { b.WriteByte(opAux); return b.str(k).str(v) }

// lzfCompress is a plain greedy LZF compressor (liblzf's format) for tests:
// it tries the last 32 places where the next 3 bytes occurred.
func lzfCompress(in []byte) []byte {
	var out, lit []byte
	flush := func() {
		for len(lit) > 0 {
			n := min(len(lit), 32)
			out = append(out, byte(n-1))
			out = append(out, lit[:n]...)
			lit = lit[n:]
		}
	}
	seen := map[[3]byte][]int{}
	for i := 0; i < len(in); {
		best, bestDist := 0, 0
		if i+3 <= len(in) {
			h := [3]byte(in[i : i+3])
			cands := seen[h]
			for k := len(cands) - 1; k >= 0 && k >= len(cands)-32; k-- {
				d := i - cands[k]
				if d > lzfWindow {
					break
				}
				n := 0
				for i+n < len(in) && n < 264 && in[i+n] == in[i-d+n] {
					n++
				}
				if n > best {
					best, bestDist = n, d
				}
			}
			seen[h] = append(cands, i)
		}
		if best < 3 {
			lit = append(lit, in[i])
			i++
			continue
		}
		flush()
		l, off := best-2, bestDist-1
		if l < 7 {
			out = append(out, byte(l<<5|off>>8))
		} else {
			out = append(out, byte(7<<5|off>>8), byte(l-7))
		}
		out = append(out, byte(off))
		i += best
	}
	flush()
	return out
}

// listpack encodes short strings as a listpack (entries of up to 63
// bytes: 10xxxxxx, the bytes, then the entry's length as backlen).
func listpack(elems ...string) []byte {
	body := []byte{}
	for _, e := range elems {
		if len(e) > 63 {
			panic("listpack: element too long for this test encoder")
		}
		body = append(body, 0x80|byte(len(e)))
		body = append(body, e...)
		body = append(body, byte(1+len(e)))
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(6+len(body)+1))
	out = binary.LittleEndian.AppendUint16(out, uint16(len(elems)))
	out = append(out, body...)
	return append(out, 0xff)
}

// ziplist encodes short strings as a ziplist (prevlen byte, 00xxxxxx
// string header, bytes).
func ziplist(elems ...string) []byte {
	body, prev, tail := []byte{}, 0, 10
	for _, e := range elems {
		if len(e) > 63 {
			panic("ziplist: element too long for this test encoder")
		}
		tail = 10 + len(body)
		body = append(body, byte(prev), byte(len(e)))
		body = append(body, e...)
		prev = 2 + len(e)
	}
	out := binary.LittleEndian.AppendUint32(nil, uint32(10+len(body)+1))
	out = binary.LittleEndian.AppendUint32(out, uint32(tail))
	out = binary.LittleEndian.AppendUint16(out, uint16(len(elems)))
	out = append(out, body...)
	return append(out, 0xff)
}

// intset encodes 16-bit integers.
func intset(v ...int16) []byte {
	out := binary.LittleEndian.AppendUint32(nil, 2)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(v)))
	for _, x := range v {
		out = binary.LittleEndian.AppendUint16(out, uint16(x))
	}
	return out
}

// zipmap encodes field/value pairs (short ones).
func zipmap(kv ...string) []byte {
	out := []byte{byte(len(kv) / 2)}
	for i := 0; i < len(kv); i += 2 {
		out = append(out, byte(len(kv[i])))
		out = append(out, kv[i]...)
		out = append(out, byte(len(kv[i+1])), 0)
		out = append(out, kv[i+1]...)
	}
	return append(out, 0xff)
}

// streamID is a 16-byte big-endian stream ID.
func streamID(ms, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, ms), seq)
}
