package cryptojs

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os/exec"
	"snap/internal/testreq"
	"strings"
	"testing"
)

// A vector made with OpenSSL (which CryptoJS is compatible with):
//
//	printf '{"user":"n8n","password":"secret"}' |
//	  openssl enc -aes-256-cbc -md md5 -S 0102030405060708 -pass pass:my-n8n-key -base64 -A
//
// computed once and pinned, so the derivation cannot drift.
const (
	vecPlain = `{"user":"n8n","password":"secret"}`
	vecKey   = "my-n8n-key"
	pinned   = "U2FsdGVkX18BAgMEBQYHCD5uJn/ZfElDF1KLtAG4aIU6RQ+x+vMm6aXtpCZKuWG2mBEVmGvxfN9mbI0TbNRdeg=="
)

func TestRoundTripAndWrongKey(t *testing.T) {
	for _, plain := range []string{"", "a", strings.Repeat("x", 15), strings.Repeat("y", 16), strings.Repeat("z", 1000)} {
		env, err := Encrypt([]byte(plain), []byte("k1"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decrypt(env, []byte("k1"))
		if err != nil || string(got) != plain {
			t.Fatalf("round trip of %d bytes: %q, %v", len(plain), got, err)
		}
	}
	// A wrong key fails padding nearly always; over many envelopes, the
	// plaintext never comes back.
	wrong := 0
	for i := 0; i < 200; i++ {
		env, _ := Encrypt([]byte(vecPlain), []byte(vecKey))
		got, err := Decrypt(env, []byte("another key"))
		if errors.Is(err, ErrKey) {
			wrong++
		} else if string(got) == vecPlain {
			t.Fatal("decrypted with the wrong key")
		}
	}
	if wrong < 180 {
		t.Fatalf("only %d of 200 wrong-key decryptions reported ErrKey", wrong)
	}
}

func TestOpenSSLVector(t *testing.T) {
	env, err := encryptSalt([]byte(vecPlain), []byte(vecKey), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	if err != nil {
		t.Fatal(err)
	}
	if env != pinned {
		t.Fatalf("envelope drifted:\n got %s\nwant %s", env, pinned)
	}
	{
		cmd := exec.Command(testreq.Tool(t, "openssl", "openssl"), "enc", "-aes-256-cbc", "-md", "md5", "-S", "0102030405060708", "-pass", "pass:"+vecKey, "-base64", "-A")
		cmd.Stdin = strings.NewReader(vecPlain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		// OpenSSL 3 leaves the "Salted__" header out when -S is given.
		raw, _ := base64.StdEncoding.DecodeString(pinned)
		got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(out)))
		if err != nil || (!bytes.Equal(got, raw) && !bytes.Equal(got, raw[16:])) {
			t.Fatalf("openssl says %s, pinned %s", out, pinned)
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, in := range []string{"", "not base64!", "U2FsdGVkX18=", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="} {
		if _, err := Decrypt(in, []byte("k")); !errors.Is(err, ErrFormat) {
			t.Errorf("Decrypt(%q): %v, want ErrFormat", in, err)
		}
	}
}

func FuzzDecrypt(f *testing.F) {
	f.Add(pinned, vecKey)
	f.Add("U2FsdGVkX18BAgMEBQYHCA==", "k")
	f.Fuzz(func(t *testing.T, env, key string) {
		plain, err := Decrypt(env, []byte(key))
		if err != nil {
			return
		}
		// Whatever opens must open again to the same bytes after a fresh
		// encryption with the same key.
		env2, err := Encrypt(plain, []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decrypt(env2, []byte(key))
		if err != nil || string(back) != string(plain) {
			t.Fatalf("re-encrypted envelope does not open: %v", err)
		}
	})
}
