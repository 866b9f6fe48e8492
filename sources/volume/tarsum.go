package volume

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"io"
	"sort"
	"strings"
)

// TarSummary describes every entry of a tar stream: type, mode, owner,
// size, link target and content hash (not directory mtimes, which
// unpacking changes). Comparing two summaries verifies a restore.
func TarSummary(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar: %w", err)
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			return nil, fmt.Errorf("reading tar: %w", err)
		}
		typ := h.Typeflag
		if typ == '\x00' { // old-style regular file
			typ = tar.TypeReg
		}
		desc := fmt.Sprintf("type=%c mode=%o uid=%d gid=%d size=%d link=%s sha256=%x", typ, h.Mode&07777, h.Uid, h.Gid, h.Size, h.Linkname, sum.Sum(nil))
		if typ != tar.TypeDir {
			desc += fmt.Sprintf(" mtime=%d", h.ModTime.Unix())
		}
		out[strings.TrimSuffix(h.Name, "/")] = desc
	}
}

// CompareSummaries returns "" when equal, else the first differences.
func CompareSummaries(want, got map[string]string) string {
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, "missing "+k)
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s: want %s, got %s", k, w, g))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "extra "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return strings.Join(diffs, "; ")
}
