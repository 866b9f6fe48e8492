// Package files is the files source kind: host paths walked by the
// repository's archiver (with its files cache) as one tree item, restored
// to where they were with the files there now kept beside them.
package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"snap/sources"
)

// Kind is the kind name, recorded as Meta["source"].
const Kind = "files"

func init() {
	sources.Register(sources.Kind{Name: Kind, ConfigKey: "paths", Decode: decode,
		// The recorded paths say where the files go: no plan item needed.
		Target: func(meta map[string]string) (sources.Source, error) {
			return New(splitPaths(meta["paths"]), "files"), nil
		}})
}

// Source is a set of host paths.
type Source struct {
	paths []string
	desc  string
}

// New is the source of paths, described by desc.
func New(paths []string, desc string) *Source { return &Source{paths: paths, desc: desc} }

func (s *Source) Kind() string     { return Kind }
func (s *Source) Describe() string { return s.desc }
func (s *Source) Paths() []string  { return s.paths }
func (s *Source) Meta() map[string]string {
	return map[string]string{"paths": strings.Join(s.paths, "\n")}
}
func (s *Source) RestoreOrder() int { return sources.OrderFiles }

func splitPaths(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "\n") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Restore writes the files back to the paths the snapshot recorded. A path
// whose content, mode and owner already match is left alone; one that
// differs is kept beside the restored one as NAME.snap-old-TIME (one copy
// per restore, only when there is something to keep), and the message
// says which and where.
func (s *Source) Restore(ctx context.Context, st sources.Stored) (string, error) {
	tmp, err := os.MkdirTemp("", "snap-restore-files")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := st.Extract(ctx, tmp); err != nil {
		return "", err
	}
	stamp := time.Now().Format("20060102-150405")
	recorded := splitPaths(st.Meta()["paths"])
	var same, kept, created []string
	for _, orig := range recorded {
		src := filepath.Join(tmp, filepath.Base(orig))
		if _, err := os.Lstat(orig); err == nil {
			eq, err := sameTree(src, orig)
			if err != nil {
				return "", err
			}
			if eq {
				same = append(same, orig)
				continue
			}
			aside := orig + ".snap-old-" + stamp
			for i := 2; ; i++ { // never over an earlier set-aside
				if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
					break
				}
				aside = fmt.Sprintf("%s.snap-old-%s.%d", orig, stamp, i)
			}
			if err := os.Rename(orig, aside); err != nil {
				return "", err
			}
			kept = append(kept, aside)
		} else {
			created = append(created, orig)
		}
		if err := os.MkdirAll(filepath.Dir(orig), 0o755); err != nil {
			return "", err
		}
		if err := os.Rename(src, orig); err != nil {
			return "", err
		}
	}
	var parts []string
	if n := len(recorded) - len(same); n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d restored", n, len(recorded)))
	}
	if len(same) > 0 {
		parts = append(parts, "unchanged (left as they are): "+strings.Join(same, ", "))
	}
	if len(kept) > 0 {
		parts = append(parts, "the replaced versions are kept as "+strings.Join(kept, ", ")+" (delete them once the restore is confirmed)")
	}
	if len(created) > 0 {
		parts = append(parts, "new: "+strings.Join(created, ", "))
	}
	return strings.Join(parts, "; "), nil
}

// Preview extracts the stored files to a temporary directory and says
// which live paths differ from them.
func (s *Source) Preview(ctx context.Context, st sources.Stored) (string, error) {
	tmp, err := os.MkdirTemp("", "snap-preview-files")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := st.Extract(ctx, tmp); err != nil {
		return "", err
	}
	var differ, same, missing []string
	for _, orig := range splitPaths(st.Meta()["paths"]) {
		if _, err := os.Lstat(orig); err != nil {
			missing = append(missing, orig)
			continue
		}
		eq, err := sameTree(filepath.Join(tmp, filepath.Base(orig)), orig)
		if err != nil {
			return "", err
		}
		if eq {
			same = append(same, orig)
		} else {
			differ = append(differ, orig)
		}
	}
	var parts []string
	if len(differ) > 0 {
		parts = append(parts, "replaced (they differ; the current ones are kept as *.snap-old-TIME): "+strings.Join(differ, ", "))
	}
	if len(missing) > 0 {
		parts = append(parts, "created: "+strings.Join(missing, ", "))
	}
	if len(same) > 0 {
		parts = append(parts, "unchanged: "+strings.Join(same, ", "))
	}
	return strings.Join(parts, "; "), nil
}

// sameTree reports whether two paths hold the same thing: type, permission
// bits, owner, a file's bytes, a link's target and, for directories, the
// same entries recursively. Times are not compared: a restore changes them.
func sameTree(a, b string) (bool, error) {
	fa, err := os.Lstat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Lstat(b)
	if err != nil {
		return false, err
	}
	if fa.Mode() != fb.Mode() || owner(fa) != owner(fb) {
		return false, nil
	}
	switch {
	case fa.Mode().IsRegular():
		if fa.Size() != fb.Size() {
			return false, nil
		}
		return sameContent(a, b)
	case fa.Mode()&fs.ModeSymlink != 0:
		ta, err1 := os.Readlink(a)
		tb, err2 := os.Readlink(b)
		return err1 == nil && err2 == nil && ta == tb, nil
	case fa.IsDir():
		ea, err := os.ReadDir(a)
		if err != nil {
			return false, err
		}
		eb, err := os.ReadDir(b)
		if err != nil {
			return false, err
		}
		if len(ea) != len(eb) {
			return false, nil
		}
		for i := range ea {
			if ea[i].Name() != eb[i].Name() {
				return false, nil
			}
			eq, err := sameTree(filepath.Join(a, ea[i].Name()), filepath.Join(b, eb[i].Name()))
			if err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	return false, nil // devices, fifos: replace
}

// sameContent compares two files of equal size in fixed-size pieces: a
// paths item may hold large files, which must not be read whole.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		doneA := erra == io.EOF || erra == io.ErrUnexpectedEOF
		doneB := errb == io.EOF || errb == io.ErrUnexpectedEOF
		switch {
		case erra != nil && !doneA:
			return false, erra
		case errb != nil && !doneB:
			return false, errb
		case doneA || doneB:
			return doneA && doneB, nil
		}
	}
}

func owner(fi fs.FileInfo) [2]uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return [2]uint32{st.Uid, st.Gid}
	}
	return [2]uint32{}
}

// spec is a profile item's paths: value.
type spec []string

func decode(dec func(any) error) (sources.Spec, error) {
	var s spec
	if err := dec(&s); err != nil {
		return nil, err
	}
	if len(s) == 0 {
		return nil, errors.New("paths: give at least one path")
	}
	return s, nil
}

func (s spec) Resolve(_ context.Context, _ *sources.Env, name string) ([]*sources.PlanItem, error) {
	return []*sources.PlanItem{{Name: name, Source: New(s, "files "+strings.Join(s, ", "))}}, nil
}
