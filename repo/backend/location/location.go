// Package location parses where a repository is (the --repo string, a sync
// destination, repair's --from) and opens the backend for it.
//
// The forms are:
//
//	/srv/snap, ./snap, snap                a local directory
//	local:PATH                             the same, for a name with a colon
//	s3:https://HOST[:PORT]/BUCKET[/PREFIX] an S3 bucket (http:// too)
//	sftp:USER@HOST[:PORT]/PATH             a directory over SFTP (PATH absolute)
//
// A string that is not one of the prefixed forms is a local path, taken as
// it is: relative paths stay relative, and names with a colon keep working
// (backup:2024 is a directory). Two kinds of string are refused rather than
// taken for a directory, since creating one would hide a typo: a URL of an
// unknown scheme (https://host/bucket) and a known scheme in the wrong case
// (S3:...).
//
// Parse only reads the string. Open turns a location into a backend through
// a table of openers by scheme (registry.go): local, s3 and sftp; a scheme
// that parses but has no opener gets an UnsupportedError. Every remote
// store is wrapped in package retry's retries, with a stall timeout on its
// connections (Options).
package location

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Location is a parsed repository location: Local, S3 or SFTP.
type Location interface {
	// Scheme is "local", "s3" or "sftp".
	Scheme() string
	// String is the canonical form: Parse(l.String()) returns l.
	String() string
}

// Local is a directory on this machine (or a mounted disk).
type Local struct {
	Path string // as given: relative paths stay relative
}

// S3 is a bucket, and a prefix in it, on an S3-compatible server.
type S3 struct {
	Protocol string // "https" or "http"
	Host     string // name or IP address, IPv6 without brackets
	Port     int    // 0: the protocol's default
	Bucket   string
	Prefix   string // "" or slash-separated names, without slashes at the ends
}

// SFTP is a directory on an SSH server.
type SFTP struct {
	User string
	Host string // name or IP address, IPv6 without brackets
	Port int    // 0: 22
	Path string // absolute, without a trailing slash
}

// Scheme implements Location.
func (Local) Scheme() string { return "local" }

// Scheme implements Location.
func (S3) Scheme() string { return "s3" }

// Scheme implements Location.
func (SFTP) Scheme() string { return "sftp" }

// String returns the path itself, or local:PATH when the path alone would
// read as another form.
func (l Local) String() string {
	if _, prefixed, err := split(l.Path); err != nil || prefixed != "" {
		return "local:" + l.Path
	}
	return l.Path
}

func (s S3) String() string {
	b := "s3:" + s.Protocol + "://" + hostPort(s.Host, s.Port) + "/" + s.Bucket
	if s.Prefix != "" {
		b += "/" + s.Prefix
	}
	return b
}

func (s SFTP) String() string {
	return "sftp:" + s.User + "@" + hostPort(s.Host, s.Port) + s.Path
}

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != 0 {
		host += ":" + strconv.Itoa(port)
	}
	return host
}

// ErrInvalid is wrapped by every ParseError.
var ErrInvalid = errors.New("invalid repository location")

// ParseError says what is wrong with a location string and what form was
// expected.
type ParseError struct {
	Input   string
	Problem string // what is wrong, e.g. "bucket missing"
	Form    string // the form expected, e.g. "s3:https://HOST[:PORT]/BUCKET[/PREFIX]"
}

func (e *ParseError) Error() string {
	msg := fmt.Sprintf("repository location %q: %s", e.Input, e.Problem)
	if e.Form != "" {
		msg += " (want " + e.Form + ")"
	}
	return msg
}

func (e *ParseError) Unwrap() error { return ErrInvalid }

// The forms, as error messages show them.
const (
	formLocal = "local:PATH"
	formS3    = "s3:https://HOST[:PORT]/BUCKET[/PREFIX]"
	formSFTP  = "sftp:USER@HOST[:PORT]/PATH"
	formAny   = "a directory, " + formLocal + ", " + formS3 + " or " + formSFTP
)

// Parse parses a location string.
func Parse(s string) (Location, error) {
	fail := func(form, format string, a ...any) error {
		return &ParseError{Input: s, Problem: fmt.Sprintf(format, a...), Form: form}
	}
	rest, scheme, err := split(s)
	if err != nil {
		return nil, fail(formAny, "%v", err)
	}
	switch scheme {
	case "":
		if s == "" {
			return nil, fail(formAny, "empty")
		}
		return Local{Path: s}, nil
	case "local":
		if rest == "" {
			return nil, fail(formLocal, "path missing")
		}
		return Local{Path: rest}, nil
	case "s3":
		loc, err := parseS3(rest)
		if err != nil {
			return nil, fail(formS3, "%v", err)
		}
		return loc, nil
	case "sftp":
		loc, err := parseSFTP(rest)
		if err != nil {
			return nil, fail(formSFTP, "%v", err)
		}
		return loc, nil
	}
	panic("location: split returned unknown scheme " + scheme)
}

// schemes are the prefixes Parse knows, each followed by a colon.
var schemes = []string{"local", "s3", "sftp"}

// split returns the known scheme s starts with ("" for a plain local path)
// and what follows its colon, or an error for strings that look like a
// location of another kind.
func split(s string) (rest, scheme string, err error) {
	prefix, after, ok := strings.Cut(s, ":")
	if !ok || !isSchemeName(prefix) {
		return s, "", nil
	}
	for _, k := range schemes {
		if prefix == k {
			return after, k, nil
		}
		if strings.EqualFold(prefix, k) {
			return "", "", fmt.Errorf("scheme %q is written %q", prefix, k)
		}
	}
	if strings.HasPrefix(after, "//") {
		return "", "", fmt.Errorf("unknown scheme %q; a directory of that name is written local:%s", prefix, s)
	}
	return s, "", nil
}

// isSchemeName reports whether p has the shape of a URL scheme (RFC 3986).
func isSchemeName(p string) bool {
	if p == "" || !isLetter(p[0]) {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		if !isLetter(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

func parseS3(s string) (S3, error) {
	var loc S3
	proto, rest, ok := strings.Cut(s, "://")
	if !ok || (proto != "https" && proto != "http") {
		return loc, errors.New("endpoint must start with https:// or http://")
	}
	loc.Protocol = proto
	if strings.ContainsAny(rest, "?#") {
		return loc, errors.New("a query or fragment (? or #) has no place in it")
	}
	hp, path, _ := strings.Cut(rest, "/")
	if strings.Contains(hp, "@") {
		return loc, errors.New("credentials do not go in the location: they come from the environment or the config file's s3 block")
	}
	var err error
	if loc.Host, loc.Port, err = parseHostPort(hp); err != nil {
		return loc, err
	}
	bucket, prefix, _ := strings.Cut(path, "/")
	if bucket == "" {
		return loc, errors.New("bucket missing")
	}
	if !validBucket(bucket) {
		return loc, fmt.Errorf("bucket %q: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", bucket)
	}
	loc.Bucket = bucket
	if loc.Prefix, err = cleanPath(strings.TrimRight(prefix, "/"), "prefix"); err != nil {
		return loc, err
	}
	return loc, nil
}

// validBucket applies S3's bucket naming rules.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := 'a' <= c && c <= 'z' || isDigit(c)
		if !alnum && (c != '.' && c != '-' || i == 0 || i == len(b)-1) {
			return false
		}
	}
	return true
}

func parseSFTP(s string) (SFTP, error) {
	var loc SFTP
	user, rest, ok := strings.Cut(s, "@")
	if !ok {
		return loc, errors.New("user missing")
	}
	if user == "" {
		return loc, errors.New("user missing before @")
	}
	for i := 0; i < len(user); i++ {
		if c := user[i]; !isLetter(c) && !isDigit(c) && c != '.' && c != '_' && c != '-' {
			return loc, fmt.Errorf("user %q: letters, digits, dots, underscores and hyphens only", user)
		}
	}
	loc.User = user
	// The host ends at the first slash, after the brackets of an IPv6
	// address.
	from := 0
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j >= 0 {
			from = j
		}
	}
	i := strings.IndexByte(rest[from:], '/')
	if i >= 0 {
		i += from
	}
	if i < 0 {
		return loc, errors.New("path missing after the host")
	}
	hp, path := rest[:i], rest[i:]
	var err error
	if loc.Host, loc.Port, err = parseHostPort(hp); err != nil {
		return loc, err
	}
	path = strings.TrimRight(path, "/")
	if path == "" {
		return loc, errors.New("path missing after the host (the root directory is not a repository)")
	}
	p, err := cleanPath(path[1:], "path")
	if err != nil {
		return loc, err
	}
	loc.Path = "/" + p
	return loc, nil
}

// parseHostPort reads HOST[:PORT], HOST a name, an IPv4 address or an IPv6
// address in brackets.
func parseHostPort(hp string) (string, int, error) {
	host, port := hp, ""
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", 0, errors.New("unclosed [ in the host")
		}
		host = hp[1:end]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil || strings.Contains(host, "%") {
			return "", 0, fmt.Errorf("host [%s]: not an IPv6 address", host)
		}
		switch after := hp[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
			if port == "" {
				return "", 0, errors.New("port missing after the colon")
			}
		default:
			return "", 0, fmt.Errorf("unexpected %q after the host", after)
		}
	} else {
		var hasPort bool
		host, port, hasPort = strings.Cut(hp, ":")
		if hasPort && port == "" {
			return "", 0, errors.New("port missing after the colon")
		}
		if host == "" {
			return "", 0, errors.New("host missing")
		}
		if !validHostName(host) {
			return "", 0, fmt.Errorf("host %q: letters, digits, dots and hyphens only", host)
		}
	}
	if port == "" {
		return host, 0, nil
	}
	for i := 0; i < len(port); i++ {
		if !isDigit(port[i]) {
			return "", 0, fmt.Errorf("port %q is not a number", port)
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("port %s: not between 1 and 65535", port)
	}
	return host, n, nil
}

func validHostName(h string) bool {
	if h[0] == '-' || h[0] == '.' {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !isLetter(c) && !isDigit(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// cleanPath checks slash-separated names: none empty, none . or .., no
// control characters or backslashes.
func cleanPath(p, what string) (string, error) {
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return "", fmt.Errorf("%s %q has an empty name (//)", what, p)
		case ".", "..":
			return "", fmt.Errorf("%s %q: %s is not allowed", what, p, seg)
		}
		for _, r := range seg {
			if r < 0x20 || r == 0x7f || r == '\\' {
				return "", fmt.Errorf("%s %q: control characters and backslashes are not allowed", what, p)
			}
		}
	}
	return p, nil
}
