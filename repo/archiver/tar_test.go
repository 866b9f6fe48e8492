package archiver_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"
	"time"

	"snap/repo/archiver"
	"snap/repo/restorer"
)

type tarEnt struct {
	name, link string
	typ        byte
	mode       int64
	uid, gid   int
	data       []byte
}

func makeTar(t *testing.T, ents []tarEnt) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid, Linkname: e.link, Size: int64(len(e.data)), ModTime: mt, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarSummary lists each entry's header fields and content hash.
func tarSummary(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		name := h.Name
		if h.Typeflag == tar.TypeDir && name[len(name)-1] != '/' {
			name += "/"
		}
		out[name] = fmt.Sprintf("%c mode=%o uid=%d gid=%d link=%s mtime=%d sha=%x", h.Typeflag, h.Mode&07777, h.Uid, h.Gid, h.Linkname, h.ModTime.Unix(), sha256.Sum256(b))
	}
}

func TestTarRoundTrip(t *testing.T) {
	big := randBytes(77, 3<<20)
	ents := []tarEnt{
		{name: ".n8n/", typ: tar.TypeDir, mode: 0o755, uid: 1000, gid: 1000},
		{name: ".n8n/config", typ: tar.TypeReg, mode: 0o600, uid: 1000, gid: 1000, data: []byte(`{"encryptionKey":"k"}`)},
		{name: ".n8n/empty/", typ: tar.TypeDir, mode: 0o700, uid: 1000, gid: 1000},
		{name: ".n8n/binaryData/", typ: tar.TypeDir, mode: 0o755, uid: 1000, gid: 1000},
		{name: ".n8n/binaryData/big.bin", typ: tar.TypeReg, mode: 0o644, uid: 1000, gid: 1000, data: big},
		{name: ".n8n/binaryData/zero", typ: tar.TypeReg, mode: 0o644, uid: 1000, gid: 1000},
		{name: ".n8n/link", typ: tar.TypeSymlink, mode: 0o777, uid: 1000, gid: 1000, link: "config"},
		{name: ".n8n/hard", typ: tar.TypeLink, mode: 0o600, uid: 1000, gid: 1000, link: ".n8n/config"},
		{name: ".n8n/setgid-dir/", typ: tar.TypeDir, mode: 0o2775, uid: 0, gid: 50},
	}
	data := makeTar(t, ents)
	m := newMemStore()
	res, err := archiver.SaveTar(m, testOptions(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 4 || res.Size != int64(len(big)+len(`{"encryptionKey":"k"}`)) {
		t.Fatalf("files %d size %d", res.Files, res.Size)
	}
	m.checkRefs(t, res)
	var out bytes.Buffer
	if err := restorer.WriteTar(context.Background(), m, res.Root, &out); err != nil {
		t.Fatal(err)
	}
	want, got := tarSummary(t, data), tarSummary(t, out.Bytes())
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s:\n want %s\n  got %s", k, v, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d entries, want %d", len(got), len(want))
	}
}

func TestTarRejectsEscapes(t *testing.T) {
	for _, ents := range [][]tarEnt{
		{{name: "../etc/passwd", typ: tar.TypeReg, mode: 0o644, data: []byte("x")}},
		{{name: "/etc/passwd", typ: tar.TypeReg, mode: 0o644, data: []byte("x")}},
		{{name: "a/../../b", typ: tar.TypeReg, mode: 0o644, data: []byte("x")}},
		{{name: "h", typ: tar.TypeLink, link: "../../etc/shadow"}},
		{{name: "f", typ: tar.TypeReg, data: []byte("x")}, {name: "f/g", typ: tar.TypeReg, data: []byte("y")}},
	} {
		if _, err := archiver.SaveTar(newMemStore(), testOptions(), bytes.NewReader(makeTar(t, ents))); err == nil {
			t.Errorf("accepted %q", ents[len(ents)-1].name)
		}
	}
	// A truncated tar stream is an error, not a short item.
	good := makeTar(t, []tarEnt{{name: "f", typ: tar.TypeReg, mode: 0o644, data: randBytes(1, 100000)}})
	if _, err := archiver.SaveTar(newMemStore(), testOptions(), bytes.NewReader(good[:50000])); err == nil {
		t.Error("truncated tar accepted")
	}
}
