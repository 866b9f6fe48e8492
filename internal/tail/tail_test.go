package tail

import (
	"strings"
	"testing"
)

func TestBuffer(t *testing.T) {
	var b Buffer
	b.Write([]byte(strings.Repeat("x", DefaultMax)))
	b.Write([]byte("end"))
	if s := b.String(); len(s) != DefaultMax || !strings.HasSuffix(s, "xend") {
		t.Fatalf("kept %d bytes ending %q", len(s), s[len(s)-4:])
	}
	small := Buffer{Max: 3}
	small.Write([]byte("ab\xc3\xa9cd")) // "abécd": the cut é is dropped
	if s := small.String(); s != "cd" {
		t.Fatalf("got %q", s)
	}
}
