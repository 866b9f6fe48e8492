package restorer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snap/crypt"
	"snap/repo/format"
	"snap/repo/restorer"
)

// blobs is a Loader over a map: tree items built by hand, without a
// repository or the archiver.
type blobs map[crypt.ID][]byte

func (b blobs) put(data []byte) crypt.ID {
	id := crypt.Hash(data)
	b[id] = data
	return id
}

func (b blobs) LoadBlob(_ context.Context, id crypt.ID, buf []byte) ([]byte, error) {
	d, ok := b[id]
	if !ok {
		return nil, errors.New("no such blob")
	}
	return append(buf[:0], d...), nil
}

func (b blobs) LoadOrdered(ctx context.Context, ids []crypt.ID, fn func(crypt.ID, []byte) error) error {
	for _, id := range ids {
		d, err := b.LoadBlob(ctx, id, nil)
		if err != nil {
			return err
		}
		if err := fn(id, d); err != nil {
			return err
		}
	}
	return nil
}

var mtime = time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)

// TestRestoreChecksSize: a file whose chunks do not add up to its recorded
// size is an error naming it, not a silently short file.
func TestRestoreChecksSize(t *testing.T) {
	b := blobs{}
	chunk := b.put([]byte("abc"))
	root := b.put(format.MarshalTree([]format.Node{
		{Name: "f", Type: format.NodeFile, Mode: 0o644, MTime: mtime, Size: 10, Content: []crypt.ID{chunk}},
	}))
	_, err := restorer.RestoreTree(context.Background(), b, root, t.TempDir(), 2)
	if err == nil || !strings.Contains(err.Error(), "restored 3 bytes, snapshot says 10") {
		t.Fatalf("got %v", err)
	}
}

// TestRestoreMissingBlob: a chunk that cannot be loaded fails the restore.
func TestRestoreMissingBlob(t *testing.T) {
	b := blobs{}
	root := b.put(format.MarshalTree([]format.Node{
		{Name: "f", Type: format.NodeFile, Mode: 0o644, MTime: mtime, Size: 3, Content: []crypt.ID{crypt.Hash([]byte("gone"))}},
	}))
	if _, err := restorer.RestoreTree(context.Background(), b, root, t.TempDir(), 2); err == nil {
		t.Fatal("restored a file whose chunk is missing")
	}
	if err := restorer.WriteTar(context.Background(), b, root, io.Discard); err == nil {
		t.Fatal("dumped a file whose chunk is missing")
	}
}

// TestRestoreLinksAndTar: a hard link is made after its target exists,
// and a tar dump leaves out sockets, which tar cannot hold.
func TestRestoreLinksAndTar(t *testing.T) {
	b := blobs{}
	chunk := b.put([]byte("shared"))
	sub := b.put(format.MarshalTree([]format.Node{
		{Name: "f", Type: format.NodeFile, Mode: 0o600, MTime: mtime, Size: 6, Content: []crypt.ID{chunk}},
	}))
	root := b.put(format.MarshalTree([]format.Node{
		{Name: "a", Type: format.NodeHardlink, Mode: 0o600, MTime: mtime, Target: "d/f"},
		{Name: "d", Type: format.NodeDir, Mode: 0o750, MTime: mtime, Subtree: sub},
		{Name: "s", Type: format.NodeSocket, Mode: 0o600, MTime: mtime},
	}))
	dst := t.TempDir()
	st, err := restorer.RestoreTree(context.Background(), b, root, dst, 2)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 2 || st.Dirs != 1 || st.Bytes != 6 {
		t.Fatalf("stats %+v", st)
	}
	a, err1 := os.Stat(filepath.Join(dst, "a"))
	f, err2 := os.Stat(filepath.Join(dst, "d", "f"))
	if err1 != nil || err2 != nil || !os.SameFile(a, f) {
		t.Fatalf("hard link not restored: %v %v", err1, err2)
	}
	if fi, err := os.Stat(filepath.Join(dst, "d")); err != nil || !fi.ModTime().Equal(mtime) || fi.Mode().Perm() != 0o750 {
		t.Fatalf("directory metadata: %v %v", fi, err)
	}

	var out bytes.Buffer
	if err := restorer.WriteTar(context.Background(), b, root, &out); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if got := strings.Join(names, " "); got != "a d/ d/f" {
		t.Fatalf("tar entries %q", got)
	}
}
