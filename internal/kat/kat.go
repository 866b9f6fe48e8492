// Package kat holds what the known-answer tests of several packages share:
// decoding pinned hex, the fixed keys they use, and a spelled-out
// SplitMix64 generator for pinned inputs (a library's random stream may
// change between versions; this one never does). It imports nothing of
// snap, so every package's own tests can use it.
package kat

import (
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// Unhex decodes pinned hex, failing the test on a typo.
func Unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Key is the 32-byte key whose byte i is base+i.
func Key(base byte) [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = base + byte(i)
	}
	return k
}

// SplitMix64 is the SplitMix64 generator (Steele, Lea, Flood 2014).
type SplitMix64 uint64

// Next returns the next output.
func (s *SplitMix64) Next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Bytes returns the next n bytes of output, each word little-endian.
func (s *SplitMix64) Bytes(n int) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], s.Next())
	}
	return b[:n]
}
