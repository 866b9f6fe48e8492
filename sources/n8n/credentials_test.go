package n8n

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"snap/internal/cryptojs"
	"snap/sources"
)

// fakeDB is a scratch or live database answering the two queries.
type fakeDB struct {
	creds [][]string
	mig   []string
}

func (f *fakeDB) QueryRows(_ context.Context, sql string) ([][]string, error) {
	switch sql {
	case credentialsSQL:
		return f.creds, nil
	case migrationSQL:
		if f.mig == nil {
			return nil, nil
		}
		return [][]string{f.mig}, nil
	}
	return nil, fmt.Errorf("unexpected query %q", sql)
}
func (f *fakeDB) Commit(context.Context) (string, error) { return "", nil }
func (f *fakeDB) Abort(context.Context) error            { return nil }

// fakeStored is a tree item holding files.
type fakeStored struct {
	files map[string]string
	meta  map[string]string
	reads int
}

func (f *fakeStored) Name() string            { return "x" }
func (f *fakeStored) Size() int64             { return 0 }
func (f *fakeStored) Meta() map[string]string { return f.meta }
func (f *fakeStored) Extract(context.Context, string) error {
	return errors.New("not used")
}
func (f *fakeStored) Open(context.Context) io.ReadCloser {
	f.reads++
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, body := range f.files {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	return io.NopCloser(&b)
}

func creds(t *testing.T, key string, n int) [][]string {
	var rows [][]string
	for i := range n {
		env, err := cryptojs.Encrypt([]byte(fmt.Sprintf(`{"user":"u%d","password":"secret%d"}`, i, i)), []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, []string{fmt.Sprint(i), env})
	}
	return rows
}

func prepared(db *fakeDB, envKey, volKey string, restore, force bool) *sources.Prepared {
	p := &sources.Prepared{Restore: restore, Force: force,
		Swaps:  map[string]sources.Swap{"postgres": db},
		Stored: map[string]sources.Stored{"postgres": &fakeStored{meta: map[string]string{"n8n_version": "1.123.4"}}},
	}
	if envKey != "" {
		p.Stored["config"] = &fakeStored{files: map[string]string{"docker-compose.yml": "x", ".env": "A=1\nN8N_ENCRYPTION_KEY=" + envKey + "\n"}}
	}
	if volKey != "" {
		p.Stored["n8n-data"] = &fakeStored{files: map[string]string{".n8n/config": `{"encryptionKey": "` + volKey + `"}`}}
	}
	return p
}

func check(live sources.Querier, containerKey string) *credCheck {
	return &credCheck{main: "n8n-1", envKey: containerKey, version: "1.100.0", live: live, db: "postgres", data: "n8n-data", config: "config"}
}

func TestCredentialsDrill(t *testing.T) {
	ctx := context.Background()
	db := &fakeDB{creds: creds(t, "k1", 3)}
	lines, err := check(nil, "").CheckPrepared(ctx, prepared(db, "k1", "", false, false))
	if err != nil || len(lines) != 1 || lines[0] != "credentials: 3 of 3 credentials decrypt with N8N_ENCRYPTION_KEY in the snapshot's .env" {
		t.Fatalf("%q %v", lines, err)
	}
	// No key in .env: the volume's config is read.
	p := prepared(db, "", "k1", false, false)
	lines, err = check(nil, "").CheckPrepared(ctx, p)
	if err != nil || !strings.Contains(lines[0], "3 of 3 credentials decrypt with encryptionKey in the snapshot's volume config") {
		t.Fatalf("%q %v", lines, err)
	}
	// The .env key decrypts all: the volume (maybe large) is not read.
	p = prepared(db, "k1", "k1", false, false)
	if _, err := check(nil, "").CheckPrepared(ctx, p); err != nil || p.Stored["n8n-data"].(*fakeStored).reads != 0 {
		t.Errorf("volume read needlessly: %v", err)
	}
	// A credential encrypted with another key fails the drill.
	db2 := &fakeDB{creds: append(creds(t, "k1", 2), creds(t, "other", 1)...)}
	lines, err = check(nil, "").CheckPrepared(ctx, prepared(db2, "k1", "", false, false))
	if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "only 2 of 3") {
		t.Fatalf("%q %v", lines, err)
	}
	for _, l := range lines {
		if strings.Contains(l, "secret") || strings.Contains(l, "k1") {
			t.Errorf("a secret in %q", l)
		}
	}
}

func TestCredentialsRestoreKey(t *testing.T) {
	ctx := context.Background()
	db := &fakeDB{creds: creds(t, "k1", 3)}
	// The container's env key differs: refused, naming where each is.
	_, err := check(nil, "k2").CheckPrepared(ctx, prepared(db, "k1", "", true, false))
	if !errors.Is(err, sources.ErrRefused) || !strings.Contains(err.Error(), "env of container n8n-1") || !strings.Contains(err.Error(), "decrypts 0 of 3") {
		t.Fatalf("%v", err)
	}
	if strings.Contains(err.Error(), "k2") {
		t.Errorf("key printed: %v", err)
	}
	lines, err := check(nil, "k2").CheckPrepared(ctx, prepared(db, "k1", "", true, true))
	if err != nil || !strings.Contains(strings.Join(lines, "\n"), "restoring anyway, as forced") {
		t.Fatalf("forced: %q %v", lines, err)
	}
	// Same key in the container: fine.
	if _, err := check(nil, "k1").CheckPrepared(ctx, prepared(db, "k1", "", true, false)); err != nil {
		t.Fatal(err)
	}
	// No env key in the container: the restored volume's config counts.
	if _, err := check(nil, "").CheckPrepared(ctx, prepared(db, "k1", "k3", true, false)); !errors.Is(err, sources.ErrRefused) || !strings.Contains(err.Error(), "restored volume config") {
		t.Fatalf("volume key: %v", err)
	}
	if _, err := check(nil, "").CheckPrepared(ctx, prepared(db, "k1", "k1", true, false)); err != nil {
		t.Fatal(err)
	}
}

func TestCredentialsMigrations(t *testing.T) {
	ctx := context.Background()
	db := &fakeDB{creds: creds(t, "k1", 1), mig: []string{"1900000000000", "AddFuture1900000000000"}}
	live := &fakeDB{mig: []string{"1800000000000", "AddPast1800000000000"}}
	_, err := check(live, "k1").CheckPrepared(ctx, prepared(db, "k1", "", true, false))
	for _, want := range []string{"AddFuture1900000000000", "AddPast1800000000000", "n8n 1.123.4", "n8n 1.100.0", "cannot migrate down"} {
		if !errors.Is(err, sources.ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Errorf("lacks %q: %v", want, err)
		}
	}
	if _, err := check(live, "k1").CheckPrepared(ctx, prepared(db, "k1", "", true, true)); err != nil {
		t.Fatal(err)
	}
	// Older or equal: fine; a drill does not compare.
	if _, err := check(db, "k1").CheckPrepared(ctx, prepared(&fakeDB{creds: db.creds, mig: live.mig}, "k1", "", true, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := check(live, "k1").CheckPrepared(ctx, prepared(db, "k1", "", false, false)); err != nil {
		t.Fatal(err)
	}
}
