// Package archiver turns host paths and tar streams into tree items: the
// file walker (with a background pre-stat walk and the files cache that
// skips unchanged files) and the tar reader. It stores blobs through Saver,
// declared here and implemented by the repository's writer, so it knows
// nothing of packs, keys or storage (restic's internal/archiver).
package archiver

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"snap/chunk"
	"snap/crypt"
	"snap/repo/format"
)

// Saver stores blobs for one backup run. Save and SaveBlob skip a blob
// already stored; Known is false for a blob stored only in damaged packs,
// so a files-cache hit naming one is read again rather than reused.
type Saver interface {
	ID(data []byte) crypt.ID
	// Buffer returns a chunk buffer and its release func, for Save.
	Buffer(n int) ([]byte, func())
	Save(typ format.BlobType, id crypt.ID, data []byte, release func()) error
	SaveBlob(typ format.BlobType, data []byte) (crypt.ID, error)
	Known(id crypt.ID) bool
	// SaveChunks chunks rd, saves each data chunk and returns their ids
	// and the bytes read.
	SaveChunks(rd io.Reader) ([]crypt.ID, int64, error)
}

// Options are the repository's chunker parameters and the parallelism.
type Options struct {
	Chunker chunk.Params
	Workers int
}

// SourceError wraps a failure to read what is being backed up (as opposed
// to a failure of the repository).
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return "reading source: " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// TreeResult is what SaveTree stored.
type TreeResult struct {
	Root crypt.ID
	// Refs is every blob the item needs, once each: the files' chunks in
	// walk order, then the tree blobs in walk order, the root last
	// (docs/format.md "Reference lists").
	Refs  []crypt.ID
	Size  int64
	Files int64
	Dirs  int64
}

// refList is what a subtree needs: its files' chunks and its tree blobs,
// each in walk order. They are kept apart because they change apart: an
// edited file changes one chunk id, but the tree id of its directory and
// of every directory above it. With the tree ids together at the end of
// the item's list, they rewrite its last refs blobs only, and the refs
// blobs of the chunk ids of unchanged files stay as they were.
type refList struct{ data, trees []crypt.ID }

func (l *refList) add(o refList) {
	l.data = append(l.data, o.data...)
	l.trees = append(l.trees, o.trees...)
}

// list is the item's reference list: chunks, then trees, each id once.
func (l refList) list() []crypt.ID {
	return uniqueIDs(append(l.data, l.trees...))
}

// archiver walks host paths into tree blobs. Files of one directory are read
// in parallel (bounded by the worker count); each file is chunked on its own.
type archiver struct {
	w   Saver
	opt Options
	fc  *FilesCache
	pre *PreStat
	sem chan struct{}

	mu     sync.Mutex
	links  map[[2]uint64]string // (dev, inode) → item-relative path of the first link
	size   int64
	files  int64
	dirs   int64
	chunks sync.Pool
}

// SaveTree backs up paths as one tree item whose root directory holds each
// path under its base name. fc and pre may be nil.
func SaveTree(w Saver, o Options, paths []string, fc *FilesCache, pre *PreStat) (TreeResult, error) {
	a := &archiver{
		w: w, opt: o, fc: fc, sem: make(chan struct{}, o.Workers),
		links: map[[2]uint64]string{}, pre: pre,
	}
	p := o.Chunker
	a.chunks.New = func() any { return chunk.New(nil, p) }
	var nodes []format.Node
	var refs []refList
	seen := map[string]string{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return TreeResult{}, &SourceError{Err: err}
		}
		name := filepath.Base(abs)
		if abs == "/" {
			name = "root"
		}
		if other, dup := seen[name]; dup {
			return TreeResult{}, &SourceError{Err: fmt.Errorf("%s and %s have the same base name %q: back them up as separate items", other, abs, name)}
		}
		seen[name] = abs
		fi, err := os.Lstat(abs)
		if err != nil {
			return TreeResult{}, &SourceError{Err: err}
		}
		n, sub, err := a.node(abs, name, fi)
		if err != nil {
			return TreeResult{}, err
		}
		if n.Type == format.NodeFile {
			// A file given as a path (a .env): dir() reads the files it
			// lists, this one is read here.
			if err := a.file(abs, fi, &n); err != nil {
				return TreeResult{}, err
			}
			sub = refList{data: n.Content}
		}
		nodes = append(nodes, n)
		refs = append(refs, sub)
	}
	order := make([]int, len(nodes))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return nodes[order[i]].Name < nodes[order[j]].Name })
	sorted := make([]format.Node, len(nodes))
	var all refList
	for i, k := range order {
		sorted[i] = nodes[k]
		all.add(refs[k])
	}
	root, err := a.w.SaveBlob(format.TypeTree, format.MarshalTree(sorted))
	if err != nil {
		return TreeResult{}, err
	}
	all.trees = append(all.trees, root)
	return TreeResult{Root: root, Refs: all.list(), Size: a.size, Files: a.files, Dirs: a.dirs}, nil
}

// uniqueIDs keeps the first occurrence of each id. The order is
// deterministic, so an unchanged part of a tree gives the same stretch of
// the list and the same refs blobs (docs/format.md "Reference lists").
func uniqueIDs(ids []crypt.ID) []crypt.ID {
	seen := make(map[crypt.ID]struct{}, len(ids))
	out := ids[:0]
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// node builds the node for one path; rel is its item-relative path. For a
// directory it also returns the ids its subtree needs.
func (a *archiver) node(abs, rel string, fi os.FileInfo) (format.Node, refList, error) {
	st, _ := fi.Sys().(*syscall.Stat_t)
	n := format.Node{Name: filepath.Base(rel), Mode: uint32(fi.Mode().Perm()), MTime: fi.ModTime()}
	if fi.Mode()&os.ModeSetuid != 0 {
		n.Mode |= 04000
	}
	if fi.Mode()&os.ModeSetgid != 0 {
		n.Mode |= 02000
	}
	if fi.Mode()&os.ModeSticky != 0 {
		n.Mode |= 01000
	}
	if st != nil {
		n.UID, n.GID = st.Uid, st.Gid
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		if st != nil && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			a.mu.Lock()
			first, ok := a.links[key]
			if !ok {
				a.links[key] = rel
			}
			a.mu.Unlock()
			if ok {
				n.Type, n.Target = format.NodeHardlink, first
				return n, refList{}, nil
			}
		}
		n.Type = format.NodeFile
	case m.IsDir():
		n.Type = format.NodeDir
		id, sub, err := a.dir(abs, rel)
		if err != nil {
			return n, refList{}, err
		}
		n.Subtree = id
		return n, sub, nil
	case m&os.ModeSymlink != 0:
		n.Type = format.NodeSymlink
		t, err := os.Readlink(abs)
		if err != nil {
			return n, refList{}, &SourceError{Err: err}
		}
		n.Target = t
	case m&os.ModeNamedPipe != 0:
		n.Type = format.NodeFIFO
	case m&os.ModeSocket != 0:
		n.Type = format.NodeSocket
	case m&os.ModeDevice != 0:
		n.Type = format.NodeBlockDev
		if m&os.ModeCharDevice != 0 {
			n.Type = format.NodeCharDev
		}
		if st != nil {
			n.DevMajor, n.DevMinor = uint32((st.Rdev>>8)&0xfff|(st.Rdev>>32)&^0xfff), uint32(st.Rdev&0xff|(st.Rdev>>12)&^0xff)
		}
	default:
		return n, refList{}, &SourceError{Err: fmt.Errorf("%s: unsupported file type %v", abs, m.Type())}
	}
	return n, refList{}, nil
}

// dir saves one directory and returns its tree id and the ids its
// subtree needs: each entry's in name order, then the directory's own tree.
func (a *archiver) dir(abs, rel string) (crypt.ID, refList, error) {
	names, infos, err := a.list(abs)
	if err != nil {
		return crypt.ID{}, refList{}, err
	}
	nodes := make([]format.Node, len(names))
	subs := make([]refList, len(names))
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	setErr := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	for i, name := range names {
		p := filepath.Join(abs, name)
		fi := infos[i]
		n, sub, err := a.node(p, rel+"/"+name, fi)
		if err != nil {
			setErr(err)
			break
		}
		nodes[i], subs[i] = n, sub
		if n.Type != format.NodeFile {
			continue
		}
		// Files are read concurrently; the semaphore bounds how many.
		a.sem <- struct{}{}
		wg.Add(1)
		go func(i int, p string, fi os.FileInfo) {
			defer func() { <-a.sem; wg.Done() }()
			if err := a.file(p, fi, &nodes[i]); err != nil {
				setErr(err)
			}
		}(i, p, fi)
	}
	wg.Wait()
	if firstErr != nil {
		return crypt.ID{}, refList{}, firstErr
	}
	a.mu.Lock()
	a.dirs++
	a.mu.Unlock()
	var ids refList
	for i := range nodes {
		if nodes[i].Type == format.NodeFile {
			ids.data = append(ids.data, nodes[i].Content...)
		}
		ids.add(subs[i])
	}
	id, err := a.w.SaveBlob(format.TypeTree, format.MarshalTree(nodes))
	if err != nil {
		return id, refList{}, err
	}
	ids.trees = append(ids.trees, id)
	return id, ids, nil
}

// list returns a directory's sorted names and their lstat results, from
// the prestat walk when there is one.
func (a *archiver) list(abs string) ([]string, []os.FileInfo, error) {
	if a.pre != nil {
		if l, ok := a.pre.take(abs); ok {
			return l.names, l.infos, nil
		}
	}
	return readDir(abs, cap(a.sem))
}

func readDir(abs string, workers int) ([]string, []os.FileInfo, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, nil, &SourceError{Err: err}
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, nil, &SourceError{Err: fmt.Errorf("%s: %w", abs, err)}
	}
	sort.Strings(names)
	infos, err := lstatAll(abs, names, workers)
	return names, infos, err
}

// lstatAll stats a directory's entries on n goroutines: on a day-2 backup
// of an unchanged tree, stat calls are most of the work.
func lstatAll(dir string, names []string, n int) ([]os.FileInfo, error) {
	infos := make([]os.FileInfo, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(names); i += n {
				infos[i], errs[i] = os.Lstat(filepath.Join(dir, names[i]))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, &SourceError{Err: err}
		}
	}
	return infos, nil
}

// file fills n.Content with the file's chunk ids, from the files cache when
// the file is unchanged and its chunks are still in the repository.
func (a *archiver) file(p string, fi os.FileInfo, n *format.Node) error {
	st, _ := fi.Sys().(*syscall.Stat_t)
	var ctime int64
	var ino uint64
	if st != nil {
		ctime, ino = time.Unix(st.Ctim.Unix()).UnixNano(), st.Ino
	}
	size := uint64(fi.Size())
	if a.fc != nil {
		if c := a.fc.lookup(p, size, fi.ModTime().UnixNano(), ctime, ino); c != nil && a.allKnown(c.Content) {
			n.Size, n.Content = c.Size, c.Content
			a.fc.put(p, c)
			a.count(int64(c.Size))
			return nil
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return &SourceError{Err: err}
	}
	defer f.Close()
	var ids []crypt.ID
	var total int64
	if fi.Size() < int64(a.opt.Chunker.Min) {
		// Small files are one blob: no chunker needed.
		buf, release := a.w.Buffer(int(fi.Size()) + 1)
		for {
			k, err := f.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+k]
			if err == io.EOF {
				break
			}
			if err != nil {
				release()
				return &SourceError{Err: fmt.Errorf("%s: %w", p, err)}
			}
			if len(buf) == cap(buf) {
				buf = slices.Grow(buf, 64<<10) // the file grew while reading
			}
		}
		total = int64(len(buf))
		if total == 0 {
			release()
		} else {
			id := a.w.ID(buf)
			if err := a.w.Save(format.TypeData, id, buf, release); err != nil {
				return err
			}
			ids = append(ids, id)
		}
	} else {
		c := a.chunks.Get().(*chunk.Chunker)
		defer a.chunks.Put(c)
		c.Reset(f)
		for {
			buf, release := a.w.Buffer(int(a.opt.Chunker.Max))
			data, err := c.Next(buf)
			if err == io.EOF {
				release()
				break
			}
			if err != nil {
				release()
				return &SourceError{Err: fmt.Errorf("%s: %w", p, err)}
			}
			id := a.w.ID(data)
			if err := a.w.Save(format.TypeData, id, data, release); err != nil {
				return err
			}
			ids = append(ids, id)
			total += int64(len(data))
		}
	}
	n.Size, n.Content = uint64(total), ids
	if a.fc != nil {
		a.fc.put(p, &cachedFile{Size: uint64(total), MTime: fi.ModTime().UnixNano(), CTime: ctime, Inode: ino, Content: ids})
	}
	a.count(total)
	return nil
}

func (a *archiver) count(size int64) {
	a.mu.Lock()
	a.size += size
	a.files++
	a.mu.Unlock()
}

func (a *archiver) allKnown(ids []crypt.ID) bool {
	for _, id := range ids {
		if !a.w.Known(id) {
			return false
		}
	}
	return true
}
