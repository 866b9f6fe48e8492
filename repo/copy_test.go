package repo_test

import (
	"context"
	"testing"
	"time"

	"snap/chunk"
	"snap/repo"
)

// TestCopySnapshot re-encrypts snapshots into a repository with other keys
// and other chunker parameters, through its write-only key; the copies
// restore byte-exact with its full key, and copying again adds nothing.
func TestCopySnapshot(t *testing.T) {
	ctx := context.Background()
	src := newFixture(t, nil, testChunker())
	stream, tree, data, dir := twoRuns(t, src)
	p := chunk.NewParams([32]byte{7})
	p.Min, p.Max, p.AvgBits = 128<<10, 2<<20, 18
	dst := newFixture(t, nil, &p)
	sr := src.open(nil)
	dr := dst.open(dst.master.WriteOnly())
	lock, err := dr.Lock(ctx, repo.LockOptions{Op: repo.OpCopy})
	if err != nil {
		t.Fatal(err)
	}
	var copies []*repo.Snapshot
	for _, s := range []*repo.Snapshot{stream, tree} {
		c, err := repo.CopySnapshot(ctx, sr, s, dr, lock)
		if err != nil {
			t.Fatal(err)
		}
		if c.CopiedFrom == nil || *c.CopiedFrom != s.ID || !c.Time.Equal(s.Time) || c.Items[0].Size != s.Items[0].Size {
			t.Fatalf("copy of %v: %+v", s.ID.Short(), c)
		}
		copies = append(copies, c)
	}
	again, err := repo.CopySnapshot(ctx, sr, stream, dr, lock)
	if err != nil || again.Stored > 4096 {
		t.Fatalf("second copy stored %d bytes (%v): dedup in the target failed", again.Stored, err)
	}
	lock.Unlock()
	dst.clock = time.Now()
	sf := &fixture{t: t, be: dst.be, master: dst.master, cache: t.TempDir()}
	if n := restoreBoth(t, sf, copies[0], copies[1], data, dir); n != 2 {
		t.Fatalf("%d of 2 copies restore", n)
	}
	if res := runCheck(t, sf, nil, repo.CheckOptions{ReadData: true}); len(res.Problems) != 0 {
		t.Fatalf("check of the target: %v", res.Problems)
	}
	// The source key cannot read the copy.
	if _, err := repo.Open(ctx, dst.be, src.master, repo.Options{CacheDir: t.TempDir()}); err == nil {
		t.Fatal("the source key opened the target")
	}

}
