package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"snap/cache"
	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/format"
)

// Damaged packs (docs/format.md "Damaged packs"): when any operation finds
// a pack damaged it records it, in the repository (damaged/<hash>, sealed
// with the metadata key, so a write-only key writes them too) and in this
// host's cache. Writers never deduplicate against a recorded pack, so a
// new backup stores fresh copies of its blobs, and readers use a copy in
// another pack first. repair packs, prune and check remove records once
// the pack is replaced, removed or reads intact.

// How a damaged pack was found (DamagedPack.FoundBy).
const (
	FoundByCheck  = "check"  // check: a pack missing, of the wrong size, or failing --read-data
	FoundByRead   = "read"   // a blob that failed to open (restore, dump, verify, copy, prune's marking)
	FoundByPrune  = "prune"  // a pack that failed its hash before prune repacked it
	FoundBySync   = "sync"   // a source pack that failed its hash during sync
	FoundByRepair = "repair" // repair packs
)

// DamagedPack is a pack known to be damaged.
type DamagedPack struct {
	Pack    crypt.ID  `json:"pack"`
	Reason  string    `json:"reason"`
	FoundBy string    `json:"found_by"`
	Host    string    `json:"host"`
	Time    time.Time `json:"time"`
	// Record is the repository file (damaged/<name>) that records it; ""
	// when only this host's cache does (the record could not be written).
	Record string `json:"record,omitempty"`
}

// damageFile is the plaintext of a damaged/ file.
type damageFile struct {
	Version int           `json:"version"`
	Packs   []damageEntry `json:"packs"`
}

type damageEntry struct {
	Pack    crypt.ID  `json:"pack"`
	Reason  string    `json:"reason"`
	FoundBy string    `json:"found_by"`
	Host    string    `json:"host"`
	Time    time.Time `json:"time"`
}

// maxDamageEntries bounds a record file's list (a hostile file must not
// make a reader allocate without bound).
const maxDamageEntries = 1 << 16

// loadDamageFile reads, verifies and parses one damaged/ file.
func (r *Repository) loadDamageFile(ctx context.Context, name string) ([]damageEntry, error) {
	h := backend.Handle{Type: backend.DamagedFile, Name: name}
	plain, err := r.loadSealedFile(ctx, h, format.ADDamaged)
	if err != nil {
		return nil, err
	}
	return parseDamageFile(h, plain)
}

// parseDamageFile parses a record's plaintext, strictly.
func parseDamageFile(h backend.Handle, plain []byte) ([]damageEntry, error) {
	var f damageFile
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, &DamagedError{File: h, Err: err}
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%v: %w %d", h, ErrVersion, f.Version)
	}
	if len(f.Packs) == 0 || len(f.Packs) > maxDamageEntries {
		return nil, &DamagedError{File: h, Err: fmt.Errorf("%d packs listed", len(f.Packs))}
	}
	if dec.More() {
		return nil, &DamagedError{File: h, Err: errors.New("trailing data")}
	}
	return f.Packs, nil
}

// saveDamageFile writes one record file listing entries.
func (r *Repository) saveDamageFile(ctx context.Context, entries []damageEntry) (string, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].Pack.String() < entries[j].Pack.String() })
	b, err := json.Marshal(damageFile{Version: 1, Packs: entries})
	if err != nil {
		return "", err
	}
	id, err := r.saveSealedFile(ctx, backend.DamagedFile, b, format.ADDamaged)
	if err != nil {
		return "", fmt.Errorf("record damaged packs: %w", err)
	}
	return id.String(), nil
}

// damageLogPath is this host's damage log, in the user's cache directory
// even when the index cache is a private one (Options.StateDir).
func (r *Repository) damageLogPath() (string, error) {
	if r.opts.StateDir != "" {
		return filepath.Join(r.opts.StateDir, r.cfg.ID, "damaged.db"), nil
	}
	dir, err := r.cacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "damaged.db"), nil
}

func (r *Repository) warn(format string, a ...any) {
	if r.opts.Warn != nil {
		r.opts.Warn(fmt.Sprintf(format, a...))
	}
}

// loadDamage reads the repository's records and this host's log of damaged
// packs, hands the set to the index cache c, and writes a record for what
// only the log knows (a record that could not be written earlier). An entry
// of the log whose record is gone was cleared by another host's repair and
// is dropped; one for a pack no index file lists any more is dropped too.
func (r *Repository) loadDamage(ctx context.Context, c *cache.Cache) error {
	names, err := listNames(ctx, r.be, backend.DamagedFile)
	if err != nil {
		return err
	}
	sort.Strings(names)
	known := map[crypt.ID]DamagedPack{}
	listed := map[string]bool{}
	r.damageRecordErrs = nil
	for _, n := range names {
		listed[n] = true
		entries, err := r.loadDamageFile(ctx, n)
		if errors.Is(err, backend.ErrNotExist) {
			continue // removed meanwhile (rewritten by a repair)
		}
		if err != nil {
			if r.damageRecordErrs == nil {
				r.damageRecordErrs = map[string]error{}
			}
			r.damageRecordErrs[n] = err
			continue
		}
		for _, e := range entries {
			if _, ok := known[e.Pack]; !ok {
				known[e.Pack] = DamagedPack{Pack: e.Pack, Reason: e.Reason, FoundBy: e.FoundBy, Host: e.Host, Time: e.Time, Record: n}
			}
		}
	}
	logPath, err := r.damageLogPath()
	if err != nil {
		r.setDamage(c, known)
		return nil // no cache directory: the repository's records alone
	}
	local, err := cache.ReadDamageLog(logPath)
	if err != nil {
		r.warn("this host's record of damaged packs (%s) is unreadable: %v; it is safe to delete: the repository's damaged/ records are read into a new one", logPath, err)
	}
	var drop []crypt.ID
	var pending []cache.Damage
	for id, d := range local {
		if rec, ok := known[id]; ok {
			if rec.Record != d.Record {
				d.Record = rec.Record
				pending = append(pending, d) // only to update the record name
			}
			continue
		}
		_, _, indexed, _ := c.PackKeys(id)
		switch {
		case d.Record != "" && !listed[d.Record]:
			drop = append(drop, id) // its record was cleared: repaired elsewhere
		case !indexed:
			drop = append(drop, id) // the pack left the index: nothing to avoid
		default:
			known[id] = DamagedPack{Pack: id, Reason: d.Reason, FoundBy: d.FoundBy, Host: d.Host, Time: d.Time.UTC()}
			if d.Record == "" {
				pending = append(pending, d)
			}
		}
	}
	// Records only this host has: write them now.
	var unwritten []damageEntry
	for _, d := range pending {
		if d.Record == "" {
			unwritten = append(unwritten, damageEntry{Pack: d.Pack, Reason: d.Reason, FoundBy: d.FoundBy, Host: d.Host, Time: d.Time.UTC()})
		}
	}
	if len(unwritten) > 0 {
		name, err := r.saveDamageFile(ctx, unwritten)
		if err != nil {
			r.warn("%d damaged packs are recorded only in this host's cache: %v", len(unwritten), err)
		}
		for i := range pending {
			if pending[i].Record == "" && name != "" {
				pending[i].Record = name
				d := known[pending[i].Pack]
				d.Record = name
				known[pending[i].Pack] = d
			}
		}
	}
	if len(drop) > 0 {
		if err := cache.DeleteDamage(logPath, drop...); err != nil {
			r.warn("this host's record of damaged packs (%s) could not be updated: %v", logPath, err)
		}
	}
	if len(pending) > 0 {
		if err := cache.PutDamage(logPath, pending...); err != nil {
			r.warn("this host's record of damaged packs (%s) could not be updated: %v", logPath, err)
		}
	}
	r.setDamage(c, known)
	return nil
}

func (r *Repository) setDamage(c *cache.Cache, known map[crypt.ID]DamagedPack) {
	r.damageMu.Lock()
	r.damage = known
	set := make(map[crypt.ID]bool, len(known))
	for id := range known {
		set[id] = true
	}
	r.damageMu.Unlock()
	c.SetDamaged(set)
}

// DamagedPacks returns the packs known to be damaged: recorded in the
// repository or in this host's cache, or found by this process.
func (r *Repository) DamagedPacks(ctx context.Context) ([]DamagedPack, error) {
	if _, err := r.Index(ctx); err != nil {
		return nil, err
	}
	r.damageMu.Lock()
	defer r.damageMu.Unlock()
	out := make([]DamagedPack, 0, len(r.damage))
	for _, d := range r.damage {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pack.String() < out[j].Pack.String() })
	return out, nil
}

// isDamaged reports whether pack is known to be damaged.
func (r *Repository) isDamaged(pack crypt.ID) bool {
	r.damageMu.Lock()
	defer r.damageMu.Unlock()
	_, ok := r.damage[pack]
	return ok
}

// recordDamage records packs found damaged that are not known yet: at once
// for this process (its writers stop deduplicating against them, its
// readers use other copies first), then in the repository and in this
// host's log. It returns what could not be written; the packs are recorded
// in this process either way.
func (r *Repository) recordDamage(ctx context.Context, foundBy string, reasons map[crypt.ID]string) error {
	_, err := r.recordNew(ctx, foundBy, reasons)
	return err
}

// recordNew is recordDamage, also returning the packs that were not known
// to be damaged before.
func (r *Repository) recordNew(ctx context.Context, foundBy string, reasons map[crypt.ID]string) ([]crypt.ID, error) {
	if len(reasons) == 0 {
		return nil, nil
	}
	if _, err := r.Index(ctx); err != nil {
		return nil, err
	}
	r.damageMu.Lock()
	defer r.damageMu.Unlock()
	now := r.opts.Now()
	host := hostname()
	var entries []damageEntry
	var ids []crypt.ID
	for id, reason := range reasons {
		if _, ok := r.damage[id]; ok {
			continue
		}
		entries = append(entries, damageEntry{Pack: id, Reason: reason, FoundBy: foundBy, Host: host, Time: now.UTC()})
		ids = append(ids, id)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	r.cache.MarkDamaged(ids...)
	name, saveErr := r.saveDamageFile(ctx, entries)
	logged := make([]cache.Damage, len(entries))
	for i, e := range entries {
		r.damage[e.Pack] = DamagedPack{Pack: e.Pack, Reason: e.Reason, FoundBy: e.FoundBy, Host: e.Host, Time: e.Time, Record: name}
		logged[i] = cache.Damage{Pack: e.Pack, Reason: e.Reason, FoundBy: e.FoundBy, Host: e.Host, Time: e.Time, Record: name}
	}
	var logErr error
	if path, err := r.damageLogPath(); err == nil {
		logErr = cache.PutDamage(path, logged...)
	}
	switch {
	case saveErr != nil && logErr != nil:
		return ids, fmt.Errorf("%w; and this host's cache: %v", saveErr, logErr)
	case saveErr != nil:
		return ids, fmt.Errorf("%w (recorded in this host's cache; written to the repository when it can be)", saveErr)
	case logErr != nil:
		return ids, fmt.Errorf("record damaged packs in this host's cache: %w", logErr)
	}
	return ids, nil
}

// recordOrWarn records packs found damaged outside check, and says so
// (Options.Warn): the command that found them may still succeed by reading
// other copies, and its user should learn of the damage.
func (r *Repository) recordOrWarn(ctx context.Context, foundBy string, reasons map[crypt.ID]string) {
	ids, err := r.recordNew(ctx, foundBy, reasons)
	for _, id := range ids {
		r.warn("pack %s is damaged (%s): recorded, so new backups store fresh copies of its blobs; 'snap check' names what it affects", id.Short(), reasons[id])
	}
	if err != nil {
		r.warn("%v", err)
	}
}

// clearDamage removes the records of packs that cleared accepts (replaced
// by an intact copy, removed, or read intact): a record file that lists
// only such packs is removed, one that lists others too is rewritten (the
// new file first, then the old one removed), in the repository and in this
// host's log. Records that cannot be read are left as they are.
func (r *Repository) clearDamage(ctx context.Context, cleared func(crypt.ID) bool) (int, error) {
	names, err := listNames(ctx, r.be, backend.DamagedFile)
	if err != nil {
		return 0, err
	}
	removed, gone, err := r.clearRecords(ctx, names, cleared)
	if err != nil {
		return removed, err
	}
	return removed, r.clearLocal(gone, cleared)
}

// clearRecords rewrites or removes the record files names (sorted here)
// whose packs cleared accepts, and returns the cleared packs they named.
// Sync uses it alone on a destination's records: a destination opened with
// the source's id shares the source's log and cache, which must keep what
// only they know of the source.
func (r *Repository) clearRecords(ctx context.Context, names []string, cleared func(crypt.ID) bool) (removed int, gone []crypt.ID, err error) {
	sort.Strings(names)
	seen := map[crypt.ID]bool{}
	for _, n := range names {
		entries, err := r.loadDamageFile(ctx, n)
		if err != nil {
			continue // unreadable (check reports it) or removed meanwhile
		}
		var keep []damageEntry
		for _, e := range entries {
			if cleared(e.Pack) {
				if !seen[e.Pack] {
					seen[e.Pack] = true
					gone = append(gone, e.Pack)
				}
				continue
			}
			keep = append(keep, e)
		}
		if len(keep) == len(entries) {
			continue
		}
		if len(keep) > 0 {
			if _, err := r.saveDamageFile(ctx, keep); err != nil {
				return removed, gone, err
			}
		}
		if err := r.be.Remove(ctx, backend.Handle{Type: backend.DamagedFile, Name: n}); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return removed, gone, fmt.Errorf("remove damaged/%s: %w", n, err)
		}
		removed++
	}
	return removed, gone, nil
}

// clearLocal drops from this process, this host's log and the cache every
// pack in gone or that cleared accepts, also those only they knew.
func (r *Repository) clearLocal(gone []crypt.ID, cleared func(crypt.ID) bool) error {
	seen := map[crypt.ID]bool{}
	for _, id := range gone {
		seen[id] = true
	}
	r.damageMu.Lock()
	for id := range r.damage {
		if !seen[id] && cleared(id) {
			seen[id] = true
			gone = append(gone, id)
		}
	}
	for _, id := range gone {
		delete(r.damage, id)
	}
	r.damageMu.Unlock()
	if path, err := r.damageLogPath(); err == nil {
		local, _ := cache.ReadDamageLog(path)
		var drop []crypt.ID
		for id := range local {
			if seen[id] || cleared(id) {
				drop = append(drop, id)
			}
		}
		if len(drop) > 0 {
			if err := cache.DeleteDamage(path, drop...); err != nil {
				return err
			}
		}
	}
	if r.cache != nil {
		r.damageMu.Lock()
		set := make(map[crypt.ID]bool, len(r.damage))
		for id := range r.damage {
			set[id] = true
		}
		r.damageMu.Unlock()
		r.cache.SetDamaged(set)
	}
	return nil
}
