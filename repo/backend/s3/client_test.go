package s3_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snap/internal/testgw"
	"snap/repo/backend"
	"snap/repo/backend/s3"
)

// clearEnv leaves no credentials in the environment, so only the files
// the test names can work.
func clearEnv(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_REGION", "us-east-1")
}

func writeFile(t *testing.T, name, body string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func roundTrip(t *testing.T, be backend.Backend) {
	t.Helper()
	ctx := context.Background()
	h := backend.Handle{Type: backend.SnapshotFile, Name: "s1"}
	if err := be.Save(ctx, h, backend.NewByteReader([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	fi, err := be.Stat(ctx, h)
	if err != nil || fi.Size != 5 {
		t.Fatalf("stat: %v %v", fi, err)
	}
}

// TestCredentialFiles: the config file's s3 block names files holding the
// key pair; they work with nothing in the environment, and a wrong secret
// fails without the secret in the message.
func TestCredentialFiles(t *testing.T) {
	gw := testgw.Start(t)
	clearEnv(t)
	ctx := context.Background()
	cfg := s3.Config{Endpoint: gw.Endpoint, Bucket: testgw.Bucket(), Name: "s3:test",
		AccessKeyFile: writeFile(t, "id", gw.Access+"\n"), SecretKeyFile: writeFile(t, "secret", gw.Secret+"\n")}
	be, err := s3.Open(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, be)

	wrong := "wrongsecret" + strings.Repeat("x", 20)
	cfg.SecretKeyFile = writeFile(t, "bad", wrong)
	be, err = s3.Open(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = be.Stat(ctx, backend.Handle{Type: backend.SnapshotFile, Name: "s1"})
	if err == nil || errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("wrong secret: got %v", err)
	}
	if strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "s3:test") {
		t.Fatalf("error must name the location and not the secret: %v", err)
	}

	cfg.SecretKeyFile = filepath.Join(t.TempDir(), "missing")
	if _, err := s3.Open(ctx, cfg, false); !errors.Is(err, s3.ErrSettings) {
		t.Fatalf("missing secret file: %v", err)
	}
	cfg.SecretKeyFile = ""
	if _, err := s3.Open(ctx, cfg, false); !errors.Is(err, s3.ErrSettings) {
		t.Fatalf("access key file alone: %v", err)
	}
	cfg.SecretKeyFile = writeFile(t, "two", "a\nb\n")
	if _, err := s3.Open(ctx, cfg, false); !errors.Is(err, s3.ErrSettings) {
		t.Fatalf("two-line secret file: %v", err)
	}
}

// TestVirtualHost: with addressing virtual, requests name the bucket in
// the host (BUCKET.s3.test), and a server that routes by host serves them.
func TestVirtualHost(t *testing.T) {
	gw := testgw.StartWith(t, testgw.Options{VirtualDomain: "s3.test"})
	gw.SetEnv(t)
	defer s3.SetTestDial(gw.Endpoint)()
	_, port, _ := net.SplitHostPort(gw.Endpoint)
	bucket := testgw.Bucket()
	be, err := s3.Open(context.Background(), s3.Config{Endpoint: "s3.test:" + port, Bucket: bucket, Addressing: s3.AddressingVirtual}, true)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, be)
	if _, err := os.Stat(filepath.Join(gw.Root, bucket, "snapshots", "s1")); err != nil {
		t.Fatalf("object not in the bucket: %v", err)
	}
	if _, err := s3.Open(context.Background(), s3.Config{Endpoint: gw.Endpoint, Bucket: bucket, Addressing: "dns"}, false); !errors.Is(err, s3.ErrSettings) {
		t.Fatalf("unknown addressing: %v", err)
	}
}

// TestCustomCA: a server with a certificate from its own CA is trusted
// with the CA file, and refused without it.
func TestCustomCA(t *testing.T) {
	caFile, certFile, keyFile := makeCA(t)
	gw := testgw.StartWith(t, testgw.Options{CertFile: certFile, KeyFile: keyFile})
	gw.SetEnv(t)
	t.Setenv("AWS_CA_BUNDLE", "")
	ctx := context.Background()
	cfg := s3.Config{Endpoint: gw.Endpoint, Secure: true, Bucket: testgw.Bucket(), CAFile: caFile}
	be, err := s3.Open(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, be)

	cfg.CAFile = ""
	if _, err := s3.Open(ctx, cfg, true); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v", err)
	}
	t.Setenv("AWS_CA_BUNDLE", caFile)
	if _, err := s3.Open(ctx, cfg, true); err != nil {
		t.Fatalf("CA from AWS_CA_BUNDLE: %v", err)
	}
	cfg.CAFile = writeFile(t, "notpem", "hello")
	if _, err := s3.Open(ctx, cfg, false); !errors.Is(err, s3.ErrSettings) {
		t.Fatalf("CA file without PEM: %v", err)
	}
}

// makeCA writes a CA and a server certificate for 127.0.0.1 signed by it.
func makeCA(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "snap test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	caFile = writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	certFile = writeFile(t, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	return
}
