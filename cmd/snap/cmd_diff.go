package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"snap/crypt"
	"snap/repo"
	"snap/repo/format"
)

type diffOptions struct{}

func init() {
	register(&command{
		name:    "diff",
		summary: "show what changed between two snapshots",
		usage: `Usage: snap diff SNAP1 SNAP2 [--json]

SNAP1 and SNAP2 are ids, unique id prefixes or "latest". Lists the items
added (+), removed (-) and changed (M: size, content) from SNAP1 to SNAP2,
and for a tree item whose content changed, the files added, removed and
changed (type, size, mode, owner, mtime, content). Comparing items needs
only the metadata key; comparing files needs the full key, and with a
write-only key only items are compared.

Examples:
  snap diff 1a2b3c4d latest
  snap diff 1a2b 5e6f --json | jq '.items[] | select(.change == "changed") | .name'`,
		setup: func(fs *pflag.FlagSet) runFunc {
			var o diffOptions
			return func(ctx context.Context, g *globalOptions, args []string) error {
				return runDiff(ctx, g, &o, args)
			}
		},
	})
}

type diffSnapshot struct {
	ID      string    `json:"id"`
	ShortID string    `json:"short_id"`
	Time    time.Time `json:"time"`
}

type diffItem struct {
	Name    string   `json:"name"`
	Change  string   `json:"change"` // added, removed, changed
	Kind    string   `json:"kind"`
	OldKind string   `json:"old_kind,omitempty"` // when the kind changed
	OldSize *int64   `json:"old_size,omitempty"`
	NewSize *int64   `json:"new_size,omitempty"`
	Changes []string `json:"changes,omitempty"` // kind, size, content, failed
	// Files are set for a tree item whose content changed, when the key
	// can read trees.
	Files []diffFile `json:"files,omitempty"`
}

type diffFile struct {
	Path    string   `json:"path"`
	Change  string   `json:"change"`
	Type    string   `json:"type"`
	Changes []string `json:"changes,omitempty"` // type, size, mode, owner, mtime, content, target, device
	OldSize *uint64  `json:"old_size,omitempty"`
	NewSize *uint64  `json:"new_size,omitempty"`
	OldMode string   `json:"old_mode,omitempty"`
	NewMode string   `json:"new_mode,omitempty"`
	OldUID  *uint32  `json:"old_uid,omitempty"`
	OldGID  *uint32  `json:"old_gid,omitempty"`
	NewUID  *uint32  `json:"new_uid,omitempty"`
	NewGID  *uint32  `json:"new_gid,omitempty"`
}

type diffSummary struct {
	ItemsAdded     int `json:"items_added"`
	ItemsRemoved   int `json:"items_removed"`
	ItemsChanged   int `json:"items_changed"`
	ItemsUnchanged int `json:"items_unchanged"`
	FilesAdded     int `json:"files_added"`
	FilesRemoved   int `json:"files_removed"`
	FilesChanged   int `json:"files_changed"`
}

type diffResult struct {
	From    diffSnapshot `json:"from"`
	To      diffSnapshot `json:"to"`
	Items   []diffItem   `json:"items"`
	Files   bool         `json:"files_compared"` // false with a write-only key
	Note    string       `json:"note,omitempty"`
	Summary diffSummary  `json:"summary"`
}

func runDiff(ctx context.Context, g *globalOptions, _ *diffOptions, args []string) error {
	if len(args) != 2 {
		return usagef("usage: snap diff SNAP1 SNAP2")
	}
	r, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	a, err := r.FindSnapshot(ctx, args[0])
	if err != nil {
		return err
	}
	b, err := r.FindSnapshot(ctx, args[1])
	if err != nil {
		return err
	}
	res, err := diffSnapshots(ctx, r.Repository, a, b)
	if err != nil {
		return err
	}
	if g.JSON {
		writeJSON(g.stdout, res)
		return nil
	}
	printDiff(g, res)
	return nil
}

func snapInfo(s *repo.Snapshot) diffSnapshot {
	return diffSnapshot{ID: s.ID.String(), ShortID: s.ID.Short(), Time: s.Time}
}

func diffSnapshots(ctx context.Context, r *repo.Repository, a, b *repo.Snapshot) (*diffResult, error) {
	res := &diffResult{From: snapInfo(a), To: snapInfo(b), Items: []diffItem{}, Files: r.CanRead()}
	old := map[string]*repo.Item{}
	for i := range a.Items {
		old[a.Items[i].Name] = &a.Items[i]
	}
	treesSkipped := false
	for i := range b.Items {
		nb := &b.Items[i]
		na, ok := old[nb.Name]
		if !ok {
			res.Items = append(res.Items, diffItem{Name: nb.Name, Change: "added", Kind: nb.Kind, NewSize: &nb.Size})
			res.Summary.ItemsAdded++
			continue
		}
		delete(old, nb.Name)
		d := diffItem{Name: nb.Name, Change: "changed", Kind: nb.Kind, OldSize: &na.Size, NewSize: &nb.Size}
		if na.Kind != nb.Kind {
			d.OldKind = na.Kind
			d.Changes = append(d.Changes, "kind")
		}
		if na.Size != nb.Size {
			d.Changes = append(d.Changes, "size")
		}
		// Content is the same iff the refs and the root tree are: ids are
		// keyed hashes of the content.
		content := !slices.Equal(na.Refs, nb.Refs) || !sameTree(na.Tree, nb.Tree)
		if content {
			d.Changes = append(d.Changes, "content")
		}
		if (na.Error == "") != (nb.Error == "") {
			d.Changes = append(d.Changes, "failed")
		}
		if len(d.Changes) == 0 {
			res.Summary.ItemsUnchanged++
			continue
		}
		if content && na.Kind == repo.KindTree && nb.Kind == repo.KindTree && na.Tree != nil && nb.Tree != nil {
			if !res.Files {
				treesSkipped = true
			} else {
				files, err := diffTrees(ctx, r, *na.Tree, *nb.Tree)
				if err != nil {
					return nil, fmt.Errorf("item %q: %w", nb.Name, err)
				}
				d.Files = files
				for _, f := range files {
					switch f.Change {
					case "added":
						res.Summary.FilesAdded++
					case "removed":
						res.Summary.FilesRemoved++
					default:
						res.Summary.FilesChanged++
					}
				}
			}
		}
		res.Items = append(res.Items, d)
		res.Summary.ItemsChanged++
	}
	// Removed items, in SNAP1's order.
	for i := range a.Items {
		if na, ok := old[a.Items[i].Name]; ok {
			res.Items = append(res.Items, diffItem{Name: na.Name, Change: "removed", Kind: na.Kind, OldSize: &na.Size})
			res.Summary.ItemsRemoved++
		}
	}
	if treesSkipped {
		res.Note = "file-level diff needs the full key: this key is write-only, so only items were compared"
	}
	return res, nil
}

func sameTree(a, b *crypt.ID) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// treeNode is what diff keeps of a node: the content ids only as a hash,
// so a large tree costs little memory.
type treeNode struct {
	typ          byte
	mode         uint32
	uid, gid     uint32
	size         uint64
	mtime        time.Time
	content      [32]byte
	target       string
	major, minor uint32
}

func toTreeNode(n *format.Node) treeNode {
	h := sha256.New()
	for _, id := range n.Content {
		h.Write(id[:])
	}
	t := treeNode{typ: n.Type, mode: n.Mode, uid: n.UID, gid: n.GID, size: n.Size, mtime: n.MTime, target: n.Target, major: n.DevMajor, minor: n.DevMinor}
	h.Sum(t.content[:0])
	return t
}

func diffTrees(ctx context.Context, r *repo.Repository, a, b crypt.ID) ([]diffFile, error) {
	old := map[string]treeNode{}
	if err := r.WalkTree(ctx, a, func(p string, n *format.Node) error {
		old[p] = toTreeNode(n)
		return nil
	}); err != nil {
		return nil, err
	}
	var out []diffFile
	err := r.WalkTree(ctx, b, func(p string, n *format.Node) error {
		nn := toTreeNode(n)
		on, ok := old[p]
		if !ok {
			out = append(out, diffFile{Path: p, Change: "added", Type: nodeTypeName(nn.typ), NewSize: sizeOf(nn)})
			return nil
		}
		delete(old, p)
		if ch := nodeChanges(on, nn); len(ch) > 0 {
			f := diffFile{Path: p, Change: "changed", Type: nodeTypeName(nn.typ), Changes: ch}
			for _, c := range ch {
				switch c {
				case "size":
					f.OldSize, f.NewSize = &on.size, &nn.size
				case "mode":
					f.OldMode, f.NewMode = modeString(on.mode), modeString(nn.mode)
				case "owner":
					f.OldUID, f.OldGID, f.NewUID, f.NewGID = &on.uid, &on.gid, &nn.uid, &nn.gid
				}
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for p, on := range old {
		out = append(out, diffFile{Path: p, Change: "removed", Type: nodeTypeName(on.typ), OldSize: sizeOf(on)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func sizeOf(n treeNode) *uint64 {
	if n.typ != format.NodeFile {
		return nil
	}
	return &n.size
}

func nodeChanges(a, b treeNode) []string {
	var ch []string
	if a.typ != b.typ {
		// Nothing else compares meaningfully across types.
		return []string{"type"}
	}
	if a.size != b.size {
		ch = append(ch, "size")
	}
	if a.mode != b.mode {
		ch = append(ch, "mode")
	}
	if a.uid != b.uid || a.gid != b.gid {
		ch = append(ch, "owner")
	}
	// A directory's mtime moves whenever an entry is added or removed,
	// which the entries' own lines already say.
	if !a.mtime.Equal(b.mtime) && a.typ != format.NodeDir {
		ch = append(ch, "mtime")
	}
	if a.content != b.content {
		ch = append(ch, "content")
	}
	if a.target != b.target {
		ch = append(ch, "target")
	}
	if a.major != b.major || a.minor != b.minor {
		ch = append(ch, "device")
	}
	return ch
}

func nodeTypeName(t byte) string {
	switch t {
	case format.NodeFile:
		return "file"
	case format.NodeDir:
		return "dir"
	case format.NodeSymlink:
		return "symlink"
	case format.NodeHardlink:
		return "hardlink"
	case format.NodeCharDev:
		return "chardev"
	case format.NodeBlockDev:
		return "blockdev"
	case format.NodeFIFO:
		return "fifo"
	case format.NodeSocket:
		return "socket"
	}
	return string(t)
}

func modeString(m uint32) string {
	s := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		s |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		s |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		s |= os.ModeSticky
	}
	return s.String()
}

// sizeChange shows two sizes readably, falling back to bytes when the
// rounded forms would look equal.
func sizeChange(a, b int64) string {
	fa, fb := formatBytes(a), formatBytes(b)
	if fa == fb {
		fa, fb = fmt.Sprintf("%d B", a), fmt.Sprintf("%d B", b)
	}
	return fa + " → " + fb
}

func printDiff(g *globalOptions, res *diffResult) {
	w := g.stdout
	fmt.Fprintf(w, "comparing %s (%s) with %s (%s)\n", res.From.ShortID, res.From.Time.Local().Format("2006-01-02 15:04:05"),
		res.To.ShortID, res.To.Time.Local().Format("2006-01-02 15:04:05"))
	for _, it := range res.Items {
		switch it.Change {
		case "added":
			fmt.Fprintf(w, "+ %s (%s, %s)\n", format.DisplayName(it.Name), it.Kind, formatBytes(*it.NewSize))
		case "removed":
			fmt.Fprintf(w, "- %s (%s, %s)\n", format.DisplayName(it.Name), it.Kind, formatBytes(*it.OldSize))
		default:
			var parts []string
			for _, c := range it.Changes {
				switch c {
				case "kind":
					parts = append(parts, "kind "+it.OldKind+" → "+it.Kind)
				case "size":
					parts = append(parts, "size "+sizeChange(*it.OldSize, *it.NewSize))
				default:
					parts = append(parts, c)
				}
			}
			fmt.Fprintf(w, "M %s (%s)\n", format.DisplayName(it.Name), strings.Join(parts, ", "))
			for _, f := range it.Files {
				printDiffFile(g, f)
			}
		}
	}
	s := res.Summary
	if s.ItemsAdded+s.ItemsRemoved+s.ItemsChanged == 0 {
		fmt.Fprintln(w, "no differences")
	}
	fmt.Fprintf(w, "items: %d added, %d removed, %d changed, %d unchanged", s.ItemsAdded, s.ItemsRemoved, s.ItemsChanged, s.ItemsUnchanged)
	if res.Files {
		fmt.Fprintf(w, "; files: %d added, %d removed, %d changed", s.FilesAdded, s.FilesRemoved, s.FilesChanged)
	}
	fmt.Fprintln(w)
	if res.Note != "" {
		fmt.Fprintf(w, "note: %s\n", res.Note)
	}
}

func printDiffFile(g *globalOptions, f diffFile) {
	name := f.Path
	if f.Type == "dir" {
		name += "/"
	}
	switch f.Change {
	case "added":
		fmt.Fprintf(g.stdout, "    + %s\n", name)
		return
	case "removed":
		fmt.Fprintf(g.stdout, "    - %s\n", name)
		return
	}
	var parts []string
	for _, c := range f.Changes {
		switch c {
		case "size":
			parts = append(parts, fmt.Sprintf("size %d → %d", *f.OldSize, *f.NewSize))
		case "mode":
			parts = append(parts, "mode "+f.OldMode+" → "+f.NewMode)
		case "owner":
			parts = append(parts, fmt.Sprintf("owner %d:%d → %d:%d", *f.OldUID, *f.OldGID, *f.NewUID, *f.NewGID))
		default:
			parts = append(parts, c)
		}
	}
	fmt.Fprintf(g.stdout, "    M %s (%s)\n", name, strings.Join(parts, ", "))
}
