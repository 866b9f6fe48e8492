package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"snap/repo/backend"
)

// ErrNotVersioned is wrapped when a bucket keeps no earlier versions.
var ErrNotVersioned = errors.New("the bucket keeps no earlier versions (versioning is off)")

// handleOf maps an object key back to the repository file Save would have
// put there; ok is false for keys that are no repository file.
func (s *S3) handleOf(key string) (backend.Handle, bool) {
	rel, ok := strings.CutPrefix(key, s.prefix)
	if !ok {
		return backend.Handle{}, false
	}
	if rel == "config" {
		return backend.Handle{Type: backend.ConfigFile}, true
	}
	dir, _, _ := strings.Cut(rel, "/")
	t := backend.FileType(dir)
	switch t {
	case backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.LockFile, backend.DamagedFile:
	default:
		return backend.Handle{}, false
	}
	h := backend.Handle{Type: t, Name: path.Base(rel)}
	if backend.CheckName(h) != nil || h.String() != rel {
		return backend.Handle{}, false
	}
	return h, true
}

// writtenAt is when a version was written: S3's LastModified, except on
// versitygw up to 1.7.0 at least, whose posix backend reports for a
// noncurrent version the time it was superseded (versitygw issue #2311)
// and for a delete marker the time of the version it hid. Its version ids
// are ULIDs, which the server makes when the version is written and which
// hold that time in their first ten characters (milliseconds since
// 1970, Crockford base32): for such an id, that time is used. AWS, MinIO
// and Ceph ids never have that shape (exactly 26 characters of the
// uppercase Crockford alphabet). The id is the server's, like
// LastModified: nobody writing to the bucket chooses it.
func writtenAt(id string, lastModified time.Time) time.Time {
	if t, ok := ulidTime(id); ok {
		return t
	}
	return lastModified
}

// ulidTime decodes the time of a ULID (github.com/ulid/spec).
func ulidTime(id string) (time.Time, bool) {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	if len(id) != 26 || id[0] > '7' {
		return time.Time{}, false
	}
	var ms int64
	for i := 0; i < len(id); i++ {
		d := strings.IndexByte(alphabet, id[i])
		if d < 0 {
			return time.Time{}, false
		}
		if i < 10 {
			ms = ms<<5 | int64(d)
		}
	}
	return time.UnixMilli(ms), true
}

// Versions calls fn for every version of every repository file in the
// bucket under the prefix, delete markers included, each key's newest
// first (S3's listing order).
func (s *S3) Versions(ctx context.Context, fn func(backend.Version) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range s.core.Client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true, WithVersions: true}) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if oi.Err != nil {
			return s.wrap("list versions", oi.Err)
		}
		h, ok := s.handleOf(oi.Key)
		if !ok {
			continue
		}
		v := backend.Version{Handle: h, ID: oi.VersionID, Size: oi.Size, Time: writtenAt(oi.VersionID, oi.LastModified), Latest: oi.IsLatest, DeleteMarker: oi.IsDeleteMarker}
		if err := fn(v); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// versioned refuses a bucket whose versioning was never turned on.
func (s *S3) versioned(ctx context.Context) error {
	vc, err := s.core.GetBucketVersioning(ctx, s.bucket)
	if err != nil {
		return s.wrap("versioning of bucket "+s.bucket, err)
	}
	if vc.Status == "" {
		return fmt.Errorf("%s: bucket %s: %w", s.name, s.bucket, ErrNotVersioned)
	}
	return nil
}

// View is a read-only backend.Backend showing the repository as it was at
// a time: for each file, its newest version written at or before then,
// unless that is a delete marker. Reads go to that version by its id, so
// what was deleted or overwritten since (by a prune, or by an attacker
// with the host's credentials) reads as it was. Save and Remove fail with
// backend.ErrReadOnly; lock files are not shown (nothing of the past
// holds the repository now).
type View struct {
	s     *S3
	at    time.Time
	name  string
	files map[backend.Handle]viewFile
}

type viewFile struct {
	version string
	size    int64
}

var _ backend.Backend = (*View)(nil)

// AsOf returns the repository as it was at t, read from the bucket's
// object versions (one listing of every version, now). The bucket must
// be versioned; versions deleted for good since (a lifecycle rule, or a
// prune once their lock ran out) are gone from the view too.
//
// Versions are timestamped by the store (S3's LastModified, to the second
// on most stores; see writtenAt), so a version written during the second
// of t may count.
func (s *S3) AsOf(ctx context.Context, t time.Time) (*View, error) {
	if err := s.versioned(ctx); err != nil {
		return nil, err
	}
	v := &View{s: s, at: t, name: s.name + " as of " + t.Format(time.RFC3339), files: map[backend.Handle]viewFile{}}
	best := map[backend.Handle]backend.Version{}
	err := s.Versions(ctx, func(ver backend.Version) error {
		if ver.Handle.Type == backend.LockFile || ver.Time.After(t) {
			return nil
		}
		// The newest version at or before t; on a tie (the same second)
		// the one listed first, which S3 lists newest first.
		if p, ok := best[ver.Handle]; ok && !ver.Time.After(p.Time) {
			return nil
		}
		best[ver.Handle] = ver
		return nil
	})
	if err != nil {
		return nil, err
	}
	for h, p := range best {
		if !p.DeleteMarker {
			v.files[h] = viewFile{version: p.ID, size: p.Size}
		}
	}
	return v, nil
}

// Time is the time the view shows.
func (v *View) Time() time.Time { return v.at }

// Save implements backend.Backend: refused.
func (v *View) Save(context.Context, backend.Handle, backend.RewindReader) error {
	return fmt.Errorf("%s: %w", v.name, backend.ErrReadOnly)
}

// Remove implements backend.Backend: refused.
func (v *View) Remove(context.Context, backend.Handle) error {
	return fmt.Errorf("%s: %w", v.name, backend.ErrReadOnly)
}

func (v *View) file(h backend.Handle) (viewFile, error) {
	if err := backend.CheckName(h); err != nil {
		return viewFile{}, err
	}
	if h.Type == backend.ConfigFile {
		h.Name = ""
	}
	f, ok := v.files[h]
	if !ok {
		return viewFile{}, fmt.Errorf("%s: %v: %w", v.name, h, backend.ErrNotExist)
	}
	return f, nil
}

// Stat implements backend.Backend from the listing.
func (v *View) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, err
	}
	f, err := v.file(h)
	if err != nil {
		return backend.FileInfo{}, err
	}
	return backend.FileInfo{Name: h.Name, Size: f.size}, nil
}

// List implements backend.Backend from the listing, in name order.
func (v *View) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	var names []backend.FileInfo
	for h, f := range v.files {
		if h.Type == t {
			names = append(names, backend.FileInfo{Name: h.Name, Size: f.size})
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i].Name < names[j].Name })
	for _, fi := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Open implements backend.Backend: a ranged GET of the version.
func (v *View) Open(ctx context.Context, h backend.Handle, off, length int64) (io.ReadCloser, error) {
	if off < 0 || length < 0 {
		return nil, fmt.Errorf("open %v: negative offset %d or length %d", h, off, length)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := v.file(h)
	if err != nil {
		return nil, err
	}
	if off >= f.size && f.size > 0 || off > 0 && f.size == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	key, err := v.s.key(h)
	if err != nil {
		return nil, err
	}
	body, err := v.s.getRange(ctx, key, minio.GetObjectOptions{VersionID: f.version}, off, length)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if r := minio.ToErrorResponse(err); r.Code == "NoSuchVersion" || r.StatusCode == http.StatusNotFound {
			// Deleted for good since the listing.
			return nil, fmt.Errorf("%s: open %v: %w", v.name, h, backend.ErrNotExist)
		}
		return nil, v.s.wrap("open "+h.String()+" version "+f.version, err)
	}
	return body, nil
}

// AsOfView is AsOf as a backend.Backend.
func (s *S3) AsOfView(ctx context.Context, t time.Time) (backend.Backend, error) {
	v, err := s.AsOf(ctx, t)
	if err != nil {
		return nil, err
	}
	return v, nil
}
