package repo

// Binary encodings of pack headers, index files and reference lists
// (docs/format.md). Parsing knows nothing of keys: callers open the sealed
// bytes first, then parse the plaintext here, strictly.

import (
	"encoding/binary"
	"errors"
	"fmt"

	"snap/cache"
	"snap/crypt"
)

// FormatVersion is the repository format this code reads and writes.
const FormatVersion = 1

var (
	packHeaderMagic = [4]byte{'S', 'N', 'P', 'H'}
	indexMagic      = [4]byte{'S', 'N', 'P', 'I'}
)

// Associated data binding sealed metadata to its role.
var (
	adConfig     = []byte("snap config v1")
	adPackHeader = []byte("snap pack header v1")
	adIndex      = []byte("snap index v1")
	adSnapshot   = []byte("snap snapshot v1")
	adLock       = []byte("snap lock v1")
)

// Limits that keep a hostile file from making a parser allocate without bound.
const (
	maxKeysPerPack  = 1 << 12
	maxWrappedKey   = 4 << 10
	maxBlobsPerPack = 1 << 22
	maxPacksPerFile = 1 << 22
	maxBlobLength   = 1 << 30
)

var errFormat = errors.New("malformed")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errFormat}, a...)...)
	}
}

func (d *decoder) uvarint(what string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		d.fail("bad varint for %s", what) // non-minimal encodings too: one encoding per value
		return 0
	}
	if v > max {
		d.fail("%s %d exceeds limit %d", what, v, max)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("%s truncated", what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1(what string) byte {
	b := d.bytes(what, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) id(what string) (id crypt.ID) {
	copy(id[:], d.bytes(what, 32))
	return id
}

func (d *decoder) magic(m [4]byte) {
	b := d.bytes("magic", 4)
	if d.err == nil && string(b) != string(m[:]) {
		d.fail("bad magic %q", b)
	}
	v := d.byte1("version")
	if d.err == nil && v != FormatVersion {
		d.err = fmt.Errorf("%w: version %d (this snap reads %d)", ErrVersion, v, FormatVersion)
	}
}

func (d *decoder) end() {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes of trailing data", len(d.b))
	}
}

func appendKeysAndBlobs(buf []byte, keys [][]byte, blobs []cache.Blob) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(blobs)))
	for _, b := range blobs {
		buf = append(buf, b.Type)
		buf = binary.AppendUvarint(buf, uint64(b.KeySlot))
		buf = append(buf, b.ID[:]...)
		buf = binary.AppendUvarint(buf, b.Offset)
		buf = binary.AppendUvarint(buf, b.Length)
		buf = binary.AppendUvarint(buf, b.PlainLen)
	}
	return buf
}

// readKeysAndBlobs parses a key table and blob list, checking that blobs
// are contiguous from offset 0, in order, use a key that exists, and end at
// dataEnd (when dataEnd >= 0).
func (d *decoder) keysAndBlobs(dataEnd int64) ([][]byte, []cache.Blob) {
	nk := d.uvarint("key count", maxKeysPerPack)
	keys := make([][]byte, 0, min(nk, 64))
	for range nk {
		l := d.uvarint("wrapped key length", maxWrappedKey)
		keys = append(keys, append([]byte(nil), d.bytes("wrapped key", int(l))...))
	}
	nb := d.uvarint("blob count", maxBlobsPerPack)
	if d.err == nil && nb > uint64(len(d.b))/36 {
		d.fail("blob count %d larger than the header", nb)
	}
	blobs := make([]cache.Blob, 0, min(nb, 1<<16))
	var next uint64
	for range nb {
		var b cache.Blob
		b.Type = d.byte1("blob type")
		b.KeySlot = uint32(d.uvarint("key slot", maxKeysPerPack))
		b.ID = d.id("blob id")
		b.Offset = d.uvarint("offset", 1<<40)
		b.Length = d.uvarint("length", maxBlobLength)
		b.PlainLen = d.uvarint("plaintext length", maxBlobLength)
		if d.err != nil {
			return nil, nil
		}
		switch {
		case b.Type < cache.TypeData || b.Type > cache.TypeRefs:
			d.fail("unknown blob type %d", b.Type)
		case b.Type == cache.TypeRefs && b.KeySlot != 0:
			d.fail("refs blob with key slot %d", b.KeySlot)
		case b.Type != cache.TypeRefs && uint64(b.KeySlot) >= uint64(len(keys)):
			d.fail("key slot %d but %d keys", b.KeySlot, len(keys))
		case b.Offset != next:
			d.fail("blob at offset %d, expected %d", b.Offset, next)
		case b.Length < crypt.Overhead+1:
			d.fail("blob length %d too short", b.Length)
		}
		next = b.Offset + b.Length
		blobs = append(blobs, b)
	}
	if d.err == nil && dataEnd >= 0 && next != uint64(dataEnd) {
		d.fail("blobs end at %d but header starts at %d", next, dataEnd)
	}
	return keys, blobs
}

// marshalPackHeader returns the plaintext pack header.
func marshalPackHeader(keys [][]byte, blobs []cache.Blob) []byte {
	buf := append(packHeaderMagic[:], FormatVersion)
	return appendKeysAndBlobs(buf, keys, blobs)
}

// parsePackHeader parses a plaintext pack header whose blobs must fill
// exactly dataEnd bytes.
func parsePackHeader(b []byte, dataEnd int64) ([][]byte, []cache.Blob, error) {
	d := &decoder{b: b}
	d.magic(packHeaderMagic)
	keys, blobs := d.keysAndBlobs(dataEnd)
	d.end()
	if d.err != nil {
		return nil, nil, d.err
	}
	return keys, blobs, nil
}

// marshalIndex returns the plaintext of an index file.
func marshalIndex(packs []cache.Pack) []byte {
	buf := append(indexMagic[:], FormatVersion)
	buf = binary.AppendUvarint(buf, uint64(len(packs)))
	for _, p := range packs {
		buf = append(buf, p.ID[:]...)
		buf = binary.AppendUvarint(buf, uint64(p.Size))
		buf = appendKeysAndBlobs(buf, p.Keys, p.Blobs)
	}
	return buf
}

// parseIndex parses the plaintext of an index file.
func parseIndex(b []byte) ([]cache.Pack, error) {
	d := &decoder{b: b}
	d.magic(indexMagic)
	np := d.uvarint("pack count", maxPacksPerFile)
	if d.err == nil && np > uint64(len(d.b))/34 {
		d.fail("pack count %d larger than the file", np)
	}
	var packs []cache.Pack
	for i := uint64(0); i < np && d.err == nil; i++ {
		var p cache.Pack
		p.ID = d.id("pack id")
		p.Size = int64(d.uvarint("pack size", 1<<40))
		p.Keys, p.Blobs = d.keysAndBlobs(-1)
		if d.err == nil && len(p.Blobs) > 0 {
			last := p.Blobs[len(p.Blobs)-1]
			if last.Offset+last.Length+4 > uint64(p.Size) {
				d.fail("pack %v: blobs end past the pack size", p.ID.Short())
			}
		}
		packs = append(packs, p)
	}
	d.end()
	if d.err != nil {
		return nil, d.err
	}
	return packs, nil
}

// Reference lists: a refs blob's plaintext is a sequence of 32-byte ids.
// A list is cut into blobs after every id whose first two bytes are 0 mod
// refsCutMod (content-defined on the ids, so inserting ids changes only the
// blob around them), and after at most maxRefsPerBlob ids.
const (
	refsCutMod     = 128
	maxRefsPerBlob = 2048
)

func refsCut(id crypt.ID, n int) bool {
	return (uint16(id[0])<<8|uint16(id[1]))%refsCutMod == 0 || n >= maxRefsPerBlob
}

// splitRefs cuts ids into refs blob plaintexts.
func splitRefs(ids []crypt.ID) [][]byte {
	var out [][]byte
	var cur []byte
	n := 0
	for _, id := range ids {
		cur = append(cur, id[:]...)
		n++
		if refsCut(id, n) {
			out = append(out, cur)
			cur, n = nil, 0
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// parseRefs parses a refs blob plaintext.
func parseRefs(b []byte) ([]crypt.ID, error) {
	if len(b)%32 != 0 {
		return nil, fmt.Errorf("%w: refs blob of %d bytes is not a multiple of 32", errFormat, len(b))
	}
	ids := make([]crypt.ID, len(b)/32)
	for i := range ids {
		copy(ids[i][:], b[i*32:])
	}
	return ids, nil
}
