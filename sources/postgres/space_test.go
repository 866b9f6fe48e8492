package postgres

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDF(t *testing.T) {
	out := "Filesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/mapper/vg-root  102400000  2048 51200 4% /var/lib/postgresql/data\n"
	got, err := parseDF(out)
	if err != nil || got != 51200<<10 {
		t.Fatalf("got %d, %v", got, err)
	}
	for _, bad := range []string{"", "Filesystem\n", "h\n/dev/x 1 2 lots 4% /"} {
		if _, err := parseDF(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSpaceNeed(t *testing.T) {
	if n := spaceNeed(100<<20, 40<<20); n != 100<<20+10<<20+16<<20 {
		t.Errorf("need %d", n)
	}
	if n := spaceNeed(0, 50<<20); n != 50<<20+5<<20+16<<20 {
		t.Errorf("need %d", n)
	}
	e := &NoSpaceError{Container: "pg", Dir: "/var/lib/postgresql/data", Avail: 10 << 20, Need: 126 << 20, Live: 100 << 20, DumpBytes: 40 << 20}
	if !errors.Is(e, ErrNoSpace) || !strings.Contains(e.Error(), "10.0 MiB free in /var/lib/postgresql/data") || !strings.Contains(e.Error(), "126.0 MiB") {
		t.Errorf("%v", e)
	}
}
