package location

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"snap/repo/backend"
	"snap/repo/backend/local"
	"snap/repo/backend/retry"
	"snap/repo/backend/s3"
)

// Options say what the caller is about to do with a location, and how
// patient to be with a remote one.
type Options struct {
	// Create prepares the location for a new repository (local: makes the
	// directory and its parents, mode 0700; s3: makes the bucket when it is
	// missing).
	Create bool
	// Timeout fails a request to a remote store when no byte has moved
	// for this long (a stall, not a bound on the whole transfer: a big
	// pack on a slow link takes what it takes); 0: DefaultTimeout. Each
	// remote opener applies it to its connections.
	Timeout time.Duration
	// Retry is how requests to a remote store are retried (package
	// retry); the zero Policy is its defaults. Local directories are
	// never retried: their errors do not pass.
	Retry retry.Policy
	// S3 configures s3 locations beyond what the location string says.
	S3 S3Settings
	// AsOf, when not zero, opens the repository as it was at that time:
	// a read-only view made from the object versions of its bucket (an
	// s3 location in a versioned bucket), in the same retries as the
	// store. A store that keeps no versions gives ErrNoVersions.
	AsOf time.Time
}

// DefaultTimeout is the stall bound of remote requests.
const DefaultTimeout = 2 * time.Minute

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// S3Settings are the config file's s3 block: where credentials are and
// how to reach the server. Empty fields fall back to the environment.
type S3Settings struct {
	AccessKeyFile string // a file holding the access key id
	SecretKeyFile string // a file holding the secret access key
	Region        string
	Addressing    string // path (default), virtual or auto
	CAFile        string // PEM bundle of a self-hosted server's CA
}

// OpenFunc opens the backend at a location of its scheme.
type OpenFunc func(ctx context.Context, loc Location, o Options) (backend.Backend, error)

// openers is the registry: one entry per store built into snap. A new store
// is a package under repo/backend and one line here; Parse, and every
// command that takes a location, stay as they are.
var openers = map[string]OpenFunc{
	"local": openLocal,
	"s3":    openS3,
	"sftp":  openSFTP,
}

// ErrUnsupported is wrapped by an UnsupportedError.
var ErrUnsupported = errors.New("not built into snap yet")

// UnsupportedError is returned by Open for a location that parses but whose
// store is not built in.
type UnsupportedError struct {
	Location Location
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("repository location %s: %s storage is %v (local directories, s3 and sftp are)", e.Location, e.Location.Scheme(), ErrUnsupported)
}

func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// ErrNoVersions means Options.AsOf was given for a store that keeps no
// earlier versions of files (only s3 does).
var ErrNoVersions = errors.New("the store keeps no earlier versions of files")

// viewer is a store that shows the repository as it was (package s3).
type viewer interface {
	AsOfView(ctx context.Context, t time.Time) (backend.Backend, error)
}

// Supported reports whether Open can open locations of loc's scheme.
func Supported(loc Location) bool { return openers[loc.Scheme()] != nil }

// Open returns the backend at loc. A remote store (any scheme but local)
// comes wrapped in o.Retry's retries, and its opening (which may make a
// bucket, or list every version for o.AsOf) is retried the same way.
func Open(ctx context.Context, loc Location, o Options) (backend.Backend, error) {
	open := openers[loc.Scheme()]
	if open == nil {
		return nil, &UnsupportedError{Location: loc}
	}
	if loc.Scheme() == "local" {
		if !o.AsOf.IsZero() {
			return nil, fmt.Errorf("%s: %w", loc, ErrNoVersions)
		}
		return open(ctx, loc, o)
	}
	var be backend.Backend
	err := o.Retry.Do(ctx, "open "+loc.String(), func() error {
		var err error
		be, err = open(ctx, loc, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !o.AsOf.IsZero() {
		v, ok := be.(viewer)
		if !ok {
			return nil, fmt.Errorf("%s: %w", loc, ErrNoVersions)
		}
		err = o.Retry.Do(ctx, "list the versions of "+loc.String(), func() error {
			var err error
			be, err = v.AsOfView(ctx, o.AsOf)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return retry.Wrap(be, o.Retry), nil
}

func openLocal(_ context.Context, loc Location, o Options) (backend.Backend, error) {
	dir := loc.(Local).Path
	if o.Create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	return local.New(dir), nil
}

// openS3 opens a bucket; credentials come from the environment (package
// s3), never from the location.
func openS3(ctx context.Context, loc Location, o Options) (backend.Backend, error) {
	l := loc.(S3)
	be, err := s3.Open(ctx, s3.Config{
		Endpoint: hostPort(l.Host, l.Port),
		Secure:   l.Protocol == "https",
		Bucket:   l.Bucket,
		Prefix:   l.Prefix,
		Name:     l.String(),
		Timeout:  o.timeout(),

		AccessKeyFile: o.S3.AccessKeyFile,
		SecretKeyFile: o.S3.SecretKeyFile,
		Region:        o.S3.Region,
		Addressing:    o.S3.Addressing,
		CAFile:        o.S3.CAFile,
	}, o.Create)
	if err != nil {
		return nil, err
	}
	return be, nil
}
