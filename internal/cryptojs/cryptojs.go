// Package cryptojs opens and makes the passphrase envelope of CryptoJS's
// AES.encrypt(text, passphrase), which is OpenSSL's "Salted__" format:
// base64("Salted__" ‖ salt(8) ‖ AES-256-CBC(PKCS#7(text))), with key and IV
// derived from the passphrase and salt by EVP_BytesToKey with MD5 and one
// iteration. n8n stores every credential this way, keyed with its
// encryption key, so a restore drill can prove the credentials decrypt.
//
// MD5 and a single iteration are what the format is, not a choice made
// here: this package exists to read data others wrote.
package cryptojs

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

var magic = []byte("Salted__")

// ErrFormat: the input is not a "Salted__" envelope.
var ErrFormat = errors.New("not a CryptoJS/OpenSSL Salted__ envelope")

// ErrKey: the envelope did not open with this passphrase (bad padding:
// with a wrong key, valid padding happens about once in 256 tries, which
// callers that decrypt many rows see as a mismatch anyway).
var ErrKey = errors.New("does not decrypt with this key")

// maxEnvelope bounds what Decrypt accepts (n8n credentials are small).
const maxEnvelope = 16 << 20

// evpBytesToKey derives a 32-byte key and 16-byte IV as OpenSSL's
// EVP_BytesToKey(md5, count 1) does.
func evpBytesToKey(pass, salt []byte) (key, iv []byte) {
	var out, prev []byte
	for len(out) < 48 {
		h := md5.New()
		h.Write(prev)
		h.Write(pass)
		h.Write(salt)
		prev = h.Sum(nil)
		out = append(out, prev...)
	}
	return out[:32], out[32:48]
}

// Decrypt opens a base64 envelope with passphrase.
func Decrypt(envelope string, passphrase []byte) ([]byte, error) {
	if len(envelope) > maxEnvelope {
		return nil, fmt.Errorf("%w: %d bytes is too large", ErrFormat, len(envelope))
	}
	raw, err := base64.StdEncoding.DecodeString(envelope)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(raw) < 16+aes.BlockSize || !bytes.Equal(raw[:8], magic) || (len(raw)-16)%aes.BlockSize != 0 {
		return nil, ErrFormat
	}
	key, iv := evpBytesToKey(passphrase, raw[8:16])
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(raw)-16)
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, raw[16:])
	n := int(plain[len(plain)-1])
	if n == 0 || n > aes.BlockSize {
		return nil, ErrKey
	}
	for _, b := range plain[len(plain)-n:] {
		if int(b) != n {
			return nil, ErrKey
		}
	}
	return plain[:len(plain)-n], nil
}

// Encrypt makes an envelope as CryptoJS does, with a random salt. snap only
// reads envelopes; this is for tests and stand-ins that write like n8n.
func Encrypt(plain, passphrase []byte) (string, error) {
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return encryptSalt(plain, passphrase, salt)
}

func encryptSalt(plain, passphrase, salt []byte) (string, error) {
	key, iv := evpBytesToKey(passphrase, salt)
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	n := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(n)}, n)...)
	out := append(append(append([]byte(nil), magic...), salt...), make([]byte, len(padded))...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out[16:], padded)
	return base64.StdEncoding.EncodeToString(out), nil
}
