package format

import (
	"fmt"

	"snap/crypt"
)

// BlobType is a blob's type, as stored in pack headers and index files
// and bound into its sealing.
type BlobType uint8

// Blob types.
const (
	TypeData BlobType = 1 // file or stream content, sealed with a session key
	TypeTree BlobType = 2 // directory listings, sealed with a session key
	TypeRefs BlobType = 3 // blob reference lists, sealed with the metadata key
)

func (t BlobType) String() string {
	switch t {
	case TypeData:
		return "data"
	case TypeTree:
		return "tree"
	case TypeRefs:
		return "refs"
	}
	return fmt.Sprintf("blob type %d", uint8(t))
}

// Blob is one blob's place in a pack.
type Blob struct {
	ID       crypt.ID
	Type     BlobType
	KeySlot  uint32 // index into the pack's key table (0 for refs blobs)
	Offset   uint64
	Length   uint64 // stored bytes: nonce ‖ ciphertext ‖ tag
	PlainLen uint64 // uncompressed plaintext bytes
}

// Pack is one pack's directory, as an index file lists it: its size, key
// table and blobs.
type Pack struct {
	ID    crypt.ID
	Size  int64
	Keys  [][]byte // age-wrapped session keys
	Blobs []Blob
}

// BlobAD is the associated data of a sealed blob: its type and id, so a
// blob cannot be moved to another id or type without failing to open.
func BlobAD(t BlobType, id crypt.ID) []byte {
	ad := make([]byte, 0, 33)
	ad = append(ad, byte(t))
	return append(ad, id[:]...)
}
