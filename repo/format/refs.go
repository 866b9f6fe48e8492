package format

import (
	"fmt"

	"snap/crypt"
)

// Reference lists: a refs blob's plaintext is a sequence of 32-byte ids.
// A list is cut into blobs after every id whose first two bytes are 0 mod
// a modulus (content-defined on the ids, so inserting ids changes only the
// blob around them), and after at most maxRefsPerBlob ids. Readers only
// concatenate, so the modulus is the writer's choice: a stream's id
// stands for a chunk of most of a MiB, a tree's often for a file of a few
// KiB, whose change should not rewrite the ids of 127 unchanged neighbours.
const (
	refsCutMod     = 128 // stream items
	treeRefsCutMod = 16  // tree items
	maxRefsPerBlob = 2048
)

// refsCut reports whether a refs blob cut every mod ids on average ends
// after id, its nth.
func refsCut(id crypt.ID, n int, mod uint16) bool {
	return (uint16(id[0])<<8|uint16(id[1]))%mod == 0 || n >= maxRefsPerBlob
}

// SplitRefs cuts a stream item's ids into refs blob plaintexts.
func SplitRefs(ids []crypt.ID) [][]byte { return splitRefs(ids, refsCutMod) }

// SplitTreeRefs cuts a tree item's ids into refs blob plaintexts.
func SplitTreeRefs(ids []crypt.ID) [][]byte { return splitRefs(ids, treeRefsCutMod) }

func splitRefs(ids []crypt.ID, mod uint16) [][]byte {
	var out [][]byte
	var cur []byte
	n := 0
	for _, id := range ids {
		cur = append(cur, id[:]...)
		n++
		if refsCut(id, n, mod) {
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
