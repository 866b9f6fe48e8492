// Package s3 is the backend on an S3-compatible object store (AWS S3, R2,
// B2, MinIO, Ceph, Garage, versitygw...), through minio-go.
//
// Objects are named as the local backend names files, below an optional
// prefix: PREFIX/config, PREFIX/keys/NAME, PREFIX/data/AB/NAME, and
// PREFIX/index/, snapshots/, locks/, damaged/ likewise.
//
// How the backend guarantees map onto S3 (docs/format.md "S3"):
//   - Save is one PUT of exactly rd.Length() bytes (multipart only past
//     S3's 5 GiB single-PUT limit, which snap's files never reach). A PUT
//     is atomic per object. The body is not seekable, so minio-go does
//     not resend it: on a failed Save a caller may rd.Rewind() and call Save
//     again (a retrying wrapper does).
//   - Nothing is retried here: minio-go's retries are off (MaxRetries 1),
//     and package retry, wrapped around every remote store, owns the
//     policy. Errors carry its verdict: an answer of the server is an
//     *Error whose Transient says whether asking again can help
//     (errors.go); a request without an answer fails with the transport's
//     error. Each connection fails when no byte moved for Config.Timeout
//     (stall.go).
//   - List relies on the store's strong list-after-write consistency (AWS
//     S3 since 2020, and every server snap is tested against).
//   - S3 deletes of a missing key succeed, so Remove asks first (a HEAD) to
//     report ErrNotExist as the interface promises.
//
// Credentials come from files named in Config (the config file's s3
// block), else from the environment: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or AWS_PROFILE and
// ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE); the region from
// Config, AWS_REGION or AWS_DEFAULT_REGION (asked of the server when
// unset). Addressing is path-style (http://HOST/BUCKET/KEY) unless
// Config asks for virtual-host style. A self-hosted server's CA comes
// from Config.CAFile or AWS_CA_BUNDLE, added to the system's.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"snap/repo/backend"
)

// Config says where the repository is.
type Config struct {
	Endpoint string // HOST[:PORT], IPv6 in brackets
	Secure   bool   // https
	Bucket   string
	Prefix   string // "" or slash-separated names, no slash at either end
	// Name is how errors name the location (the --repo string); it holds
	// no credentials.
	Name string

	// The optional settings below come from the config file's s3 block.
	// Empty ones fall back to the environment (client.go).
	AccessKeyFile string // a file holding the access key id
	SecretKeyFile string // a file holding the secret access key
	Region        string
	Addressing    string // AddressingPath (default), AddressingVirtual or AddressingAuto
	CAFile        string // PEM CA bundle for a self-hosted server (else AWS_CA_BUNDLE)
	// Timeout fails a request when no byte has moved for this long;
	// 0: never (package location always sets its own default).
	Timeout time.Duration
}

// S3 is a backend.Backend on a bucket.
type S3 struct {
	core   minio.Core
	bucket string
	prefix string // "" or ending in a slash
	name   string
	lk     lockState         // Object Lock of writes (lock.go)
	rt     http.RoundTripper // the client's transport, for lock.go's own requests
}

var _ backend.Backend = (*S3)(nil)

// Open returns the backend at cfg. With create it makes the bucket when
// it is missing (snap init); otherwise it asks nothing of the server.
func Open(ctx context.Context, cfg Config, create bool) (*S3, error) {
	name := cfg.Name
	if name == "" {
		name = cfg.Endpoint + "/" + cfg.Bucket
	}
	opts, region, err := cfg.clientOptions()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cl, err := minio.New(cfg.Endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &S3{core: minio.Core{Client: cl}, bucket: cfg.Bucket, name: name, rt: opts.Transport}
	if cfg.Prefix != "" {
		s.prefix = cfg.Prefix + "/"
	}
	if create {
		if err := s.makeBucket(ctx, region); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *S3) makeBucket(ctx context.Context, region string) error {
	ok, err := s.core.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.wrap("bucket "+s.bucket, err)
	}
	if ok {
		return nil
	}
	err = s.core.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" {
		return nil // made meanwhile by another snap init
	}
	if err != nil {
		return s.wrap("create bucket "+s.bucket, err)
	}
	return nil
}

// key is the object name of h.
func (s *S3) key(h backend.Handle) (string, error) {
	rel, err := backend.Path(h)
	if err != nil {
		return "", err
	}
	return s.prefix + rel, nil
}

// wrap names the location and what was asked, and maps S3's error codes
// onto the backend's sentinels. minio-go's messages carry the server's
// words, never the credentials.
// wrapCtx is wrap for a request made under ctx: once ctx is done, the
// context's error, not the transport's words for it.
func (s *S3) wrapCtx(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil && err != nil {
		return cerr
	}
	return s.wrap(what, err)
}

func (s *S3) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	r := minio.ToErrorResponse(err)
	switch {
	case r.Code == minio.NoSuchKey:
		return fmt.Errorf("%s: %s: %w", s.name, what, backend.ErrNotExist)
	case r.Code == "XMinioStorageFull", r.Code == "QuotaExceeded", r.Code == "StorageFull",
		r.StatusCode == http.StatusInsufficientStorage:
		msg := err.Error()
		if r.Code != "" && !strings.Contains(msg, r.Code) {
			msg += " (" + r.Code + ")"
		}
		return fmt.Errorf("%s: %s: %w: %s", s.name, what, backend.ErrNoSpace, msg)
	}
	if e := s.serverError(what, err); e != nil {
		return e
	}
	return fmt.Errorf("%s: %s: %w", s.name, what, err)
}

// Save implements backend.Backend: one PUT of exactly rd.Length() bytes.
func (s *S3) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key, err := s.key(h)
	if err != nil {
		return err
	}
	opts := minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		// One PUT, never multipart, up to S3's 5 GiB limit: a pack is
		// 16-21 MiB, and minio-go's multipart path would copy each part
		// into a buffer of its own (the pack twice in memory) and cost
		// three more requests per pack.
		DisableMultipart: rd.Length() <= maxSinglePut,
	}
	lock, err := s.lockPut(ctx, h, &opts)
	if err != nil {
		return err
	}
	body := &exactReader{r: rd, left: rd.Length()}
	_, err = s.core.Client.PutObject(ctx, s.bucket, key, body, rd.Length(), opts)
	// net/http may still be sending the body from its own goroutine when
	// an answer (an error) came first: cut rd loose before the caller
	// rewinds it for another attempt.
	readErr := body.detach()
	if err != nil {
		if readErr != nil {
			// The reader's own failure, as the caller's retry logic
			// wants to see it.
			return fmt.Errorf("%s: write %v: %w", s.name, h, readErr)
		}
		return s.wrapCtx(ctx, "write "+h.String(), err)
	}
	if lock != nil && lock.Written != nil {
		lock.Written(h, opts.RetainUntilDate)
	}
	return nil
}

// maxSinglePut is the largest object S3 accepts in one PUT.
const maxSinglePut = 5 << 30

// exactReader hands out exactly left bytes of r and fails, before the
// last byte is handed out, when r has fewer or more: the PUT then never
// completes and no object appears. It hides r's other methods (Seek,
// ReaderAt), so minio-go never resends on its own.
type exactReader struct {
	mu       sync.Mutex // held while r is read: detach waits for a read to end
	r        io.Reader
	left     int64
	err      error // the first error r or the length check gave
	detached bool
}

// errDetached ends a read of a body whose Save has returned.
var errDetached = errors.New("the upload ended")

// detach makes every later Read fail without touching r, once any Read in
// progress has ended, and returns r's error, if any.
func (e *exactReader) detach() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.detached = true
	return e.err
}

func (e *exactReader) Read(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.detached {
		return 0, errDetached
	}
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		e.err = fmt.Errorf("%w: ended %d bytes early", backend.ErrLength, e.left)
	case err != nil && err != io.EOF:
		e.err = err
	case e.left == 0:
		// The last byte is about to go: make sure none follows.
		var one [1]byte
		if m, _ := io.ReadFull(e.r, one[:]); m > 0 {
			e.err = fmt.Errorf("%w: more bytes than announced", backend.ErrLength)
		}
	}
	if e.err != nil {
		return 0, e.err
	}
	return n, nil
}

// Open implements backend.Backend with a ranged GET.
func (s *S3) Open(ctx context.Context, h backend.Handle, off, length int64) (io.ReadCloser, error) {
	if off < 0 || length < 0 {
		return nil, fmt.Errorf("open %v: negative offset %d or length %d", h, off, length)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key, err := s.key(h)
	if err != nil {
		return nil, err
	}
	body, err := s.getRange(ctx, key, minio.GetObjectOptions{}, off, length)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if r := minio.ToErrorResponse(err); r.Code == "InvalidRange" || r.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			// The object is there and off is at or past its end: the
			// local backend reads nothing there too.
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, s.wrap("open "+h.String(), err)
	}
	return body, nil
}

// getRange GETs length bytes of key at off (0: to the end) with opts (a
// version), the body reporting ctx's error once ctx is done.
func (s *S3) getRange(ctx context.Context, key string, opts minio.GetObjectOptions, off, length int64) (io.ReadCloser, error) {
	switch {
	case length > 0:
		opts.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		opts.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, err
	}
	return &ctxReader{ctx: ctx, rc: body}, nil
}

// ctxReader reports the context's error, not the transport's words for it,
// once ctx is done.
type ctxReader struct {
	ctx context.Context
	rc  io.ReadCloser
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		if cerr := r.ctx.Err(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

func (r *ctxReader) Close() error { return r.rc.Close() }

// Stat implements backend.Backend with a HEAD.
func (s *S3) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, err
	}
	key, err := s.key(h)
	if err != nil {
		return backend.FileInfo{}, err
	}
	oi, err := s.core.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return backend.FileInfo{}, s.wrapCtx(ctx, "stat "+h.String(), err)
	}
	return backend.FileInfo{Name: h.Name, Size: oi.Size}, nil
}

// List implements backend.Backend: LIST requests of up to 1000 keys each,
// paged by minio-go.
func (s *S3) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t == backend.ConfigFile {
		return backend.ListConfig(ctx, s, fn)
	}
	dir := s.prefix + string(t) + "/"
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends minio-go's listing goroutine when we stop early
	for oi := range s.core.Client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: true}) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if oi.Err != nil {
			return s.wrap("list "+string(t), oi.Err)
		}
		rel := strings.TrimPrefix(oi.Key, dir)
		name := path.Base(rel)
		// Only keys where Save puts a file of this name count.
		want := strings.TrimPrefix(backend.Handle{Type: t, Name: name}.String(), string(t)+"/")
		if rel != want || strings.HasPrefix(name, ".") {
			continue // not a file snap wrote here
		}
		if err := fn(backend.FileInfo{Name: name, Size: oi.Size}); err != nil {
			return err
		}
	}
	// Canceled during the last fn: the listing is not complete.
	return ctx.Err()
}

// Remove implements backend.Backend: a HEAD, so a missing file is
// reported as such, then a DELETE.
func (s *S3) Remove(ctx context.Context, h backend.Handle) error {
	if _, err := s.Stat(ctx, h); err != nil {
		return err
	}
	key, err := s.key(h)
	if err != nil {
		return err
	}
	if err := s.core.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.wrapCtx(ctx, "remove "+h.String(), err)
	}
	return nil
}
