package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Addressing styles: how the bucket appears in a request's URL.
const (
	AddressingPath    = "path"    // https://HOST/BUCKET/KEY: every S3-compatible server
	AddressingVirtual = "virtual" // https://BUCKET.HOST/KEY: AWS's preferred form, some hosted stores require it
	AddressingAuto    = "auto"    // minio-go's guess from the host name
)

// ErrSettings is wrapped by every error about the connection settings
// (a credential or CA file that cannot be read, an unknown addressing).
var ErrSettings = errors.New("s3 settings")

// clientOptions builds minio-go's options from cfg and the environment.
// Credentials: files named in cfg win over the environment, which wins
// over ~/.aws/credentials; a secret's bytes are never put in an error.
func (cfg Config) clientOptions() (*minio.Options, string, error) {
	region := cfg.Region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	chain := []credentials.Provider{&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}}
	if cfg.AccessKeyFile != "" || cfg.SecretKeyFile != "" {
		if cfg.AccessKeyFile == "" || cfg.SecretKeyFile == "" {
			return nil, "", fmt.Errorf("%w: give both the access key file and the secret key file", ErrSettings)
		}
		id, err := readSecretFile("access key", cfg.AccessKeyFile)
		if err != nil {
			return nil, "", err
		}
		secret, err := readSecretFile("secret key", cfg.SecretKeyFile)
		if err != nil {
			return nil, "", err
		}
		chain = []credentials.Provider{&credentials.Static{Value: credentials.Value{
			AccessKeyID: id, SecretAccessKey: secret, SignerType: credentials.SignatureV4,
		}}}
	}
	lookup := minio.BucketLookupPath
	switch cfg.Addressing {
	case "", AddressingPath:
	case AddressingVirtual:
		lookup = minio.BucketLookupDNS
	case AddressingAuto:
		lookup = minio.BucketLookupAuto
	default:
		return nil, "", fmt.Errorf("%w: addressing %q: use path, virtual or auto", ErrSettings, cfg.Addressing)
	}
	opts := &minio.Options{
		Creds:        credentials.NewChainCredentials(chain),
		Secure:       cfg.Secure,
		Region:       region,
		BucketLookup: lookup,
		// One attempt per request: package retry retries, logs each
		// attempt and sees a permanent error once. minio-go's own
		// retries (10 by default) would multiply with its.
		MaxRetries: 1,
	}
	ca := cfg.CAFile
	if ca == "" {
		ca = os.Getenv("AWS_CA_BUNDLE") // the AWS CLI's and SDKs' name for it
	}
	tr, err := transport(ca, cfg.Secure, cfg.Timeout)
	if err != nil {
		return nil, "", err
	}
	opts.Transport = tr
	return opts, region, nil
}

// testDial, set only by tests, replaces the dialer: virtual-host names
// like BUCKET.s3.test reach a server on 127.0.0.1 without DNS.
var testDial func(ctx context.Context, network, addr string) (net.Conn, error)

// readSecretFile reads a one-line credential file.
func readSecretFile(what, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s file: %v", ErrSettings, what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" || strings.ContainsAny(s, "\n\r") {
		return "", fmt.Errorf("%w: %s file %s: want one line holding only the %s", ErrSettings, what, path, what)
	}
	return s, nil
}

// transport is minio-go's default transport, trusting the CAs in caFile
// (a self-hosted server's own CA) besides the system's, its connections
// bounded by progress (stall.go).
func transport(caFile string, secure bool, timeout time.Duration) (http.RoundTripper, error) {
	rt, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSettings, err)
	}
	bound(rt, timeout, testDial)
	if caFile == "" {
		return rt, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: CA file: %v", ErrSettings, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrSettings, caFile)
	}
	if rt.TLSClientConfig == nil {
		rt.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	rt.TLSClientConfig.RootCAs = pool
	return rt, nil
}
