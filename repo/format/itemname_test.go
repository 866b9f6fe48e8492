package format

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckItemName(t *testing.T) {
	good := []string{"postgres", "n8n-data", "mydb.sql", "a b", "été", "db:main@host+1", "日本", strings.Repeat("x", 255)}
	for _, n := range good {
		if err := CheckItemName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
		if DisplayName(n) != n {
			t.Errorf("DisplayName(%q) = %q", n, DisplayName(n))
		}
	}
	bad := []string{"", "a\nb", "a\tb", "a\x1b[31mred", "\u202eevil", "a/b", ".", "..", " a", "a ", "a\x00b", "bad\xff", "a\u00a0b", "a\u2028b", strings.Repeat("x", 256)}
	for _, n := range bad {
		err := CheckItemName(n)
		if !errors.Is(err, ErrItemName) {
			t.Errorf("%q accepted: %v", n, err)
			continue
		}
		if strings.ContainsAny(err.Error(), "\n\t\x1b") || strings.Contains(err.Error(), "\u202e") {
			t.Errorf("error for %q does not print on one line: %q", n, err)
		}
		if d := DisplayName(n); strings.ContainsAny(d, "\n\t\x1b\x00") || strings.Contains(d, "\u202e") {
			t.Errorf("DisplayName(%q) = %q is not one safe line", n, d)
		}
	}
}

func FuzzCheckItemName(f *testing.F) {
	for _, s := range []string{"postgres", "a\nb", "\u202e", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		d := DisplayName(name)
		if CheckItemName(name) == nil {
			if d != name {
				t.Fatalf("accepted name displayed as %q", d)
			}
			if strings.ContainsAny(name, "/\n\r\x00") {
				t.Fatalf("accepted %q", name)
			}
		}
		for _, r := range d {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("display of %q contains control %U", name, r)
			}
		}
	})
}
