package retention

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Duration is a calendar duration as restic writes it, "1y2m3d4h". Going
// back by it subtracts years, months and days on the calendar of the
// policy's zone (time.AddDate: "1d" may be 23 or 25 hours), then hours as
// elapsed time. ParseDuration never returns negative fields.
type Duration struct{ Years, Months, Days, Hours int }

// maxDurationNumber bounds each number so that going back by a Duration
// never overflows time arithmetic; 999999 hours is still over a century.
const maxDurationNumber = 999999

// durationHelp ends every ParseDuration error: the format and examples.
const durationHelp = `want numbers with units y (years), m (months, not minutes), d (days), h (hours), e.g. "7d" or "1y6m"`

// ParseDuration parses a duration such as "7d", "1y6m" or "2d12h": one or
// more numbers, each followed by a unit y, m (months), d or h, each unit at
// most once, in any order.
func ParseDuration(s string) (Duration, error) {
	bad := func(format string, args ...any) (Duration, error) {
		return Duration{}, fmt.Errorf("invalid duration %q: %s; %s", s, fmt.Sprintf(format, args...), durationHelp)
	}
	rest := strings.TrimSpace(s)
	if rest == "" {
		return bad("empty")
	}
	var d Duration
	seen := map[rune]bool{}
	for rest != "" {
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 {
			r, _ := utf8.DecodeRuneInString(rest)
			if r == '-' {
				return bad("durations cannot be negative")
			}
			return bad("expected a number at %q", rest)
		}
		digits := rest[:n]
		rest = rest[n:]
		num, err := strconv.Atoi(digits)
		if err != nil || num > maxDurationNumber {
			return bad("number %s is too large (at most %d)", digits, maxDurationNumber)
		}
		if rest == "" {
			return bad("missing unit after %s", digits)
		}
		r, size := utf8.DecodeRuneInString(rest)
		rest = rest[size:]
		var field *int
		switch r {
		case 'y':
			field = &d.Years
		case 'm':
			field = &d.Months
		case 'd':
			field = &d.Days
		case 'h':
			field = &d.Hours
		case 'w':
			return bad("unknown unit \"w\" after %s (weeks: use days, e.g. \"14d\")", digits)
		default:
			return bad("unknown unit %q after %s", r, digits)
		}
		if seen[r] {
			return bad("unit %q given twice", r)
		}
		seen[r] = true
		*field = num
	}
	return d, nil
}

// String formats d as ParseDuration reads it, "1y2m3d4h"; the zero
// Duration is "0d".
func (d Duration) String() string {
	var b strings.Builder
	for _, f := range []struct {
		n    int
		unit string
	}{{d.Years, "y"}, {d.Months, "m"}, {d.Days, "d"}, {d.Hours, "h"}} {
		if f.n != 0 {
			b.WriteString(strconv.Itoa(f.n) + f.unit)
		}
	}
	if b.Len() == 0 {
		return "0d"
	}
	return b.String()
}

// Zero reports whether d is zero, which turns its rule off.
func (d Duration) Zero() bool { return d == Duration{} }

// before returns t minus d in calendar units: years, months and days by
// AddDate in t's zone (so a day is 23 or 25 hours across a DST change),
// then hours as elapsed time.
func (d Duration) before(t time.Time) time.Time {
	return t.AddDate(-d.Years, -d.Months, -d.Days).Add(-time.Duration(d.Hours) * time.Hour)
}
