package repo_test

import (
	"bytes"
	"context"
	"testing"

	"snap/repo"
	"snap/repo/backend/local"
	"snap/repo/compress"
)

// TestCompressionLevels: a new repository writes with auto; auto stores a
// blob that compresses by less than 1/32 as it is, where fastest
// compresses it; every level's streams restore.
func TestCompressionLevels(t *testing.T) {
	// Incompressible but for 2 KiB of zeros in every 128 KiB: zstd saves
	// about 1.5%.
	barely := randBytes(1, 4<<20)
	for i := 0; i < len(barely); i += 128 << 10 {
		clear(barely[i : i+2<<10])
	}
	text := bytes.Repeat([]byte("2026-01-01 INFO request served in 12 ms\n"), 100000)
	for _, level := range append([]string{""}, compress.Levels...) {
		t.Run(level, func(t *testing.T) {
			be := local.New(t.TempDir())
			m, err := repo.Init(context.Background(), be, repo.InitOptions{Chunker: testChunker(), Level: level})
			if err != nil {
				t.Fatal(err)
			}
			f := &fixture{t: t, be: be, master: m, cache: t.TempDir()}
			r := f.open(nil)
			want := level
			if level == "" {
				want = compress.Auto
			}
			if got := r.Config().Level; got != want {
				t.Fatalf("level %q", got)
			}
			s, _, err := backupStream(r, "barely", bytes.NewReader(barely))
			if err != nil {
				t.Fatal(err)
			}
			raw := s.Stored >= int64(len(barely))
			if want == compress.Auto && !raw || want == compress.Fastest && raw {
				t.Errorf("%d bytes stored as %d", len(barely), s.Stored)
			}
			if got := streamHash(t, r, s, "barely"); got != sha(barely) {
				t.Error("restored stream differs")
			}
			s, _, err = backupStream(r, "text", bytes.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			if s.Stored > int64(len(text))/10 {
				t.Errorf("text of %d bytes stored as %d", len(text), s.Stored)
			}
			if got := streamHash(t, r, s, "text"); got != sha(text) {
				t.Error("restored stream differs")
			}
		})
	}
	if _, err := repo.Init(context.Background(), local.New(t.TempDir()), repo.InitOptions{Level: "max"}); err == nil {
		t.Error("Init accepted an unknown level")
	}
}
