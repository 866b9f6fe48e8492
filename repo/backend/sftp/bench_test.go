package sftp_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"snap/internal/testsftp"
	"snap/repo/backend"
)

// BenchmarkSaveOpen measures Save and a whole-file Open of 16 MiB packs on
// the real server on 127.0.0.1 (throughput in MB/s; not a pass/fail test).
func BenchmarkSaveOpen(b *testing.B) {
	srv := testsftp.Start(b)
	be := open(b, srv, filepath.Join(b.TempDir(), "repo"), true)
	data := make([]byte, 16<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	ctx := context.Background()
	b.Run("Save", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := 0; b.Loop(); i++ {
			h := backend.Handle{Type: backend.PackFile, Name: fmt.Sprintf("%064x", i)}
			if err := be.Save(ctx, h, backend.NewByteReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	h := backend.Handle{Type: backend.PackFile, Name: fmt.Sprintf("%064x", 0)}
	b.Run("Open", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			rd, err := be.Open(ctx, h, 0, 0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rd); err != nil {
				b.Fatal(err)
			}
			rd.Close()
		}
	})
	b.Run("ReadAt", func(b *testing.B) {
		f, err := be.OpenFile(ctx, h)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
				if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
					b.Fatal(err)
				}
			}
		}
	})
}
