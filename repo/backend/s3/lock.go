package s3

// Object Lock (docs/format.md "Object Lock"): a bucket made with Object
// Lock is versioned; every file of the locked types that Save writes
// carries a retain-until date in the repository's mode, which the
// repository moves forward for what it still needs (ExtendRetention).
// A DELETE without a version id only adds a delete marker, which no lock
// prevents; the locked version stays readable (AsOf) and cannot be
// removed (RemoveVersion) until its date.

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"snap/repo/backend"
)

// lockState is what LockWrites set; zero means writes carry no lock.
type lockState struct {
	mu      sync.Mutex
	lock    *backend.ObjectLock
	checked bool // the bucket was found to have Object Lock
}

// ErrNoObjectLock is backend.ErrNoObjectLock, wrapped by a NoObjectLockError.
var ErrNoObjectLock = backend.ErrNoObjectLock

// NoObjectLockError says what the bucket lacks.
type NoObjectLockError struct {
	Location string
	Bucket   string
	Missing  string // "versioning", "Object Lock"
	Why      string // what asked for it
}

func (e *NoObjectLockError) Error() string {
	return fmt.Sprintf("%s: %s, but bucket %s has no %s: Object Lock protects only a bucket made with it "+
		"(which makes it versioned), or one whose owner turned on versioning and Object Lock", e.Location, e.Why, e.Bucket, e.Missing)
}

func (e *NoObjectLockError) Unwrap() error { return ErrNoObjectLock }

// LockWrites makes every later Save of a type l locks carry a retention
// until l.Now()+l.Period in l.Mode. The bucket is checked for Object Lock
// at the first such Save.
func (s *S3) LockWrites(l backend.ObjectLock) {
	s.lk.mu.Lock()
	defer s.lk.mu.Unlock()
	if l.Now == nil {
		l.Now = time.Now
	}
	s.lk.lock = &l
}

// lockFor returns the lock a write of h carries, nil for none.
func (s *S3) lockFor(ctx context.Context, h backend.Handle) (*backend.ObjectLock, error) {
	s.lk.mu.Lock()
	defer s.lk.mu.Unlock()
	l := s.lk.lock
	if l == nil || !l.Locks(h.Type) {
		return nil, nil
	}
	if !s.lk.checked {
		if err := s.checkObjectLock(ctx, "the repository's config asks for Object Lock"); err != nil {
			return nil, err
		}
		s.lk.checked = true
	}
	return l, nil
}

// lockPut adds h's retention to a PUT's options (see LockWrites) and
// returns the lock, nil for none.
func (s *S3) lockPut(ctx context.Context, h backend.Handle, opts *minio.PutObjectOptions) (*backend.ObjectLock, error) {
	l, err := s.lockFor(ctx, h)
	if err != nil || l == nil {
		return nil, err
	}
	opts.Mode = minioMode(l.Mode)
	opts.RetainUntilDate = retainUntil(l.Now().Add(l.Period))
	return l, nil
}

// retainUntil rounds up to the second S3 stores dates in, so a lock is
// never shorter than asked.
func retainUntil(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

func minioMode(mode string) minio.RetentionMode {
	if mode == backend.ModeCompliance {
		return minio.Compliance
	}
	return minio.Governance
}

// StoreID names the bucket and prefix on the endpoint: the repository
// keeps its record of lock dates by it. The scheme is left out (the same
// bucket over http or https).
func (s *S3) StoreID() string {
	return "s3:" + s.core.Client.EndpointURL().Host + "/" + s.bucket + "/" + s.prefix
}

// PrepareObjectLock readies the bucket for a repository under Object Lock
// (snap init --object-lock): it makes the bucket with Object Lock (and so
// versioning) when it is missing, and otherwise refuses a bucket that
// lacks either.
func (s *S3) PrepareObjectLock(ctx context.Context) error {
	ok, err := s.core.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.wrap("bucket "+s.bucket, err)
	}
	if !ok {
		// No region: the client's own (the config's or the environment's).
		err := s.core.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{ObjectLocking: true})
		if minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" && err != nil {
			return s.wrap("create bucket "+s.bucket+" with Object Lock", err)
		}
	}
	return s.checkObjectLock(ctx, "Object Lock was asked for")
}

// checkObjectLock refuses a bucket without versioning or Object Lock.
func (s *S3) checkObjectLock(ctx context.Context, why string) error {
	vc, err := s.core.GetBucketVersioning(ctx, s.bucket)
	if err != nil {
		return s.wrap("versioning of bucket "+s.bucket, err)
	}
	if !vc.Enabled() {
		return &NoObjectLockError{Location: s.name, Bucket: s.bucket, Missing: "versioning", Why: why}
	}
	enabled, _, _, _, err := s.core.GetObjectLockConfig(ctx, s.bucket)
	if err != nil && minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
		return s.wrap("Object Lock of bucket "+s.bucket, err)
	}
	if enabled != "Enabled" {
		return &NoObjectLockError{Location: s.name, Bucket: s.bucket, Missing: "Object Lock", Why: why}
	}
	return nil
}

// Retention returns the lock of one version of h ("" for the current one);
// a version without a lock has a zero Until.
func (s *S3) Retention(ctx context.Context, h backend.Handle, version string) (backend.Retention, error) {
	key, err := s.key(h)
	if err != nil {
		return backend.Retention{}, err
	}
	return s.retention(ctx, key, version)
}

// retention reads GET ?retention through a presigned URL rather than
// minio-go's GetObjectRetention, which accepts only AWS's <Retention>
// root element: versitygw 1.7.0 answers <ObjectLockRetention> (and its
// HEAD of a noncurrent version carries no lock headers). The answer is
// decoded whatever its root element is called.
func (s *S3) retention(ctx context.Context, key, version string) (backend.Retention, error) {
	what := "retention of " + key
	if version != "" {
		what += " version " + version
	}
	q := url.Values{"retention": {""}}
	if version != "" {
		q.Set("versionId", version)
	}
	u, err := s.core.Presign(ctx, http.MethodGet, s.bucket, key, 5*time.Minute, q)
	if err != nil {
		return backend.Retention{}, s.wrap(what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return backend.Retention{}, fmt.Errorf("%s: %s: %v", s.name, what, errors.New("bad request")) // never the signed URL
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return backend.Retention{}, cerr
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL holds a signature: never in a message
		}
		return backend.Retention{}, fmt.Errorf("%s: %s: %w", s.name, what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return backend.Retention{}, fmt.Errorf("%s: %s: %w", s.name, what, err)
	}
	if resp.StatusCode != http.StatusOK {
		var er minio.ErrorResponse
		_ = xml.Unmarshal(body, &er)
		er.StatusCode = resp.StatusCode
		switch er.Code {
		case "NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError":
			return backend.Retention{}, nil // no lock on it
		case "":
			er.Code, er.Message = http.StatusText(resp.StatusCode), http.StatusText(resp.StatusCode)
		}
		// NoSuchVersion, or 405: the current version is a delete marker.
		if er.Code == "NoSuchVersion" || resp.StatusCode == http.StatusMethodNotAllowed {
			return backend.Retention{}, fmt.Errorf("%s: %s: %w", s.name, what, backend.ErrNotExist)
		}
		return backend.Retention{}, s.wrap(what, er)
	}
	// No XMLName: any root element (<Retention>, <ObjectLockRetention>).
	var r struct {
		Mode            string
		RetainUntilDate string
	}
	if err := xml.Unmarshal(body, &r); err != nil {
		return backend.Retention{}, fmt.Errorf("%s: %s: unreadable answer: %w", s.name, what, err)
	}
	if r.RetainUntilDate == "" {
		return backend.Retention{}, nil
	}
	until, err := time.Parse(time.RFC3339Nano, r.RetainUntilDate)
	if err != nil {
		return backend.Retention{}, fmt.Errorf("%s: %s: unreadable date %q", s.name, what, r.RetainUntilDate)
	}
	return backend.Retention{Mode: strings.ToLower(r.Mode), Until: until}, nil
}

// httpClient sends the presigned retention reads through the client's
// own transport: a self-hosted server's CA file, and connections bounded
// by progress (stall.go), never by a whole-request timeout.
func (s *S3) httpClient() *http.Client {
	return &http.Client{Transport: s.rt}
}

// ExtendRetention moves the current version of h's retain-until date to
// until, in the mode LockWrites set. The caller never moves it back:
// S3 refuses that in compliance mode, and in governance mode without the
// bypass permission.
func (s *S3) ExtendRetention(ctx context.Context, h backend.Handle, until time.Time) error {
	s.lk.mu.Lock()
	l := s.lk.lock
	s.lk.mu.Unlock()
	if l == nil {
		return fmt.Errorf("%s: extend the lock of %v: no Object Lock set for this repository", s.name, h)
	}
	key, err := s.key(h)
	if err != nil {
		return err
	}
	mode := minioMode(l.Mode)
	until = retainUntil(until)
	err = s.core.PutObjectRetention(ctx, s.bucket, key, minio.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &until})
	if err != nil {
		return s.wrapCtx(ctx, "extend the lock of "+h.String(), err)
	}
	return nil
}

// RemoveVersion deletes one version for good. A version its lock still
// holds is refused by the store: that is reported as a
// *backend.LockedError with the date.
func (s *S3) RemoveVersion(ctx context.Context, v backend.Version) error {
	key, err := s.key(v.Handle)
	if err != nil {
		return err
	}
	err = s.core.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: v.ID})
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if minio.ToErrorResponse(err).StatusCode == http.StatusForbidden {
		// Denied: by the lock, or by a policy? A version with a lock
		// date is taken as held by it (never the error's wording), even
		// when this host's clock says the date has passed: the store's
		// clock decides.
		r, rerr := s.retention(ctx, key, v.ID)
		if rerr != nil {
			// Its verdict decides: a passing failure retries the whole.
			return fmt.Errorf("remove %v version %s was refused (%v), and its lock could not be read: %w", v.Handle, v.ID, minio.ToErrorResponse(err).Code, rerr)
		}
		if !r.Until.IsZero() {
			return &backend.LockedError{Location: s.name, File: v.Handle.String(), Version: v.ID, Mode: r.Mode, Until: r.Until}
		}
	}
	return s.wrap("remove "+v.Handle.String()+" version "+v.ID, err)
}
