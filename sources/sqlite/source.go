package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"snap/sources"
	"snap/sources/docker"
)

// Kind is the kind name, recorded as Meta["source"].
const Kind = "sqlite"

// Order restores a database file after the volume that holds it: the
// volume's restore keeps the names its item excludes (the database), and
// the file put back here, with its set-aside copy, is never cleared by it.
const Order = sources.OrderVolume + 5

func init() {
	sources.Register(sources.Kind{Name: Kind, ConfigKey: "sqlite", Decode: decode,
		Target: func(meta map[string]string) (sources.Source, error) {
			if f := meta["file"]; f != "" {
				return HostFile(f), nil
			}
			return nil, fmt.Errorf("no container %s in the project now to put %s back into", meta["container"], meta["path"])
		}})
}

// ErrUnreachable: the database's directory is not a path snap can open on
// this machine (rootless or remote Docker, or not root).
var ErrUnreachable = errors.New("sqlite: the database file is not reachable from this host")

// Source is a live SQLite database file, in a container's volume or bind
// mount, or on the host.
type Source struct {
	Docker    *docker.Client // nil for a host file
	Container string
	Path      string // in the container; the host path for a host file
	Desc      string
}

// InContainer is the database at path as container sees it.
func InContainer(d *docker.Client, container, path string) *Source {
	return &Source{Docker: d, Container: container, Path: path,
		Desc: fmt.Sprintf("SQLite online copy of %s in %s, checked with integrity_check", path, container)}
}

// HostFile is a database file of the host.
func HostFile(path string) *Source {
	return &Source{Path: path, Desc: fmt.Sprintf("SQLite online copy of %s, checked with integrity_check", path)}
}

func (s *Source) Kind() string      { return Kind }
func (s *Source) Describe() string  { return s.Desc }
func (s *Source) RestoreOrder() int { return Order }
func (s *Source) Meta() map[string]string {
	if s.Docker == nil {
		return map[string]string{"file": s.Path}
	}
	return map[string]string{"container": s.Container, "path": s.Path}
}

// place is where the live file is on this host and what holds it.
type place struct {
	host   string // the database file's host path
	volume string // the named volume holding it, or ""
	bind   string // the bind-mounted host directory holding it, or ""
}

// locate finds the live file's host path: the container's mount of the
// file's directory (a named volume's Mountpoint, or a bind mount's
// source) plus the path below it.
func (s *Source) locate(ctx context.Context) (*place, error) {
	if s.Docker == nil {
		return &place{host: s.Path}, reachable(filepath.Dir(s.Path), "")
	}
	ins, err := s.Docker.Inspect(ctx, s.Container)
	if err != nil {
		return nil, err
	}
	m, rel, ok := docker.MountHolding(ins.Mounts, s.Path)
	if !ok {
		return nil, fmt.Errorf("sqlite: %s in %s is on no volume or bind mount (the container's own layer): nothing to copy from the host", s.Path, s.Container)
	}
	if rel == "." {
		// A bind mount of the file alone: its -wal and -journal live in
		// the container's layer, out of reach, so no copy is consistent.
		return nil, fmt.Errorf("sqlite: %s in %s is a bind mount of the file alone (from %s): its journal files are not on the host; mount the file's directory instead", s.Path, s.Container, m.Source)
	}
	var p place
	switch m.Type {
	case "volume":
		mp, err := s.Docker.VolumeMountpoint(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		p = place{host: filepath.Join(mp, rel), volume: m.Name}
	case "bind":
		p = place{host: filepath.Join(m.Source, rel), bind: m.Source}
	default:
		return nil, fmt.Errorf("sqlite: %s in %s is on a %s mount, which has no host path", s.Path, s.Container, m.Type)
	}
	where := "volume " + p.volume
	if p.bind != "" {
		where = "bind mount " + p.bind
	}
	return &p, reachable(filepath.Dir(p.host), fmt.Sprintf(" (%s in %s, %s)", s.Path, s.Container, where))
}

// reachable says why dir cannot be used, in words that tell rootless and
// remote Docker apart from a missing file.
func reachable(dir, what string) error {
	fi, err := os.Stat(dir)
	if err == nil && fi.IsDir() {
		return nil
	}
	if err == nil {
		err = errors.New("not a directory")
	}
	return fmt.Errorf("%w: %s%s: %v; snap copies SQLite databases from the Docker host's side, so it must run as root on the host where the containers run (not with rootless or remote Docker)", ErrUnreachable, dir, what, err)
}

// Stream takes the online copy into a temporary file outside the app's
// volume, checks it (a torn or damaged copy fails the item: it is never
// stored), and streams it.
func (s *Source) Stream(ctx context.Context, w io.Writer) (map[string]string, error) {
	p, err := s.locate(ctx)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p.host)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	dir, err := os.MkdirTemp("", "snap-sqlite-")
	if err != nil {
		return nil, fmt.Errorf("sqlite: temporary copy: %w", err)
	}
	defer os.RemoveAll(dir)
	cp := filepath.Join(dir, "copy.sqlite")
	if err := Copy(ctx, p.host, cp); err != nil {
		return nil, err
	}
	rep, err := Check(ctx, cp, false)
	if err != nil {
		return nil, fmt.Errorf("the copy of %s is refused, nothing stored: %w", p.host, err)
	}
	f, err := os.Open(cp)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return nil, err
	}
	meta := rep.meta()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		meta["uid"], meta["gid"] = strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	}
	meta["mode"] = fmt.Sprintf("%04o", fi.Mode().Perm())
	return meta, nil
}

func (r *Report) meta() map[string]string {
	return map[string]string{
		"tables":       strings.Join(r.Tables, ","),
		"table_count":  strconv.Itoa(len(r.Tables)),
		"journal_mode": r.JournalMode,
		"page_size":    strconv.FormatInt(r.PageSize, 10),
	}
}

// MustStop is every running container that mounts the database's volume
// or bind mount (all of an app's containers, workers included); nothing
// for a host file, which snap cannot tell the users of.
func (s *Source) MustStop(ctx context.Context) ([]string, error) {
	if s.Docker == nil {
		return nil, nil
	}
	p, err := s.locate(ctx)
	if err != nil {
		return nil, err
	}
	var users map[string]bool
	if p.volume != "" {
		users, err = s.Docker.VolumeUsers(ctx, p.volume)
	} else {
		users, err = s.Docker.BindUsers(ctx, p.bind)
	}
	if err != nil {
		return nil, err
	}
	return docker.Running(users), nil
}

// scratch extracts a stored copy into a new directory outside the app's
// volume and proves it: integrity_check, and the table list recorded at
// backup. The caller removes dir.
func scratch(ctx context.Context, st sources.Stored) (dir, file string, rep *Report, err error) {
	tmp, err := os.MkdirTemp("", "snap-sqlite-restore-")
	if err != nil {
		return "", "", nil, fmt.Errorf("sqlite: scratch directory: %w", err)
	}
	dir = tmp
	defer func() {
		if err != nil {
			os.RemoveAll(tmp) // dir is "" by now
		}
	}()
	file = filepath.Join(dir, "database.sqlite")
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", nil, fmt.Errorf("sqlite: %w", err)
	}
	rc := st.Open(ctx)
	n, err := io.Copy(f, rc)
	rc.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", nil, fmt.Errorf("reading the stored copy: %w", err)
	}
	if n != st.Size() {
		return "", "", nil, fmt.Errorf("the stored copy has %d bytes, the snapshot records %d", n, st.Size())
	}
	if rep, err = Check(ctx, file, false); err != nil {
		return "", "", nil, fmt.Errorf("the stored copy: %w", err)
	}
	if want, got := st.Meta()["tables"], strings.Join(rep.Tables, ","); got != want {
		return "", "", nil, fmt.Errorf("%w: the stored copy has tables [%s], the backup recorded [%s]", ErrCorrupt, got, want)
	}
	return dir, file, rep, nil
}

// Drill proves the stored copy in scratch and throws it away.
func (s *Source) Drill(ctx context.Context, st sources.Stored) (string, error) {
	dir, _, rep, err := scratch(ctx, st)
	if err != nil {
		return "", err
	}
	os.RemoveAll(dir)
	return fmt.Sprintf("opens in scratch: integrity_check ok, %d tables as recorded", len(rep.Tables)), nil
}

// Prepare proves the stored copy in scratch before anything live is
// touched, and that the live file's place is reachable.
func (s *Source) Prepare(ctx context.Context, st sources.Stored) (sources.Swap, string, error) {
	p, err := s.locate(ctx)
	if err != nil {
		return nil, "", err
	}
	dir, file, rep, err := scratch(ctx, st)
	if err != nil {
		return nil, "", fmt.Errorf("%w (the live database was not touched)", err)
	}
	return &swap{s: s, p: p, dir: dir, file: file, meta: st.Meta()},
		fmt.Sprintf("stored copy checked in scratch: integrity_check ok, %d tables as recorded", len(rep.Tables)), nil
}

type swap struct {
	s    *Source
	p    *place
	dir  string // scratch directory
	file string // the proven copy in it
	meta map[string]string
	done bool
}

func (w *swap) Abort(context.Context) error {
	if w.done {
		return nil
	}
	w.done = true
	return os.RemoveAll(w.dir)
}

// journals are the files SQLite keeps beside a database; a stale one left
// beside the new file would be applied to it (a hot journal is rolled
// back into it), so none stays.
var journals = []string{"-wal", "-shm", "-journal"}

// Commit puts the proven copy in place, with the users stopped: the live
// file (and its journal files) is set aside as NAME.snap-old-TIME only if
// its content differs, the new file is written beside it under a temporary
// name, synced, and renamed over it, with the recorded owner and mode.
func (w *swap) Commit(ctx context.Context) (string, error) {
	defer w.Abort(ctx)
	live := w.p.host
	stamp := time.Now().Format("20060102-150405") // as the files kind names them
	uid, gid, mode := owner(w.meta, live)
	tmp := filepath.Join(filepath.Dir(live), "."+filepath.Base(live)+".snap-new-"+stamp)
	if err := writeCopy(w.file, tmp, uid, gid, mode); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("writing the new file beside the live one (nothing replaced): %w", err)
	}
	differs, err := differs(live, w.file)
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	aside := ""
	if differs {
		// Never over an earlier set-aside (two restores in one second).
		aside = live + ".snap-old-" + stamp
		for i := 2; exists(aside) || exists(aside+"-journal") || exists(aside+"-wal"); i++ {
			aside = fmt.Sprintf("%s.snap-old-%s.%d", live, stamp, i)
		}
		if err := os.Link(live, aside); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("setting the live file aside (nothing replaced): %w", err)
		}
	}
	var moved, removed []string
	for _, suf := range journals {
		j := live + suf
		if _, err := os.Lstat(j); err != nil {
			continue
		}
		if aside != "" {
			err = os.Rename(j, aside+suf)
			moved = append(moved, suf)
		} else {
			err = os.Remove(j)
			removed = append(removed, suf)
		}
		if err != nil {
			return "", fmt.Errorf("moving %s aside (the new file is at %s, the live one is still in place, set aside as %s): %w", j, tmp, aside, err)
		}
	}
	if err := os.Rename(tmp, live); err != nil {
		return "", fmt.Errorf("putting the new file in place (it is at %s; the previous one is at %s): %w", tmp, aside, err)
	}
	if err := syncDir(filepath.Dir(live)); err != nil {
		return "", err
	}
	where := live
	if w.s.Docker != nil {
		where = fmt.Sprintf("%s (%s on the host)", w.s.Path, live)
	}
	msg := fmt.Sprintf("%s replaced by the checked copy (%s tables, owner %d:%d, mode %04o)", where, w.meta["table_count"], uid, gid, mode)
	if aside != "" {
		msg += fmt.Sprintf("; the previous file differed and is kept as %s", aside)
		if len(moved) > 0 {
			msg += fmt.Sprintf(" with its stale %s files", strings.Join(moved, ", "))
		}
		msg += fmt.Sprintf(": once the app works, remove it with rm %s*", aside)
	} else {
		msg += "; the live file was identical, nothing set aside"
		if len(removed) > 0 {
			msg += fmt.Sprintf(", empty %s files removed", strings.Join(removed, ", "))
		}
	}
	return msg, nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// Preview proves the stored copy in scratch, as Prepare does, and says
// whether the live file would be set aside ('snap restore --dry-run').
// Nothing live is written.
func (s *Source) Preview(ctx context.Context, st sources.Stored) (string, error) {
	p, err := s.locate(ctx)
	if err != nil {
		return "", err
	}
	dir, file, rep, err := scratch(ctx, st)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	d, err := differs(p.host, file)
	if err != nil {
		return "", err
	}
	what := fmt.Sprintf("%s replaced by the stored copy (integrity_check ok, %d tables)", p.host, len(rep.Tables))
	if d {
		return what + "; the live file differs and would be kept as " + filepath.Base(p.host) + ".snap-old-TIME", nil
	}
	return what + "; the live file holds the same data (nothing set aside)", nil
}

// owner is the recorded owner and mode, else the live file's.
func owner(meta map[string]string, live string) (uid, gid int, mode os.FileMode) {
	uid, gid, mode = 0, 0, 0o644
	if fi, err := os.Stat(live); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	if v, err := strconv.Atoi(meta["uid"]); err == nil {
		uid = v
	}
	if v, err := strconv.Atoi(meta["gid"]); err == nil {
		gid = v
	}
	if v, err := strconv.ParseUint(meta["mode"], 8, 32); err == nil {
		mode = os.FileMode(v).Perm()
	}
	return uid, gid, mode
}

// writeCopy copies src to dst (new), owned and moded, synced.
func writeCopy(src, dst string, uid, gid int, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	for _, step := range []func() error{
		func() error { return out.Chown(uid, gid) },
		func() error { return out.Chmod(mode) },
		out.Sync,
	} {
		if err == nil {
			err = step()
		}
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// differs says whether the live database's content differs from the new
// file: a journal with content in it, or other pages. Page 1's change
// counter, schema cookie and version fields (header bytes 24-27, 40-43
// and 92-99) are left out: an online copy is a new write of the same
// pages, and the backup API bumps them.
func differs(live, file string) (bool, error) {
	for _, suf := range []string{"-wal", "-journal"} {
		if fi, err := os.Stat(live + suf); err == nil && fi.Size() > 0 {
			return true, nil
		}
	}
	fa, err := os.Open(live)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // nothing to set aside
	}
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	// In pieces: an n8n database can be gigabytes, read while n8n is
	// stopped.
	a, b := make([]byte, 1<<20), make([]byte, 1<<20)
	for first := true; ; first = false {
		na, erra := io.ReadFull(fa, a)
		nb, errb := io.ReadFull(fb, b)
		if first && na >= 100 && nb >= 100 {
			for _, r := range [][2]int{{24, 28}, {40, 44}, {92, 100}} {
				copy(a[r[0]:r[1]], b[r[0]:r[1]])
			}
		}
		if !bytes.Equal(a[:na], b[:nb]) {
			return true, nil
		}
		endA := erra == io.EOF || erra == io.ErrUnexpectedEOF
		endB := errb == io.EOF || errb == io.ErrUnexpectedEOF
		switch {
		case erra != nil && !endA:
			return false, erra
		case errb != nil && !endB:
			return false, errb
		case endA || endB:
			return endA != endB, nil
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sqlite: sync %s: %w", dir, err)
	}
	return nil
}

// HostPath is the live file's path on this host; an error says why it
// cannot be reached (ErrUnreachable) or found.
func (s *Source) HostPath(ctx context.Context) (string, error) {
	p, err := s.locate(ctx)
	if err != nil {
		return "", err
	}
	return p.host, nil
}

// QueryRows reads the proven scratch copy (a sources.Querier): a plan check
// (n8n's credentials drill) looks at the rows before anything live is
// touched.
func (w *swap) QueryRows(ctx context.Context, query string) ([][]string, error) {
	if w.done {
		return nil, errors.New("sqlite: the scratch copy is already committed or thrown away")
	}
	return QueryFile(ctx, w.file, query)
}

// QueryRows reads the live database (a sources.Querier), read-only.
func (s *Source) QueryRows(ctx context.Context, query string) ([][]string, error) {
	p, err := s.locate(ctx)
	if err != nil {
		return nil, err
	}
	return QueryFile(ctx, p.host, query)
}
