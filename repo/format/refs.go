package format

import (
	"fmt"

	"snap/crypt"
)

// Reference lists: a refs blob's plaintext is a sequence of 32-byte ids.
// A list is cut into blobs after every id whose first two bytes are 0 mod
// refsCutMod (content-defined on the ids, so inserting ids changes only the
// blob around them), and after at most maxRefsPerBlob ids.
const (
	refsCutMod     = 128
	maxRefsPerBlob = 2048
)

// refsCut reports whether a refs blob ends after id, its nth.
func refsCut(id crypt.ID, n int) bool {
	return (uint16(id[0])<<8|uint16(id[1]))%refsCutMod == 0 || n >= maxRefsPerBlob
}

// SplitRefs cuts ids into refs blob plaintexts.
func SplitRefs(ids []crypt.ID) [][]byte {
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

// ParseRefs parses a refs blob plaintext.
func ParseRefs(b []byte) ([]crypt.ID, error) {
	if len(b)%32 != 0 {
		return nil, fmt.Errorf("%w: refs blob of %d bytes is not a multiple of 32", ErrMalformed, len(b))
	}
	ids := make([]crypt.ID, len(b)/32)
	for i := range ids {
		copy(ids[i][:], b[i*32:])
	}
	return ids, nil
}
