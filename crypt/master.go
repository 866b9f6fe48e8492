package crypt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// ErrWrongPassphrase means a passphrase did not open a key slot.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// ErrBadKeyFile means key file bytes could not be parsed.
var ErrBadKeyFile = errors.New("not a snap key file")

// Kinds of master key.
const (
	KindFull      = "full"
	KindWriteOnly = "write-only"
)

// MasterVersion is the version of the key file format this code writes.
const MasterVersion = 1

// maxKeyFile bounds how much of a key file is read: real ones are < 1 KiB.
const maxKeyFile = 64 << 10

// Master is what a key holder has: the metadata key and, for a full key, the
// data identity. The id key and data recipient live in the repository config,
// sealed with the metadata key.
type Master struct {
	RepoID       string
	MetaKey      Key
	DataIdentity *age.X25519Identity // nil for a write-only key
}

// Kind returns KindFull or KindWriteOnly.
func (m *Master) Kind() string {
	if m.DataIdentity == nil {
		return KindWriteOnly
	}
	return KindFull
}

// WriteOnly returns a copy of m without the data identity.
func (m *Master) WriteOnly() *Master {
	return &Master{RepoID: m.RepoID, MetaKey: m.MetaKey}
}

// keyFileJSON is the plaintext key file format (docs/format.md "Key files").
type keyFileJSON struct {
	SnapKey      int    `json:"snap_key"`
	Repo         string `json:"repo"`
	Kind         string `json:"kind"`
	MetaKey      []byte `json:"meta_key"`
	DataIdentity string `json:"data_identity,omitempty"`
}

// MarshalKeyFile returns the plaintext key file bytes of m.
func MarshalKeyFile(m *Master) []byte {
	j := keyFileJSON{SnapKey: MasterVersion, Repo: m.RepoID, Kind: m.Kind(), MetaKey: m.MetaKey[:]}
	if m.DataIdentity != nil {
		j.DataIdentity = m.DataIdentity.String()
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		panic(err) // plain struct, cannot fail
	}
	return append(b, '\n')
}

// ParseKeyFile parses plaintext key file bytes.
func ParseKeyFile(b []byte) (*Master, error) {
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%w: %d bytes is too large", ErrBadKeyFile, len(b))
	}
	var j keyFileJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrBadKeyFile)
	}
	if j.SnapKey != MasterVersion {
		return nil, fmt.Errorf("%w: key format version %d is not supported (this snap reads %d)", ErrBadKeyFile, j.SnapKey, MasterVersion)
	}
	if len(j.MetaKey) != KeySize {
		return nil, fmt.Errorf("%w: meta_key has %d bytes, want %d", ErrBadKeyFile, len(j.MetaKey), KeySize)
	}
	m := &Master{RepoID: j.Repo}
	copy(m.MetaKey[:], j.MetaKey)
	switch j.Kind {
	case KindFull:
		id, err := age.ParseX25519Identity(j.DataIdentity)
		if err != nil {
			return nil, fmt.Errorf("%w: data_identity: %v", ErrBadKeyFile, err)
		}
		m.DataIdentity = id
	case KindWriteOnly:
		if j.DataIdentity != "" {
			return nil, fmt.Errorf("%w: a write-only key must not hold a data identity", ErrBadKeyFile)
		}
	default:
		return nil, fmt.Errorf("%w: unknown kind %q", ErrBadKeyFile, j.Kind)
	}
	return m, nil
}

// DefaultWorkFactor is the scrypt log2(N) for passphrase-protected key slots:
// 2^16 with age's r=8 needs 64 MiB and ~0.2 s here, about what restic
// calibrates to. age's own default (18) needs 256 MiB, which alone would
// break snap's memory bound on a small server.
const DefaultWorkFactor = 16

// EncryptPassphrase encrypts plaintext with an age scrypt recipient.
func EncryptPassphrase(plaintext []byte, passphrase string, workFactor int) ([]byte, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	r.SetWorkFactor(workFactor)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecryptPassphrase opens bytes made by EncryptPassphrase. A wrong passphrase
// gives ErrWrongPassphrase.
func DecryptPassphrase(ciphertext []byte, passphrase string) ([]byte, error) {
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	id.SetMaxWorkFactor(22)
	r, err := age.Decrypt(bytes.NewReader(ciphertext), id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	return b, nil
}

// NewMaster makes a new full master key for a repository.
func NewMaster(repoID string) (*Master, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	return &Master{RepoID: repoID, MetaKey: NewRandomKey(), DataIdentity: id}, nil
}
