package format

// Known answers for the codecs of format v1 (docs/format.md). Each encodes
// a fixed value and compares with pinned bytes, and parses the pinned bytes
// back to the value. The pinned bytes were computed once from the code of
// format v1: if a test here fails, the change broke every existing
// repository. Never regenerate them to make a test pass; a new encoding
// needs a new format version and a reader for the old one. The sealed
// files (config, pack, index, snapshot, lock) are pinned in repo's
// kat_test.go, which opens them.

import (
	"encoding/hex"
	"fmt"
	"reflect"
	"snap/internal/kat"
	"testing"

	"snap/crypt"
)

// same compares parsed values with the values encoded, where an empty
// slice and a nil one are the same encoding.
func same(a, b any) bool { return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b) }

func TestKnownAssociatedData(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{string(ADConfig), "snap config v1"},
		{string(ADPackHeader), "snap pack header v1"},
		{string(ADIndex), "snap index v1"},
		{string(ADSnapshot), "snap snapshot v1"},
		{string(ADLock), "snap lock v1"},
		{string(ADDamaged), "snap damaged v1"},
		{hex.EncodeToString(BlobAD(TypeData, katID("x"))), "01" + katID("x").String()},
		{hex.EncodeToString(BlobAD(TypeTree, katID("x"))), "02" + katID("x").String()},
		{hex.EncodeToString(BlobAD(TypeRefs, katID("x"))), "03" + katID("x").String()},
		{fmt.Sprint(uint8(TypeData), uint8(TypeTree), uint8(TypeRefs)), "1 2 3"},
		{fmt.Sprint(TypeData, TypeTree, TypeRefs, BlobType(9)), "data tree refs blob type 9"},
		{string([]byte{NodeFile, NodeDir, NodeSymlink, NodeHardlink, NodeCharDev, NodeBlockDev, NodeFIFO, NodeSocket}), "fdlhcbps"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, pinned %q", tc.got, tc.want)
		}
	}
}

// katPackHeader is the pack header of katKeysAndBlobs, spelled out.
var katPackHeader = "534e5048" + "01" + // magic, version
	"02" + // keys
	"1d" + "6167652d656e6372797074696f6e2e6f72672f76310a6b6579206f6e65" +
	"1d" + "6167652d656e6372797074696f6e2e6f72672f76310a6b65792074776f" +
	"03" + // blobs: type, key slot, id, offset, stored length, plaintext length
	"01" + "01" + katID("data").String() + "00" + "ac02" + "808040" +
	"02" + "00" + katID("tree").String() + "ac02" + "29" + "00" +
	"03" + "00" + katID("refs").String() + "d502" + "c801" + "a001"

func TestKnownPackHeader(t *testing.T) {
	keys, blobs := katKeysAndBlobs()
	got := MarshalPackHeader(keys, blobs)
	if hex.EncodeToString(got) != katPackHeader {
		t.Errorf("pack header\n%x\npinned\n%s", got, katPackHeader)
	}
	k, b, err := ParsePackHeader(kat.Unhex(t, katPackHeader), 541)
	if err != nil {
		t.Fatal(err)
	}
	if !same(k, keys) || !same(b, blobs) {
		t.Errorf("parsed %+v %+v", k, b)
	}
	if _, _, err := ParsePackHeader(kat.Unhex(t, katPackHeader), 540); err == nil {
		t.Error("a header whose blobs do not end where it starts parsed")
	}
}

const katIndexPlain = "" +
	"534e504901034ec25ff7040e7731563e40034598eb429385a7c63bbe434893dd" +
	"cd73a57e80fae807021d6167652d656e6372797074696f6e2e6f72672f76310a" +
	"6b6579206f6e651d6167652d656e6372797074696f6e2e6f72672f76310a6b65" +
	"792074776f03010128a249c2e4d3a92bc0a16ed8f1b5cf83ca20415ee12e502b" +
	"096624902bbc97bd00ac0280804002006baa6c9f461fe834a9da0ebb62e0f6fb" +
	"8c11988a58cbc51b8da8040aea19bc3aac0229000300ca4b5ebe9744d4eceb82" +
	"b95dfdfc83fe53081752b77bff3190c0f3bc6c5f04a6d502c801a0011aff386a" +
	"d8d6f81ad48b1d3cdb2dc1e99377e67c03426bb66210ff21be8108672d000103" +
	"00e3d4469a0c4501ea94e935ce31c8835185ef263807ff86649112ee795ddcee" +
	"06002901999782ab146e2407ab62f7d17acb705d114cce46c4b12ade81049ee4" +
	"9be6752c040000"

func TestKnownIndex(t *testing.T) {
	got := MarshalIndex(katPacks())
	if hex.EncodeToString(got) != katIndexPlain {
		t.Errorf("index\n%x\npinned\n%s", got, katIndexPlain)
	}
	packs, err := ParseIndex(kat.Unhex(t, katIndexPlain))
	if err != nil {
		t.Fatal(err)
	}
	if !same(packs, katPacks()) {
		t.Errorf("parsed %+v", packs)
	}
}

const katTreePlain = "" +
	"534e5054010a042e656e76668003e807e8078acab9950d959aef3a07016b1d44" +
	"0ada61d0f4e4416c73bcbab3694f96875a3e5df3253075163ffe93cd4d036269" +
	"6766a40300008acab9950d0080808096010226d65c79b33e002d5b0ba6a90c62" +
	"fd2aa763b64396556c17152e973265ff153583eefbca8e4c0a8e60d77beaa15b" +
	"4413bba8facac97fec1a594d89bff7302e470364657662b0030006000008ac02" +
	"0364697264ff07ffffffff0ffeff0309ff93ebdc0337d0e4a50a0ac1cd69fe24" +
	"45af91644163cc26979503ccfa7055394af9e6e55c05656d70747966a4020000" +
	"02000000046861726468a40300000400096469722f6120622f63046c696e6b6c" +
	"ff03000006000d2e2e2f6574632f706173737764046e756c6c63b60300000800" +
	"01030570697065ff70ed1300000a0004736f636b73ed0b00000c00"

func TestKnownTree(t *testing.T) {
	got := MarshalTree(katTree())
	if hex.EncodeToString(got) != katTreePlain {
		t.Errorf("tree\n%x\npinned\n%s", got, katTreePlain)
	}
	nodes, err := ParseTree(kat.Unhex(t, katTreePlain))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(nodes, katTree()) {
		t.Errorf("parsed %+v", nodes)
	}
}

// TestKnownRefs pins where reference lists are cut: after an id whose
// first two bytes, big-endian, are 0 mod 128 (a stream's list) or 0 mod 16
// (a tree's), and after 2048 ids.
func TestKnownRefs(t *testing.T) {
	idWith := func(a, b byte, n int) crypt.ID { id := katID(fmt.Sprint(n)); id[0], id[1] = a, b; return id }
	for _, tc := range []struct {
		ids   []crypt.ID
		want  string // ids per refs blob
		split func([]crypt.ID) [][]byte
	}{
		{[]crypt.ID{idWith(0x12, 0x34, 0), idWith(0x00, 0x80, 1), idWith(0x01, 0x00, 2), idWith(0x00, 0x40, 3), idWith(0xff, 0x80, 4), idWith(0x7f, 0xff, 5)}, "[2 1 2 1]", SplitRefs},
		{[]crypt.ID{idWith(0x12, 0x34, 0), idWith(0x00, 0x80, 1), idWith(0x01, 0x00, 2), idWith(0x00, 0x40, 3), idWith(0xff, 0x81, 4), idWith(0x7f, 0xf0, 5)}, "[2 1 1 2]", SplitTreeRefs},
		{func() []crypt.ID {
			ids := make([]crypt.ID, 5000)
			for i := range ids {
				ids[i] = idWith(0xff, 0x01, i)
			}
			return ids
		}(), "[2048 2048 904]", SplitRefs},
		{func() []crypt.ID {
			h := katIDKey.NewHasher()
			ids := make([]crypt.ID, 1000)
			for i := range ids {
				ids[i] = h.ID(fmt.Appendf(nil, "chunk %d", i))
			}
			return ids
		}(), "[29 246 133 48 454 90]", SplitRefs},
		{func() []crypt.ID {
			h := katIDKey.NewHasher()
			ids := make([]crypt.ID, 100)
			for i := range ids {
				ids[i] = h.ID(fmt.Appendf(nil, "chunk %d", i))
			}
			return ids
		}(), "[18 11 20 13 13 10 5 10]", SplitTreeRefs},
	} {
		pieces := tc.split(tc.ids)
		var sizes []int
		var all []crypt.ID
		for _, p := range pieces {
			sizes = append(sizes, len(p)/32)
			ids, err := ParseRefs(p)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, ids...)
		}
		if fmt.Sprint(sizes) != tc.want {
			t.Errorf("refs blobs of %s ids, pinned %s", fmt.Sprint(sizes), tc.want)
		}
		if !reflect.DeepEqual(all, tc.ids) {
			t.Error("refs blobs do not parse back to the list")
		}
	}
	if _, err := ParseRefs(make([]byte, 33)); err == nil {
		t.Error("a refs blob of 33 bytes parsed")
	}
}
