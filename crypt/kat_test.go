package crypt

// Known answers for format v1 (docs/format.md "Conventions", "Keys and what
// they can do"). The BLAKE3 vectors are the published ones (BLAKE3's
// test_vectors.json: input byte i is i mod 251, key "whats the Elvish word
// for friend"); the rest were computed once from the code of format v1 and
// are pinned: a change here orphans every repository, so never regenerate
// them to make a test pass.
//
// This package derives no key: the id key, the metadata key and session
// keys are random bytes. What is derived is an X25519 recipient from its
// identity and the passphrase slot's age scrypt key, both pinned below; the
// gear table is pinned in package chunk.

import (
	"bytes"
	"encoding/hex"
	"errors"
	"snap/internal/kat"
	"testing"

	"filippo.io/age"
)

// blake3Input is the published vectors' input: byte i is i mod 251.
func blake3Input(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// blake3Vectors are the first 32 bytes of the published hash and
// keyed_hash outputs.
var blake3Vectors = []struct {
	n           int
	hash, keyed string
}{
	{0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262", "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26"},
	{1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213", "6d7878dfff2f485635d39013278ae14f1454b8c0a3a2d34bc1ab38228a80c95b"},
	{1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11", "c951ecdf03288d0fcc96ee3413563d8a6d3589547f2c2fb36d9786470f1b9d6e"},
	{1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7", "75c46f6f3d9eb4f55ecaaee480db732e6c2105546f1e675003687c31719c7ba4"},
	{1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444", "357dc55de0c7e382c900fd6e320acc04146be01db6a8ce7210b7189bd664ea69"},
	{2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a", "879cf1fa2ea0e79126cb1063617a05b6ad9d0b696d0d757cf053439f60a99dd1"},
	{8192, "aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63", "dc9637c8845a770b4cbf76b8daec0eebf7dc2eac11498517f08d44c8fc00d58a"},
}

// TestKnownHashes: file names are unkeyed BLAKE3-256, blob ids keyed
// BLAKE3-256 with the id key.
func TestKnownHashes(t *testing.T) {
	var key Key
	copy(key[:], "whats the Elvish word for friend")
	h := key.NewHasher()
	for _, v := range blake3Vectors {
		in := blake3Input(v.n)
		if got := Hash(in).String(); got != v.hash {
			t.Errorf("Hash of %d bytes = %s, want %s", v.n, got, v.hash)
		}
		if got := h.ID(in).String(); got != v.keyed {
			t.Errorf("keyed id of %d bytes = %s, want %s", v.n, got, v.keyed)
		}
	}
}

// katKey returns the key whose byte i is base+i.
func katKey(base byte) Key { return Key(kat.Key(base)) }

// katNonce is bytes 0x40…0x57.
func katNonce() []byte {
	n := make([]byte, 24)
	for i := range n {
		n[i] = 0x40 + byte(i)
	}
	return n
}

// TestKnownSeal pins seal(K, P, AD) = nonce ‖ ciphertext ‖ tag
// (XChaCha20-Poly1305) for a fixed key and nonce, and the open of those
// bytes.
func TestKnownSeal(t *testing.T) {
	s := NewSealer(katKey(0))
	for _, tc := range []struct {
		plain, ad, sealed string
	}{
		{"snap known answer", "snap pack header v1", "404142434445464748494a4b4c4d4e4f5051525354555657" +
			"a7576400f08b1779f89aa7dfc1ef12f7e06edb524b7a27319187c3f04458f74867"},
		{"", "snap index v1", "404142434445464748494a4b4c4d4e4f5051525354555657" +
			"cb2944211dc26b5a97eab4155a5e0569"},
	} {
		sealed := s.sealWithNonce(nil, katNonce(), []byte(tc.plain), []byte(tc.ad))
		if got := hex.EncodeToString(sealed); got != tc.sealed {
			t.Errorf("seal(%q, ad %q) = %s\npinned %s", tc.plain, tc.ad, got, tc.sealed)
		}
		pinned := kat.Unhex(t, tc.sealed)
		if len(pinned) != len(tc.plain)+Overhead || Overhead != 40 {
			t.Errorf("sealed %d bytes to %d: the overhead is 40", len(tc.plain), len(pinned))
		}
		got, err := s.Open(nil, pinned, []byte(tc.ad))
		if err != nil || string(got) != tc.plain {
			t.Errorf("open pinned: %q, %v", got, err)
		}
		got, err = s.OpenInPlace(bytes.Clone(pinned), []byte(tc.ad))
		if err != nil || string(got) != tc.plain {
			t.Errorf("open in place pinned: %q, %v", got, err)
		}
		if _, err := s.Open(nil, pinned, []byte("snap snapshot v1")); !errors.Is(err, ErrAuth) {
			t.Errorf("pinned bytes open under another AD: %v", err)
		}
	}
}

// A fixed X25519 identity, its recipient, and the session key 0xa0…0xbf
// wrapped to it by WrapKey. age's X25519 stanza is randomised, so what is
// pinned is the unwrap of fixed bytes.
const (
	katIdentity  = "AGE-SECRET-KEY-18PJP9DFM5Q4TKFNDL04EL7USFSKHS7JUTMVG3VFGDHN82PQPGZHSW4LJ38"
	katRecipient = "age1kytyj97kdt5kee9ngqjg04m8yk857x3d6gpzl0vdeachltu6zeuqfl4f66"
	katWrapped   = "" +
		"6167652d656e6372797074696f6e2e6f72672f76310a2d3e2058323535313920" +
		"54723854702f336e557a3352474b317a796674782b346e6a636c615643513656" +
		"754d73503636456d5169410a76327467656772526e6c305778796b7047655841" +
		"3772744972716a646f4c6a47736a505a486f334d3453550a2d2d2d207563684e" +
		"3466666144737339555a365062385a43366967737171425630565a4f6771734d" +
		"67334879426c670a88897e90d83be0c177632d98cae3f3f846b75dcfde59f209" +
		"55cd50160c60c1e16ce766257bd36bec4b7b8b7b3a97974e38cc3efa1da35247" +
		"9910dcabf00807c6"
)

func TestKnownWrappedKey(t *testing.T) {
	id, err := age.ParseX25519Identity(katIdentity)
	if err != nil {
		t.Fatal(err)
	}
	if got := id.Recipient().String(); got != katRecipient {
		t.Errorf("recipient of the pinned identity = %s, pinned %s", got, katRecipient)
	}
	wrapped := kat.Unhex(t, katWrapped)
	if !bytes.HasPrefix(wrapped, []byte("age-encryption.org/v1\n-> X25519 ")) {
		t.Error("the pinned session key is not a binary age file with an X25519 stanza")
	}
	k, err := UnwrapKey(wrapped, id)
	if err != nil {
		t.Fatal(err)
	}
	if k != katKey(0xa0) {
		t.Errorf("unwrapped %x", k)
	}
	// What WrapKey makes today opens the same way.
	w, err := WrapKey(k, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if k2, err := UnwrapKey(w, id); err != nil || k2 != k {
		t.Errorf("wrap and unwrap: %v", err)
	}
}

// The key files of a fixed master (the repository id below, metadata key
// 0x10…0x2f, the identity above): MarshalKeyFile's exact bytes.
const (
	katRepoID      = "5e1f0c7a9b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"
	katFullKeyFile = `{
  "snap_key": 1,
  "repo": "5e1f0c7a9b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",
  "kind": "full",
  "meta_key": "EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8=",
  "data_identity": "AGE-SECRET-KEY-18PJP9DFM5Q4TKFNDL04EL7USFSKHS7JUTMVG3VFGDHN82PQPGZHSW4LJ38"
}
`
	katWriteOnlyKeyFile = `{
  "snap_key": 1,
  "repo": "5e1f0c7a9b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",
  "kind": "write-only",
  "meta_key": "EBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8="
}
`
)

func TestKnownKeyFiles(t *testing.T) {
	id, err := age.ParseX25519Identity(katIdentity)
	if err != nil {
		t.Fatal(err)
	}
	full := &Master{RepoID: katRepoID, MetaKey: katKey(0x10), DataIdentity: id}
	for _, tc := range []struct {
		m    *Master
		kind string
		want string
	}{
		{full, KindFull, katFullKeyFile},
		{full.WriteOnly(), KindWriteOnly, katWriteOnlyKeyFile},
	} {
		if got := string(MarshalKeyFile(tc.m)); got != tc.want {
			t.Errorf("%s key file:\n%s\npinned:\n%s", tc.kind, got, tc.want)
		}
		m, err := ParseKeyFile([]byte(tc.want))
		if err != nil {
			t.Fatal(err)
		}
		if m.RepoID != katRepoID || m.MetaKey != katKey(0x10) || m.Kind() != tc.kind {
			t.Errorf("parsed %s key file: %+v", tc.kind, m)
		}
		if tc.kind == KindFull && m.DataIdentity.String() != katIdentity {
			t.Errorf("parsed identity %s", m.DataIdentity)
		}
	}
}

// katSlotAge is katFullKeyFile encrypted by EncryptPassphrase to the
// passphrase "correct horse battery staple" at work factor 10: the "age"
// field of a key slot.
const katSlotAge = "" +
	"6167652d656e6372797074696f6e2e6f72672f76310a2d3e2073637279707420" +
	"684969623849626c537365574b4d2f69475a423061412031300a384b702f6d72" +
	"6b627735697a5a396269686f786555687136367a5069395070313737654b3875" +
	"696b6f53490a2d2d2d203270696c66346e5651744f313932747a55344d324d62" +
	"5534754e327942356973514f4c38766879397562670afa10ecac3c15f999581f" +
	"9555462223433f2202b0bc3067631fef35f461f8ceed9b5f642fd0eebf342cb7" +
	"0c478ea94bf5cb43e95a9906d4f6bce049b777fdfdbf19091cb0869185829a10" +
	"6896703c8b0f19974bd093b8ac8e64b92314fda0da6ff0661fed360eb0ec9680" +
	"2181ad24838369ff7287b08e4137a6cb0516f6ea59bc0956577a10fe4e138281" +
	"84202bdc3ee8c45800a50e8be89b87d9b03cd15ca79156ee78d4bd0420c6a2e0" +
	"557e5d1adcebfabd1dafb6d36595bbf1e845a8180908593ba5e3c044b2cbde8d" +
	"d1721f0dbc610ee063aa89917af910293ef237ccc8cd9cce4fe8968fd72a996b" +
	"c6771e4a99d08efea5b29e3e5161b6914cfd9f98b8edd6a41f8c4bd325ca4f43" +
	"36498849bddea229d5d88a51c81c08a9e312ebf0bb9dcf06cd8462e71065e3b2" +
	"c82d9d754f1d545566"

func TestKnownPassphraseSlot(t *testing.T) {
	slot := kat.Unhex(t, katSlotAge)
	if !bytes.HasPrefix(slot, []byte("age-encryption.org/v1\n-> scrypt ")) {
		t.Error("the pinned slot is not a binary age file with a scrypt stanza")
	}
	got, err := DecryptPassphrase(slot, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != katFullKeyFile {
		t.Errorf("decrypted %q", got)
	}
	if _, err := DecryptPassphrase(slot, "wrong"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
}
