// Package sftp is the backend on a directory of an SSH server, through the
// system's ssh program and github.com/pkg/sftp.
//
// snap runs ssh as restic does (ssh -l USER [-p PORT] -s HOST sftp) and
// speaks SFTP over its stdin and stdout, so the user's ~/.ssh/config, keys,
// ssh-agent and known_hosts apply as for any ssh command. SNAP_SSH_COMMAND
// replaces "ssh" with another program or adds options (-F FILE, -i KEY).
// ssh runs in batch mode: it never asks for a passphrase or whether to
// trust a host key, so an unknown or changed host key fails at once with a
// ConnectError that says what to do.
//
// The layout is the local backend's below PATH: config, keys/NAME,
// data/AB/NAME, index/, snapshots/, locks/, damaged/. How the backend
// guarantees map onto SFTP (docs/format.md "SFTP"):
//   - Save writes a temporary file named .tmp-RANDOM in the target folder
//     (concurrent 32 KiB writes, 1 MiB at a time), fsyncs it when the
//     server has fsync@openssh.com, and renames it into place with
//     posix-rename@openssh.com, which replaces an existing file atomically.
//     A server without it gets a plain SFTP rename, which refuses an
//     existing target: replacing then removes the old file first, and a
//     crash between the two leaves the name absent.
//   - List reads the folders (data/ and its 256 subfolders for packs) and
//     skips names starting with a dot.
//   - A full disk: OpenSSH reports ENOSPC as a bare failure, so after a
//     failed write the backend asks the server's free space
//     (statvfs@openssh.com) and reports ErrNoSpace when it is too small;
//     servers that send the no-space or quota codes are mapped directly.
//
// One ssh process serves every call, however many goroutines make them
// (SFTP multiplexes requests). When it dies (the network dropped, the
// server restarted, the stall bound ended it) the calls that met it fail
// with a *LostError, which is transient, and the next call starts a new
// ssh. This package does not retry: package retry's wrapper, which
// location.Open puts around every remote store, owns the policy; a Save cut
// off leaves its .tmp-* file, which the next connection removes.
//
// Config.Timeout bounds how long a dead or hung server can hold a call:
// ssh's ConnectTimeout, its keepalives (ServerAliveInterval ×
// ServerAliveCountMax), and a stall bound on the SFTP exchange itself
// (answers awaited and no byte moved: watch.go).
//
// ssh gets snap's environment without its secrets (env.go).
package sftp

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"snap/repo/backend"
)

// Config says where the repository is and how to reach it.
type Config struct {
	User string
	Host string // name or address, IPv6 without brackets
	Port int    // 0: ssh's default (22, or ssh_config's Port)
	Path string // absolute directory on the server
	// Command is the ssh program and leading arguments; nil means
	// SNAP_SSH_COMMAND (split at spaces), or "ssh".
	Command []string
	// Name is how errors name the location (the --repo string).
	Name string
	// Timeout bounds a connect, a silent server and a stalled answer (see
	// the package doc); 0: DefaultTimeout.
	Timeout time.Duration
	// Now is the clock of the stall bound; nil: time.Now.
	Now func() time.Time
}

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = 2 * time.Minute

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c Config) now() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

func (c Config) target() string {
	t := c.User + "@" + c.Host
	if strings.Contains(c.Host, ":") {
		t = c.User + "@[" + c.Host + "]"
	}
	if c.Port != 0 {
		t += ":" + strconv.Itoa(c.Port)
	}
	return t
}

func (c Config) name() string {
	if c.Name != "" {
		return c.Name
	}
	return "sftp:" + c.target() + c.Path
}

// SFTP is a backend.Backend on a directory of an SSH server.
type SFTP struct {
	cfg  Config
	root string
	name string

	mu   sync.Mutex
	conn *conn // nil after Close, or before the first reconnect
	// orphans are the temporary files of Saves cut off with their
	// connection: the next connection removes them.
	orphans []string
}

var (
	_ backend.Backend        = (*SFTP)(nil)
	_ backend.ReaderAtOpener = (*SFTP)(nil)
)

// tmpPrefix marks files being written; List skips them.
const tmpPrefix = ".tmp-"

// Open connects to the server. With create it makes the repository's
// directory, its parents and the folders of every file type (snap init);
// otherwise it only connects, so a wrong host key or login fails here.
func Open(ctx context.Context, cfg Config, create bool) (*SFTP, error) {
	if !path.IsAbs(cfg.Path) {
		return nil, fmt.Errorf("%s: path %q is not absolute", cfg.name(), cfg.Path)
	}
	s := &SFTP{cfg: cfg, root: path.Clean(cfg.Path), name: cfg.name()}
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.conn = c
	if create {
		if err := s.create(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *SFTP) create(ctx context.Context) error {
	c, err := s.get(ctx)
	if err != nil {
		return err
	}
	cl := c.client
	if _, err := cl.Stat(s.root); errors.Is(err, fs.ErrNotExist) {
		if err := cl.MkdirAll(s.root); err != nil {
			return s.fail(c, "create "+s.root, err)
		}
		// Only this user reads a new repository (mode 0700, as local); an
		// existing folder keeps its mode.
		if err := cl.Chmod(s.root, 0o700); err != nil {
			return s.fail(c, "chmod "+s.root, err)
		}
	} else if err != nil {
		return s.fail(c, "stat "+s.root, err)
	}
	for _, t := range []backend.FileType{backend.KeyFile, backend.PackFile, backend.IndexFile, backend.SnapshotFile, backend.LockFile} {
		if err := s.mkdir(cl, path.Join(s.root, string(t))); err != nil {
			return s.fail(c, "create "+string(t), err)
		}
	}
	return nil
}

// Close ends the ssh process. Calls after Close connect again.
func (s *SFTP) Close() error {
	s.mu.Lock()
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
	return nil
}

// get returns the live connection, starting a new one when the last died.
func (s *SFTP) get(ctx context.Context) (*conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && !s.conn.dead() {
		return s.conn, nil
	}
	if s.conn != nil {
		go s.conn.close() // already dead: reap it without waiting here
		s.conn = nil
	}
	c, err := dial(ctx, s.cfg)
	if err != nil {
		return nil, err
	}
	s.conn = c
	for _, p := range s.orphans {
		_ = c.client.Remove(p) // gone already if its rename made it
	}
	s.orphans = nil
	return c, nil
}

// drop forgets c after it failed as a lost connection, so the next get
// starts a new one.
func (s *SFTP) drop(c *conn) {
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
	}
	s.mu.Unlock()
	c.kill()
	go c.close()
}

// orphan notes a temporary file left by a Save whose connection was lost.
func (s *SFTP) orphan(tmp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.orphans) < maxOrphans {
		s.orphans = append(s.orphans, tmp)
	}
}

// maxOrphans bounds the list; beyond it, a .tmp-* file stays (List skips
// it).
const maxOrphans = 1000

// do runs op on the live connection, and reports its error as fail does.
func (s *SFTP) do(ctx context.Context, what string, op func(*sftp.Client) error) error {
	c, err := s.get(ctx)
	if err != nil {
		return err
	}
	return s.fail(c, what, op(c.client))
}

// fail is the error of the call what on c: a *LostError when c was lost
// (and c is dropped, so the next call starts a new ssh), else wrap's.
func (s *SFTP) fail(c *conn, what string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if c.lostErr(err) {
		s.drop(c)
		return c.lostError(s.name, what, err)
	}
	return s.wrap(what, err)
}

func (s *SFTP) path(h backend.Handle) (string, error) {
	rel, err := backend.Path(h)
	if err != nil {
		return "", err
	}
	return path.Join(s.root, rel), nil
}

// Status codes of SFTP drafts after version 3 that some servers send.
const (
	fxNoSpace       = 14 // SSH_FX_NO_SPACE_ON_FILESYSTEM
	fxQuotaExceeded = 15 // SSH_FX_QUOTA_EXCEEDED
)

// wrap names the location and what was asked, and maps SFTP's errors onto
// the backend's sentinels.
func (s *SFTP) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %s: %w", s.name, what, backend.ErrNotExist)
	}
	var se *sftp.StatusError
	if errors.As(err, &se) && (se.Code == fxNoSpace || se.Code == fxQuotaExceeded) {
		return fmt.Errorf("%s: %s: %w: %w", s.name, what, backend.ErrNoSpace, err)
	}
	return fmt.Errorf("%s: %s: %w", s.name, what, err)
}

// noSpace turns a bare failure while writing size bytes into dir into
// ErrNoSpace when the server says the disk has no room for them: OpenSSH
// sends ENOSPC and EDQUOT as SSH_FX_FAILURE.
func (s *SFTP) noSpace(cl *sftp.Client, dir string, size int64, err error) error {
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure {
		return err
	}
	if _, ok := cl.HasExtension("statvfs@openssh.com"); !ok {
		return err
	}
	st, serr := cl.StatVFS(dir)
	if serr != nil {
		return err
	}
	if st.Favail == 0 || st.Bavail*st.Frsize < uint64(size) {
		return fmt.Errorf("%w: %w", backend.ErrNoSpace, err)
	}
	return err
}

// chunkSize is how much Save writes at once (32 requests of 32 KiB in
// flight) and how much a reader asks for at once.
const chunkSize = 1 << 20

// Save implements backend.Backend: a temporary file in the same folder,
// fsynced and renamed into place.
func (s *SFTP) Save(ctx context.Context, h backend.Handle, rd backend.RewindReader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(h)
	if err != nil {
		return err
	}
	c, err := s.get(ctx)
	if err != nil {
		return err
	}
	tmp, err := s.save(ctx, c, h, p, rd)
	if _, ok := errors.AsType[*LostError](err); ok {
		s.orphan(tmp)
	}
	return err
}

// save writes rd to a new temporary file beside p and renames it to p. It
// returns the temporary name, which is gone unless the connection was
// lost.
func (s *SFTP) save(ctx context.Context, c *conn, h backend.Handle, p string, rd backend.RewindReader) (tmp string, err error) {
	cl := c.client
	dir := path.Dir(p)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp = path.Join(dir, tmpPrefix+hex.EncodeToString(rnd[:]))
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	f, err := cl.OpenFile(tmp, flags)
	if errors.Is(err, fs.ErrNotExist) {
		// The folder is missing (data/AB is made on first use).
		if err = s.mkdirs(cl, dir); err == nil {
			f, err = cl.OpenFile(tmp, flags)
		}
	}
	if err != nil {
		// A missing folder here is a failed write, not a missing file.
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("no folder %s: %v", dir, err)
		}
		return tmp, s.fail(c, "write "+h.String(), s.noSpace(cl, dir, rd.Length(), err))
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = cl.Remove(tmp)
		}
	}()
	if err := s.write(ctx, f, rd); err != nil {
		if errors.Is(err, backend.ErrLength) || ctx.Err() != nil {
			return tmp, err
		}
		return tmp, s.fail(c, "write "+h.String(), s.noSpace(cl, dir, rd.Length(), err))
	}
	if data, ok := cl.HasExtension("fsync@openssh.com"); ok && data == "1" {
		if err := f.Sync(); err != nil {
			return tmp, s.fail(c, "fsync "+h.String(), s.noSpace(cl, dir, rd.Length(), err))
		}
	}
	if err := f.Close(); err != nil {
		return tmp, s.fail(c, "close "+h.String(), s.noSpace(cl, dir, rd.Length(), err))
	}
	if err := ctx.Err(); err != nil {
		return tmp, err
	}
	if err := s.rename(cl, tmp, p); err != nil {
		return tmp, s.fail(c, "rename "+h.String(), err)
	}
	return tmp, nil
}

// write copies exactly rd.Length() bytes of rd to f, a chunk at a time.
func (s *SFTP) write(ctx context.Context, f *sftp.File, rd backend.RewindReader) error {
	left := rd.Length()
	buf := make([]byte, min(left+1, chunkSize))
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.ReadFull(rd, buf[:min(int64(len(buf)), left+1)])
		if int64(n) > left {
			return fmt.Errorf("%w: more bytes than announced", backend.ErrLength)
		}
		if n > 0 {
			if _, werr := f.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
			left -= int64(n)
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			if left > 0 {
				return fmt.Errorf("%w: ended %d bytes early", backend.ErrLength, left)
			}
			return nil
		case err != nil:
			return fmt.Errorf("read: %w", err)
		}
	}
}

// rename moves tmp onto p, replacing p: posix-rename does it atomically;
// a plain SFTP rename refuses an existing target, which is then removed
// first.
func (s *SFTP) rename(cl *sftp.Client, tmp, p string) error {
	if _, ok := cl.HasExtension("posix-rename@openssh.com"); ok {
		return cl.PosixRename(tmp, p)
	}
	err := cl.Rename(tmp, p)
	if err == nil {
		return nil
	}
	if _, serr := cl.Lstat(p); serr != nil {
		return err // not in the way: the rename failed for another reason
	}
	if rerr := cl.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return rerr
	}
	return cl.Rename(tmp, p)
}

// mkdirs makes dir, and its parent below the root when that is missing
// too. The root itself is made only by Open with create: a repository
// path that does not exist is an error, not an empty repository.
func (s *SFTP) mkdirs(cl *sftp.Client, dir string) error {
	if parent := path.Dir(dir); dir != s.root && parent != s.root && parent != dir {
		if _, err := cl.Stat(parent); errors.Is(err, fs.ErrNotExist) {
			if err := s.mkdirs(cl, parent); err != nil {
				return err
			}
		}
	}
	return s.mkdir(cl, dir)
}

// mkdir makes dir unless it exists (another Save may make it meanwhile:
// OpenSSH reports an existing folder as a bare failure).
func (s *SFTP) mkdir(cl *sftp.Client, dir string) error {
	err := cl.Mkdir(dir)
	if err == nil {
		return nil
	}
	if fi, serr := cl.Stat(dir); serr == nil && fi.IsDir() {
		return nil
	}
	return err
}

// Open implements backend.Backend.
func (s *SFTP) Open(ctx context.Context, h backend.Handle, off, length int64) (io.ReadCloser, error) {
	if off < 0 || length < 0 {
		return nil, fmt.Errorf("open %v: negative offset %d or length %d", h, off, length)
	}
	c, f, err := s.open(ctx, h)
	if err != nil {
		return nil, err
	}
	if length == 0 {
		length = 1<<62 - off
	}
	// Reads go through a buffer of up to 1 MiB, each refill one
	// concurrent ReadAt: small reads would otherwise each wait a round
	// trip.
	size := int(min(length, chunkSize))
	return &reader{ctx: ctx, r: bufio.NewReaderSize(io.NewSectionReader(f, off, length), size), f: f, s: s, c: c, h: h}, nil
}

func (s *SFTP) open(ctx context.Context, h backend.Handle) (*conn, *sftp.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	p, err := s.path(h)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	f, err := c.client.Open(p)
	if err != nil {
		return nil, nil, s.fail(c, "open "+h.String(), err)
	}
	return c, f, nil
}

// reader stops once ctx is done, as a remote store's response body would,
// and names the location in its errors.
type reader struct {
	ctx context.Context
	r   io.Reader
	f   *sftp.File
	s   *SFTP
	c   *conn
	h   backend.Handle
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		if cerr := r.ctx.Err(); cerr != nil {
			return n, cerr
		}
		return n, r.s.fail(r.c, "read "+r.h.String(), err)
	}
	return n, err
}

func (r *reader) Close() error { return r.f.Close() }

// OpenFile opens a file for random access (see backend.ReaderAtOpener).
func (s *SFTP) OpenFile(ctx context.Context, h backend.Handle) (backend.ReaderAtCloser, error) {
	c, f, err := s.open(ctx, h)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return &fileAt{f: f, s: s, c: c, h: h}, nil
}

// fileAt names the location in ReadAt's errors.
type fileAt struct {
	f *sftp.File
	s *SFTP
	c *conn
	h backend.Handle
}

func (f *fileAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return n, f.s.fail(f.c, "read "+f.h.String(), err)
	}
	return n, err
}

func (f *fileAt) Close() error { return f.f.Close() }

// Stat implements backend.Backend.
func (s *SFTP) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, err
	}
	p, err := s.path(h)
	if err != nil {
		return backend.FileInfo{}, err
	}
	var fi os.FileInfo
	err = s.do(ctx, "stat "+h.String(), func(cl *sftp.Client) error {
		var err error
		fi, err = cl.Stat(p)
		return err
	})
	if err != nil {
		return backend.FileInfo{}, err
	}
	return backend.FileInfo{Name: h.Name, Size: fi.Size()}, nil
}

// List implements backend.Backend.
func (s *SFTP) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t == backend.ConfigFile {
		return backend.ListConfig(ctx, s, fn)
	}
	// A folder that is not there lists nothing.
	readDir := func(d string) ([]os.FileInfo, error) {
		var ents []os.FileInfo
		err := s.do(ctx, "list "+string(t), func(cl *sftp.Client) error {
			var err error
			if ents, err = cl.ReadDirContext(ctx, d); errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		})
		return ents, err
	}
	base := path.Join(s.root, string(t))
	dirs := []string{base}
	if t == backend.PackFile {
		ents, err := readDir(base)
		if err != nil {
			return err
		}
		dirs = dirs[:0]
		for _, e := range ents {
			if e.IsDir() && len(e.Name()) == 2 {
				dirs = append(dirs, path.Join(base, e.Name()))
			}
		}
	}
	for _, d := range dirs {
		ents, err := readDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !e.Mode().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(backend.FileInfo{Name: e.Name(), Size: e.Size()}); err != nil {
				return err
			}
		}
	}
	// Canceled during the last fn: the caller must not take the listing
	// for complete.
	return ctx.Err()
}

// Remove implements backend.Backend.
func (s *SFTP) Remove(ctx context.Context, h backend.Handle) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(h)
	if err != nil {
		return err
	}
	return s.do(ctx, "remove "+h.String(), func(cl *sftp.Client) error { return cl.Remove(p) })
}
