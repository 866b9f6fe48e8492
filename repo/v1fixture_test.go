package repo_test

// The v1 fixture: a small repository made once by the code of format v1
// and checked in under testdata/v1fixture (see its README.md). Every future
// build must open it with each of its keys, list, check, dump and restore
// it exactly. What it must give is pinned below, from the inputs the
// generator backed up, not from the repository.
//
// The generator (TestMakeV1Fixture) runs only with -update-fixture and
// refuses to overwrite a fixture: once committed, the fixture is never
// regenerated. A format change that breaks this test breaks users'
// repositories.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"snap/internal/kat"
	"snap/internal/v1fixture"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"snap/chunk"
	"snap/crypt"
	"snap/repo"
	"snap/repo/backend/local"
	"snap/repo/format"
)

var updateFixture = flag.Bool("update-fixture", false, "make testdata/v1fixture (only if absent; never run by make or CI)")

const (
	fixtureDir        = "testdata/v1fixture"
	fixturePassphrase = "snap v1 fixture"
)

// Pinned: the repository's files (path and size; the names are hashes of
// the bytes, which check --keyless verifies) and the config's SHA-256.
const fixtureConfigSHA256 = "08d04ca3101e72e98a46a39b6b76a0b9433238aba9623a7b5be348c63e626d7c"

var fixtureFiles = []string{
	"config 639",
	"data/64/64c18bdd10077c0065da6cc147a50b4512fbb53b0d2eba073b6c38c3ee99ab4f 12712",
	"data/8e/8e825dc24f45650d52e0a21f01a90672b6cd9115d1a51a94fcb949cb4c8c65bf 215079",
	"index/46f67d74d68f18d9a689b7526fa4a609aa3292d6b46b663f51eb9c54e5d034fa 476",
	"index/be9a58edca93c00aeb30ac95b7a0bd106d1793d3ed79295492a1cf5408af0655 2194",
	"keys/3c32e75b65a1c77be9c3bb34e9b1d5afa15508e535f547b79df3c1e36a770c3c 751",
	"snapshots/507daa39fee5038b94d7bb3a02874c95d2a89e044ac18fb4fc4d4069f9613e72 719",
	"snapshots/87f565924b996645f6d3e319ded00d7d465b6991b736c1720b12aa763f080c4b 426",
}

// Pinned: the snapshots and what their items hold.
const (
	fixtureRepoID   = "8b87550fbb0e6c38b95c7ed5a7e23c689ea848e6c5f62fb843d5c7ad8873148f"
	fixtureSnap1    = v1fixture.Snap1
	fixtureSnap2    = v1fixture.Snap2
	fixtureDumpSHA1 = v1fixture.DumpSHA1
	fixtureDumpSHA2 = v1fixture.DumpSHA2
)

// fixtureManifest is the tree item as backed up: path, type, mode,
// uid:gid, mtime, then size and SHA-256 (files) or target (links).
var fixtureManifest = []string{
	"app d 0755 1000:1000 2026-01-02T03:04:05.000000007Z",
	"app/.env f 0600 0:0 2026-01-02T04:04:05.001001007Z 58 790e4b6b0056d5c48c6391408ca0280baab34d054f9b72276a47da10d6f56268",
	"app/README.txt f 0444 1000:1000 2026-01-02T05:04:05.002002007Z 3000 0c082c11cfcd24408c496d26c68990c0192820ccabeec0881d378fcc8c4b8fde",
	"app/abs-link l 0777 1000:1000 2026-01-02T06:04:05.003003007Z -> /nonexistent/target",
	"app/bin d 0755 1000:1000 2026-01-02T07:04:05.004004007Z",
	"app/bin/run.sh f 0755 1000:1000 2026-01-02T08:04:05.005005007Z 25 a944df6d095885537e77e16366138add536d193021817c7f165a624715277e05",
	"app/data d 1777 33:33 2026-01-02T09:04:05.006006007Z",
	"app/data/big.bin f 0640 33:33 2026-01-02T10:04:05.007007007Z 122880 1866b8a5ce8a42b49c5cf9a197b1e881cebf166f9630b807d1a00036cd7a946a",
	"app/data/text-hardlink.log f 0644 33:33 2026-01-02T11:04:05.008008007Z 40960 c4b42708813bfa1795cfc598723fbf61797b36b9b28bced141ddac971b198830",
	"app/data/text.log h 0644 33:33 2026-01-02T11:04:05.008008007Z -> app/data/text-hardlink.log",
	"app/deep d 0700 1000:1000 2026-01-02T13:04:05.010010007Z",
	"app/deep/a d 0750 1000:1000 2026-01-02T14:04:05.011011007Z",
	"app/deep/a/b d 0700 1000:1000 2026-01-02T15:04:05.012012007Z",
	"app/deep/a/b/leaf.txt f 0600 1000:1000 2026-01-02T16:04:05.013013007Z 5 26d0bac9f0c7a35b2f3322a0f4ad4517265f56b2c0f4b2ed7cb5cbd30c5868e2",
	"app/empty f 0644 1000:1000 2026-01-02T17:04:05.014014007Z 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"app/fifo p 0620 1000:1000 2026-01-02T18:04:05.015015007Z",
	"app/link l 0777 1000:1000 2026-01-02T19:04:05.016016007Z -> data/text.log",
}

var fixtureWords = strings.Fields("workflow execution node credential webhook trigger success error waiting running manual cron postgres redis queue")

// fixtureText is n bytes of SQL-like lines: compressible, like a dump.
func fixtureText(seed uint64, n int) []byte {
	s := kat.SplitMix64(seed)
	var b bytes.Buffer
	for id := 1; b.Len() < n; id++ {
		v := s.Next()
		fmt.Fprintf(&b, "INSERT INTO execution_entity VALUES (%d, '%s', '%s', %d, '2026-01-%02d');\n",
			id, fixtureWords[v%uint64(len(fixtureWords))], fixtureWords[v>>8%uint64(len(fixtureWords))], v>>16%100000, 1+v>>40%28)
	}
	return b.Bytes()[:n]
}

// fixtureDump is the stream item: text with a block of random bytes every
// 64 KiB, so it has chunks of both kinds and several of each.
func fixtureDump() []byte {
	s := kat.SplitMix64(7)
	text := fixtureText(1, 320<<10)
	var b []byte
	for off := 0; off < len(text); off += 64 << 10 {
		b = append(b, text[off:min(off+58<<10, len(text))]...)
		b = append(b, s.Bytes(6<<10)...)
	}
	return b
}

// fixtureDump2 is fixtureDump with 100 bytes changed in the middle and
// text appended: the second snapshot dedups against most of the first.
func fixtureDump2() []byte {
	b := bytes.Clone(fixtureDump())
	copy(b[150000:150100], bytes.Repeat([]byte("X"), 100))
	return append(b, fixtureText(2, 10<<10)...)
}

var fixtureTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixtureEntry is one entry of the tree item's source.
type fixtureEntry struct {
	path     string
	kind     byte // 'f', 'd', 'l' (symlink), 'h' (hard link to target), 'p' (fifo)
	mode     os.FileMode
	uid, gid int
	data     []byte
	target   string
}

func fixtureTree() []fixtureEntry {
	s := kat.SplitMix64(3)
	return []fixtureEntry{
		{path: "app", kind: 'd', mode: 0o755, uid: 1000, gid: 1000},
		{path: "app/.env", kind: 'f', mode: 0o600, data: []byte("N8N_ENCRYPTION_KEY=fixture\nDB_POSTGRESDB_PASSWORD=fixture\n")},
		{path: "app/README.txt", kind: 'f', mode: 0o444, uid: 1000, gid: 1000, data: fixtureText(4, 3000)},
		{path: "app/abs-link", kind: 'l', mode: 0o777, uid: 1000, gid: 1000, target: "/nonexistent/target"},
		{path: "app/bin", kind: 'd', mode: 0o755, uid: 1000, gid: 1000},
		{path: "app/bin/run.sh", kind: 'f', mode: 0o755, uid: 1000, gid: 1000, data: []byte("#!/bin/sh\nexec n8n start\n")},
		{path: "app/data", kind: 'd', mode: 0o1777, uid: 33, gid: 33},
		{path: "app/data/big.bin", kind: 'f', mode: 0o640, uid: 33, gid: 33, data: s.Bytes(120 << 10)},
		{path: "app/data/text.log", kind: 'f', mode: 0o644, uid: 33, gid: 33, data: fixtureText(5, 40<<10)},
		{path: "app/data/text-hardlink.log", kind: 'h', target: "app/data/text.log"},
		{path: "app/deep", kind: 'd', mode: 0o700, uid: 1000, gid: 1000},
		{path: "app/deep/a", kind: 'd', mode: 0o750, uid: 1000, gid: 1000},
		{path: "app/deep/a/b", kind: 'd', mode: 0o700, uid: 1000, gid: 1000},
		{path: "app/deep/a/b/leaf.txt", kind: 'f', mode: 0o600, uid: 1000, gid: 1000, data: []byte("leaf\n")},
		{path: "app/empty", kind: 'f', mode: 0o644, uid: 1000, gid: 1000},
		{path: "app/fifo", kind: 'p', mode: 0o620, uid: 1000, gid: 1000},
		{path: "app/link", kind: 'l', mode: 0o777, uid: 1000, gid: 1000, target: "data/text.log"},
	}
}

// makeFixtureTree writes the tree item's source under dir (as root, with
// its owners) and returns the item's path.
func makeFixtureTree(t *testing.T, dir string) string {
	t.Helper()
	entries := fixtureTree()
	for _, e := range entries {
		p := filepath.Join(dir, e.path)
		var err error
		switch e.kind {
		case 'd':
			err = os.Mkdir(p, 0o700)
		case 'f':
			err = os.WriteFile(p, e.data, 0o600)
		case 'l':
			err = os.Symlink(e.target, p)
		case 'h':
			err = os.Link(filepath.Join(dir, e.target), p)
		case 'p':
			err = unix.Mkfifo(p, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Owners, modes and mtimes last, deepest first, so filling a
	// directory does not change its mtime.
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.kind == 'h' {
			continue
		}
		p := filepath.Join(dir, e.path)
		if err := os.Lchown(p, e.uid, e.gid); err != nil {
			t.Fatal(err)
		}
		if e.kind != 'l' {
			if err := unix.Chmod(p, uint32(e.mode)); err != nil {
				t.Fatal(err)
			}
		}
		mt := fixtureTime.Add(time.Duration(i)*time.Hour + time.Duration(i)*1001*time.Microsecond + 7)
		ts := []unix.Timespec{unix.NsecToTimespec(mt.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "app")
}

// manifestLine renders one entry. Owners are left out when the reader
// cannot have restored them (not root).
func manifestLine(path string, kind byte, mode uint32, uid, gid uint32, mtime time.Time, size int64, data []byte, target string, owners bool) string {
	own := "-"
	if owners {
		own = fmt.Sprintf("%d:%d", uid, gid)
	}
	l := fmt.Sprintf("%s %c %04o %s %s", path, kind, mode, own, mtime.UTC().Format(time.RFC3339Nano))
	switch kind {
	case 'f':
		l += fmt.Sprintf(" %d %x", size, sha256.Sum256(data))
	case 'l', 'h':
		l += " -> " + target
	}
	return l
}

// diskManifest walks dir/app as the archiver does (depth first, names
// sorted); a second path to an inode is 'h', to the first path.
func diskManifest(t *testing.T, dir string, owners bool) []string {
	t.Helper()
	var out []string
	first := map[[2]uint64]string{}
	err := filepath.WalkDir(filepath.Join(dir, "app"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := uint32(fi.Mode().Perm())
		if fi.Mode()&os.ModeSticky != 0 {
			mode |= 0o1000
		}
		var kind byte
		var data []byte
		var target string
		switch m := fi.Mode(); {
		case m.IsDir():
			kind = 'd'
		case m.IsRegular():
			kind = 'f'
			key := [2]uint64{st.Dev, st.Ino}
			if f, ok := first[key]; ok {
				kind, target = 'h', f
			} else {
				first[key] = rel
				if data, err = os.ReadFile(p); err != nil {
					return err
				}
			}
		case m&os.ModeSymlink != 0:
			kind = 'l'
			if target, err = os.Readlink(p); err != nil {
				return err
			}
		case m&os.ModeNamedPipe != 0:
			kind = 'p'
		default:
			return fmt.Errorf("%s: unexpected type %v", p, m)
		}
		out = append(out, manifestLine(rel, kind, mode, st.Uid, st.Gid, fi.ModTime(), int64(len(data)), data, target, owners))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// treeManifest renders the tree item as recorded, reading file contents.
func treeManifest(t *testing.T, r *repo.Repository, root crypt.ID) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	err := r.WalkTree(ctx, root, func(p string, n *format.Node) error {
		var data []byte
		for _, id := range n.Content {
			b, err := r.LoadBlob(ctx, id, nil)
			if err != nil {
				return err
			}
			data = append(data, b...)
		}
		out = append(out, manifestLine(p, n.Type, n.Mode, n.UID, n.GID, n.MTime, int64(n.Size), data, n.Target, true))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var ownersField = regexp.MustCompile(` \d+:\d+ `)

func withoutOwners(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = ownersField.ReplaceAllString(l, " - ")
	}
	return out
}

func fixtureParams() *chunk.Params {
	var seed [32]byte
	copy(seed[:], "snap v1 fixture chunker seed....")
	p := chunk.NewParams(seed)
	p.Min, p.Max, p.AvgBits = 8<<10, 64<<10, 13
	return &p
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestMakeV1Fixture makes the fixture, once. It prints the values to pin.
func TestMakeV1Fixture(t *testing.T) {
	if !*updateFixture {
		t.Skip("makes the v1 fixture only with -update-fixture")
	}
	if _, err := os.Stat(fixtureDir); err == nil {
		t.Fatalf("%s exists: the v1 fixture is never regenerated once committed (see its README.md)", fixtureDir)
	}
	if os.Geteuid() != 0 {
		t.Fatal("the fixture records owners: make it as root")
	}
	ctx := context.Background()
	repoDir := filepath.Join(fixtureDir, "repo")
	if err := os.MkdirAll(repoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	be := local.New(repoDir)
	m, err := repo.Init(ctx, be, repo.InitOptions{Chunker: fixtureParams(), PackSize: 1 << 20, Level: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.AddKey(ctx, be, m, repo.KeyParams{Passphrase: fixturePassphrase, WorkFactor: 10, Host: "fixture-host", User: "fixture", Now: fixtureTime}); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]*crypt.Master{"full.key": m, "writeonly.key": m.WriteOnly()} {
		if err := os.WriteFile(filepath.Join(fixtureDir, name), crypt.MarshalKeyFile(k), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts := repo.Options{CacheDir: t.TempDir(), Now: func() time.Time { return fixtureTime }, Workers: 2}

	// Snapshot 1, by the full key: the stream and the tree.
	r, err := repo.Open(ctx, be, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	src := makeFixtureTree(t, t.TempDir())
	w, err := r.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream := saveStreamItem(t, w, "db.sql", fixtureDump(), map[string]string{"source": "command", "profile": "fixture"})
	tres, err := w.SaveTree([]string{src}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := w.SaveRefs(tres.Refs)
	if err != nil {
		t.Fatal(err)
	}
	root := tres.Root
	tree := repo.Item{Name: "app", Kind: repo.KindTree, Size: tres.Size, Refs: refs, Tree: &root, Files: tres.Files, Dirs: tres.Dirs,
		Added: w.Claim(tres.Refs, refs), Meta: map[string]string{"source": "files", "profile": "fixture", "paths": "/srv/app"}}
	s1 := commitFixtureSnapshot(t, r, w, fixtureTime, []string{"daily"}, stream, tree)
	r.Close()

	// Snapshot 2, by the write-only key: the changed stream.
	r, err = repo.Open(ctx, be, m.WriteOnly(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if w, err = r.NewWriter(ctx); err != nil {
		t.Fatal(err)
	}
	stream = saveStreamItem(t, w, "db.sql", fixtureDump2(), map[string]string{"source": "command", "profile": "fixture"})
	s2 := commitFixtureSnapshot(t, r, w, fixtureTime.Add(time.Hour), []string{"hourly"}, stream)
	r.Close()

	fmt.Printf("const fixtureConfigSHA256 = %q\n\nvar fixtureFiles = []string{\n", sha256Hex(mustRead(t, filepath.Join(repoDir, "config"))))
	for _, f := range repoFiles(t, repoDir) {
		fmt.Printf("\t%q,\n", f)
	}
	fmt.Printf("}\n\nfixtureRepoID = %q\nfixtureSnap1  = %q\nfixtureSnap2  = %q\nfixtureDumpSHA1 = %q\nfixtureDumpSHA2 = %q\n\nvar fixtureManifest = []string{\n",
		m.RepoID, s1, s2, sha256Hex(fixtureDump()), sha256Hex(fixtureDump2()))
	for _, l := range diskManifest(t, filepath.Dir(src), true) {
		fmt.Printf("\t%q,\n", l)
	}
	fmt.Println("}")
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func saveStreamItem(t *testing.T, w *repo.Writer, name string, data []byte, meta map[string]string) repo.Item {
	t.Helper()
	res, err := w.SaveStream(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	refs, err := w.SaveRefs(res.Chunks)
	if err != nil {
		t.Fatal(err)
	}
	return repo.Item{Name: name, Kind: repo.KindStream, Size: res.Size, Refs: refs, Added: w.Claim(res.Chunks, refs), Meta: meta}
}

func commitFixtureSnapshot(t *testing.T, r *repo.Repository, w *repo.Writer, at time.Time, tags []string, items ...repo.Item) string {
	t.Helper()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	s := &repo.Snapshot{Time: at, Host: "fixture-host", Profile: "fixture", Tags: tags, Program: "snap v1-fixture",
		Status: repo.StatusComplete, Items: items, Duration: 0.25, Stored: w.Stats().BytesStored.Load()}
	id, err := r.SaveSnapshot(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// repoFiles lists a repository directory's files as "path size", sorted.
func repoFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %d", filepath.ToSlash(rel), fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func loadKey(t *testing.T, p string) *crypt.Master {
	t.Helper()
	m, err := crypt.ParseKeyFile(mustRead(t, p))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestV1Fixture(t *testing.T) {
	if len(fixtureFiles) == 0 {
		t.Fatal("the v1 fixture's file list is empty: it must stay pinned")
	}
	ctx := context.Background()
	dir := v1fixture.Copy(t)
	repoDir := filepath.Join(dir, "repo")
	if got := repoFiles(t, fixtureDir+"/repo"); strings.Join(got, "\n") != strings.Join(fixtureFiles, "\n") {
		t.Fatalf("the checked-in fixture changed: it must never be regenerated\n%s", strings.Join(got, "\n"))
	}
	if got := sha256Hex(mustRead(t, filepath.Join(repoDir, "config"))); got != fixtureConfigSHA256 {
		t.Fatalf("the fixture's config changed: SHA-256 %s", got)
	}
	be := local.New(repoDir)

	if _, _, err := repo.OpenKey(ctx, be, "wrong"); !errors.Is(err, repo.ErrWrongKey) {
		t.Fatalf("a wrong passphrase: %v", err)
	}
	byPass, _, err := repo.OpenKey(ctx, be, fixturePassphrase)
	if err != nil {
		t.Fatal(err)
	}
	keys := []struct {
		name string
		m    *crypt.Master
		kind string
	}{
		{"passphrase", byPass, crypt.KindFull},
		{"full key file", loadKey(t, filepath.Join(dir, "full.key")), crypt.KindFull},
		{"write-only key file", loadKey(t, filepath.Join(dir, "writeonly.key")), crypt.KindWriteOnly},
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			if k.m.Kind() != k.kind || k.m.RepoID != fixtureRepoID {
				t.Fatalf("key kind %s repo %s", k.m.Kind(), k.m.RepoID)
			}
			r, err := repo.Open(ctx, be, k.m, repo.Options{CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			checkFixtureConfig(t, r)
			s1, s2 := checkFixtureSnapshots(t, r)
			for _, readData := range []bool{false, true} {
				res, err := r.Check(ctx, repo.CheckOptions{ReadData: readData})
				if err != nil || len(res.Problems) > 0 {
					t.Fatalf("check (read data %v): %v %+v", readData, err, res)
				}
				// 50 blobs: 47 data and tree blobs, 3 refs blobs. A
				// write-only key verifies the refs blobs and the packs'
				// hashes only, and says so.
				wantRead, wantWarnings := 50, 0
				if k.kind == crypt.KindWriteOnly {
					wantRead, wantWarnings = 3, 1
				}
				if !readData {
					wantRead, wantWarnings = 0, 0
				}
				if res.Snapshots != 2 || res.Packs != 2 || res.IndexFiles != 2 || res.Blobs != 50 || res.BlobsRead != wantRead || len(res.Warnings) != wantWarnings {
					t.Errorf("check (read data %v) counted %+v", readData, res)
				}
			}
			if k.kind == crypt.KindWriteOnly {
				checkWriteOnly(t, r, s1)
				return
			}
			for _, tc := range []struct {
				s    *repo.Snapshot
				want string
			}{{s1, fixtureDumpSHA1}, {s2, fixtureDumpSHA2}} {
				var b bytes.Buffer
				if _, err := r.StreamItem(ctx, &tc.s.Items[0], &b); err != nil {
					t.Fatal(err)
				}
				if got := sha256Hex(b.Bytes()); got != tc.want || b.Len() != int(tc.s.Items[0].Size) {
					t.Errorf("dump of %s db.sql: %d bytes, SHA-256 %s", tc.s.ID.Short(), b.Len(), got)
				}
			}
			it := &s1.Items[1]
			if got := treeManifest(t, r, *it.Tree); strings.Join(got, "\n") != strings.Join(fixtureManifest, "\n") {
				t.Errorf("recorded tree:\n%s", strings.Join(got, "\n"))
			}
			target := t.TempDir()
			if _, err := r.RestoreTree(ctx, it, target); err != nil {
				t.Fatal(err)
			}
			root := os.Geteuid() == 0
			want := fixtureManifest
			if !root {
				want = withoutOwners(want)
			}
			if got := diskManifest(t, target, root); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("restored tree:\n%s", strings.Join(got, "\n"))
			}
			checkRechunk(t, r, s1)
		})
	}

	res, err := repo.CheckKeyless(ctx, be, true, nil)
	if err != nil || len(res.Problems) > 0 || res.Snapshots != 2 || res.PacksRead != 2 || res.IndexFiles != 2 {
		t.Fatalf("keyless check: %v %+v", err, res)
	}
	// Nothing above wrote into the checked-in copy.
	if got := repoFiles(t, fixtureDir+"/repo"); strings.Join(got, "\n") != strings.Join(fixtureFiles, "\n") {
		t.Fatalf("the test wrote into the checked-in fixture:\n%s", strings.Join(got, "\n"))
	}
}

func checkFixtureConfig(t *testing.T, r *repo.Repository) {
	t.Helper()
	c := r.Config()
	want := fixtureParams()
	if c.ID != fixtureRepoID || c.Chunker.Algorithm != "gear-v1" || !bytes.Equal(c.Chunker.Seed, want.Seed) ||
		c.Chunker.Min != want.Min || c.Chunker.Max != want.Max || c.Chunker.AvgBits != want.AvgBits ||
		c.PackSize != 1<<20 || c.Level != "default" {
		t.Errorf("config %+v", c)
	}
}

// checkFixtureSnapshots checks the listing against what the generator
// wrote and returns the two snapshots.
func checkFixtureSnapshots(t *testing.T, r *repo.Repository) (*repo.Snapshot, *repo.Snapshot) {
	t.Helper()
	all, err := r.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID.String() != fixtureSnap1 || all[1].ID.String() != fixtureSnap2 {
		t.Fatalf("snapshots %v", all)
	}
	s1, s2 := all[0], all[1]
	if !s1.Time.Equal(fixtureTime) || !s2.Time.Equal(fixtureTime.Add(time.Hour)) || s1.Host != "fixture-host" || s1.Profile != "fixture" ||
		s1.Program != "snap v1-fixture" || s1.Status != repo.StatusComplete || s2.Status != repo.StatusComplete ||
		fmt.Sprint(s1.Tags, s2.Tags) != "[daily] [hourly]" {
		t.Errorf("snapshots %+v %+v", s1, s2)
	}
	if len(s1.Items) != 2 || len(s2.Items) != 1 {
		t.Fatalf("items %+v %+v", s1.Items, s2.Items)
	}
	st, tr, st2 := s1.Items[0], s1.Items[1], s2.Items[0]
	if st.Name != "db.sql" || st.Kind != repo.KindStream || st.Size != int64(len(fixtureDump())) || st.Meta["source"] != "command" ||
		tr.Name != "app" || tr.Kind != repo.KindTree || tr.Tree == nil || tr.Files != 7 || tr.Dirs != 6 || tr.Meta["paths"] != "/srv/app" ||
		st2.Name != "db.sql" || st2.Size != int64(len(fixtureDump2())) {
		t.Errorf("items %+v %+v", s1.Items, s2.Items)
	}
	return s1, s2
}

// checkWriteOnly: the write-only key lists and checks, but reads no data.
func checkWriteOnly(t *testing.T, r *repo.Repository, s *repo.Snapshot) {
	t.Helper()
	ctx := context.Background()
	if _, err := r.StreamItem(ctx, &s.Items[0], io.Discard); !errors.Is(err, repo.ErrWriteOnly) {
		t.Errorf("write-only dump: %v", err)
	}
	if _, err := r.RestoreTree(ctx, &s.Items[1], t.TempDir()); !errors.Is(err, repo.ErrWriteOnly) {
		t.Errorf("write-only restore: %v", err)
	}
	if err := r.WalkTree(ctx, *s.Items[1].Tree, func(string, *format.Node) error { return nil }); !errors.Is(err, repo.ErrWriteOnly) {
		t.Errorf("write-only ls: %v", err)
	}
	// It does read reference lists (sealed with the metadata key).
	if ids, err := r.LoadRefs(ctx, s.Items[0].Refs); err != nil || len(ids) < 10 {
		t.Errorf("write-only refs: %d ids, %v", len(ids), err)
	}
}

// checkRechunk backs the stream up again, as today's code chunks and names
// it, without committing: every chunk id must be the stored one. A change
// to the gear table, the cut rule or the id derivation fails here.
func checkRechunk(t *testing.T, r *repo.Repository, s *repo.Snapshot) {
	t.Helper()
	ctx := context.Background()
	stored, err := r.LoadRefs(ctx, s.Items[0].Refs)
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	res, err := w.SaveStream(bytes.NewReader(fixtureDump()))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Chunks) != fmt.Sprint(stored) {
		t.Errorf("today's chunk ids of the stream differ from the stored ones:\n%v\n%v", res.Chunks, stored)
	}
	if n := w.Stats().BlobsNew.Load(); n != 0 {
		t.Errorf("backing the stream up again stored %d new blobs", n)
	}
}
