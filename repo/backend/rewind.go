package backend

import (
	"bytes"
	"io"
)

// RewindReader is what Save reads: a reader that knows its length up front
// (a remote store sends it as Content-Length) and can start over, so a
// failed upload can be sent again without the caller buffering twice.
type RewindReader interface {
	io.Reader
	// Rewind goes back to the first byte.
	Rewind() error
	// Length is the number of bytes from the first byte to the end.
	Length() int64
}

// ByteReader is a RewindReader over a byte slice.
type ByteReader struct {
	*bytes.Reader
	buf []byte
}

// NewByteReader returns a RewindReader over buf. It does not copy buf, which
// must not change until Save returns.
func NewByteReader(buf []byte) *ByteReader {
	return &ByteReader{Reader: bytes.NewReader(buf), buf: buf}
}

// Rewind implements RewindReader.
func (b *ByteReader) Rewind() error {
	b.Reader.Reset(b.buf)
	return nil
}

// Length implements RewindReader.
func (b *ByteReader) Length() int64 { return int64(len(b.buf)) }
