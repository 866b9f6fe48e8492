package repo

// Known answers for the sealed files of format v1 (docs/format.md); the
// codecs' own are in repo/format. Each encodes
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
	"snap/internal/kat"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/backend/local"
	"snap/repo/compress"
	"snap/repo/format"
)

// same compares parsed values with the values encoded, where an empty
// slice and a nil one are the same encoding.
func same(a, b any) bool { return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b) }

// TestKnownCompression pins the first byte of a blob's plaintext, which
// names its compression. The codecs' known answers are in repo/format.
func TestKnownCompression(t *testing.T) {
	if got := fmt.Sprint(compress.None, compress.Zstd); got != "0 1" {
		t.Errorf("got %q, pinned %q", got, "0 1")
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
	plain, err := crypt.NewSealer(katMetaKey).Open(nil, kat.Unhex(t, katSnapshotFile), format.ADSnapshot)
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
	plain, err := crypt.NewSealer(katMetaKey).Open(nil, kat.Unhex(t, katLockFile), format.ADLock)
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
	ad := append(append([]byte(nil), format.ADConfig...), katRepoID...)
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
	pack := kat.Unhex(t, katPackFile)
	id, err := age.ParseX25519Identity(katIdentity)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := compress.NewDecoder(format.MaxBlobLength)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	r := &Repository{meta: crypt.NewSealer(katMetaKey), master: &crypt.Master{RepoID: katRepoID, MetaKey: katMetaKey, DataIdentity: id},
		keys: map[crypt.ID]*crypt.Sealer{}, dec: dec}
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
	types := []format.BlobType{format.TypeData, format.TypeData, format.TypeTree, format.TypeRefs}
	if len(blobs) != len(plains) {
		t.Fatalf("%d blobs", len(blobs))
	}
	handle := backend.Handle{Type: backend.PackFile, Name: crypt.Hash(pack).String()}
	for i, b := range blobs {
		if b.Type != types[i] || b.ID != h.ID(plains[i]) || b.PlainLen != uint64(len(plains[i])) {
			t.Errorf("blob %d: %+v", i, b)
		}
		s := r.meta
		if b.Type != format.TypeRefs {
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
		payload, err := s.Open(nil, stored, format.BlobAD(b.Type, b.ID))
		if err != nil {
			t.Fatal(err)
		}
		wantPayload := append([]byte{compress.None}, plains[i]...)
		if i == 0 {
			wantPayload = []byte{compress.Zstd, 0x28, 0xb5, 0x2f, 0xfd} // zstd frame magic
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
	plain, err := r.meta.Open(nil, kat.Unhex(t, katIndexFile), format.ADIndex)
	if err != nil {
		t.Fatal(err)
	}
	packs, err := format.ParseIndex(plain)
	if err != nil {
		t.Fatal(err)
	}
	want := []format.Pack{{ID: crypt.Hash(pack), Size: int64(len(pack)), Keys: keys, Blobs: blobs}}
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

const katDamagedJSON = `{"version":1,"packs":[{"pack":"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20","reason":"contents do not match the file name","found_by":"check","host":"web1","time":"2026-01-02T03:04:05.000000006Z"}]}`

func katDamaged() damageFile {
	var id crypt.ID
	for i := range id {
		id[i] = byte(i + 1)
	}
	return damageFile{Version: 1, Packs: []damageEntry{{Pack: id, Reason: "contents do not match the file name", FoundBy: FoundByCheck, Host: "web1", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}}}
}

func TestKnownDamageRecord(t *testing.T) {
	got, err := json.Marshal(katDamaged())
	if err != nil || string(got) != katDamagedJSON {
		t.Errorf("damage record JSON\n%s\npinned\n%s", got, katDamagedJSON)
	}
	h := backend.Handle{Type: backend.DamagedFile, Name: "x"}
	entries, err := parseDamageFile(h, []byte(katDamagedJSON))
	if err != nil || !reflect.DeepEqual(entries, katDamaged().Packs) {
		t.Errorf("parsed %+v, %v", entries, err)
	}
	plain, err := crypt.NewSealer(katMetaKey).Open(nil, kat.Unhex(t, katDamagedFile), format.ADDamaged)
	if err != nil || string(plain) != katDamagedJSON {
		t.Errorf("pinned damage record: %v\n%s", err, plain)
	}
	// Strict: another version, unknown fields, trailing data, no packs.
	for _, bad := range []string{
		strings.Replace(katDamagedJSON, `"version":1`, `"version":2`, 1),
		strings.Replace(katDamagedJSON, `"host"`, `"hostname"`, 1),
		katDamagedJSON + `{}`,
		`{"version":1,"packs":[]}`,
	} {
		if _, err := parseDamageFile(h, []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
