package main

import (
	"slices"
)

// genBinaryStreams writes bin1.dat and bin2.dat: the already-compressed or
// encrypted stream (a pg_dump -Fc, a gpg'd archive, media): uniformly
// random bytes that no compressor shrinks, so a tool should store them as
// they are at near disk speed. Day 2 has four 1 MiB regions rewritten (a
// tenth as much with -small) and 2% appended, like an archive that is
// mostly the same from one night to the next.
func genBinaryStreams(path1, path2 string, seed uint64, total int64, region int64) (dumpStats, error) {
	var st dumpStats
	d, err := openDumps(path1, path2)
	if err != nil {
		return st, err
	}
	defer d.abort()
	w1, w2 := d.w1, d.w2
	g := newGen(seed, 0xb1)
	g2 := newGen(seed, 0xb2)
	var regions []int64
	for i := 0; i < 4; i++ {
		regions = append(regions, g2.r.Int64N(total-region))
	}
	slices.Sort(regions)
	buf := make([]byte, 1<<20)
	out := make([]byte, 1<<20)
	for off := int64(0); off < total; off += int64(len(buf)) {
		n := int(min(int64(len(buf)), total-off))
		g.fillRandom(buf[:n])
		w1.Write(buf[:n])
		copy(out, buf[:n])
		for _, r := range regions {
			if lo, hi := max(r, off), min(r+region, off+int64(n)); lo < hi {
				g2.fillRandom(out[lo-off : hi-off])
			}
		}
		w2.Write(out[:n])
	}
	st.changed = int64(len(regions))
	for left := total / 50; left > 0; left -= int64(len(buf)) {
		n := int(min(int64(len(buf)), left))
		g2.fillRandom(buf[:n])
		w2.Write(buf[:n])
		st.appended += int64(n)
	}
	return d.close(st)
}
