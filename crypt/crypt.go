package crypt

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"github.com/zeebo/blake3"
	"golang.org/x/crypto/chacha20poly1305"
)

// ErrAuth means sealed bytes did not authenticate: wrong key, or the bytes
// were changed.
var ErrAuth = errors.New("authentication failed (wrong key or damaged data)")

// KeySize is the size of every symmetric key.
const KeySize = 32

// Overhead is what [Sealer.Seal] adds to a plaintext: nonce and tag.
const Overhead = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// Key is a 32-byte symmetric key.
type Key [KeySize]byte

// NewRandomKey returns a key from crypto/rand.
func NewRandomKey() Key {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		panic("crypt: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	return k
}

// ID is a 32-byte identifier: a keyed BLAKE3 of a blob's plaintext, or the
// unkeyed BLAKE3 of a repository file's bytes.
type ID [32]byte

// String returns the id in lowercase hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for display.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is all zeroes.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses 64 hex digits.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("invalid id %q: want 64 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("invalid id %q: %w", s, err)
	}
	return id, nil
}

// MarshalText implements encoding.TextMarshaler (JSON as hex).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Hash is the unkeyed BLAKE3-256 of b: the name of a repository file.
func Hash(b []byte) ID { return blake3.Sum256(b) }

// Hasher computes keyed blob ids. It is not safe for concurrent use: make one
// per goroutine with [Key.NewHasher].
type Hasher struct{ h *blake3.Hasher }

// NewHasher returns a keyed BLAKE3 hasher for this id key.
func (k Key) NewHasher() *Hasher {
	h, err := blake3.NewKeyed(k[:])
	if err != nil {
		panic("crypt: blake3 keyed: " + err.Error()) // key size is fixed
	}
	return &Hasher{h: h}
}

// ID returns the keyed BLAKE3-256 of data.
func (h *Hasher) ID(data []byte) ID {
	h.h.Reset()
	_, _ = h.h.Write(data)
	var id ID
	h.h.Sum(id[:0])
	return id
}

// Sealer seals and opens with one XChaCha20-Poly1305 key. It is safe for
// concurrent use.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a sealer for k.
func NewSealer(k Key) *Sealer {
	a, err := chacha20poly1305.NewX(k[:])
	if err != nil {
		panic("crypt: chacha20poly1305: " + err.Error()) // key size is fixed
	}
	return &Sealer{aead: a}
}

// Seal appends nonce ‖ ciphertext ‖ tag of plaintext to dst. ad binds the
// ciphertext to its context (a blob id, a file type) so it cannot be swapped.
func (s *Sealer) Seal(dst, plaintext, ad []byte) []byte {
	var nonce [chacha20poly1305.NonceSizeX]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic("crypt: crypto/rand failed: " + err.Error())
	}
	return s.sealWithNonce(dst, nonce[:], plaintext, ad)
}

// sealWithNonce is Seal with a given nonce: known-answer tests pin its
// output, so the sealed layout cannot change unnoticed.
func (s *Sealer) sealWithNonce(dst, nonce, plaintext, ad []byte) []byte {
	dst = append(dst, nonce...)
	return s.aead.Seal(dst, nonce, plaintext, ad)
}

// Open authenticates and decrypts sealed (as made by Seal with the same ad),
// appending the plaintext to dst.
func (s *Sealer) Open(dst, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than nonce and tag", ErrAuth, len(sealed))
	}
	n := chacha20poly1305.NonceSizeX
	out, err := s.aead.Open(dst, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// OpenInPlace is Open writing the plaintext over sealed's own storage: for
// large metadata files, so a reader never holds two copies.
func (s *Sealer) OpenInPlace(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than nonce and tag", ErrAuth, len(sealed))
	}
	n := chacha20poly1305.NonceSizeX
	out, err := s.aead.Open(sealed[n:n], sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// WrapKey encrypts k to recipient as a standard age file. The result opens
// with `age -d -i identity.txt`.
func WrapKey(k Key, recipient age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, recipient)
	if err != nil {
		return nil, fmt.Errorf("wrap session key: %w", err)
	}
	if _, err := w.Write(k[:]); err != nil {
		return nil, fmt.Errorf("wrap session key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("wrap session key: %w", err)
	}
	return buf.Bytes(), nil
}

// UnwrapKey decrypts an age file made by WrapKey.
func UnwrapKey(wrapped []byte, identity age.Identity) (Key, error) {
	var k Key
	r, err := age.Decrypt(bytes.NewReader(wrapped), identity)
	if err != nil {
		return k, fmt.Errorf("unwrap session key: %w", err)
	}
	// Read one byte more than a key so trailing data is an error.
	b, err := io.ReadAll(io.LimitReader(r, KeySize+1))
	if err != nil {
		return k, fmt.Errorf("unwrap session key: %w", err)
	}
	if len(b) != KeySize {
		return k, fmt.Errorf("unwrap session key: got %d bytes, want %d", len(b), KeySize)
	}
	copy(k[:], b)
	return k, nil
}
