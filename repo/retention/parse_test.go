package retention

import (
	"strings"
	"testing"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Duration
		str  string
	}{
		{"7d", Duration{Days: 7}, "7d"},
		{"1y6m", Duration{Years: 1, Months: 6}, "1y6m"},
		{"1y2m3d4h", Duration{1, 2, 3, 4}, "1y2m3d4h"},
		{"4h3d", Duration{Days: 3, Hours: 4}, "3d4h"}, // any order, as restic
		{"  30d\n", Duration{Days: 30}, "30d"},
		{"0d", Duration{}, "0d"}, // zero: the rule is off
		{"007d", Duration{Days: 7}, "7d"},
		{"999999h", Duration{Hours: 999999}, "999999h"},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if got.String() != tc.str {
			t.Errorf("ParseDuration(%q).String() = %q, want %q", tc.in, got.String(), tc.str)
		}
	}

	for _, tc := range []struct {
		in   string
		want string // in the error, besides the input and the examples
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"7", "missing unit after 7"},
		{"d", `expected a number at "d"`},
		{"1y6", "missing unit after 6"},
		{"-7d", "cannot be negative"},
		{"7x", `unknown unit 'x' after 7`},
		{"2w", "weeks: use days"},
		{"30M", `unknown unit 'M'`},
		{"1d2d", `unit 'd' given twice`},
		{"1d 2h", `expected a number at " 2h"`},
		{"+1d", `expected a number at "+1d"`},
		{"1.5d", `unknown unit '.'`},
		{"1000000d", "too large"},
		{"99999999999999999999999h", "too large"},
		{"7日", `unknown unit '日'`},
	} {
		_, err := ParseDuration(tc.in)
		if err == nil {
			t.Errorf("ParseDuration(%q) succeeded", tc.in)
			continue
		}
		msg := err.Error()
		for _, part := range []string{tc.want, `"7d"`, `"1y6m"`, "months", `invalid duration "` + tc.in[:min(len(tc.in), 3)]} {
			if !strings.Contains(msg, part) {
				t.Errorf("ParseDuration(%q): error %q does not say %q", tc.in, msg, part)
			}
		}
	}
}

func TestParseGroupBy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want GroupBy
		str  string
	}{
		{"", GroupBy{}, ""},
		{" ", GroupBy{}, ""},
		{"host,profile", GroupBy{Host: true, Profile: true}, "host,profile"},
		{"tags", GroupBy{Tags: true}, "tags"},
		{"tags, Host ,profile", GroupBy{true, true, true}, "host,profile,tags"},
		{"host,host", GroupBy{Host: true}, "host"},
	} {
		got, err := ParseGroupBy(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseGroupBy(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if got.String() != tc.str {
			t.Errorf("ParseGroupBy(%q).String() = %q, want %q", tc.in, got.String(), tc.str)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"hostname", `unknown field "hostname"`},
		{"paths", `unknown field "paths"`},
		{"host;profile", `unknown field "host;profile"`},
		{"host,", "empty field"},
		{",", "empty field"},
	} {
		_, err := ParseGroupBy(tc.in)
		if err == nil {
			t.Errorf("ParseGroupBy(%q) succeeded", tc.in)
			continue
		}
		for _, part := range []string{tc.want, `"host,profile"`, "host, profile, tags", `invalid group-by "` + tc.in + `"`} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("ParseGroupBy(%q): error %q does not say %q", tc.in, err, part)
			}
		}
	}
}

// FuzzParseDuration: user input must never panic the parser, and what
// parses is never negative and reads back the same from its String.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "1y6m", "1y2m3d4h", "0d", "", "-1d", "2w", "1d1d", "999999h", "1000000h", "7日", "9223372036854775808d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), `"1y6m"`) {
				t.Errorf("error %q gives no example", err)
			}
			return
		}
		if d.Years < 0 || d.Months < 0 || d.Days < 0 || d.Hours < 0 {
			t.Fatalf("ParseDuration(%q) = %+v: negative", s, d)
		}
		again, err := ParseDuration(d.String())
		if err != nil || again != d {
			t.Fatalf("ParseDuration(%q) = %+v, but its String %q parses to %+v, %v", s, d, d.String(), again, err)
		}
	})
}
