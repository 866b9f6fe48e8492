package format

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"snap/crypt"
)

// Node types in a tree blob.
const (
	NodeFile     byte = 'f'
	NodeDir      byte = 'd'
	NodeSymlink  byte = 'l'
	NodeHardlink byte = 'h' // another path of an earlier file in the same item
	NodeCharDev  byte = 'c'
	NodeBlockDev byte = 'b'
	NodeFIFO     byte = 'p'
	NodeSocket   byte = 's'
)

// Node is one directory entry of a tree blob.
type Node struct {
	Name     string // one path element; any bytes but '/' and NUL
	Type     byte
	Mode     uint32 // permission bits plus setuid, setgid, sticky (07777)
	UID, GID uint32
	MTime    time.Time
	Size     uint64     // files: content bytes
	Content  []crypt.ID // files: chunk ids in order
	Subtree  crypt.ID   // dirs
	Target   string     // symlinks: target; hardlinks: item-relative path of the first link
	DevMajor uint32     // devices
	DevMinor uint32
}

// MarshalTree encodes nodes, which must be sorted by name (bytewise) with no
// duplicates: the encoding of a directory is canonical, so an unchanged
// directory gives the same tree blob id and is stored once.
func MarshalTree(nodes []Node) []byte {
	buf := append(treeMagic[:], Version)
	buf = binary.AppendUvarint(buf, uint64(len(nodes)))
	for _, n := range nodes {
		buf = binary.AppendUvarint(buf, uint64(len(n.Name)))
		buf = append(buf, n.Name...)
		buf = append(buf, n.Type)
		buf = binary.AppendUvarint(buf, uint64(n.Mode))
		buf = binary.AppendUvarint(buf, uint64(n.UID))
		buf = binary.AppendUvarint(buf, uint64(n.GID))
		buf = binary.AppendVarint(buf, n.MTime.Unix())
		buf = binary.AppendUvarint(buf, uint64(n.MTime.Nanosecond()))
		switch n.Type {
		case NodeFile:
			buf = binary.AppendUvarint(buf, n.Size)
			buf = binary.AppendUvarint(buf, uint64(len(n.Content)))
			for _, id := range n.Content {
				buf = append(buf, id[:]...)
			}
		case NodeDir:
			buf = append(buf, n.Subtree[:]...)
		case NodeSymlink, NodeHardlink:
			buf = binary.AppendUvarint(buf, uint64(len(n.Target)))
			buf = append(buf, n.Target...)
		case NodeCharDev, NodeBlockDev:
			buf = binary.AppendUvarint(buf, uint64(n.DevMajor))
			buf = binary.AppendUvarint(buf, uint64(n.DevMinor))
		}
	}
	return buf
}

// ValidName reports whether name is one path element that cannot escape
// the restore target.
func ValidName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// validLinkPath checks a hardlink target: relative, clean, inside the item.
func validLinkPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") {
		return false
	}
	for _, el := range strings.Split(p, "/") {
		if !ValidName(el) {
			return false
		}
	}
	return true
}

// ParseTree decodes a tree blob strictly: sorted unique names, known types,
// limits on every length, no trailing bytes.
func ParseTree(b []byte) ([]Node, error) {
	d := &decoder{b: b}
	d.magic(treeMagic)
	count := d.uvarint("node count", maxNodesPerTree)
	if d.err == nil && count > uint64(len(d.b))/8 {
		d.fail("node count %d larger than the tree", count)
	}
	nodes := make([]Node, 0, count)
	var prev []byte
	for i := uint64(0); i < count && d.err == nil; i++ {
		var n Node
		name := d.bytes("name", int(d.uvarint("name length", maxNameLen)))
		n.Name = string(name)
		if d.err == nil && (!ValidName(n.Name) || (i > 0 && bytes.Compare(prev, name) >= 0)) {
			d.fail("bad or unsorted name %q", n.Name)
		}
		prev = name
		n.Type = d.byte1("type")
		n.Mode = uint32(d.uvarint("mode", 07777))
		n.UID = uint32(d.uvarint("uid", 1<<32-1))
		n.GID = uint32(d.uvarint("gid", 1<<32-1))
		var sec int64
		if d.err == nil {
			v, k := binary.Varint(d.b)
			if k <= 0 || k != len(binary.AppendVarint(nil, v)) {
				d.fail("bad mtime")
			} else {
				sec = v
				d.b = d.b[k:]
			}
		}
		nsec := d.uvarint("mtime nanoseconds", 999999999)
		n.MTime = time.Unix(sec, int64(nsec))
		switch n.Type {
		case NodeFile:
			n.Size = d.uvarint("size", 1<<62)
			nc := d.uvarint("chunk count", MaxChunksPerFile)
			if d.err == nil && nc > uint64(len(d.b))/32 {
				d.fail("chunk count %d larger than the tree", nc)
			}
			if d.err == nil && nc > 0 {
				n.Content = make([]crypt.ID, nc)
				for j := range n.Content {
					n.Content[j] = d.id("chunk id")
				}
			}
		case NodeDir:
			n.Subtree = d.id("subtree id")
		case NodeSymlink, NodeHardlink:
			n.Target = string(d.bytes("target", int(d.uvarint("target length", MaxTargetLen))))
			if d.err == nil && n.Type == NodeHardlink && !validLinkPath(n.Target) {
				d.fail("bad hardlink target %q", n.Target)
			}
		case NodeCharDev, NodeBlockDev:
			n.DevMajor = uint32(d.uvarint("device major", 1<<32-1))
			n.DevMinor = uint32(d.uvarint("device minor", 1<<32-1))
		case NodeFIFO, NodeSocket:
		default:
			d.fail("unknown node type %q", n.Type)
		}
		nodes = append(nodes, n)
	}
	d.end()
	if d.err != nil {
		return nil, fmt.Errorf("tree: %w", d.err)
	}
	return nodes, nil
}
