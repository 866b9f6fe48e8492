package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"snap/crypt"
	"snap/repo/backend"
)

// KeyInfo describes a passphrase-protected key slot (keys/<id>).
type KeyInfo struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Host    string    `json:"host"`
	User    string    `json:"user"`
	Kind    string    `json:"kind"`
}

// slotFile is a key slot's JSON: who made it in the clear, the key file
// bytes age-encrypted with the passphrase (age scrypt).
type slotFile struct {
	Version int       `json:"snap_key_slot"`
	Created time.Time `json:"created"`
	Host    string    `json:"host"`
	User    string    `json:"user"`
	Kind    string    `json:"kind"`
	Age     []byte    `json:"age"`
}

// KeyParams are the details stored beside a new key slot.
type KeyParams struct {
	Passphrase string
	WorkFactor int // scrypt log2(N); 0 means crypt.DefaultWorkFactor
	Host, User string
	Now        time.Time
}

// AddKey stores m in a new key slot protected by a passphrase and returns
// the slot id.
func AddKey(ctx context.Context, be backend.Backend, m *crypt.Master, p KeyParams) (string, error) {
	if p.Passphrase == "" {
		return "", errors.New("empty passphrase")
	}
	wf := p.WorkFactor
	if wf == 0 {
		wf = crypt.DefaultWorkFactor
	}
	ct, err := crypt.EncryptPassphrase(crypt.MarshalKeyFile(m), p.Passphrase, wf)
	if err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(slotFile{Version: 1, Created: p.Now.UTC(), Host: p.Host, User: p.User, Kind: m.Kind(), Age: ct}, "", "  ")
	if err != nil {
		return "", err
	}
	name := crypt.Hash(b).String()
	if err := be.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: name}, backend.NewByteReader(b)); err != nil {
		return "", fmt.Errorf("save key: %w", err)
	}
	return name, nil
}

func parseSlot(h backend.Handle, b []byte) (*slotFile, error) {
	var s slotFile
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, &DamagedError{File: h, Err: err}
	}
	if s.Version != 1 {
		return nil, fmt.Errorf("%w: key slot %s has version %d", ErrVersion, h.Name, s.Version)
	}
	return &s, nil
}

// ListKeys returns the key slots, oldest first.
func ListKeys(ctx context.Context, be backend.Backend) ([]KeyInfo, error) {
	var out []KeyInfo
	err := be.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error {
		h := backend.Handle{Type: backend.KeyFile, Name: fi.Name}
		b, err := readFile(ctx, be, h)
		if err != nil {
			return err
		}
		s, err := parseSlot(h, b)
		if err != nil {
			return err
		}
		out = append(out, KeyInfo{ID: fi.Name, Created: s.Created, Host: s.Host, User: s.User, Kind: s.Kind})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

// OpenKey finds the key slot the passphrase opens. It returns the master
// and the slot id, or ErrWrongKey.
func OpenKey(ctx context.Context, be backend.Backend, passphrase string) (*crypt.Master, string, error) {
	if _, err := loadConfigFile(ctx, be); err != nil {
		return nil, "", err
	}
	names, err := listNames(ctx, be, backend.KeyFile)
	if err != nil {
		return nil, "", err
	}
	sort.Strings(names)
	for _, name := range names {
		h := backend.Handle{Type: backend.KeyFile, Name: name}
		b, err := readFile(ctx, be, h)
		if err != nil {
			return nil, "", err
		}
		s, err := parseSlot(h, b)
		if err != nil {
			return nil, "", err
		}
		plain, err := crypt.DecryptPassphrase(s.Age, passphrase)
		if errors.Is(err, crypt.ErrWrongPassphrase) {
			continue
		}
		if err != nil {
			return nil, "", &DamagedError{File: h, Err: err}
		}
		m, err := crypt.ParseKeyFile(plain)
		if err != nil {
			return nil, "", &DamagedError{File: h, Err: err}
		}
		return m, name, nil
	}
	if len(names) == 0 {
		return nil, "", fmt.Errorf("%w: %w", ErrWrongKey, ErrNoKeySlots)
	}
	return nil, "", ErrWrongKey
}

// RemoveKey removes key slot id (a unique prefix works). It refuses to
// remove the last full key slot, which would lock everyone out.
func RemoveKey(ctx context.Context, be backend.Backend, id string) (string, error) {
	keys, err := ListKeys(ctx, be)
	if err != nil {
		return "", err
	}
	var match *KeyInfo
	full := 0
	for i := range keys {
		if keys[i].Kind == crypt.KindFull {
			full++
		}
		if strings.HasPrefix(keys[i].ID, id) {
			if match != nil {
				return "", fmt.Errorf("key id prefix %q is ambiguous", id)
			}
			match = &keys[i]
		}
	}
	if match == nil {
		return "", fmt.Errorf("%w: no key slot %q", ErrNotFound, id)
	}
	if match.Kind == crypt.KindFull && full == 1 {
		return "", ErrLastFullKey
	}
	return match.ID, be.Remove(ctx, backend.Handle{Type: backend.KeyFile, Name: match.ID})
}
