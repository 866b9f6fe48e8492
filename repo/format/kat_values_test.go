package format

// Values of the known-answer tests in kat_test.go: the fixed things the
// pinned bytes encode.

import (
	"encoding/hex"
	"snap/internal/kat"
	"time"

	"snap/crypt"
)

// katBytes decodes pinned hex, for fuzz seeds.
func katBytes(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// katKey returns the key whose byte i is base+i.
func katKey(base byte) crypt.Key { return crypt.Key(kat.Key(base)) }

// katIDKey is repo's known-answer id key (its katIDKey): the refs cut
// test hashes with it.
var katIDKey = katKey(0x60)

// katID is a fixed blob id: the unkeyed hash of s.
func katID(s string) crypt.ID { return crypt.Hash([]byte(s)) }

// katKeysAndBlobs is a key table of two age files (any bytes to the codec)
// and three blobs of every type.
func katKeysAndBlobs() ([][]byte, []Blob) {
	keys := [][]byte{[]byte("age-encryption.org/v1\nkey one"), []byte("age-encryption.org/v1\nkey two")}
	blobs := []Blob{
		{ID: katID("data"), Type: TypeData, KeySlot: 1, Offset: 0, Length: 300, PlainLen: 1 << 20},
		{ID: katID("tree"), Type: TypeTree, KeySlot: 0, Offset: 300, Length: 41, PlainLen: 0},
		{ID: katID("refs"), Type: TypeRefs, KeySlot: 0, Offset: 341, Length: 200, PlainLen: 160},
	}
	return keys, blobs
}

func katPacks() []Pack {
	keys, blobs := katKeysAndBlobs()
	return []Pack{
		{ID: katID("pack 1"), Size: 1000, Keys: keys, Blobs: blobs},
		{ID: katID("pack 2"), Size: 45, Keys: nil, Blobs: []Blob{
			{ID: katID("refs 2"), Type: TypeRefs, Offset: 0, Length: 41, PlainLen: 1},
		}},
		{ID: katID("pack 3"), Size: 4},
	}
}

// katTree has a node of every type, a name that is not UTF-8, a negative
// mtime, the largest uid and a multi-byte varint everywhere one fits.
func katTree() []Node {
	return []Node{
		{Name: ".env", Type: NodeFile, Mode: 0o600, UID: 1000, GID: 1000, MTime: time.Unix(1767322245, 123456789), Size: 7, Content: []crypt.ID{katID("chunk")}},
		{Name: "big", Type: NodeFile, Mode: 0o644, UID: 0, GID: 0, MTime: time.Unix(1767322245, 0), Size: 300 << 20, Content: []crypt.ID{katID("c1"), katID("c2")}},
		{Name: "dev", Type: NodeBlockDev, Mode: 0o660, GID: 6, MTime: time.Unix(0, 0), DevMajor: 8, DevMinor: 300},
		{Name: "dir", Type: NodeDir, Mode: 0o1777, UID: 4294967295, GID: 65534, MTime: time.Unix(-5, 999999999), Subtree: katID("subtree")},
		{Name: "empty", Type: NodeFile, Mode: 0o444, MTime: time.Unix(1, 0)},
		{Name: "hard", Type: NodeHardlink, Mode: 0o644, MTime: time.Unix(2, 0), Target: "dir/a b/c"},
		{Name: "link", Type: NodeSymlink, Mode: 0o777, MTime: time.Unix(3, 0), Target: "../etc/passwd"},
		{Name: "null", Type: NodeCharDev, Mode: 0o666, MTime: time.Unix(4, 0), DevMajor: 1, DevMinor: 3},
		{Name: "pipe\xff", Type: NodeFIFO, Mode: 0o4755, MTime: time.Unix(5, 0)},
		{Name: "sock", Type: NodeSocket, Mode: 0o2755, MTime: time.Unix(6, 0)},
	}
}
