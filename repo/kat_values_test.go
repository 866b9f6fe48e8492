package repo

// Values of the known-answer tests in kat_test.go: fixed keys and the
// fixed things the pinned bytes encode.

import (
	"snap/internal/kat"
	"strings"
	"time"

	"snap/crypt"
	"snap/repo/format"
)

// katKey returns the key whose byte i is base+i.
func katKey(base byte) crypt.Key { return crypt.Key(kat.Key(base)) }

// The fixed keys: the metadata key and identity are those of crypt's known
// answers (its katFullKeyFile), the session key is the one crypt's
// katWrapped wraps.
var (
	katMetaKey    = katKey(0x10)
	katIDKey      = katKey(0x60)
	katSessionKey = katKey(0xa0)
	katChunkSeed  = katKey(0x01)
)

const (
	katRepoID    = "5e1f0c7a9b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"
	katIdentity  = "AGE-SECRET-KEY-18PJP9DFM5Q4TKFNDL04EL7USFSKHS7JUTMVG3VFGDHN82PQPGZHSW4LJ38"
	katRecipient = "age1kytyj97kdt5kee9ngqjg04m8yk857x3d6gpzl0vdeachltu6zeuqfl4f66"
)

// katWrapped is katSessionKey wrapped to katIdentity (crypt's katWrapped).
const katWrapped = "" +
	"6167652d656e6372797074696f6e2e6f72672f76310a2d3e2058323535313920" +
	"54723854702f336e557a3352474b317a796674782b346e6a636c615643513656" +
	"754d73503636456d5169410a76327467656772526e6c305778796b7047655841" +
	"3772744972716a646f4c6a47736a505a486f334d3453550a2d2d2d207563684e" +
	"3466666144737339555a365062385a43366967737171425630565a4f6771734d" +
	"67334879426c670a88897e90d83be0c177632d98cae3f3f846b75dcfde59f209" +
	"55cd50160c60c1e16ce766257bd36bec4b7b8b7b3a97974e38cc3efa1da35247" +
	"9910dcabf00807c6"

// katID is a fixed blob id: the unkeyed hash of s.
func katID(s string) crypt.ID { return crypt.Hash([]byte(s)) }

func katSnapshot() Snapshot {
	repaired := katID("repaired")
	tree := katID("root tree")
	return Snapshot{
		Version: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Host: "web1", Profile: "n8n",
		Tags: []string{"nightly", "pre-upgrade"}, Program: "snap v1.0.0", Status: StatusPartial,
		Duration: 1.5, Stored: 123456, RepairedFrom: &repaired,
		Items: []Item{
			{Name: "db.sql", Kind: KindStream, Size: 1 << 30, Refs: []crypt.ID{katID("r1"), katID("r2")}, Added: 4096,
				Meta: map[string]string{"source": "postgres", "database": "n8n", "container": "n8n-postgres-1"}},
			{Name: "files", Kind: KindTree, Size: 77, Refs: []crypt.ID{katID("r3")}, Tree: &tree, Files: 3, Dirs: 2},
			{Name: "redis", Kind: KindStream, Refs: []crypt.ID{}, Error: "redis: connection refused"},
		},
	}
}

func katLock() LockInfo {
	return LockInfo{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Host: "web1", PID: 4242, User: "root",
		Exclusive: true, Op: OpPrune, Nonce: "0123456789abcdef"}
}

// The pinned pack's blob plaintexts: a compressible data blob (stored
// zstd), an incompressible one (stored as is), a tree blob and the refs
// blob listing all three.
func katPackPlaintexts() [][]byte {
	incompressible := make([]byte, 64)
	for i := range incompressible {
		incompressible[i] = byte(i * 167)
	}
	return [][]byte{
		[]byte(strings.Repeat("snap v1 known answer: compressible text.\n", 20)),
		incompressible,
		format.MarshalTree(katPackTree()),
	}
}

// katPackTree is the tree blob in the pinned pack: the first two nodes of
// repo/format's katTree.
func katPackTree() []format.Node {
	return []format.Node{
		{Name: ".env", Type: format.NodeFile, Mode: 0o600, UID: 1000, GID: 1000, MTime: time.Unix(1767322245, 123456789), Size: 7, Content: []crypt.ID{katID("chunk")}},
		{Name: "big", Type: format.NodeFile, Mode: 0o644, UID: 0, GID: 0, MTime: time.Unix(1767322245, 0), Size: 300 << 20, Content: []crypt.ID{katID("c1"), katID("c2")}},
	}
}
