package format

import (
	"encoding/binary"

	"snap/crypt"
)

func appendKeysAndBlobs(buf []byte, keys [][]byte, blobs []Blob) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(blobs)))
	for _, b := range blobs {
		buf = append(buf, byte(b.Type))
		buf = binary.AppendUvarint(buf, uint64(b.KeySlot))
		buf = append(buf, b.ID[:]...)
		buf = binary.AppendUvarint(buf, b.Offset)
		buf = binary.AppendUvarint(buf, b.Length)
		buf = binary.AppendUvarint(buf, b.PlainLen)
	}
	return buf
}

// keysAndBlobs parses a key table and blob list, checking that blobs are
// contiguous from offset 0, in order, use a key that exists, and end at
// dataEnd (when dataEnd >= 0).
func (d *decoder) keysAndBlobs(dataEnd int64) ([][]byte, []Blob) {
	nk := d.uvarint("key count", MaxKeysPerPack)
	keys := make([][]byte, 0, min(nk, 64))
	for range nk {
		l := d.uvarint("wrapped key length", maxWrappedKey)
		keys = append(keys, append([]byte(nil), d.bytes("wrapped key", int(l))...))
	}
	nb := d.uvarint("blob count", maxBlobsPerPack)
	if d.err == nil && nb > uint64(len(d.b))/36 {
		d.fail("blob count %d larger than the header", nb)
	}
	blobs := make([]Blob, 0, min(nb, 1<<16))
	var next uint64
	for range nb {
		var b Blob
		b.Type = BlobType(d.byte1("blob type"))
		b.KeySlot = uint32(d.uvarint("key slot", MaxKeysPerPack))
		b.ID = d.id("blob id")
		b.Offset = d.uvarint("offset", 1<<40)
		b.Length = d.uvarint("length", MaxBlobLength)
		b.PlainLen = d.uvarint("plaintext length", MaxBlobLength)
		if d.err != nil {
			return nil, nil
		}
		switch {
		case b.Type < TypeData || b.Type > TypeRefs:
			d.fail("unknown blob type %d", uint8(b.Type))
		case b.Type == TypeRefs && b.KeySlot != 0:
			d.fail("refs blob with key slot %d", b.KeySlot)
		case b.Type != TypeRefs && uint64(b.KeySlot) >= uint64(len(keys)):
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

// MarshalPackHeader returns the plaintext pack header.
func MarshalPackHeader(keys [][]byte, blobs []Blob) []byte {
	buf := append(packHeaderMagic[:], Version)
	return appendKeysAndBlobs(buf, keys, blobs)
}

// ParsePackHeader parses a plaintext pack header whose blobs must fill
// exactly dataEnd bytes.
func ParsePackHeader(b []byte, dataEnd int64) ([][]byte, []Blob, error) {
	d := &decoder{b: b}
	d.magic(packHeaderMagic)
	keys, blobs := d.keysAndBlobs(dataEnd)
	d.end()
	if d.err != nil {
		return nil, nil, d.err
	}
	return keys, blobs, nil
}

// MarshalIndex returns the plaintext of an index file.
func MarshalIndex(packs []Pack) []byte {
	buf := append(indexMagic[:], Version)
	buf = binary.AppendUvarint(buf, uint64(len(packs)))
	for _, p := range packs {
		buf = append(buf, p.ID[:]...)
		buf = binary.AppendUvarint(buf, uint64(p.Size))
		buf = appendKeysAndBlobs(buf, p.Keys, p.Blobs)
	}
	return buf
}

// ParseIndex parses the plaintext of an index file.
func ParseIndex(b []byte) ([]Pack, error) {
	d := &decoder{b: b}
	d.magic(indexMagic)
	np := d.uvarint("pack count", maxPacksPerFile)
	if d.err == nil && np > uint64(len(d.b))/34 {
		d.fail("pack count %d larger than the file", np)
	}
	var packs []Pack
	for i := uint64(0); i < np && d.err == nil; i++ {
		var p Pack
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
