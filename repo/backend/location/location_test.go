package location_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snap/internal/testgw"
	"snap/internal/testsftp"
	"snap/repo/backend"
	"snap/repo/backend/location"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in    string
		want  location.Location
		canon string // String(); "" means the input itself
	}{
		{"/srv/snap", location.Local{Path: "/srv/snap"}, ""},
		{"snap", location.Local{Path: "snap"}, ""},
		{"./snap/", location.Local{Path: "./snap/"}, ""},
		{"../x", location.Local{Path: "../x"}, ""},
		{"backup:2024", location.Local{Path: "backup:2024"}, ""},
		{"/mnt/a:b", location.Local{Path: "/mnt/a:b"}, ""},
		{"C:/x", location.Local{Path: "C:/x"}, ""},
		{"local:/srv/snap", location.Local{Path: "/srv/snap"}, "/srv/snap"},
		{"local:s3:odd", location.Local{Path: "s3:odd"}, ""},
		{"local:https://x", location.Local{Path: "https://x"}, ""},
		{"local:local:x", location.Local{Path: "local:x"}, ""},
		{"s3:https://s3.example.com/bucket", location.S3{Protocol: "https", Host: "s3.example.com", Bucket: "bucket"}, ""},
		{"s3:https://s3.example.com/bucket/", location.S3{Protocol: "https", Host: "s3.example.com", Bucket: "bucket"}, "s3:https://s3.example.com/bucket"},
		{"s3:http://minio:9000/my-bucket/hosts/web1", location.S3{Protocol: "http", Host: "minio", Port: 9000, Bucket: "my-bucket", Prefix: "hosts/web1"}, ""},
		{"s3:https://[::1]:9000/b.k.t", location.S3{Protocol: "https", Host: "::1", Port: 9000, Bucket: "b.k.t"}, ""},
		{"s3:https://10.0.0.1:08080/bkt/p//", location.S3{Protocol: "https", Host: "10.0.0.1", Port: 8080, Bucket: "bkt", Prefix: "p"}, "s3:https://10.0.0.1:8080/bkt/p"},
		{"sftp:backup@nas/srv/snap", location.SFTP{User: "backup", Host: "nas", Path: "/srv/snap"}, ""},
		{"sftp:backup@nas.lan:2222/srv/snap/", location.SFTP{User: "backup", Host: "nas.lan", Port: 2222, Path: "/srv/snap"}, "sftp:backup@nas.lan:2222/srv/snap"},
		{"sftp:u@[fe80::1]:22/a:b]c", location.SFTP{User: "u", Host: "fe80::1", Port: 22, Path: "/a:b]c"}, ""},
		{"sftp:u@host/a]b/c", location.SFTP{User: "u", Host: "host", Path: "/a]b/c"}, ""},
	} {
		got, err := location.Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("Parse(%q) = %#v, want %#v", c.in, got, c.want)
		}
		canon := c.canon
		if canon == "" {
			canon = c.in
		}
		if got.String() != canon {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, got.String(), canon)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, says string }{
		{"", "empty"},
		{"local:", "path missing"},
		{"https://s3.example.com/bucket", `unknown scheme "https"`},
		{"b2://bucket", `unknown scheme "b2"`},
		{"S3:https://h/bucket", `scheme "S3" is written "s3"`},
		{"Local:/x", `scheme "Local" is written "local"`},
		{"s3:", "must start with https:// or http://"},
		{"s3:ftp://h/bucket", "must start with https:// or http://"},
		{"s3:https://", "host missing"},
		{"s3:https:///bucket", "host missing"},
		{"s3:https://h", "bucket missing"},
		{"s3:https://h/", "bucket missing"},
		{"s3:https://h/Bucket", `bucket "Bucket"`},
		{"s3:https://h/ab", `bucket "ab"`},
		{"s3:https://h/-abc", `bucket "-abc"`},
		{"s3:https://h/a_b_c", `bucket "a_b_c"`},
		{"s3:https://key:secret@h/bucket", "credentials do not go in the location"},
		{"s3:https://h:/bucket", "port missing"},
		{"s3:https://h:x/bucket", `port "x" is not a number`},
		{"s3:https://h:0/bucket", "port 0: not between 1 and 65535"},
		{"s3:https://h:65536/bucket", "port 65536: not between"},
		{"s3:https://h_x/bucket", `host "h_x"`},
		{"s3:https://[::1/bucket", "unclosed ["},
		{"s3:https://[1.2.3.4]/bucket", "not an IPv6 address"},
		{"s3:https://[::1]x/bucket", `unexpected "x" after the host`},
		{"s3:https://h/bucket/a//b", `prefix "a//b" has an empty name`},
		{"s3:https://h/bucket/a/../b", ".. is not allowed"},
		{"s3:https://h/bucket?versionId=1", "query or fragment"},
		{"sftp:nas/srv", "user missing"},
		{"sftp:@nas/srv", "user missing before @"},
		{"sftp:a b@nas/srv", `user "a b"`},
		{"sftp:u@nas", "path missing after the host"},
		{"sftp:u@nas/", "root directory is not a repository"},
		{"sftp:u@/srv", "host missing"},
		{"sftp:u@nas:22x/srv", `port "22x" is not a number`},
		{"sftp:u@nas//srv", `path "/srv" has an empty name`},
		{"sftp:u@nas/srv/./x", ". is not allowed"},
		{"sftp:u@nas/a\nb", "control characters"},
	} {
		_, err := location.Parse(c.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", c.in)
			continue
		}
		var pe *location.ParseError
		if !errors.As(err, &pe) || !errors.Is(err, location.ErrInvalid) || pe.Input != c.in {
			t.Errorf("Parse(%q): %#v is not a ParseError for the input", c.in, err)
		}
		if !strings.Contains(err.Error(), c.says) {
			t.Errorf("Parse(%q): %q does not say %q", c.in, err, c.says)
		}
	}
}

// The error names the input and the form wanted.
func TestParseErrorMessage(t *testing.T) {
	_, err := location.Parse("s3:https://h")
	want := `repository location "s3:https://h": bucket missing (want s3:https://HOST[:PORT]/BUCKET[/PREFIX])`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestOpenLocal(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "b")
	be, err := location.Open(ctx, location.Local{Path: dir}, location.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("opening without Create made the directory")
	}
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("stat in a missing directory: %v", err)
	}
	if _, err := location.Open(ctx, location.Local{Path: dir}, location.Options{Create: true}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created directory: %v %v", fi, err)
	}
	if err := be.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: "k"}, backend.NewByteReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "k")); err != nil {
		t.Fatalf("the backend is not on the directory: %v", err)
	}
}

// TestSupported: every scheme Parse knows has an opener; an
// UnsupportedError (for a scheme parsed before its store is built) names
// the location.
func TestSupported(t *testing.T) {
	for _, loc := range []location.Location{location.Local{Path: "x"}, location.S3{}, location.SFTP{}} {
		if !location.Supported(loc) {
			t.Errorf("%s not supported", loc.Scheme())
		}
	}
	loc := location.SFTP{User: "u", Host: "h", Path: "/srv"}
	err := error(&location.UnsupportedError{Location: loc})
	if !errors.Is(err, location.ErrUnsupported) || !strings.Contains(err.Error(), "sftp:u@h/srv") || !strings.Contains(err.Error(), "not built into snap yet") {
		t.Fatalf("UnsupportedError: %v", err)
	}
}

// TestOpenS3: an s3: location opens on a real server; Create makes the
// bucket, and the backend stores under the prefix.
func TestOpenS3(t *testing.T) {
	gw := testgw.Start(t)
	gw.SetEnv(t)
	ctx := context.Background()
	bucket := testgw.Bucket()
	loc, err := location.Parse(gw.URL(bucket + "/hosts/web1"))
	if err != nil {
		t.Fatal(err)
	}
	be, err := location.Open(ctx, loc, location.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Without Create the bucket is not made, and writing says so, naming
	// the location.
	err = be.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: "k"}, backend.NewByteReader([]byte("x")))
	if err == nil || !strings.Contains(err.Error(), loc.String()) {
		t.Fatalf("save into a missing bucket: %v", err)
	}
	if be, err = location.Open(ctx, loc, location.Options{Create: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := location.Open(ctx, loc, location.Options{Create: true}); err != nil {
		t.Fatalf("create of an existing bucket: %v", err)
	}
	if err := be.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: "k"}, backend.NewByteReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(gw.Root, bucket, "hosts", "web1", "keys", "k")); err != nil {
		t.Fatalf("the backend is not on the bucket and prefix: %v", err)
	}
}

// TestOpenSFTP: an sftp: location opens on a real OpenSSH server through
// SNAP_SSH_COMMAND; Create makes the directory, and the backend stores in
// it. Errors name the location.
func TestOpenSFTP(t *testing.T) {
	srv := testsftp.Start(t)
	srv.SetEnv(t)
	ctx := context.Background()
	dir := filepath.Join(srv.Root, "n8n", "repo")
	loc, err := location.Parse(srv.URL(dir))
	if err != nil {
		t.Fatal(err)
	}
	be, err := location.Open(ctx, loc, location.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); !errors.Is(err, backend.ErrNotExist) || !strings.Contains(err.Error(), loc.String()) {
		t.Fatalf("stat in a missing directory: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open without Create made the directory: %v", err)
	}
	if be, err = location.Open(ctx, loc, location.Options{Create: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := location.Open(ctx, loc, location.Options{Create: true}); err != nil {
		t.Fatalf("create of an existing directory: %v", err)
	}
	if err := be.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: "k"}, backend.NewByteReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "k")); err != nil {
		t.Fatalf("the backend is not on the directory: %v", err)
	}
}
