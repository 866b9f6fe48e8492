// Package compress is the compression of blob payloads: the byte that
// names how a payload is stored (docs/format.md "Blobs"), the zstd levels a
// writer may use, and auto, the default, which compresses at zstd's fastest
// level and stores a blob as it is when compressing it does not pay.
package compress

import (
	"errors"
	"fmt"
	"slices"

	"github.com/klauspost/compress/zstd"
)

// A payload's first byte names its compression.
const (
	None byte = 0 // the body is the plaintext
	Zstd byte = 1 // the body is one zstd frame of the plaintext
)

// Levels writers know.
const (
	Auto    = "auto"
	Fastest = "fastest"
	Default = "default"
	Better  = "better"
)

// Levels lists every level, the default first.
var Levels = []string{Auto, Fastest, Default, Better}

// ErrUnknownLevel means a level this build does not know (a repository
// initialised by a newer snap may name one).
var ErrUnknownLevel = errors.New("unknown compression level")

// ErrDamaged means a payload does not decode; the caller names the blob.
var ErrDamaged = errors.New("bad payload")

// Known reports whether level is one of Levels.
func Known(level string) bool { return slices.Contains(Levels, level) }

var zstdLevels = map[string]zstd.EncoderLevel{
	Auto:    zstd.SpeedFastest,
	Fastest: zstd.SpeedFastest,
	Default: zstd.SpeedDefault,
	Better:  zstd.SpeedBetterCompression,
}

// autoMinSaving is the least part of a blob that auto's compression must
// save, as a divisor: a blob that shrinks by less than 1/32 is stored as
// it is, so already-compressed data costs a restore no decompression and
// its stored size grows by at most the one payload byte.
const autoMinSaving = 32

// Encoder turns plaintexts into payloads. It is safe for concurrent use.
type Encoder struct {
	enc  *zstd.Encoder
	auto bool
}

// NewEncoder returns an encoder for level that runs at most concurrency
// compressions at once.
func NewEncoder(level string, concurrency int) (*Encoder, error) {
	zl, ok := zstdLevels[level]
	if !ok {
		return nil, fmt.Errorf("%w %q: this snap knows %v", ErrUnknownLevel, level, Levels)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zl), zstd.WithEncoderConcurrency(max(1, concurrency)),
		zstd.WithEncoderCRC(false)) // the AEAD authenticates the payload
	if err != nil {
		return nil, err
	}
	return &Encoder{enc: enc, auto: level == Auto}, nil
}

// Append appends plain's payload to dst: the plaintext compressed when that
// makes it smaller (for auto: by at least 1/32), else as it is.
//
// Auto needs no separate test for incompressible data: zstd's fastest level
// gives up on a block without matches at several GB/s, close to a copy
// (BenchmarkLevels' random and gzip shapes).
func (e *Encoder) Append(dst, plain []byte) []byte {
	start := len(dst)
	dst = e.enc.EncodeAll(plain, append(dst, Zstd))
	limit := len(plain)
	if e.auto {
		limit -= len(plain) / autoMinSaving
	}
	if len(dst)-start-1 >= limit {
		dst = append(append(dst[:start], None), plain...)
	}
	return dst
}

// Close releases the encoder's resources.
func (e *Encoder) Close() { e.enc.Close() }

// Decoder turns payloads back into plaintexts. It is safe for concurrent
// use.
type Decoder struct {
	dec *zstd.Decoder
	max uint64
}

// NewDecoder returns a decoder of payloads whose plaintext is at most
// maxLen bytes.
func NewDecoder(maxLen uint64) (*Decoder, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxLen))
	if err != nil {
		return nil, err
	}
	return &Decoder{dec: dec, max: maxLen}, nil
}

// Decode appends the plaintext of payload to dst[:0]. plainLen is the
// length the plaintext must have (the index says it); a payload that
// decodes to another length is an error wrapping ErrDamaged.
func (d *Decoder) Decode(dst, payload []byte, plainLen uint64) ([]byte, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrDamaged)
	}
	switch payload[0] {
	case None:
		dst = append(dst[:0], payload[1:]...)
	case Zstd:
		if plainLen > d.max {
			return nil, fmt.Errorf("%w: plaintext length %d too large", ErrDamaged, plainLen)
		}
		if uint64(cap(dst)) < plainLen {
			dst = make([]byte, 0, plainLen)
		}
		var err error
		if dst, err = d.dec.DecodeAll(payload[1:], dst[:0]); err != nil {
			return nil, fmt.Errorf("%w: decompress: %v", ErrDamaged, err)
		}
	default:
		return nil, fmt.Errorf("%w: unknown compression %d", ErrDamaged, payload[0])
	}
	if uint64(len(dst)) != plainLen {
		return nil, fmt.Errorf("%w: %d bytes, index says %d", ErrDamaged, len(dst), plainLen)
	}
	return dst, nil
}

// Close releases the decoder's resources.
func (d *Decoder) Close() { d.dec.Close() }
