package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/format"
)

// FuzzParseSnapshot: a manifest that parses has known item kinds and the
// id of its name, and re-marshalling is a fixed point: parse → marshal →
// parse → marshal gives the same bytes twice.
func FuzzParseSnapshot(f *testing.F) {
	f.Add([]byte(`{"version":1,"time":"2026-01-01T00:00:00Z","host":"h","program":"snap","status":"complete","items":[{"name":"a","kind":"stream","size":1,"refs":[]}]}`))
	f.Add([]byte(`{"version":1,"items":[{"name":"t","kind":"tree"}]}`))
	f.Add([]byte(katSnapshotJSON))
	name := crypt.Hash([]byte("s")).String()
	h := backend.Handle{Type: backend.SnapshotFile, Name: name}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSnapshot(h, b)
		if err != nil {
			return
		}
		if s.ID.String() != name || s.Version != format.Version {
			t.Fatalf("parsed id %v version %d", s.ID, s.Version)
		}
		for _, it := range s.Items {
			if it.Kind != KindStream && it.Kind != KindTree || it.Kind == KindTree && it.Tree == nil && it.Error == "" {
				t.Fatalf("accepted item %+v", it)
			}
		}
		once, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := parseSnapshot(h, once)
		if err != nil {
			t.Fatalf("a parsed snapshot re-marshals to one that does not parse: %v\n%s", err, once)
		}
		twice, err := json.Marshal(s2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("snapshot does not round-trip:\n%s\n%s", once, twice)
		}
	})
}

// FuzzPeekConfig: the clear part of a config that parses re-marshals to
// one that parses the same, and a metadata key that did not seal it never
// opens it.
func FuzzPeekConfig(f *testing.F) {
	f.Add([]byte(`{"snap_repository":1,"id":"` + crypt.Hash(nil).String() + `","sealed":"AAAA"}`))
	f.Add([]byte(katConfigFile))
	f.Fuzz(func(t *testing.T, b []byte) {
		cf, err := peekConfig(b)
		if err != nil {
			return
		}
		if cf.Version != format.Version || len(cf.ID) != 64 {
			t.Fatalf("accepted %+v", cf)
		}
		again, err := json.Marshal(cf)
		if err != nil {
			t.Fatal(err)
		}
		cf2, err := peekConfig(again)
		if err != nil || !reflect.DeepEqual(cf, cf2) {
			t.Fatalf("config does not round-trip: %+v, %v", cf2, err)
		}
		if _, err := openConfig(cf, crypt.NewSealer(crypt.Key{})); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("the zero key opened a config: %v", err)
		}
	})
}

// FuzzOpenConfig fuzzes the sealed part of a config, sealed with the right
// key: settings that open re-marshal to a config that opens to the same
// settings.
func FuzzOpenConfig(f *testing.F) {
	f.Add([]byte(katConfigSecrets))
	f.Add([]byte(`{"chunker":{"algorithm":"gear-v1"},"pack_size":1048576}`))
	meta := crypt.NewSealer(katMetaKey)
	ad := append(append([]byte(nil), format.ADConfig...), katRepoID...)
	f.Fuzz(func(t *testing.T, secrets []byte) {
		cfg, err := openConfig(&configFile{Version: format.Version, ID: katRepoID, Sealed: meta.Seal(nil, secrets, ad)}, meta)
		if err != nil {
			return
		}
		if cfg.Chunker.Validate() != nil || cfg.Recipient == nil || !validLevel(cfg.Level) {
			t.Fatalf("accepted %+v", cfg)
		}
		cf, err := peekConfig(marshalConfig(cfg, meta))
		if err != nil {
			t.Fatal(err)
		}
		cfg2, err := openConfig(cf, meta)
		if err != nil {
			t.Fatalf("an opened config re-marshals to one that does not open: %v", err)
		}
		if cfg2.ID != cfg.ID || !reflect.DeepEqual(cfg2.Chunker, cfg.Chunker) || cfg2.PackSize != cfg.PackSize ||
			cfg2.IDKey != cfg.IDKey || cfg2.Recipient.String() != cfg.Recipient.String() || cfg2.Level != cfg.Level {
			t.Fatalf("config does not round-trip: %+v != %+v", cfg2, cfg)
		}
	})
}
