package rdb

// lzfWindow is as far back as an LZF back reference reaches: a 13-bit
// distance plus one.
const lzfWindow = 8192

// lzf consumes clen bytes of LZF data (liblzf's format, as Redis writes it)
// that must decompress to exactly ulen bytes, handing the output to c. Only
// the last lzfWindow output bytes are kept, to resolve back references. It
// refuses what lzf_decompress refuses: a literal run or a reference past
// the end of the input, output beyond ulen, a reference before the start.
func (p *parser) lzf(clen, ulen uint64, c *capture) error {
	if p.win == nil {
		p.win = new([lzfWindow]byte)
	}
	win := p.win
	const mask = lzfWindow - 1
	var out uint64
	var tmp [264]byte // the longest reference: (7 + 255) + 2 bytes
	for in := clen; in > 0; {
		ctrl, err := p.r.byte()
		if err != nil {
			return p.read(err)
		}
		in--
		if ctrl < 32 { // a literal run of ctrl+1 bytes
			k := uint64(ctrl) + 1
			if k > in {
				return p.corrupt("LZF literal run of %d bytes goes past the end of the compressed data (%d left)", k, in)
			}
			if out+k > ulen {
				return p.corrupt("LZF data decompresses to more than the declared %d bytes", ulen)
			}
			b, err := p.r.next(int(k))
			if err != nil {
				return p.read(err)
			}
			in -= k
			for i, x := range b {
				win[(out+uint64(i))&mask] = x
			}
			c.add(b)
			out += k
			continue
		}
		// A back reference: length in the top 3 bits (7 means one more
		// byte adds to it), distance-1 in the low 5 bits and the next byte.
		k := uint64(ctrl >> 5)
		if in == 0 {
			return p.corrupt("LZF back reference cut off by the end of the compressed data")
		}
		if k == 7 {
			x, err := p.r.byte()
			if err != nil {
				return p.read(err)
			}
			in--
			k += uint64(x)
			if in == 0 {
				return p.corrupt("LZF back reference cut off by the end of the compressed data")
			}
		}
		x, err := p.r.byte()
		if err != nil {
			return p.read(err)
		}
		in--
		dist := uint64(ctrl&0x1f)<<8 + uint64(x) + 1
		k += 2
		if out+k > ulen {
			return p.corrupt("LZF data decompresses to more than the declared %d bytes", ulen)
		}
		if dist > out {
			return p.corrupt("LZF back reference %d bytes back, only %d bytes are out yet", dist, out)
		}
		for i := range k {
			b := win[(out+i-dist)&mask]
			win[(out+i)&mask] = b
			tmp[i] = b
		}
		c.add(tmp[:k])
		out += k
	}
	if out != ulen {
		return p.corrupt("LZF data decompresses to %d bytes, declared %d", out, ulen)
	}
	return nil
}
