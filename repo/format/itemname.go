package format

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrItemName: an item name that cannot be stored.
var ErrItemName = errors.New("invalid item name")

// MaxItemNameLen bounds an item name in bytes.
const MaxItemNameLen = 255

// CheckItemName accepts names that print on one line and read the same
// everywhere: 1 to 255 bytes of UTF-8, no '/', no control or invisible
// formatting characters (newlines, tabs, ANSI escapes, bidi overrides), no
// leading or trailing space, not "." or "..". Names already stored are
// read whatever they are; only new ones are checked.
func CheckItemName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %s: %s (use letters, digits, spaces inside, and punctuation such as - _ . : @ +)", ErrItemName, strconv.Quote(name), why)
	}
	switch {
	case name == "":
		return fmt.Errorf("%w: an item needs a name", ErrItemName)
	case len(name) > MaxItemNameLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxItemNameLen))
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case name == "." || name == "..":
		return bad("a path element")
	case strings.ContainsRune(name, '/'):
		return bad("contains '/'")
	case strings.TrimSpace(name) != name:
		return bad("starts or ends with white space")
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return bad(fmt.Sprintf("contains the control or formatting character %U", r))
		}
		if unicode.IsSpace(r) && r != ' ' {
			return bad(fmt.Sprintf("contains the white-space character %U (only plain spaces are allowed)", r))
		}
	}
	return nil
}

// DisplayName shows a stored name on one line: as it is when it would be
// accepted today, else quoted with Go escapes ("a\nb").
func DisplayName(name string) string {
	if CheckItemName(name) == nil {
		return name
	}
	return strconv.Quote(name)
}
