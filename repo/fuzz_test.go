package repo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"snap/cache"
	"snap/crypt"
	"snap/repo/backend"
)

func sampleBlobs() ([][]byte, []cache.Blob) {
	keys := [][]byte{[]byte("age-encryption.org/v1\n-> X25519 abc\nxyz\n--- mac\nbody")}
	blobs := []cache.Blob{
		{ID: crypt.Hash([]byte("a")), Type: cache.TypeData, Offset: 0, Length: 100, PlainLen: 300},
		{ID: crypt.Hash([]byte("b")), Type: cache.TypeTree, Offset: 100, Length: 50, PlainLen: 60},
		{ID: crypt.Hash([]byte("c")), Type: cache.TypeRefs, Offset: 150, Length: 41, PlainLen: 32},
	}
	return keys, blobs
}

func FuzzParsePackHeader(f *testing.F) {
	keys, blobs := sampleBlobs()
	f.Add(marshalPackHeader(keys, blobs), int64(191))
	f.Add(marshalPackHeader(nil, nil), int64(0))
	f.Add(katBytes(katPackHeader), int64(541))
	f.Fuzz(func(t *testing.T, b []byte, end int64) {
		k, bl, err := parsePackHeader(b, end)
		if err != nil {
			return
		}
		// What parses must marshal back to the same bytes: one encoding.
		if !bytes.Equal(marshalPackHeader(k, bl), b) {
			t.Fatal("pack header does not round-trip")
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	keys, blobs := sampleBlobs()
	f.Add(marshalIndex([]cache.Pack{{ID: crypt.Hash([]byte("p")), Size: 1000, Keys: keys, Blobs: blobs}}))
	f.Add(marshalIndex(nil))
	f.Add(katBytes(katIndexPlain))
	f.Fuzz(func(t *testing.T, b []byte) {
		packs, err := parseIndex(b)
		if err != nil {
			return
		}
		if !bytes.Equal(marshalIndex(packs), b) {
			t.Fatal("index does not round-trip")
		}
	})
}

func sampleTree() []Node {
	return []Node{
		{Name: "a.txt", Type: NodeFile, Mode: 0o644, UID: 1000, GID: 1000, MTime: time.Unix(1700000000, 5), Size: 3, Content: []crypt.ID{crypt.Hash([]byte("x"))}},
		{Name: "dir", Type: NodeDir, Mode: 0o755, MTime: time.Unix(-5, 0), Subtree: crypt.Hash([]byte("t"))},
		{Name: "hl", Type: NodeHardlink, Mode: 0o644, Target: "dir/a.txt"},
		{Name: "link", Type: NodeSymlink, Mode: 0o777, Target: "/etc/passwd"},
		{Name: "null", Type: NodeCharDev, Mode: 0o666, DevMajor: 1, DevMinor: 3},
		{Name: "pipe\xff", Type: NodeFIFO, Mode: 0o600},
	}
}

func TestTreeRoundTripEncoding(t *testing.T) {
	nodes := sampleTree()
	got, err := parseTree(marshalTree(nodes))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(nodes) {
		t.Fatalf("%d nodes, want %d", len(got), len(nodes))
	}
	for i := range nodes {
		a, b := nodes[i], got[i]
		if a.Name != b.Name || a.Type != b.Type || a.Mode != b.Mode || a.UID != b.UID || !a.MTime.Equal(b.MTime) ||
			a.Size != b.Size || a.Subtree != b.Subtree || a.Target != b.Target || a.DevMinor != b.DevMinor || len(a.Content) != len(b.Content) {
			t.Fatalf("node %d: %+v != %+v", i, a, b)
		}
	}
	// Unsorted or duplicate names, and escaping names, are refused.
	bad := [][]Node{
		{{Name: "b", Type: NodeFIFO}, {Name: "a", Type: NodeFIFO}},
		{{Name: "a", Type: NodeFIFO}, {Name: "a", Type: NodeFIFO}},
		{{Name: "..", Type: NodeFIFO}},
		{{Name: "a/b", Type: NodeFIFO}},
		{{Name: "h", Type: NodeHardlink, Target: "../../etc/shadow"}},
	}
	for i, nodes := range bad {
		if _, err := parseTree(marshalTree(nodes)); err == nil {
			t.Errorf("bad tree %d accepted", i)
		}
	}
}

func FuzzParseTree(f *testing.F) {
	f.Add(marshalTree(sampleTree()))
	f.Add(marshalTree(nil))
	f.Add(katBytes(katTreePlain))
	f.Fuzz(func(t *testing.T, b []byte) {
		nodes, err := parseTree(b)
		if err != nil {
			return
		}
		for _, n := range nodes {
			if !validName(n.Name) {
				t.Fatalf("accepted name %q", n.Name)
			}
		}
		if !bytes.Equal(marshalTree(nodes), b) {
			t.Fatal("tree does not round-trip")
		}
	})
}

// FuzzParseRefs: a list that parses is its ids' bytes, and cutting it
// again gives refs blobs that concatenate to it, each cut where the rule
// says and nowhere else.
func FuzzParseRefs(f *testing.F) {
	ids := []crypt.ID{crypt.Hash([]byte("1")), crypt.Hash([]byte("2"))}
	f.Add(splitRefs(ids)[0])
	f.Add(append(bytes.Repeat([]byte{0, 0x80}, 16), bytes.Repeat([]byte{7}, 64)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := parseRefs(b)
		if err != nil {
			return
		}
		var joined []byte
		for _, id := range ids {
			joined = append(joined, id[:]...)
		}
		if !bytes.Equal(joined, b) {
			t.Fatal("refs do not round-trip")
		}
		pieces := splitRefs(ids)
		if !bytes.Equal(bytes.Join(pieces, nil), b) {
			t.Fatal("refs blobs do not concatenate to the list")
		}
		for i, p := range pieces {
			got, err := parseRefs(p)
			if err != nil || len(got) == 0 {
				t.Fatalf("refs blob %d: %d ids, %v", i, len(got), err)
			}
			for j, id := range got {
				cut := refsCut(id, j+1)
				if last := j == len(got)-1; cut != last && !(last && i == len(pieces)-1) {
					t.Fatalf("refs blob %d: id %d cut %v", i, j, cut)
				}
			}
		}
	})
}

// FuzzParseSnapshot: a manifest that parses has known item kinds and the
// id of its name, and re-marshalling is a fixed point: parse → marshal →
// parse → marshal gives the same bytes twice.
func FuzzParseSnapshot(f *testing.F) {
	f.Add([]byte(`{"version":1,"time":"2026-01-01T00:00:00Z","host":"h","program":"snap","status":"complete","items":[{"name":"a","kind":"stream","size":1,"refs":[]}]}`))
	f.Add([]byte(`{"version":1,"items":[{"name":"t","kind":"tree"}]}`))
	f.Add([]byte(katSnapshotJSON))
	name := crypt.Hash([]byte("s")).String()
	h := backend.Handle{Type: backend.SnapshotFile, Name: name}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSnapshot(h, b)
		if err != nil {
			return
		}
		if s.ID.String() != name || s.Version != FormatVersion {
			t.Fatalf("parsed id %v version %d", s.ID, s.Version)
		}
		for _, it := range s.Items {
			if it.Kind != KindStream && it.Kind != KindTree || it.Kind == KindTree && it.Tree == nil && it.Error == "" {
				t.Fatalf("accepted item %+v", it)
			}
		}
		once, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := parseSnapshot(h, once)
		if err != nil {
			t.Fatalf("a parsed snapshot re-marshals to one that does not parse: %v\n%s", err, once)
		}
		twice, err := json.Marshal(s2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("snapshot does not round-trip:\n%s\n%s", once, twice)
		}
	})
}

// FuzzPeekConfig: the clear part of a config that parses re-marshals to
// one that parses the same, and a metadata key that did not seal it never
// opens it.
func FuzzPeekConfig(f *testing.F) {
	f.Add([]byte(`{"snap_repository":1,"id":"` + crypt.Hash(nil).String() + `","sealed":"AAAA"}`))
	f.Add([]byte(katConfigFile))
	f.Fuzz(func(t *testing.T, b []byte) {
		cf, err := peekConfig(b)
		if err != nil {
			return
		}
		if cf.Version != FormatVersion || len(cf.ID) != 64 {
			t.Fatalf("accepted %+v", cf)
		}
		again, err := json.Marshal(cf)
		if err != nil {
			t.Fatal(err)
		}
		cf2, err := peekConfig(again)
		if err != nil || !reflect.DeepEqual(cf, cf2) {
			t.Fatalf("config does not round-trip: %+v, %v", cf2, err)
		}
		if _, err := openConfig(cf, crypt.NewSealer(crypt.Key{})); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("the zero key opened a config: %v", err)
		}
	})
}

// FuzzOpenConfig fuzzes the sealed part of a config, sealed with the right
// key: settings that open re-marshal to a config that opens to the same
// settings.
func FuzzOpenConfig(f *testing.F) {
	f.Add([]byte(katConfigSecrets))
	f.Add([]byte(`{"chunker":{"algorithm":"gear-v1"},"pack_size":1048576}`))
	meta := crypt.NewSealer(katMetaKey)
	ad := append(append([]byte(nil), adConfig...), katRepoID...)
	f.Fuzz(func(t *testing.T, secrets []byte) {
		cfg, err := openConfig(&configFile{Version: FormatVersion, ID: katRepoID, Sealed: meta.Seal(nil, secrets, ad)}, meta)
		if err != nil {
			return
		}
		if cfg.Chunker.Validate() != nil || cfg.Recipient == nil || zstdLevels[cfg.Level] == 0 {
			t.Fatalf("accepted %+v", cfg)
		}
		cf, err := peekConfig(marshalConfig(cfg, meta))
		if err != nil {
			t.Fatal(err)
		}
		cfg2, err := openConfig(cf, meta)
		if err != nil {
			t.Fatalf("an opened config re-marshals to one that does not open: %v", err)
		}
		if cfg2.ID != cfg.ID || !reflect.DeepEqual(cfg2.Chunker, cfg.Chunker) || cfg2.PackSize != cfg.PackSize ||
			cfg2.IDKey != cfg.IDKey || cfg2.Recipient.String() != cfg.Recipient.String() || cfg2.Level != cfg.Level {
			t.Fatalf("config does not round-trip: %+v != %+v", cfg2, cfg)
		}
	})
}

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
