package rdb

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzCount: any input is counted or refused with an *Error naming an
// offset inside the input, never a panic, in time linear in the input. An
// input that counts is a complete RDB: every strict prefix of it is
// truncated, a byte more is refused, and a Counter fed it in pieces gives
// the same Summary.
func FuzzCount(f *testing.F) {
	vector := readVector(f)
	synthetic := syntheticAll()
	for _, seed := range [][]byte{vector, synthetic, newRDB(3).selectDB(0).key(TypeString, "k").str("v").finish()} {
		f.Add(seed)
		// With the checksum zeroed (rdbchecksum no) a mutated input can
		// still count, so the fuzzer reaches every path to the end.
		if string(seed[5:9]) >= "0005" {
			z := bytes.Clone(seed)
			clear(z[len(z)-8:])
			f.Add(z)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		s, err := Count(bytes.NewReader(data))
		// Generous, for a loaded machine: a parse takes microseconds; this
		// catches loops that do not consume input.
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("%d bytes took %v", len(data), d)
		}
		c := NewCounter()
		for rest, n := data, 1; len(rest) > 0; n = n*3%1021 + 1 {
			k := min(n, len(rest))
			c.Write(rest[:k])
			rest = rest[k:]
		}
		s2, err2 := c.Summary()
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Offset < 0 || e.Offset > int64(len(data)) || s != nil {
				t.Fatalf("error %v (%T), summary %v", err, err, s)
			}
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrChecksum) &&
				!errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Counter: %v; Count: %v", err2, err)
			}
			return
		}
		if err2 != nil {
			t.Fatalf("Counter: %v; Count succeeded", err2)
		}
		sameSummary(t, s2, s)
		var typed int64
		for _, n := range s.Types {
			typed += n
		}
		if typed != s.Keys() || s.Size != int64(len(data)) {
			t.Fatalf("%d keys by type, %d keys; size %d of %d", typed, s.Keys(), s.Size, len(data))
		}
		for _, d := range s.DBs {
			if d.Expires > d.Keys || d.Empty > d.Keys || d.Keys < 0 {
				t.Fatalf("db %+v", d)
			}
		}
		// Every cut of a short input; of a longer one, cuts spread over it
		// and each of the last 16 bytes (inside the EOF opcode and CRC).
		cuts := []int{}
		if len(data) <= 256 {
			for i := range len(data) {
				cuts = append(cuts, i)
			}
		} else {
			for i := range 32 {
				cuts = append(cuts, i*len(data)/32)
			}
			for i := len(data) - 16; i < len(data); i++ {
				cuts = append(cuts, i)
			}
		}
		for _, cut := range cuts {
			if _, err := Count(bytes.NewReader(data[:cut])); !errors.Is(err, ErrTruncated) {
				t.Fatalf("the first %d of %d bytes: %v, not truncated", cut, len(data), err)
			}
		}
		if _, err := Count(bytes.NewReader(append(bytes.Clone(data), 0))); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("a byte more: %v", err)
		}
	})
}
