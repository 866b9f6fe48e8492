package archiver

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"snap/crypt"
	"snap/repo/format"
)

// tarDir is a directory being assembled from a tar stream.
type tarDir struct {
	children map[string]*tarEntry
}

type tarEntry struct {
	node format.Node
	dir  *tarDir // set for directories
}

// SaveTar backs up a tar stream (as Docker's CopyFromContainer returns it)
// as a tree item: each file is chunked on its own, like SaveTree. Paths in
// the archive become item-relative paths; names that would escape the item
// ("..", absolute paths) are an error, since the stream comes from a
// container and is not trusted.
func SaveTar(w Saver, o Options, rd io.Reader) (TreeResult, error) {
	root := &tarDir{children: map[string]*tarEntry{}}
	var res TreeResult
	tr := tar.NewReader(rd)
	p := o.Chunker
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, &SourceError{Err: fmt.Errorf("reading tar: %w", err)}
		}
		name, err := cleanTarPath(h.Name)
		if err != nil {
			return res, &SourceError{Err: err}
		}
		if name == "" {
			continue // the archive's "." entry
		}
		n := format.Node{Name: path.Base(name), Mode: uint32(h.Mode) & 07777, UID: uint32(h.Uid), GID: uint32(h.Gid), MTime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeDir:
			n.Type = format.NodeDir
		case tar.TypeReg:
			n.Type = format.NodeFile
			ids, size, err := saveTarFile(w, tr, h.Size, p.Min)
			if err != nil {
				return res, err
			}
			n.Size, n.Content = uint64(size), ids
			res.Size += size
			res.Files++
		case tar.TypeSymlink:
			n.Type, n.Target = format.NodeSymlink, h.Linkname
		case tar.TypeLink:
			target, err := cleanTarPath(h.Linkname)
			if err != nil || target == "" {
				return res, &SourceError{Err: fmt.Errorf("tar: bad hard link %q -> %q", h.Name, h.Linkname)}
			}
			n.Type, n.Target = format.NodeHardlink, target
			res.Files++
		case tar.TypeChar, tar.TypeBlock:
			n.Type = format.NodeCharDev
			if h.Typeflag == tar.TypeBlock {
				n.Type = format.NodeBlockDev
			}
			n.DevMajor, n.DevMinor = uint32(h.Devmajor), uint32(h.Devminor)
		case tar.TypeFifo:
			n.Type = format.NodeFIFO
		case tar.TypeXGlobalHeader:
			continue
		default:
			return res, &SourceError{Err: fmt.Errorf("tar: %q has unsupported type %q", h.Name, h.Typeflag)}
		}
		if err := root.put(name, n); err != nil {
			return res, &SourceError{Err: err}
		}
	}
	var refs refList
	id, err := saveTarDir(w, root, &refs, &res)
	if err != nil {
		return res, err
	}
	res.Root, res.Refs = id, refs.list()
	res.Dirs-- // the synthetic root is not a directory of the source
	return res, nil
}

func cleanTarPath(p string) (string, error) {
	p = strings.TrimPrefix(p, "./")
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("tar: absolute path %q", p)
	}
	c := path.Clean(p)
	if c == "." {
		return "", nil
	}
	for _, el := range strings.Split(c, "/") {
		if !format.ValidName(el) {
			return "", fmt.Errorf("tar: unsafe path %q", p)
		}
	}
	return c, nil
}

// put places a node at an item-relative path, creating missing parents
// (a tar need not list every directory before its files).
func (d *tarDir) put(name string, n format.Node) error {
	parts := strings.Split(name, "/")
	cur := d
	for _, el := range parts[:len(parts)-1] {
		e, ok := cur.children[el]
		if !ok {
			e = &tarEntry{node: format.Node{Name: el, Type: format.NodeDir, Mode: 0o755}, dir: &tarDir{children: map[string]*tarEntry{}}}
			cur.children[el] = e
		}
		if e.dir == nil {
			return fmt.Errorf("tar: %q is inside %q, which is not a directory", name, el)
		}
		cur = e.dir
	}
	last := parts[len(parts)-1]
	if e, ok := cur.children[last]; ok && e.dir != nil && n.Type == format.NodeDir {
		e.node = n // the directory's own header, after an implicit creation
		return nil
	}
	e := &tarEntry{node: n}
	if n.Type == format.NodeDir {
		e.dir = &tarDir{children: map[string]*tarEntry{}}
	}
	cur.children[last] = e
	return nil
}

func saveTarFile(w Saver, rd io.Reader, size int64, min uint) ([]crypt.ID, int64, error) {
	if size < 0 {
		return nil, 0, &SourceError{Err: errors.New("tar: negative file size")}
	}
	var ids []crypt.ID
	if size < int64(min) {
		if size == 0 {
			return nil, 0, nil
		}
		buf, release := w.Buffer(int(size))
		buf = buf[:size]
		if _, err := io.ReadFull(rd, buf); err != nil {
			release()
			return nil, 0, &SourceError{Err: fmt.Errorf("reading tar: %w", err)}
		}
		id := w.ID(buf)
		if err := w.Save(format.TypeData, id, buf, release); err != nil {
			return nil, 0, err
		}
		return append(ids, id), size, nil
	}
	chunks, n, err := w.SaveChunks(io.LimitReader(rd, size))
	if err != nil {
		return nil, 0, err
	}
	if n != size {
		return nil, 0, &SourceError{Err: fmt.Errorf("tar: file shorter than its header (%d of %d bytes)", n, size)}
	}
	return chunks, n, nil
}

// saveTarDir stores a directory bottom-up, appending refs in walk order.
func saveTarDir(w Saver, d *tarDir, refs *refList, res *TreeResult) (crypt.ID, error) {
	names := make([]string, 0, len(d.children))
	for name := range d.children {
		names = append(names, name)
	}
	sort.Strings(names)
	nodes := make([]format.Node, 0, len(names))
	for _, name := range names {
		e := d.children[name]
		n := e.node
		if e.dir != nil {
			id, err := saveTarDir(w, e.dir, refs, res)
			if err != nil {
				return id, err
			}
			n.Subtree = id
		} else if n.Type == format.NodeFile {
			refs.data = append(refs.data, n.Content...)
		}
		nodes = append(nodes, n)
	}
	id, err := w.SaveBlob(format.TypeTree, format.MarshalTree(nodes))
	if err != nil {
		return id, err
	}
	refs.trees = append(refs.trees, id)
	res.Dirs++
	return id, nil
}
