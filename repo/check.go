package repo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/format"
)

// Subset selects the packs a partial data check reads: pack group N of M
// (by the pack name, so "1/7" … "7/7" on seven nights read everything once),
// or a random fraction.
type Subset struct {
	N, M     int
	Fraction float64
}

// ParseSubset parses "n/m" or "p%".
func ParseSubset(s string) (*Subset, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return nil, fmt.Errorf("invalid subset %q: give a percentage in (0, 100], e.g. 5%%, or a group n/m, e.g. 1/7", s)
		}
		return &Subset{Fraction: f / 100}, nil
	}
	n, m, ok := strings.Cut(s, "/")
	ni, err1 := strconv.Atoi(n)
	mi, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || mi < 1 || ni < 1 || ni > mi {
		return nil, fmt.Errorf("invalid subset %q: give a group n/m with 1 ≤ n ≤ m, e.g. 1/7, or a percentage, e.g. 5%%", s)
	}
	return &Subset{N: ni, M: mi}, nil
}

func (s *Subset) String() string {
	if s.M > 0 {
		return fmt.Sprintf("%d/%d", s.N, s.M)
	}
	return strconv.FormatFloat(s.Fraction*100, 'g', -1, 64) + "%"
}

func (s *Subset) selects(name string) bool {
	if s == nil {
		return true
	}
	if s.M > 0 {
		id, err := crypt.ParseID(name)
		if err != nil {
			return true
		}
		return int((uint16(id[0])<<8|uint16(id[1]))%uint16(s.M)) == s.N-1
	}
	return rand.Float64() < s.Fraction
}

// CheckOptions control a check.
type CheckOptions struct {
	// ReadData reads packs (all, or Subset) and verifies every blob.
	ReadData bool
	Subset   *Subset
	// Progress, if set, is told what the check is doing.
	Progress func(step string)
}

// Problem is one thing check found wrong, named so an operator can act.
type Problem struct {
	File  string   `json:"file,omitempty"`
	Blob  string   `json:"blob,omitempty"`
	Error string   `json:"error"`
	Users []string `json:"affects,omitempty"` // snapshot items that need it
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Blob != "" {
			b.WriteString(" blob " + p.Blob)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Error)
	if len(p.Users) > 0 {
		b.WriteString(" (affects " + strings.Join(p.Users, ", ") + ")")
	}
	return b.String()
}

// CheckResult is what a check found.
type CheckResult struct {
	Snapshots  int       `json:"snapshots"`
	IndexFiles int       `json:"index_files"`
	Packs      int       `json:"packs"`
	Blobs      int       `json:"blobs"`
	PacksRead  int       `json:"packs_read"`
	BytesRead  int64     `json:"bytes_read"`
	BlobsRead  int       `json:"blobs_verified"`
	Problems   []Problem `json:"problems"`
	Warnings   []string  `json:"warnings"`
	// Damaged lists the packs known to be damaged after the check: found
	// by it, or recorded earlier (damaged/ files, this host's cache) and
	// not found intact by it. New backups store fresh copies of their blobs.
	Damaged []DamagedPack `json:"damaged_packs"`
	// Affected names the snapshot items that need a blob whose only copies
	// are in damaged packs (with read data: blobs that failed to verify;
	// otherwise every blob such a pack holds): they cannot be restored in
	// full, or may not be, until the blob is stored again.
	Affected []string `json:"affected"`
	// RecordsCleared counts damaged/ files removed or rewritten because
	// their packs read intact or are gone.
	RecordsCleared int `json:"records_cleared,omitempty"`
	// Hints are what fixes what was found, in order.
	Hints []Remedy `json:"hints,omitempty"`
}

// ErrCheckFailed is returned (wrapped) when check found problems.
var ErrCheckFailed = fmt.Errorf("%w: check found problems", ErrDamaged)

func (c *CheckResult) problem(p Problem) { c.Problems = append(c.Problems, p) }
func (c *CheckResult) warn(format string, a ...any) {
	c.Warnings = append(c.Warnings, fmt.Sprintf(format, a...))
}
func (c *CheckResult) hint(h Remedy) {
	for _, x := range c.Hints {
		if x == h {
			return
		}
	}
	c.Hints = append(c.Hints, h)
}

// checkPack is what the index files say of one pack.
type checkPack struct {
	size   int64
	file   int // index file listing it (the first)
	digest crypt.ID
	blobs  int
}

// blobsDigest summarises a pack's key table and blob list, to compare the
// index with the pack header without keeping either (in memory only: any
// one-to-one encoding does).
func blobsDigest(keys [][]byte, blobs []format.Blob) crypt.ID {
	return crypt.Hash(format.MarshalPackHeader(keys, blobs))
}

// Check verifies the repository's structure: config, key slots, index
// files, that every indexed pack exists with its size, that every blob a
// snapshot needs is in a pack, and lock files. With ReadData it also reads
// packs, checks them against their names and headers and verifies every
// blob it has the key for (a write-only key verifies refs blobs and pack
// hashes; data and file names stay sealed). It needs a repository opened
// with Options.SkipDamagedIndex and a cache it may rebuild.
//
// Problems are returned in the result; the error is for a check that could
// not run at all.
func (r *Repository) Check(ctx context.Context, o CheckOptions) (*CheckResult, error) {
	say := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	res := &CheckResult{Problems: []Problem{}, Warnings: []string{}, Damaged: []DamagedPack{}, Affected: []string{}}
	say("checking key slots and locks")
	r.checkKeys(ctx, res)
	r.checkLocks(ctx, res)

	say("checking index files and packs")
	// Listed in the reverse of the write order (snapshots, index files,
	// packs): everything a listed file refers to was written before it,
	// so a backup committing meanwhile cannot look like damage.
	snapNames, err := listNames(ctx, r.be, backend.SnapshotFile)
	if err != nil {
		return nil, err
	}
	if _, err := r.Index(ctx); err != nil {
		return nil, err
	}
	files, err := listNames(ctx, r.be, backend.IndexFile)
	if err != nil {
		return nil, err
	}
	for name, err := range r.damagedIndex {
		res.problem(Problem{File: backend.Handle{Type: backend.IndexFile, Name: name}.String(), Error: errText(err)})
		res.hint(RemedyRepairIndex)
	}
	disk := map[string]int64{}
	err = r.be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		if _, err := crypt.ParseID(fi.Name); err != nil {
			res.warn("data/: unexpected file %q (not a pack name)", fi.Name)
			return nil
		}
		disk[fi.Name] = fi.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	sort.Strings(files)
	packs := map[string]*checkPack{}
	present := &liveSet{}
	found := map[crypt.ID]string{} // packs found damaged, and why
	for i, name := range files {
		if r.damagedIndex[name] != nil {
			continue
		}
		res.IndexFiles++
		ps, err := r.LoadIndexFile(ctx, name)
		if err != nil {
			res.problem(Problem{File: backend.Handle{Type: backend.IndexFile, Name: name}.String(), Error: errText(err)})
			res.hint(RemedyRepairIndex)
			continue
		}
		for _, p := range ps {
			pn := p.ID.String()
			if _, ok := packs[pn]; ok {
				continue
			}
			packs[pn] = &checkPack{size: p.Size, file: i, digest: blobsDigest(p.Keys, p.Blobs), blobs: len(p.Blobs)}
			size, ok := disk[pn]
			switch {
			case !ok:
				res.problem(Problem{File: backend.Handle{Type: backend.PackFile, Name: pn}.String(), Error: fmt.Sprintf("missing (index file %.8s lists it with %d blobs)", name, len(p.Blobs))})
				res.hint(RemedyMissingPacks)
				found[p.ID] = "missing"
				continue
			case size != p.Size:
				res.problem(Problem{File: backend.Handle{Type: backend.PackFile, Name: pn}.String(), Error: fmt.Sprintf("%d bytes, the index says %d (truncated or altered)", size, p.Size)})
				res.hint(RemedyRepairPacks)
				found[p.ID] = fmt.Sprintf("%d bytes, the index says %d", size, p.Size)
				continue
			}
			for _, b := range p.Blobs {
				present.add(b.ID)
			}
		}
	}
	present.compact()
	res.Packs, res.Blobs = len(packs), len(present.ids)
	unindexed := 0
	for name := range disk {
		if packs[name] == nil {
			unindexed++
		}
	}
	if unindexed > 0 {
		res.warn("%d packs are in no index file: left by an interrupted backup or prune ('snap prune' removes them), or their index file was lost ('snap repair index' adds them back)", unindexed)
	}

	say("checking snapshots")
	snaps := r.checkSnapshots(ctx, res, present, snapNames)

	var rd dataCheck
	if o.ReadData {
		say("reading pack data")
		rd = r.readData(ctx, res, disk, packs, files, o.Subset)
		for name, reason := range rd.damage {
			id, _ := crypt.ParseID(name)
			found[id] = reason
		}
	}
	say("checking damaged packs")
	r.checkDamage(ctx, res, snaps, found, rd, disk, packs, files)
	if len(res.Problems) > 0 && len(res.Hints) == 0 {
		res.hint(RemedyCheckReadData)
	}
	return res, nil
}

func errText(err error) string {
	var de *DamagedError
	if errors.As(err, &de) {
		return de.Err.Error()
	}
	return err.Error()
}

func (r *Repository) checkKeys(ctx context.Context, res *CheckResult) {
	_ = r.be.List(ctx, backend.KeyFile, func(fi backend.FileInfo) error {
		h := backend.Handle{Type: backend.KeyFile, Name: fi.Name}
		b, err := readVerified(ctx, r.be, h)
		if err == nil {
			_, err = parseSlot(h, b)
		}
		if err != nil {
			res.problem(Problem{File: h.String(), Error: errText(err)})
			res.hint(RemedyReplaceKeySlot)
		}
		return nil
	})
}

func (r *Repository) checkLocks(ctx context.Context, res *CheckResult) {
	names, _ := listNames(ctx, r.be, backend.LockFile)
	host := localOrigin()
	for _, n := range names {
		li, err := r.loadLock(ctx, n)
		switch {
		case errors.Is(err, backend.ErrNotExist):
		case err != nil:
			res.warn("locks/%s is unreadable (%s): 'snap unlock' removes it", n, errText(err))
		case li.Stale(r.opts.Now(), host):
			res.warn("locks/%s is a stale %s: 'snap unlock' removes it", n, li)
		}
	}
}

// itemChecker finds the blobs an item needs that no pack holds, reading
// each refs blob once however many items share it.
type itemChecker struct {
	r       *Repository
	present *liveSet
	seen    map[crypt.ID]refsResult
}

// refsResult is what one refs blob lists that is missing, or why it could
// not be read.
type refsResult struct {
	missing []crypt.ID
	err     error
}

func newItemChecker(r *Repository, present *liveSet) *itemChecker {
	return &itemChecker{r: r, present: present, seen: map[crypt.ID]refsResult{}}
}

func (c *itemChecker) has(id crypt.ID) bool { _, ok := c.present.find(id); return ok }

// missing returns the item's missing blobs, and the first error reading
// one of its refs blobs.
func (c *itemChecker) missing(ctx context.Context, it *Item) (missing []crypt.ID, readErr error) {
	if it.Tree != nil && !c.has(*it.Tree) {
		missing = append(missing, *it.Tree)
	}
	for _, ref := range it.Refs {
		if !c.has(ref) {
			missing = append(missing, ref)
			continue
		}
		rr, ok := c.seen[ref]
		if !ok {
			ids, err := c.r.LoadRefs(ctx, []crypt.ID{ref})
			rr.err = err
			for _, id := range ids {
				if !c.has(id) {
					rr.missing = append(rr.missing, id)
				}
			}
			c.seen[ref] = rr
		}
		missing = append(missing, rr.missing...)
		if rr.err != nil && readErr == nil {
			readErr = rr.err
		}
	}
	return missing, readErr
}

// checkSnapshots loads every snapshot and checks that every blob each item
// needs is in a pack. Refs blobs shared by snapshots are read once.
func (r *Repository) checkSnapshots(ctx context.Context, res *CheckResult, present *liveSet, names []string) []*Snapshot {
	sort.Strings(names)
	ic := newItemChecker(r, present)
	var snaps []*Snapshot
	for _, n := range names {
		s, err := r.LoadSnapshot(ctx, n)
		if err != nil {
			res.problem(Problem{File: backend.Handle{Type: backend.SnapshotFile, Name: n}.String(), Error: errText(err)})
			res.hint(RemedyReplaceSnapshot)
			continue
		}
		snaps = append(snaps, s)
		res.Snapshots++
		for i := range s.Items {
			it := &s.Items[i]
			missing, readErr := ic.missing(ctx, it)
			file := backend.Handle{Type: backend.SnapshotFile, Name: n}.String()
			user := []string{fmt.Sprintf("snapshot %s item %q", s.ID.Short(), it.Name)}
			if readErr != nil {
				res.problem(Problem{File: file, Error: fmt.Sprintf("item %q: cannot read its reference list: %s", it.Name, errText(readErr)), Users: user})
				res.hint(RemedyRepairSnapshots)
			}
			if len(missing) > 0 {
				res.problem(Problem{File: file, Blob: missing[0].Short(), Error: fmt.Sprintf("item %q needs %d blobs that are in no pack", it.Name, len(missing)), Users: user})
				res.hint(RemedyRepairSnapshots)
			}
		}
	}
	return snaps
}

// dataCheck is what reading pack data found, by pack name.
type dataCheck struct {
	bad    map[string][]crypt.ID // blobs that failed (all listed ones when the header is unreadable)
	damage map[string]string     // packs whose bytes are not what their name promises, and why
	intact map[string]bool       // packs read that hash to their name and verify throughout
}

// readData reads the selected packs on a few workers.
func (r *Repository) readData(ctx context.Context, res *CheckResult, disk map[string]int64, packs map[string]*checkPack, files []string, subset *Subset) dataCheck {
	var names []string
	for name := range disk {
		if subset.selects(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var mu sync.Mutex
	bad := map[string][]crypt.ID{}
	dc := dataCheck{bad: bad, damage: map[string]string{}, intact: map[string]bool{}}
	skipped := 0
	work := make(chan string)
	var wg sync.WaitGroup
	for range r.workers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := r.cfg.IDKey.NewHasher()
			for name := range work {
				out := r.readPackData(ctx, name, packs[name], h)
				mu.Lock()
				res.PacksRead++
				res.BytesRead += disk[name]
				res.BlobsRead += out.verified
				skipped += out.skipped
				for _, p := range out.problems {
					res.problem(p)
				}
				if out.damage != "" {
					dc.damage[name] = out.damage
				}
				if len(out.problems) == 0 && ctx.Err() == nil {
					dc.intact[name] = true
				}
				if out.badIDs != nil || out.allBad {
					ids := out.badIDs
					if out.allBad {
						ids = r.indexedBlobs(ctx, packs[name], files, name)
					}
					bad[name] = ids
				}
				mu.Unlock()
			}
		}()
	}
	for _, n := range names {
		if ctx.Err() != nil {
			break
		}
		work <- n
	}
	close(work)
	wg.Wait()
	if skipped > 0 {
		res.warn("%d data and tree blobs were checked by their pack's hash only: this key is write-only and cannot decrypt them", skipped)
	}
	if len(bad) > 0 {
		res.hint(RemedyDamagedPacks)
	}
	return dc
}

type packCheck struct {
	problems []Problem
	badIDs   []crypt.ID
	allBad   bool   // the header is unreadable: every blob the index lists is lost
	damage   string // why the pack's bytes are damaged ("" when they are not known to be)
	verified int
	skipped  int
}

func (r *Repository) readPackData(ctx context.Context, name string, ip *checkPack, h *crypt.Hasher) packCheck {
	var out packCheck
	file := backend.Handle{Type: backend.PackFile, Name: name}
	raw, err := readVerified(ctx, r.be, file)
	hashBad := errors.Is(err, ErrDamaged) && raw != nil
	if hashBad {
		// Damaged: look at each blob to name the ones that are lost.
		out.problems = append(out.problems, Problem{File: file.String(), Error: errText(err)})
		out.damage = errText(err)
	} else if err != nil {
		out.problems = append(out.problems, Problem{File: file.String(), Error: "unreadable: " + err.Error()})
		out.allBad = ip != nil
		return out
	}
	keys, blobs, err := r.parsePack(raw)
	if err != nil {
		out.problems = append(out.problems, Problem{File: file.String(), Error: "header: " + err.Error()})
		out.allBad = ip != nil
		if out.damage == "" {
			out.damage = "header: " + err.Error()
		}
		return out
	}
	if ip != nil && blobsDigest(keys, blobs) != ip.digest {
		out.problems = append(out.problems, Problem{File: file.String(), Error: "the pack header and the index disagree about its blobs"})
	}
	var buf []byte
	for _, b := range blobs {
		if ctx.Err() != nil {
			return out
		}
		var s *crypt.Sealer
		if b.Type == format.TypeRefs {
			s = r.meta
		} else if s, err = r.sessionSealer(keys[b.KeySlot]); errors.Is(err, ErrWriteOnly) {
			out.skipped++
			if hashBad {
				// Sealed to this key: any of them may be the damaged one.
				out.badIDs = append(out.badIDs, b.ID)
			}
			continue
		} else if err != nil {
			out.problems = append(out.problems, Problem{File: file.String(), Blob: b.ID.Short(), Error: "session key: " + err.Error()})
			out.badIDs = append(out.badIDs, b.ID)
			continue
		}
		plain, err := r.openBlob(file, b, s, raw[b.Offset:b.Offset+b.Length], buf)
		if err == nil && h.ID(plain) != b.ID {
			err = errors.New("plaintext does not match the blob id")
		}
		if err == nil && b.Type == format.TypeTree {
			_, err = format.ParseTree(plain)
		}
		if err == nil && b.Type == format.TypeRefs {
			_, err = format.ParseRefs(plain)
		}
		if err != nil {
			msg := strings.TrimPrefix(errText(err), "blob "+b.ID.Short()+": ")
			out.problems = append(out.problems, Problem{File: file.String(), Blob: b.ID.Short(), Error: msg})
			out.badIDs = append(out.badIDs, b.ID)
			continue
		}
		buf = plain
		out.verified++
	}
	if out.badIDs == nil && len(out.problems) > 0 && !out.allBad {
		// The hash differs yet every blob verifies: the damage is in the
		// header's padding or the key table; the data is intact.
		out.badIDs = []crypt.ID{}
	}
	return out
}

// indexedBlobs lists the blobs the index gives for a pack (when its header
// cannot be read).
func (r *Repository) indexedBlobs(ctx context.Context, ip *checkPack, files []string, name string) []crypt.ID {
	ps, err := r.LoadIndexFile(ctx, files[ip.file])
	if err != nil {
		return nil
	}
	for _, p := range ps {
		if p.ID.String() == name {
			ids := make([]crypt.ID, len(p.Blobs))
			for i, b := range p.Blobs {
				ids[i] = b.ID
			}
			return ids
		}
	}
	return nil
}

// checkDamage records the packs this check found damaged, clears the
// records of packs it read intact or that are gone (in no index file and not
// on disk), reports recorded packs it did not find damaged itself, and names
// the snapshot items that need blobs whose only copies are in damaged packs.
func (r *Repository) checkDamage(ctx context.Context, res *CheckResult, snaps []*Snapshot, found map[crypt.ID]string, rd dataCheck, disk map[string]int64, packs map[string]*checkPack, files []string) {
	names := make([]string, 0, len(r.damageRecordErrs))
	for n := range r.damageRecordErrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		res.problem(Problem{File: backend.Handle{Type: backend.DamagedFile, Name: n}.String(), Error: "record of damaged packs is unreadable: " + errText(r.damageRecordErrs[n])})
		res.hint(RemedyCopyBack)
	}
	if err := r.recordDamage(ctx, FoundByCheck, found); err != nil {
		res.warn("%v", err)
	}
	cleared := func(id crypt.ID) bool {
		name := id.String()
		_, onDisk := disk[name]
		return rd.intact[name] || packs[name] == nil && !onDisk
	}
	n, err := r.clearDamage(ctx, cleared)
	res.RecordsCleared = n
	if err != nil {
		res.warn("could not clear the records of packs that read intact: %v", err)
	}
	r.damageMu.Lock()
	for _, d := range r.damage {
		res.Damaged = append(res.Damaged, d)
	}
	r.damageMu.Unlock()
	sort.Slice(res.Damaged, func(i, j int) bool { return res.Damaged[i].Pack.String() < res.Damaged[j].Pack.String() })
	// The packs to judge: recorded ones, and those whose blobs failed in
	// this check (also when not recorded: a pack that could not be read).
	damaged := map[string]bool{}
	recorded := map[string]DamagedPack{}
	for _, d := range res.Damaged {
		damaged[d.Pack.String()] = true
		recorded[d.Pack.String()] = d
	}
	judge := make([]string, 0, len(damaged)+len(rd.bad))
	for name := range damaged {
		judge = append(judge, name)
	}
	for name := range rd.bad {
		if !damaged[name] {
			judge = append(judge, name)
		}
	}
	if len(judge) == 0 {
		return
	}
	sort.Strings(judge)
	c, err := r.Index(ctx)
	if err != nil {
		res.warn("cannot tell which snapshots the damaged packs affect: %v", err)
		return
	}
	// A copy counts if its pack is usable (present with its indexed size)
	// and either read by this check with this blob verified, or not read
	// and not damaged.
	failed := map[string]map[crypt.ID]bool{}
	for name, ids := range rd.bad {
		failed[name] = map[crypt.ID]bool{}
		for _, id := range ids {
			failed[name][id] = true
		}
	}
	goodCopy := func(id crypt.ID) bool {
		locs, err := c.Locations(id)
		if err != nil {
			return false
		}
		for _, l := range locs {
			pn := l.Pack.String()
			ip := packs[pn]
			if ip == nil || disk[pn] != ip.size {
				continue
			}
			if f, read := failed[pn]; read && !f[id] || !read && !damaged[pn] {
				return true
			}
		}
		return false
	}
	var all []crypt.ID
	for _, name := range judge {
		ids, read := rd.bad[name]
		if !read && !rd.intact[name] && packs[name] != nil {
			// Not read by this check: any blob it holds may be damaged.
			ids = r.indexedBlobs(ctx, packs[name], files, name)
		}
		var lost []crypt.ID
		for _, id := range ids {
			if !goodCopy(id) {
				lost = append(lost, id)
			}
		}
		all = append(all, lost...)
		file := backend.Handle{Type: backend.PackFile, Name: name}.String()
		reported := false
		var users []string
		if len(lost) > 0 {
			users = r.usersOf(ctx, snaps, lost, 8)
		}
		if len(users) == 0 {
			users = []string{"no snapshot (the blobs it may have lost are not needed, or have an intact copy in another pack)"}
		}
		for i := range res.Problems {
			if res.Problems[i].File == file {
				reported = true
				if res.Problems[i].Users == nil && len(ids) > 0 {
					res.Problems[i].Users = users
				}
			}
		}
		if d, ok := recorded[name]; ok && !reported {
			res.problem(Problem{File: file, Error: fmt.Sprintf("recorded as damaged by %s on %s, %s: %s", d.FoundBy, d.Host, d.Time.UTC().Format(time.DateTime+" UTC"), d.Reason), Users: users})
			res.hint(RemedyDamagedPacks)
		}
	}
	if len(all) > 0 {
		res.Affected = r.usersOf(ctx, snaps, all, 50)
	}
}

// CheckKeyless verifies, with no key at all, that every repository file's
// bytes hash to its name and that the config is readable: what a disk that
// only holds copies can check. Packs are read only if readData (all, or
// subset).
func CheckKeyless(ctx context.Context, be backend.Backend, readData bool, subset *Subset) (*CheckResult, error) {
	res := &CheckResult{Problems: []Problem{}, Warnings: []string{}}
	if _, err := loadConfigFile(ctx, be); err != nil {
		return nil, err
	}
	for _, t := range []backend.FileType{backend.KeyFile, backend.IndexFile, backend.SnapshotFile, backend.LockFile, backend.DamagedFile, backend.PackFile} {
		var infos []backend.FileInfo
		if err := be.List(ctx, t, func(fi backend.FileInfo) error { infos = append(infos, fi); return nil }); err != nil {
			return nil, fmt.Errorf("list %s: %w", t, err)
		}
		for _, fi := range infos {
			h := backend.Handle{Type: t, Name: fi.Name}
			if t == backend.PackFile {
				res.Packs++
				if !readData || !subset.selects(fi.Name) {
					continue
				}
			}
			switch t {
			case backend.IndexFile:
				res.IndexFiles++
			case backend.SnapshotFile:
				res.Snapshots++
			}
			b, err := readVerified(ctx, be, h)
			if errors.Is(err, backend.ErrNotExist) {
				continue // removed meanwhile (a lock)
			}
			if t == backend.PackFile {
				res.PacksRead++
				res.BytesRead += int64(len(b))
			}
			if err != nil {
				res.problem(Problem{File: h.String(), Error: errText(err)})
			}
		}
	}
	if len(res.Problems) > 0 {
		res.hint(RemedyCopyBack)
	}
	return res, nil
}
