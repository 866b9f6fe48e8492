package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/internal/testgw"
	"snap/repo/backend"
	"snap/repo/backend/backendtest"
	"snap/repo/backend/s3"
)

func open(t *testing.T, gw *testgw.Server, bucket, prefix string, create bool) *s3.S3 {
	t.Helper()
	be, err := s3.Open(context.Background(), s3.Config{Endpoint: gw.Endpoint, Bucket: bucket, Prefix: prefix}, create)
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// TestSuite runs the shared suite against a real server: a fresh bucket,
// under a prefix, for each subtest.
func TestSuite(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return open(t, gw, testgw.Bucket(), "hosts/web1", true)
	})
}

// TestLayout: the object names are the local layout below the prefix, so
// a bucket can be copied to a disk and opened as a directory.
func TestLayout(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	ctx := context.Background()
	bucket := testgw.Bucket()
	be := open(t, gw, bucket, "a/b", true)
	pack := strings.Repeat("ab", 32)
	for _, h := range []backend.Handle{
		{Type: backend.ConfigFile}, {Type: backend.PackFile, Name: pack}, {Type: backend.KeyFile, Name: "k1"},
		{Type: backend.IndexFile, Name: "i1"}, {Type: backend.SnapshotFile, Name: "s1"}, {Type: backend.LockFile, Name: "l1"},
		{Type: backend.DamagedFile, Name: "d1"},
	} {
		if err := be.Save(ctx, h, backend.NewByteReader([]byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	// versitygw's posix backend stores object a/b/c as the file a/b/c.
	for _, p := range []string{"config", "data/ab/" + pack, "keys/k1", "index/i1", "snapshots/s1", "locks/l1", "damaged/d1"} {
		if _, err := os.Stat(filepath.Join(gw.Root, bucket, "a", "b", p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	// Another prefix in the same bucket is another repository.
	other := open(t, gw, bucket, "a", false)
	if err := other.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error { return errors.New("listed " + fi.Name) }); err != nil {
		t.Fatal(err)
	}
}

// TestErrors: a missing bucket and wrong credentials are errors that name
// the location and the cause, never "not found" and never the secret.
func TestErrors(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	ctx := context.Background()
	cfg := s3.Config{Endpoint: gw.Endpoint, Bucket: "no-such-bucket", Name: "s3:http://" + gw.Endpoint + "/no-such-bucket"}
	be, err := s3.Open(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	err = be.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: "k"}, backend.NewByteReader([]byte("x")))
	if err == nil || errors.Is(err, backend.ErrNotExist) || !strings.Contains(err.Error(), cfg.Name) || !strings.Contains(err.Error(), "bucket") {
		t.Fatalf("save into a missing bucket: %v", err)
	}
	err = be.List(ctx, backend.KeyFile, func(backend.FileInfo) error { return nil })
	if err == nil || errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("list of a missing bucket: %v", err)
	}

	bucket := testgw.Bucket()
	open(t, gw, bucket, "", true)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-1234")
	cfg = s3.Config{Endpoint: gw.Endpoint, Bucket: bucket, Name: "s3:http://" + gw.Endpoint + "/" + bucket}
	be, err = s3.Open(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = be.Stat(ctx, backend.Handle{Type: backend.ConfigFile})
	if err == nil || errors.Is(err, backend.ErrNotExist) || !strings.Contains(err.Error(), cfg.Name) {
		t.Fatalf("stat with a wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-1234") || strings.Contains(err.Error(), gw.Secret) {
		t.Fatalf("an error shows a secret: %v", err)
	}
	t.Logf("wrong secret: %v", err)
}

// TestLargeSave: past minio-go's 16 MiB part size a Save is a multipart
// upload; it reads back whole and a reader that fails leaves nothing.
func TestLargeSave(t *testing.T) {
	if testing.Short() {
		t.Skip("40 MiB upload")
	}
	gw := testgw.Start(t)
	gw.SetEnv(t)
	ctx := context.Background()
	be := open(t, gw, testgw.Bucket(), "", true)
	data := bytes.Repeat([]byte("0123456789abcdef"), 40<<20/16)
	data[len(data)-1] = 'z'
	h := backend.Handle{Type: backend.PackFile, Name: "ab" + strings.Repeat("0", 62)}
	if err := be.Save(ctx, h, backend.NewByteReader(data)); err != nil {
		t.Fatal(err)
	}
	rd, err := be.Open(ctx, h, int64(len(data))-100, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rd)
	rd.Close()
	if err != nil || !bytes.Equal(got, data[len(data)-100:]) {
		t.Fatalf("tail of a multipart object: %q %v", got, err)
	}
	fi, err := be.Stat(ctx, h)
	if err != nil || fi.Size != int64(len(data)) {
		t.Fatalf("stat: %+v %v", fi, err)
	}
}
