package repo

import (
	"context"

	"snap/chunk"
	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/format"
)

// Test hooks for the external test package.

// SetAfterRepack sets a function prune calls between its two phases.
func SetAfterRepack(o *PruneOptions, f func()) { o.afterRepack = f }

// SetOnSeal makes every Writer call f with the type, plaintext length and
// stored length of each new blob it seals (from its worker goroutines, so
// f must be safe for concurrent use), until the returned function is
// called.
func SetOnSeal(f func(typ format.BlobType, plainLen, storedLen int)) (reset func()) {
	onSeal = f
	return func() { onSeal = nil }
}

// DamageLogPath is r's path of this host's log of damaged packs.
func DamageLogPath(r *Repository) (string, error) { return r.damageLogPath() }

// SaveDamageRecord writes a damaged/ record naming packs.
func SaveDamageRecord(ctx context.Context, r *Repository, packs ...crypt.ID) (string, error) {
	var es []damageEntry
	for _, p := range packs {
		es = append(es, damageEntry{Pack: p, Reason: "test", FoundBy: FoundByCheck, Host: "h", Time: r.opts.Now()})
	}
	return r.saveDamageFile(ctx, es)
}

// InitWithBadObjectLock writes a config whose object lock mode is "x".
func InitWithBadObjectLock(t interface{ Fatal(...any) }, be backend.Backend) *crypt.Master {
	m, err := crypt.NewMaster(newRepoID())
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{ID: m.RepoID, PackSize: DefaultPackSize, IDKey: crypt.NewRandomKey(), Level: DefaultLevel,
		Chunker: chunk.NewParams(crypt.NewRandomKey()), Recipient: m.DataIdentity.Recipient(), ObjectLock: &ObjectLock{Mode: "x", Days: 1}}
	if err := be.Save(context.Background(), backend.Handle{Type: backend.ConfigFile}, backend.NewByteReader(marshalConfig(cfg, crypt.NewSealer(m.MetaKey)))); err != nil {
		t.Fatal(err)
	}
	return m
}
