package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"filippo.io/age"
	"snap/chunk"
	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/compress"
	"snap/repo/format"
)

// configFile is the config's outer JSON: version and id in the clear.
type configFile struct {
	Version int    `json:"snap_repository"`
	ID      string `json:"id"`
	Sealed  []byte `json:"sealed"`
}

// configSecrets is the sealed part of the config.
type configSecrets struct {
	Chunker       chunk.Params `json:"chunker"`
	PackSize      int          `json:"pack_size"`
	IDKey         []byte       `json:"id_key"`
	DataRecipient string       `json:"data_recipient"`
	Compression   string       `json:"compression"`
	Level         string       `json:"compression_level"`
	// ObjectLock is additive: configs without it open as before.
	ObjectLock *ObjectLock `json:"object_lock,omitempty"`
}

// Config is a repository's opened configuration.
type Config struct {
	ID        string
	Chunker   chunk.Params
	PackSize  int
	IDKey     crypt.Key
	Recipient *age.X25519Recipient
	// Level is the compression writers use, one of compress.Levels.
	// Readers do not need it, so a config naming a level this build does
	// not know opens, and only writing fails.
	Level string
	// ObjectLock, when set, locks every file writers put in an S3 bucket
	// (objectlock.go); nil for repositories without it.
	ObjectLock *ObjectLock
}

// DefaultLevel was chosen by measurement (docs/format.md "Blobs").
const DefaultLevel = compress.Auto

// validLevel is what a reader accepts as a level: any short name, so that
// a level added later does not lock older readers out.
func validLevel(s string) bool { return s != "" && len(s) <= 32 }

// DefaultPackSize is the target pack size (docs/format.md "Packs").
const DefaultPackSize = 16 << 20

func newRepoID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

func marshalConfig(cfg *Config, meta *crypt.Sealer) []byte {
	s := configSecrets{
		Chunker: cfg.Chunker, PackSize: cfg.PackSize, IDKey: cfg.IDKey[:],
		DataRecipient: cfg.Recipient.String(), Compression: "zstd", Level: cfg.Level,
		ObjectLock: cfg.ObjectLock,
	}
	plain, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	ad := append(append([]byte(nil), format.ADConfig...), cfg.ID...)
	f := configFile{Version: format.Version, ID: cfg.ID, Sealed: meta.Seal(nil, plain, ad)}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// peekConfig parses the clear part of a config.
func peekConfig(b []byte) (*configFile, error) {
	var f configFile
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&f); err != nil {
		return nil, &DamagedError{File: backend.Handle{Type: backend.ConfigFile}, Err: err}
	}
	if f.Version != format.Version {
		return nil, fmt.Errorf("%w: the repository has format version %d, this snap reads version %d: use a newer snap", ErrVersion, f.Version, format.Version)
	}
	if len(f.ID) != 64 {
		return nil, &DamagedError{File: backend.Handle{Type: backend.ConfigFile}, Err: errors.New("bad repository id")}
	}
	return &f, nil
}

// openConfig opens the sealed part with the metadata key.
func openConfig(f *configFile, meta *crypt.Sealer) (*Config, error) {
	ad := append(append([]byte(nil), format.ADConfig...), f.ID...)
	plain, err := meta.Open(nil, f.Sealed, ad)
	if err != nil {
		return nil, ErrWrongKey
	}
	var s configSecrets
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, &DamagedError{File: backend.Handle{Type: backend.ConfigFile}, Err: err}
	}
	cfg := &Config{ID: f.ID, Chunker: s.Chunker, PackSize: s.PackSize, Level: s.Level, ObjectLock: s.ObjectLock}
	if l := s.ObjectLock; l != nil {
		if err := l.Validate(); err != nil {
			return nil, &DamagedError{File: backend.Handle{Type: backend.ConfigFile}, Err: err}
		}
	}
	if err := s.Chunker.Validate(); err != nil {
		return nil, &DamagedError{File: backend.Handle{Type: backend.ConfigFile}, Err: err}
	}
	if len(s.IDKey) != crypt.KeySize || s.PackSize < 1<<20 || s.PackSize > 256<<20 || s.Compression != "zstd" || !validLevel(s.Level) {
		return nil, &DamagedError{File: backend.Handle{Type: backend.ConfigFile}, Err: errors.New("bad sealed settings")}
	}
	copy(cfg.IDKey[:], s.IDKey)
	r, err := age.ParseX25519Recipient(s.DataRecipient)
	if err != nil {
		return nil, &DamagedError{File: backend.Handle{Type: backend.ConfigFile}, Err: err}
	}
	cfg.Recipient = r
	return cfg, nil
}

func loadConfigFile(ctx context.Context, be backend.Backend) (*configFile, error) {
	b, err := readFile(ctx, be, backend.Handle{Type: backend.ConfigFile})
	if errors.Is(err, backend.ErrNotExist) {
		return nil, ErrNoRepository
	}
	if err != nil {
		return nil, err
	}
	return peekConfig(b)
}
