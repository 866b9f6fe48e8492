package repo_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"snap/internal/testreq"
	"testing"

	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/backend/local"
	"snap/repo/format"
)

// requireTool finds a host tool; in CI (CI=true) a missing tool is a
// failure, on a laptop a skip that says why.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	return testreq.Tool(t, name, name)
}

// TestSessionKeyOpensWithAgeTool proves the format is not a black box: the
// key table entry of a pack is a standard age file that the Debian age tool
// opens with the data identity, and the key it holds opens the pack's blobs.
func TestSessionKeyOpensWithAgeTool(t *testing.T) {
	agePath := requireTool(t, "age")
	root := t.TempDir()
	f := newFixture(t, local.New(root), testChunker())
	r := f.open(nil)
	data := randBytes(31, 200<<10)
	if _, _, err := backupStream(r, "s", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	packs := listFiles(t, f.be, backend.PackFile)
	keys, blobs, err := r.ReadPackHeader(context.Background(), packs[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	idFile := filepath.Join(dir, "identity.txt")
	if err := os.WriteFile(idFile, []byte(f.master.DataIdentity.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrapped := filepath.Join(dir, "session.age")
	if err := os.WriteFile(wrapped, keys[0], 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(agePath, "-d", "-i", idFile, wrapped).Output()
	if err != nil {
		t.Fatalf("age -d: %v", err)
	}
	if len(out) != crypt.KeySize {
		t.Fatalf("age gave %d bytes, want a %d-byte key", len(out), crypt.KeySize)
	}
	var k crypt.Key
	copy(k[:], out)
	s := crypt.NewSealer(k)
	rd, _ := f.be.Open(context.Background(), backend.Handle{Type: backend.PackFile, Name: packs[0]}, 0, 0)
	pack, _ := io.ReadAll(rd)
	rd.Close()
	opened := 0
	for _, b := range blobs {
		if b.Type != format.TypeData {
			continue
		}
		ad := append([]byte{byte(b.Type)}, b.ID[:]...)
		plain, err := s.Open(nil, pack[b.Offset:b.Offset+b.Length], ad)
		if err != nil {
			t.Fatalf("blob %v does not open with the age-unwrapped key: %v", b.ID.Short(), err)
		}
		if len(plain) == 0 || plain[0] > 1 {
			t.Fatalf("blob %v: bad compression byte", b.ID.Short())
		}
		opened++
	}
	if opened == 0 {
		t.Fatal("no data blob in the pack")
	}
}
