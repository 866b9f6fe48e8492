package crypt

import (
	"bytes"
	"errors"
	"testing"

	"filippo.io/age"
)

func TestSealOpen(t *testing.T) {
	s := NewSealer(NewRandomKey())
	for _, n := range []int{0, 1, 1000, 1 << 20} {
		p := bytes.Repeat([]byte{7}, n)
		c := s.Seal(nil, p, []byte("ad"))
		if len(c) != n+Overhead {
			t.Fatalf("sealed %d bytes to %d", n, len(c))
		}
		got, err := s.Open(nil, c, []byte("ad"))
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("open: %v", err)
		}
		if _, err := s.Open(nil, c, []byte("other")); !errors.Is(err, ErrAuth) {
			t.Fatalf("wrong ad accepted: %v", err)
		}
		for _, i := range []int{0, len(c) / 2, len(c) - 1} {
			d := append([]byte(nil), c...)
			d[i] ^= 1
			if _, err := s.Open(nil, d, []byte("ad")); !errors.Is(err, ErrAuth) {
				t.Fatalf("flipped byte %d accepted", i)
			}
		}
	}
	if _, err := s.Open(nil, []byte("short"), nil); !errors.Is(err, ErrAuth) {
		t.Fatal("short input accepted")
	}
}

func TestKeyedIDs(t *testing.T) {
	a, b := NewRandomKey().NewHasher(), NewRandomKey().NewHasher()
	if a.ID([]byte("x")) == b.ID([]byte("x")) {
		t.Fatal("ids do not depend on the key")
	}
	if x, y := a.ID([]byte("x")), a.ID([]byte("x")); x != y {
		t.Fatal("ids are not deterministic")
	}
	if Hash([]byte("x")) == a.ID([]byte("x")) {
		t.Fatal("keyed id equals unkeyed hash")
	}
}

func TestWrapUnwrap(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	k := NewRandomKey()
	w, err := WrapKey(k, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnwrapKey(w, id)
	if err != nil || got != k {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := UnwrapKey(w, other); err == nil {
		t.Fatal("another identity unwrapped the key")
	}
}

func TestPassphrase(t *testing.T) {
	ct, err := EncryptPassphrase([]byte("secret"), "right", 10)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecryptPassphrase(ct, "right"); err != nil || string(got) != "secret" {
		t.Fatalf("decrypt: %v", err)
	}
	if _, err := DecryptPassphrase(ct, "wrong"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	m, err := NewMaster("repo1")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*Master{m, m.WriteOnly()} {
		got, err := ParseKeyFile(MarshalKeyFile(k))
		if err != nil {
			t.Fatal(err)
		}
		if got.MetaKey != k.MetaKey || got.RepoID != "repo1" || got.Kind() != k.Kind() {
			t.Fatalf("key file round trip: %+v", got)
		}
	}
	if m.WriteOnly().DataIdentity != nil {
		t.Fatal("write-only key holds the identity")
	}
}

// FuzzParseKeyFile: what parses re-marshals to a key file that parses to
// the same master, and marshalling that again gives the same bytes.
func FuzzParseKeyFile(f *testing.F) {
	m, _ := NewMaster("r")
	f.Add(MarshalKeyFile(m))
	f.Add(MarshalKeyFile(m.WriteOnly()))
	f.Add([]byte(katFullKeyFile))
	f.Add([]byte(katWriteOnlyKeyFile))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseKeyFile(b)
		if err != nil {
			return
		}
		enc := MarshalKeyFile(m)
		again, err := ParseKeyFile(enc)
		if err != nil {
			t.Fatalf("a parsed key file re-marshals to one that does not parse: %v\n%s", err, enc)
		}
		if again.RepoID != m.RepoID || again.MetaKey != m.MetaKey || again.Kind() != m.Kind() ||
			(m.DataIdentity != nil && again.DataIdentity.String() != m.DataIdentity.String()) {
			t.Fatalf("key file round trip: %+v != %+v", again, m)
		}
		if !bytes.Equal(MarshalKeyFile(again), enc) {
			t.Fatal("MarshalKeyFile is not canonical")
		}
	})
}
