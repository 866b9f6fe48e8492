// Package format holds the binary codecs of repository format v1
// (docs/format.md): blob types and records, pack headers, index files,
// reference lists and tree blobs. Codecs know nothing of keys or storage:
// package repo opens the sealed bytes, then parses the plaintext here,
// strictly, and encodes here before it seals. The JSON files (config, key
// slots, snapshots, locks) stay with their logic in repo.
package format

import (
	"encoding/binary"
	"errors"
	"fmt"

	"snap/crypt"
)

// Version is the repository format this code reads and writes.
const Version = 1

var (
	// ErrVersion: the bytes were written by a newer, incompatible snap.
	ErrVersion = errors.New("unsupported repository format version")
	// ErrMalformed: the bytes are not a valid encoding.
	ErrMalformed = errors.New("malformed")
)

var (
	packHeaderMagic = [4]byte{'S', 'N', 'P', 'H'}
	indexMagic      = [4]byte{'S', 'N', 'P', 'I'}
	treeMagic       = [4]byte{'S', 'N', 'P', 'T'}
)

// Associated data binding each sealed file to its role, so one cannot be
// presented as another (a pack header as an index file). Blobs use BlobAD;
// the config's AD is ADConfig followed by the repository id.
var (
	ADConfig     = []byte("snap config v1")
	ADPackHeader = []byte("snap pack header v1")
	ADIndex      = []byte("snap index v1")
	ADSnapshot   = []byte("snap snapshot v1")
	ADLock       = []byte("snap lock v1")
	ADDamaged    = []byte("snap damaged v1")
)

// Limits that keep a hostile file from making a parser allocate without
// bound.
const (
	MaxKeysPerPack   = 1 << 12
	MaxBlobLength    = 1 << 30 // stored and plaintext bytes of one blob
	MaxTargetLen     = 64 << 10
	MaxChunksPerFile = 1 << 24

	maxWrappedKey   = 4 << 10
	maxBlobsPerPack = 1 << 22
	maxPacksPerFile = 1 << 22
	maxNameLen      = 4096
	maxNodesPerTree = 1 << 22
)

// decoder reads an encoding strictly: the first error sticks and every
// later read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
	}
}

func (d *decoder) uvarint(what string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		d.fail("bad varint for %s", what) // non-minimal encodings too: one encoding per value
		return 0
	}
	if v > max {
		d.fail("%s %d exceeds limit %d", what, v, max)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("%s truncated", what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1(what string) byte {
	b := d.bytes(what, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) id(what string) (id crypt.ID) {
	copy(id[:], d.bytes(what, 32))
	return id
}

func (d *decoder) magic(m [4]byte) {
	b := d.bytes("magic", 4)
	if d.err == nil && string(b) != string(m[:]) {
		d.fail("bad magic %q", b)
	}
	v := d.byte1("version")
	if d.err == nil && v != Version {
		d.err = fmt.Errorf("%w: version %d (this snap reads %d)", ErrVersion, v, Version)
	}
}

func (d *decoder) end() {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes of trailing data", len(d.b))
	}
}
