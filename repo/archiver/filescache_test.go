package archiver

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"snap/crypt"
)

// FuzzReadFilesCache: a files cache that reads, written back by Save,
// reads back to the same entries.
func FuzzReadFilesCache(f *testing.F) {
	dir := f.TempDir()
	fc := &FilesCache{path: filepath.Join(dir, "seed"), new: map[string]*cachedFile{
		"/a":        {Size: 1, MTime: 2, CTime: 3, Inode: 4, Content: []crypt.ID{{1}}},
		"/srv/\xff": {Size: 1 << 40, MTime: -1, CTime: 1 << 62, Inode: 1 << 63, Content: []crypt.ID{{2}, {3}}},
		"/empty":    {Content: []crypt.ID{}},
	}}
	if err := fc.Save(); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(fc.path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(filesCacheMagic)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readFilesCache(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		out := &FilesCache{path: filepath.Join(dir, "out"), new: m}
		if err := out.Save(); err != nil {
			t.Fatal(err)
		}
		saved, err := os.ReadFile(out.path)
		if err != nil {
			t.Fatal(err)
		}
		again, err := readFilesCache(bufio.NewReader(bytes.NewReader(saved)))
		if err != nil {
			t.Fatalf("a saved files cache does not read: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatal("files cache does not round-trip")
		}
	})
}
