package repo

// Known answers for the codecs of format v1 (docs/format.md). Each encodes
// a fixed value and compares with pinned bytes, and parses the pinned bytes
// back to the value. The pinned bytes were computed once from the code of
// format v1: if a test here fails, the change broke every existing
// repository. Never regenerate them to make a test pass; a new encoding
// needs a new format version and a reader for the old one.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"snap/cache"
	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/backend/local"
)

// same compares parsed values with the values encoded, where an empty
// slice and a nil one are the same encoding.
func same(a, b any) bool { return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b) }

func TestKnownAssociatedData(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{string(adConfig), "snap config v1"},
		{string(adPackHeader), "snap pack header v1"},
		{string(adIndex), "snap index v1"},
		{string(adSnapshot), "snap snapshot v1"},
		{string(adLock), "snap lock v1"},
		{hex.EncodeToString(blobAD(cache.TypeData, katID("x"))), "01" + katID("x").String()},
		{hex.EncodeToString(blobAD(cache.TypeTree, katID("x"))), "02" + katID("x").String()},
		{hex.EncodeToString(blobAD(cache.TypeRefs, katID("x"))), "03" + katID("x").String()},
		{fmt.Sprint(cache.TypeData, cache.TypeTree, cache.TypeRefs, compNone, compZstd), "1 2 3 0 1"},
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
	got := marshalPackHeader(keys, blobs)
	if hex.EncodeToString(got) != katPackHeader {
		t.Errorf("pack header\n%x\npinned\n%s", got, katPackHeader)
	}
	k, b, err := parsePackHeader(unhex(t, katPackHeader), 541)
	if err != nil {
		t.Fatal(err)
	}
	if !same(k, keys) || !same(b, blobs) {
		t.Errorf("parsed %+v %+v", k, b)
	}
	if _, _, err := parsePackHeader(unhex(t, katPackHeader), 540); err == nil {
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
	got := marshalIndex(katPacks())
	if hex.EncodeToString(got) != katIndexPlain {
		t.Errorf("index\n%x\npinned\n%s", got, katIndexPlain)
	}
	packs, err := parseIndex(unhex(t, katIndexPlain))
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
	got := marshalTree(katTree())
	if hex.EncodeToString(got) != katTreePlain {
		t.Errorf("tree\n%x\npinned\n%s", got, katTreePlain)
	}
	nodes, err := parseTree(unhex(t, katTreePlain))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(nodes, katTree()) {
		t.Errorf("parsed %+v", nodes)
	}
}

// TestKnownRefs pins where reference lists are cut: after an id whose
// first two bytes, big-endian, are 0 mod 128, and after 2048 ids.
func TestKnownRefs(t *testing.T) {
	idWith := func(a, b byte, n int) crypt.ID { id := katID(fmt.Sprint(n)); id[0], id[1] = a, b; return id }
	for _, tc := range []struct {
		ids  []crypt.ID
		want string // ids per refs blob
	}{
		{[]crypt.ID{idWith(0x12, 0x34, 0), idWith(0x00, 0x80, 1), idWith(0x01, 0x00, 2), idWith(0x00, 0x40, 3), idWith(0xff, 0x80, 4), idWith(0x7f, 0xff, 5)}, "[2 1 2 1]"},
		{func() []crypt.ID {
			ids := make([]crypt.ID, 5000)
			for i := range ids {
				ids[i] = idWith(0xff, 0x01, i)
			}
			return ids
		}(), "[2048 2048 904]"},
		{func() []crypt.ID {
			h := katIDKey.NewHasher()
			ids := make([]crypt.ID, 1000)
			for i := range ids {
				ids[i] = h.ID(fmt.Appendf(nil, "chunk %d", i))
			}
			return ids
		}(), "[29 246 133 48 454 90]"},
	} {
		pieces := splitRefs(tc.ids)
		var sizes []int
		var all []crypt.ID
		for _, p := range pieces {
			sizes = append(sizes, len(p)/32)
			ids, err := parseRefs(p)
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
	if _, err := parseRefs(make([]byte, 33)); err == nil {
		t.Error("a refs blob of 33 bytes parsed")
	}
}

const katSnapshotJSON = `{"version":1,"time":"2026-01-02T03:04:05.123456789Z","host":"web1","profile":"n8n","tags":["nightly","pre-upgrade"],"program":"snap v1.0.0","status":"partial","items":[{"name":"db.sql","kind":"stream","size":1073741824,"refs":["5966598b377ee4e39c81bb5c2496b1b33494d9dd089b72b8c4e350f51d95995c","4ada45911158a94766c4c59466d11516490433c4d7501e569581fd9823524e20"],"added":4096,"meta":{"container":"n8n-postgres-1","database":"n8n","source":"postgres"}},{"name":"files","kind":"tree","size":77,"refs":["a41f206342cb8267d9dfb7d55116fad968d38aa10713ad949b7d7260e1994630"],"tree":"a2eb9a7ddb9af056fdd07370580a53915e38412027b84fe0e3c695a62976ef79","files":3,"dirs":2},{"name":"redis","kind":"stream","size":0,"refs":[],"error":"redis: connection refused"}],"duration_seconds":1.5,"stored":123456,"repaired_from":"65ced1e8b5b5673328490f4f60ac30042de1e43371df59dfcd6ebefaf08f6256"}`

func TestKnownSnapshotJSON(t *testing.T) {
	want := katSnapshot()
	got, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != katSnapshotJSON {
		t.Errorf("snapshot JSON\n%s\npinned\n%s", got, katSnapshotJSON)
	}
	name := crypt.Hash([]byte("a snapshot file")).String()
	s, err := parseSnapshot(backend.Handle{Type: backend.SnapshotFile, Name: name}, []byte(katSnapshotJSON))
	if err != nil {
		t.Fatal(err)
	}
	want.ID, _ = crypt.ParseID(name)
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("parsed %+v", *s)
	}
	// The pinned sealed snapshot file opens to the same JSON.
	plain, err := crypt.NewSealer(katMetaKey).Open(nil, unhex(t, katSnapshotFile), adSnapshot)
	if err != nil || string(plain) != katSnapshotJSON {
		t.Errorf("pinned snapshot file: %v\n%s", err, plain)
	}
}

const katLockJSON = `{"time":"2026-01-02T03:04:05.000000006Z","host":"web1","pid":4242,"user":"root","exclusive":true,"op":"prune","nonce":"0123456789abcdef"}`

func TestKnownLock(t *testing.T) {
	got, err := json.Marshal(katLock())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != katLockJSON {
		t.Errorf("lock JSON\n%s\npinned\n%s", got, katLockJSON)
	}
	var li LockInfo
	if err := json.Unmarshal([]byte(katLockJSON), &li); err != nil || li != katLock() {
		t.Errorf("parsed %+v, %v", li, err)
	}
	plain, err := crypt.NewSealer(katMetaKey).Open(nil, unhex(t, katLockFile), adLock)
	if err != nil || string(plain) != katLockJSON {
		t.Errorf("pinned lock file: %v\n%s", err, plain)
	}
}

// katConfigSecrets is the sealed part of katConfigFile.
const katConfigSecrets = `{"chunker":{"algorithm":"gear-v1","seed":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=","min_size":65536,"max_size":1048576,"average_bits":17},"pack_size":16777216,"id_key":"YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=","data_recipient":"age1kytyj97kdt5kee9ngqjg04m8yk857x3d6gpzl0vdeachltu6zeuqfl4f66","compression":"zstd","compression_level":"better"}`

var sealedField = regexp.MustCompile(`"sealed": "[A-Za-z0-9+/=]+"`)

func TestKnownConfig(t *testing.T) {
	meta := crypt.NewSealer(katMetaKey)
	f, err := peekConfig([]byte(katConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	ad := append(append([]byte(nil), adConfig...), katRepoID...)
	if plain, err := meta.Open(nil, f.Sealed, ad); err != nil || string(plain) != katConfigSecrets {
		t.Errorf("sealed part of the pinned config: %v\n%s", err, plain)
	}
	cfg, err := openConfig(f, meta)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Chunker
	if cfg.ID != katRepoID || p.Algorithm != "gear-v1" || !bytes.Equal(p.Seed, katChunkSeed[:]) || p.Min != 64<<10 || p.Max != 1<<20 || p.AvgBits != 17 ||
		cfg.PackSize != 16<<20 || cfg.IDKey != katIDKey || cfg.Recipient.String() != katRecipient || cfg.Level != "better" {
		t.Errorf("opened config %+v", cfg)
	}
	if _, err := openConfig(f, crypt.NewSealer(katIDKey)); !errors.Is(err, ErrWrongKey) {
		t.Errorf("another key: %v", err)
	}
	// Marshalling the opened config gives the same file but for the nonce.
	b := marshalConfig(cfg, meta)
	if got, want := sealedField.ReplaceAll(b, nil), sealedField.ReplaceAll([]byte(katConfigFile), nil); !bytes.Equal(got, want) {
		t.Errorf("config file\n%s\npinned\n%s", b, katConfigFile)
	}
	f2, err := peekConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := meta.Open(nil, f2.Sealed, ad); err != nil || string(plain) != katConfigSecrets {
		t.Errorf("sealed part of a marshalled config: %v\n%s", err, plain)
	}
}

// TestKnownPack opens the pinned pack file the way a restore does: the
// trailer, the header with the metadata key, the session key from the key
// table with the identity, each blob with its key and AD, decompressed.
func TestKnownPack(t *testing.T) {
	pack := unhex(t, katPackFile)
	id, err := age.ParseX25519Identity(katIdentity)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	r := &Repository{meta: crypt.NewSealer(katMetaKey), master: &crypt.Master{RepoID: katRepoID, MetaKey: katMetaKey, DataIdentity: id},
		keys: map[crypt.ID]*crypt.Sealer{}, zdec: dec}
	keys, blobs, err := r.parsePack(pack)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || hex.EncodeToString(keys[0]) != katWrapped {
		t.Fatalf("key table %q", keys)
	}
	if k, err := crypt.UnwrapKey(keys[0], id); err != nil || k != katSessionKey {
		t.Fatalf("session key %x, %v", k, err)
	}
	h := katIDKey.NewHasher()
	plains := katPackPlaintexts()
	var refs []byte
	for _, p := range plains {
		id := h.ID(p)
		refs = append(refs, id[:]...)
	}
	plains = append(plains, refs)
	types := []uint8{cache.TypeData, cache.TypeData, cache.TypeTree, cache.TypeRefs}
	if len(blobs) != len(plains) {
		t.Fatalf("%d blobs", len(blobs))
	}
	handle := backend.Handle{Type: backend.PackFile, Name: crypt.Hash(pack).String()}
	for i, b := range blobs {
		if b.Type != types[i] || b.ID != h.ID(plains[i]) || b.PlainLen != uint64(len(plains[i])) {
			t.Errorf("blob %d: %+v", i, b)
		}
		s := r.meta
		if b.Type != cache.TypeRefs {
			if s, err = r.sessionSealer(keys[b.KeySlot]); err != nil {
				t.Fatal(err)
			}
		}
		stored := pack[b.Offset : b.Offset+b.Length]
		got, err := r.openBlob(handle, b, s, stored, nil)
		if err != nil || !bytes.Equal(got, plains[i]) {
			t.Errorf("blob %d opened to %q, %v", i, got, err)
		}
		// The first blob is stored zstd-compressed, the others as they are.
		payload, err := s.Open(nil, stored, blobAD(b.Type, b.ID))
		if err != nil {
			t.Fatal(err)
		}
		wantPayload := append([]byte{compNone}, plains[i]...)
		if i == 0 {
			wantPayload = []byte{compZstd, 0x28, 0xb5, 0x2f, 0xfd} // zstd frame magic
		}
		if !bytes.HasPrefix(payload, wantPayload) {
			t.Errorf("blob %d payload starts %x", i, payload[:min(8, len(payload))])
		}
	}
	// A write-only key reads the header and refs, never a session key.
	r.master = r.master.WriteOnly()
	r.keys = map[crypt.ID]*crypt.Sealer{}
	if _, err := r.sessionSealer(keys[0]); !errors.Is(err, ErrWriteOnly) {
		t.Errorf("write-only key unwrapped a session key: %v", err)
	}
	// The pinned index file lists exactly this pack.
	plain, err := r.meta.Open(nil, unhex(t, katIndexFile), adIndex)
	if err != nil {
		t.Fatal(err)
	}
	packs, err := parseIndex(plain)
	if err != nil {
		t.Fatal(err)
	}
	want := []cache.Pack{{ID: crypt.Hash(pack), Size: int64(len(pack)), Keys: keys, Blobs: blobs}}
	if !same(packs, want) {
		t.Errorf("pinned index file: %+v", packs)
	}
}

// katSlotFile is a key slot as AddKey writes it, its age field left out
// (age scrypt is randomised; crypt pins its decryption).
const katSlotFile = `{
  "snap_key_slot": 1,
  "created": "2026-01-02T02:04:05.000000006Z",
  "host": "web1",
  "user": "root",
  "kind": "full",
  "age": ""
}`

func TestKnownKeySlot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/config", []byte(katConfigFile), 0o644); err != nil {
		t.Fatal(err)
	}
	be := local.New(dir)
	id, _ := age.ParseX25519Identity(katIdentity)
	m := &crypt.Master{RepoID: katRepoID, MetaKey: katMetaKey, DataIdentity: id}
	name, err := AddKey(ctx, be, m, KeyParams{Passphrase: "correct horse battery staple", WorkFactor: 10, Host: "web1", User: "root",
		Now: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dir + "/keys/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if crypt.Hash(b).String() != name {
		t.Error("a key slot is not named by its hash")
	}
	ageField := regexp.MustCompile(`"age": "[A-Za-z0-9+/=]+"`)
	if got := ageField.ReplaceAll(b, []byte(`"age": ""`)); string(got) != katSlotFile {
		t.Errorf("key slot\n%s\npinned\n%s", got, katSlotFile)
	}
	got, slot, err := OpenKey(ctx, be, "correct horse battery staple")
	if err != nil || slot != name || got.MetaKey != katMetaKey || got.DataIdentity.String() != katIdentity || got.RepoID != katRepoID {
		t.Errorf("open key slot: %v", err)
	}
}
