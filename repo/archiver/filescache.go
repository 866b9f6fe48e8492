package archiver

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"snap/crypt"
	"snap/repo/format"
)

// FilesCache remembers, per absolute path, the metadata and chunk ids of
// files a previous backup read, so an unchanged file is not read again. It
// is local (the cache directory) because a write-only key cannot read the
// parent snapshot's trees. It is only a hint: a hit is used only if every
// chunk id is still in the index.
type FilesCache struct {
	path string
	mu   sync.Mutex
	old  map[string]*cachedFile
	new  map[string]*cachedFile
}

type cachedFile struct {
	Size    uint64
	MTime   int64 // ns
	CTime   int64 // ns
	Inode   uint64
	Content []crypt.ID
}

var filesCacheMagic = []byte("SNPFC1\n")

// OpenFilesCache loads the files cache kept in the file at path. A missing
// or damaged cache is empty, never an error. With path "" the cache starts
// empty and Save keeps nothing.
func OpenFilesCache(path string) *FilesCache {
	fc := &FilesCache{path: path, old: map[string]*cachedFile{}, new: map[string]*cachedFile{}}
	if path == "" {
		return fc
	}
	f, err := os.Open(fc.path)
	if err != nil {
		return fc
	}
	defer f.Close()
	if m, err := readFilesCache(bufio.NewReader(f)); err == nil {
		fc.old = m
	}
	return fc
}

func readFilesCache(r *bufio.Reader) (map[string]*cachedFile, error) {
	magic := make([]byte, len(filesCacheMagic))
	if _, err := io.ReadFull(r, magic); err != nil || !bytes.Equal(magic, filesCacheMagic) {
		return nil, errors.New("bad files cache")
	}
	m := map[string]*cachedFile{}
	for {
		n, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return m, nil
		}
		if err != nil || n > format.MaxTargetLen {
			return nil, errors.New("bad files cache")
		}
		name := make([]byte, n)
		if _, err := io.ReadFull(r, name); err != nil {
			return nil, err
		}
		var c cachedFile
		var vals [5]uint64
		for i := range vals {
			if vals[i], err = binary.ReadUvarint(r); err != nil {
				return nil, err
			}
		}
		if vals[4] > format.MaxChunksPerFile {
			return nil, errors.New("bad files cache")
		}
		c.Size, c.MTime, c.CTime, c.Inode = vals[0], int64(vals[1]), int64(vals[2]), vals[3]
		c.Content = make([]crypt.ID, vals[4])
		for i := range c.Content {
			if _, err := io.ReadFull(r, c.Content[i][:]); err != nil {
				return nil, err
			}
		}
		m[string(name)] = &c
	}
}

func (fc *FilesCache) lookup(path string, size uint64, mtime, ctime int64, ino uint64) *cachedFile {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	c := fc.old[path]
	if c == nil || c.Size != size || c.MTime != mtime || c.CTime != ctime || c.Inode != ino {
		return nil
	}
	return c
}

func (fc *FilesCache) put(path string, c *cachedFile) {
	fc.mu.Lock()
	fc.new[path] = c
	fc.mu.Unlock()
}

// Save writes the entries seen in this run (only after the snapshot is
// committed: a cache entry must never point at blobs of a failed run).
func (fc *FilesCache) Save() error {
	if fc.path == "" {
		return nil
	}
	var buf bytes.Buffer
	buf.Write(filesCacheMagic)
	for name, c := range fc.new {
		buf.Write(binary.AppendUvarint(nil, uint64(len(name))))
		buf.WriteString(name)
		for _, v := range []uint64{c.Size, uint64(c.MTime), uint64(c.CTime), c.Inode, uint64(len(c.Content))} {
			buf.Write(binary.AppendUvarint(nil, v))
		}
		for _, id := range c.Content {
			buf.Write(id[:])
		}
	}
	tmp := fmt.Sprintf("%s.tmp%d", fc.path, os.Getpid())
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, fc.path)
}
