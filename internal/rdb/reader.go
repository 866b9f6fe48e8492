package rdb

import (
	"encoding/binary"
	"io"
)

// Redis checksums an RDB with CRC-64/Jones: polynomial 0xad93d23594c935a9,
// reflected in and out, initial value and final XOR 0. hash/crc64 would
// complement around it and, for a polynomial of its own, rebuild its fast
// tables on every large update; this is slicing-by-8 with tables made once.
var crcTables = func() (t [8][256]uint64) {
	const reflected = 0x95ac9329ac4bc9b5
	for i := range 256 {
		c := uint64(i)
		for range 8 {
			if c&1 == 1 {
				c = c>>1 ^ reflected
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for i := range 256 {
		c := t[0][i]
		for j := 1; j < 8; j++ {
			c = t[0][c&0xff] ^ c>>8
			t[j][i] = c
		}
	}
	return t
}()

func crc(c uint64, p []byte) uint64 {
	t := &crcTables
	for ; len(p) >= 8; p = p[8:] {
		c ^= binary.LittleEndian.Uint64(p)
		c = t[7][c&0xff] ^ t[6][c>>8&0xff] ^ t[5][c>>16&0xff] ^ t[4][c>>24&0xff] ^
			t[3][c>>32&0xff] ^ t[2][c>>40&0xff] ^ t[1][c>>48&0xff] ^ t[0][c>>56]
	}
	for _, b := range p {
		c = t[0][byte(c)^b] ^ c>>8
	}
	return c
}

// The buffer starts small (most RDBs of a small app are a few KB) and
// grows for long streams. next needs at most minBuf bytes at once.
const (
	minBuf = 4 << 10
	maxBuf = 64 << 10
)

// reader buffers the source, knows the stream offset, and checksums what
// was consumed (lazily, a buffer at a time).
type reader struct {
	src   io.Reader
	buf   []byte
	r, w  int    // buf[r:w] is read from src but not consumed
	base  int64  // stream offset of buf[0]
	crcAt int    // buf[crcAt:r] is consumed but not yet in sum
	sum   uint64 // CRC-64 of the bytes consumed before buf[crcAt]
	err   error  // what src returned last, once it returned an error
}

func newReader(src io.Reader) *reader {
	return &reader{src: src, buf: make([]byte, minBuf)}
}

// offset is the stream offset of the next byte to consume.
func (b *reader) offset() int64 { return b.base + int64(b.r) }

// checksum is the CRC-64 of every byte consumed so far.
func (b *reader) checksum() uint64 {
	b.sum = crc(b.sum, b.buf[b.crcAt:b.r])
	b.crcAt = b.r
	return b.sum
}

// fill tries to make n bytes (n <= minBuf) readable; fewer are readable
// only at the end of the stream or after a read error.
func (b *reader) fill(n int) {
	if b.w-b.r >= n {
		return
	}
	if b.r+n > len(b.buf) {
		b.checksum()
		buf := b.buf
		if len(buf) < maxBuf {
			buf = make([]byte, 2*len(buf))
		}
		copy(buf, b.buf[b.r:b.w])
		b.buf = buf
		b.base += int64(b.r)
		b.w -= b.r
		b.r, b.crcAt = 0, 0
	}
	for empty := 0; b.w-b.r < n && b.err == nil; {
		m, err := b.src.Read(b.buf[b.w:])
		b.w += m
		switch {
		case err != nil:
			b.err = err
		case m == 0:
			if empty++; empty > 100 {
				b.err = io.ErrNoProgress
			}
		}
	}
}

// short is the error for a stream that ended (or failed) before n bytes.
func (b *reader) short() error {
	if b.err == nil || b.err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return b.err
}

// next consumes n bytes (n <= minBuf); the slice is valid until the next
// call.
func (b *reader) next(n int) ([]byte, error) {
	b.fill(n)
	if b.w-b.r < n {
		return nil, b.short()
	}
	p := b.buf[b.r : b.r+n]
	b.r += n
	return p, nil
}

func (b *reader) byte() (byte, error) {
	if b.r < b.w {
		c := b.buf[b.r]
		b.r++
		return c, nil
	}
	p, err := b.next(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

// skip consumes n bytes, handing them to c (if not nil) as it goes.
func (b *reader) skip(n uint64, c *capture) error {
	for n > 0 {
		if b.r == b.w {
			b.fill(1)
			if b.r == b.w {
				return b.short()
			}
		}
		k := b.w - b.r
		if uint64(k) > n {
			k = int(n)
		}
		if c != nil {
			c.add(b.buf[b.r : b.r+k])
		}
		b.r += k
		n -= uint64(k)
	}
	return nil
}

// rest consumes whatever follows and says how many bytes that was.
func (b *reader) rest() (int64, error) {
	n := int64(b.w - b.r)
	b.r = b.w
	if b.err == nil {
		m, err := io.Copy(io.Discard, b.src)
		n += m
		b.err = err
		if err == nil {
			b.err = io.EOF
		}
	}
	if b.err != io.EOF {
		return n, b.err
	}
	return n, nil
}

// atEnd says whether the stream has nothing after what was consumed.
func (b *reader) atEnd() (bool, error) {
	b.fill(1)
	if b.r < b.w {
		return false, nil
	}
	if b.err != io.EOF {
		return false, b.err
	}
	return true, nil
}

// capture keeps what a string value decodes to: its length, its first
// bytes (up to cap(head)) and its last byte.
type capture struct {
	head []byte
	n    uint64
	last byte
}

func (c *capture) reset(buf []byte) {
	c.head, c.n, c.last = buf[:0], 0, 0
}

func (c *capture) add(p []byte) {
	if len(p) == 0 {
		return
	}
	if room := cap(c.head) - len(c.head); room > 0 {
		c.head = append(c.head, p[:min(room, len(p))]...)
	}
	c.n += uint64(len(p))
	c.last = p[len(p)-1]
}
