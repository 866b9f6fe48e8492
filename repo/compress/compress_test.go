package compress

import (
	"bytes"
	"errors"
	"testing"

	"snap/internal/shapes"
)

// barely is incompressible data with 2 KiB of every 128 KiB zeroed: zstd
// saves about 1.5%, less than auto asks for.
func barely(seed uint64, n int) []byte {
	b := shapes.Random(seed, n)
	for i := 0; i+128<<10 <= n; i += 128 << 10 {
		clear(b[i : i+2<<10])
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	dec, err := NewDecoder(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	inputs := map[string][]byte{
		"empty": {}, "one": {'x'}, "json": shapes.JSONRows(1, 1<<20), "text": shapes.TextDump(2, 300<<10),
		"random": shapes.Random(3, 1<<20), "gzip": shapes.Gzipped(4, 200<<10), "barely": barely(5, 1<<20), "mixed": shapes.Mixed(6, 3<<20),
	}
	for _, level := range Levels {
		enc, err := NewEncoder(level, 2)
		if err != nil {
			t.Fatal(err)
		}
		for name, in := range inputs {
			p := enc.Append([]byte("prefix"), in)
			if !bytes.HasPrefix(p, []byte("prefix")) {
				t.Fatalf("%s/%s: Append did not append", level, name)
			}
			p = p[len("prefix"):]
			if len(p) > len(in)+1 {
				t.Errorf("%s/%s: payload of %d bytes for %d", level, name, len(p), len(in))
			}
			got, err := dec.Decode(nil, p, uint64(len(in)))
			if err != nil || !bytes.Equal(got, in) {
				t.Errorf("%s/%s: round trip: %v", level, name, err)
			}
		}
		enc.Close()
	}
}

// TestAutoStoresWhatDoesNotPay: auto keeps a blob as it is unless zstd
// saves at least 1/32 of it; the fixed levels compress whatever shrinks.
func TestAutoStoresWhatDoesNotPay(t *testing.T) {
	auto, _ := NewEncoder(Auto, 1)
	fastest, _ := NewEncoder(Fastest, 1)
	defer auto.Close()
	defer fastest.Close()
	for _, tc := range []struct {
		name      string
		in        []byte
		auto, fix byte
	}{
		{"json", shapes.JSONRows(1, 1<<20), Zstd, Zstd},
		{"text", shapes.TextDump(1, 1<<20), Zstd, Zstd},
		{"random", shapes.Random(1, 1<<20), None, None},
		{"gzip", shapes.Gzipped(1, 1<<20), None, None},
		{"barely", barely(1, 1<<20), None, Zstd},
		{"small text", []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), Zstd, Zstd},
	} {
		if got := auto.Append(nil, tc.in)[0]; got != tc.auto {
			t.Errorf("%s: auto stored it with compression %d, want %d", tc.name, got, tc.auto)
		}
		if got := fastest.Append(nil, tc.in)[0]; got != tc.fix {
			t.Errorf("%s: fastest stored it with compression %d, want %d", tc.name, got, tc.fix)
		}
	}
}

func TestUnknownLevel(t *testing.T) {
	if _, err := NewEncoder("max", 1); !errors.Is(err, ErrUnknownLevel) {
		t.Fatalf("NewEncoder(max): %v", err)
	}
	if Known("max") || !Known(Auto) || Levels[0] != Auto {
		t.Fatal("Known or Levels is wrong")
	}
}

func TestDecodeRejects(t *testing.T) {
	dec, _ := NewDecoder(1 << 20)
	defer dec.Close()
	enc, _ := NewEncoder(Fastest, 1)
	defer enc.Close()
	text := shapes.TextDump(1, 100<<10)
	z := enc.Append(nil, text)
	for name, tc := range map[string]struct {
		p []byte
		n uint64
	}{
		"empty":            {nil, 0},
		"unknown byte":     {[]byte{2, 'a'}, 1},
		"short plain":      {[]byte{None, 'a'}, 2},
		"long zstd":        {z, uint64(len(text)) - 1},
		"truncated zstd":   {z[:len(z)/2], uint64(len(text))},
		"too large":        {z, 2 << 20},
		"not a zstd frame": {[]byte{Zstd, 1, 2, 3, 4, 5}, 5},
	} {
		if _, err := dec.Decode(nil, tc.p, tc.n); !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzDecode: payloads are authenticated before they are decoded, but a
// decoder of bytes must still never panic or return the wrong length.
func FuzzDecode(f *testing.F) {
	enc, _ := NewEncoder(Fastest, 1)
	f.Add(enc.Append(nil, shapes.TextDump(1, 4096)), uint64(4096))
	f.Add([]byte{None, 'a', 'b'}, uint64(2))
	dec, _ := NewDecoder(1 << 20)
	f.Fuzz(func(t *testing.T, p []byte, n uint64) {
		got, err := dec.Decode(nil, p, n)
		if err == nil && uint64(len(got)) != n {
			t.Fatalf("decoded %d bytes, want %d", len(got), n)
		}
	})
}
