package format

import (
	"bytes"
	"testing"
	"time"

	"snap/crypt"
)

func sampleBlobs() ([][]byte, []Blob) {
	keys := [][]byte{[]byte("age-encryption.org/v1\n-> X25519 abc\nxyz\n--- mac\nbody")}
	blobs := []Blob{
		{ID: crypt.Hash([]byte("a")), Type: TypeData, Offset: 0, Length: 100, PlainLen: 300},
		{ID: crypt.Hash([]byte("b")), Type: TypeTree, Offset: 100, Length: 50, PlainLen: 60},
		{ID: crypt.Hash([]byte("c")), Type: TypeRefs, Offset: 150, Length: 41, PlainLen: 32},
	}
	return keys, blobs
}

func FuzzParsePackHeader(f *testing.F) {
	keys, blobs := sampleBlobs()
	f.Add(MarshalPackHeader(keys, blobs), int64(191))
	f.Add(MarshalPackHeader(nil, nil), int64(0))
	f.Add(katBytes(katPackHeader), int64(541))
	f.Fuzz(func(t *testing.T, b []byte, end int64) {
		k, bl, err := ParsePackHeader(b, end)
		if err != nil {
			return
		}
		// What parses must marshal back to the same bytes: one encoding.
		if !bytes.Equal(MarshalPackHeader(k, bl), b) {
			t.Fatal("pack header does not round-trip")
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	keys, blobs := sampleBlobs()
	f.Add(MarshalIndex([]Pack{{ID: crypt.Hash([]byte("p")), Size: 1000, Keys: keys, Blobs: blobs}}))
	f.Add(MarshalIndex(nil))
	f.Add(katBytes(katIndexPlain))
	f.Fuzz(func(t *testing.T, b []byte) {
		packs, err := ParseIndex(b)
		if err != nil {
			return
		}
		if !bytes.Equal(MarshalIndex(packs), b) {
			t.Fatal("index does not round-trip")
		}
	})
}

func sampleTree() []Node {
	return []Node{
		{Name: "a.txt", Type: NodeFile, Mode: 0o644, UID: 1000, GID: 1000, MTime: time.Unix(1700000000, 5), Size: 3, Content: []crypt.ID{crypt.Hash([]byte("x"))}},
		{Name: "dir", Type: NodeDir, Mode: 0o755, MTime: time.Unix(-5, 0), Subtree: crypt.Hash([]byte("t"))},
		{Name: "hl", Type: NodeHardlink, Mode: 0o644, Target: "dir/a.txt"},
		{Name: "link", Type: NodeSymlink, Mode: 0o777, Target: "/etc/passwd"},
		{Name: "null", Type: NodeCharDev, Mode: 0o666, DevMajor: 1, DevMinor: 3},
		{Name: "pipe\xff", Type: NodeFIFO, Mode: 0o600},
	}
}

func TestTreeRoundTripEncoding(t *testing.T) {
	nodes := sampleTree()
	got, err := ParseTree(MarshalTree(nodes))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(nodes) {
		t.Fatalf("%d nodes, want %d", len(got), len(nodes))
	}
	for i := range nodes {
		a, b := nodes[i], got[i]
		if a.Name != b.Name || a.Type != b.Type || a.Mode != b.Mode || a.UID != b.UID || !a.MTime.Equal(b.MTime) ||
			a.Size != b.Size || a.Subtree != b.Subtree || a.Target != b.Target || a.DevMinor != b.DevMinor || len(a.Content) != len(b.Content) {
			t.Fatalf("node %d: %+v != %+v", i, a, b)
		}
	}
	// Unsorted or duplicate names, and escaping names, are refused.
	bad := [][]Node{
		{{Name: "b", Type: NodeFIFO}, {Name: "a", Type: NodeFIFO}},
		{{Name: "a", Type: NodeFIFO}, {Name: "a", Type: NodeFIFO}},
		{{Name: "..", Type: NodeFIFO}},
		{{Name: "a/b", Type: NodeFIFO}},
		{{Name: "h", Type: NodeHardlink, Target: "../../etc/shadow"}},
	}
	for i, nodes := range bad {
		if _, err := ParseTree(MarshalTree(nodes)); err == nil {
			t.Errorf("bad tree %d accepted", i)
		}
	}
}

func FuzzParseTree(f *testing.F) {
	f.Add(MarshalTree(sampleTree()))
	f.Add(MarshalTree(nil))
	f.Add(katBytes(katTreePlain))
	f.Fuzz(func(t *testing.T, b []byte) {
		nodes, err := ParseTree(b)
		if err != nil {
			return
		}
		for _, n := range nodes {
			if !ValidName(n.Name) {
				t.Fatalf("accepted name %q", n.Name)
			}
		}
		if !bytes.Equal(MarshalTree(nodes), b) {
			t.Fatal("tree does not round-trip")
		}
	})
}

// FuzzParseRefs: a list that parses is its ids' bytes, and cutting it
// again gives refs blobs that concatenate to it, each cut where the rule
// says and nowhere else.
func FuzzParseRefs(f *testing.F) {
	ids := []crypt.ID{crypt.Hash([]byte("1")), crypt.Hash([]byte("2"))}
	f.Add(SplitRefs(ids)[0])
	f.Add(append(bytes.Repeat([]byte{0, 0x80}, 16), bytes.Repeat([]byte{7}, 64)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := ParseRefs(b)
		if err != nil {
			return
		}
		var joined []byte
		for _, id := range ids {
			joined = append(joined, id[:]...)
		}
		if !bytes.Equal(joined, b) {
			t.Fatal("refs do not round-trip")
		}
		for mod, split := range map[uint16]func([]crypt.ID) [][]byte{refsCutMod: SplitRefs, treeRefsCutMod: SplitTreeRefs} {
			pieces := split(ids)
			if !bytes.Equal(bytes.Join(pieces, nil), b) {
				t.Fatal("refs blobs do not concatenate to the list")
			}
			for i, p := range pieces {
				got, err := ParseRefs(p)
				if err != nil || len(got) == 0 {
					t.Fatalf("refs blob %d: %d ids, %v", i, len(got), err)
				}
				for j, id := range got {
					cut := refsCut(id, j+1, mod)
					if last := j == len(got)-1; cut != last && !(last && i == len(pieces)-1) {
						t.Fatalf("mod %d: refs blob %d: id %d cut %v", mod, i, j, cut)
					}
				}
			}
		}
	})
}
