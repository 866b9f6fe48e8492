package location_test

import (
	"errors"
	"strings"
	"testing"

	"snap/repo/backend/location"
)

// FuzzParse checks the properties every string must have: Parse either
// fails with a ParseError naming the input, or returns a location whose
// canonical form parses back to the same location and is its own
// canonical form; a string with no scheme prefix is a local path taken
// byte for byte, as before locations existed.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/srv/snap", "snap", "backup:2024", "local:/x", "local:s3:x", "https://h/b", "S3:x",
		"s3:https://h/bucket", "s3:http://[::1]:9000/bkt/a/b/", "s3:https://h:0/b",
		"sftp:u@h/srv", "sftp:u@[::1]:22/a", "sftp:u@h//x", "sftp:u@h:22", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := location.Parse(s)
		if err != nil {
			var pe *location.ParseError
			if !errors.As(err, &pe) || pe.Input != s || !errors.Is(err, location.ErrInvalid) || pe.Problem == "" {
				t.Fatalf("Parse(%q): %#v is not a ParseError for the input", s, err)
			}
			return
		}
		canon := loc.String()
		again, err := location.Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) = %#v, whose String %q does not parse: %v", s, loc, canon, err)
		}
		if again != loc {
			t.Fatalf("Parse(%q) = %#v, Parse(String()) = %#v", s, loc, again)
		}
		if again.String() != canon {
			t.Fatalf("String not canonical: %q then %q", canon, again.String())
		}
		if l, ok := loc.(location.Local); ok && !strings.HasPrefix(s, "local:") && l.Path != s {
			t.Fatalf("Parse(%q) = local path %q, not the string itself", s, l.Path)
		}
		if _, ok := loc.(location.Local); !ok && !strings.HasPrefix(s, loc.Scheme()+":") {
			t.Fatalf("Parse(%q) = %s location without its prefix", s, loc.Scheme())
		}
	})
}
