package repo

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/format"
)

// Lock timing (docs/format.md "Locks"). A held lock is rewritten every
// lockRefresh; others call one not rewritten for lockStale stale. A holder
// stops trusting its own lock much earlier, after lockValid without a
// successful rewrite, so that clock skew between hosts up to
// lockStale-lockValid cannot let a prune delete what a backup still uses.
const (
	lockRefresh = 5 * time.Minute
	lockValid   = 15 * time.Minute
	lockStale   = 30 * time.Minute
)

// LockStaleAfter is how long a lock goes unrefreshed before others ignore
// it as stale.
const LockStaleAfter = lockStale

// Lock operations, recorded in lock files so a conflict names what holds
// the repository.
const (
	OpBackup  = "backup"
	OpPrune   = "prune"
	OpForget  = "forget"
	OpCheck   = "check"
	OpRepair  = "repair"
	OpSync    = "sync"
	OpRestore = "restore"
	OpCopy    = "copy"
)

// LockInfo is a lock file's content (sealed with the metadata key).
type LockInfo struct {
	Time time.Time `json:"time"`
	Host string    `json:"host"`
	PID  int       `json:"pid"`
	// BootID and PIDNS say in which kernel boot and PID namespace PID
	// means something: two containers may share a host name, and a pid
	// is only worth testing from the same namespace of the same boot.
	BootID    string `json:"boot_id,omitempty"`
	PIDNS     string `json:"pid_ns,omitempty"`
	User      string `json:"user,omitempty"`
	Exclusive bool   `json:"exclusive"`
	Op        string `json:"op,omitempty"`
	// Nonce is random per lock and kept across refreshes and an
	// upgrade: a holder never conflicts with its own files.
	Nonce string `json:"nonce,omitempty"`
	Name  string `json:"-"`
	// Unreadable marks a lock file that failed to load (RemoveLocks).
	Unreadable bool `json:"-"`
}

// Origin is where a process runs, as far as its pid means anything: the
// host name, the kernel's boot id and the PID namespace.
type Origin struct {
	Host, BootID, PIDNS string
}

// localOrigin is this process's Origin. BootID or PIDNS stay empty where
// /proc does not tell them; an empty one never matches.
func localOrigin() Origin {
	o := Origin{Host: hostname()}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		o.BootID = strings.TrimSpace(string(b))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		o.PIDNS = ns
	}
	return o
}

// samePIDSpace reports whether l's pid can be tested from o: same host,
// same boot and same PID namespace, all known.
func (l *LockInfo) samePIDSpace(o Origin) bool {
	return l.Host == o.Host && l.BootID != "" && l.BootID == o.BootID && l.PIDNS != "" && l.PIDNS == o.PIDNS
}

// Stale reports whether the lock's holder is gone: not refreshed for a long
// time, or a process that no longer exists in the same PID namespace of
// the same boot as the caller. Anywhere else (another host, another
// container with the same host name, a lock written before boot ids were
// recorded) only the refresh age counts.
func (l *LockInfo) Stale(now time.Time, o Origin) bool {
	if now.Sub(l.Time) > lockStale {
		return true
	}
	if l.PID > 0 && l.samePIDSpace(o) {
		if err := syscall.Kill(l.PID, 0); err == syscall.ESRCH {
			return true
		}
	}
	return false
}

func (l *LockInfo) String() string {
	if l.Unreadable {
		return "an unreadable lock file"
	}
	kind := "shared"
	if l.Exclusive {
		kind = "exclusive"
	}
	op := l.Op
	if op == "" {
		op = "snap"
	}
	return fmt.Sprintf("%s (%s lock of pid %d on %s, refreshed %s)", op, kind, l.PID, l.Host, l.Time.Format(time.RFC3339))
}

// conflicts says whether two locks cannot be held at once: an exclusive
// lock excludes everything, and only one prune runs at a time.
func conflicts(a, b *LockInfo) bool {
	return a.Exclusive || b.Exclusive || (a.Op == OpPrune && b.Op == OpPrune)
}

// LockError says who holds the conflicting lock.
type LockError struct {
	Holder *LockInfo
	Waited time.Duration
}

func (e *LockError) Error() string {
	waited := ""
	if e.Waited > 0 {
		waited = fmt.Sprintf(" (waited %s)", e.Waited.Round(time.Second))
	}
	return fmt.Sprintf("repository is locked by %s%s", e.Holder, waited)
}

func (e *LockError) Unwrap() error { return ErrLocked }

// ErrLockLost means a held lock can no longer be trusted: it could not be
// refreshed in time, or someone removed it. The operation must stop before
// it commits anything.
var ErrLockLost = errors.New("the repository lock was lost")

// ErrLockRemoved: another process removed a held lock's file. It comes
// wrapped with ErrLockLost.
var ErrLockRemoved = errors.New("another process removed the lock file")

// ErrLockUnreadable: a lock file failed to load. It comes wrapped with
// ErrLocked: it may be a live lock.
var ErrLockUnreadable = errors.New("a lock file is unreadable")

// LockOptions say what lock to take and how long to wait for it.
type LockOptions struct {
	Exclusive bool
	Op        string
	// Wait bounds how long to wait for conflicting locks to go away; 0
	// fails at once.
	Wait time.Duration
	// Poll is the interval between checks while waiting; 0 means a few
	// seconds.
	Poll time.Duration
	// Waiting, if set, is called once when the lock has to wait, with the
	// lock waited for (for a message on a terminal).
	Waiting func(holder *LockInfo)
}

// Lock is a held lock; Unlock removes it.
type Lock struct {
	r    *Repository
	mu   sync.Mutex
	info LockInfo
	// lastOK is when the lock file was last written successfully (by the
	// repository's clock); lost is set when it was found removed.
	lastOK time.Time
	lost   bool
	stop   chan struct{}
	done   chan struct{}
}

// Locks lists lock files. A holder refreshes its lock by writing a new file
// and then removing the old one, so a file that vanishes between the
// listing and the read may have a successor the listing missed: list again
// until a listing reads whole.
func (r *Repository) Locks(ctx context.Context) ([]*LockInfo, error) {
	for attempt := 0; ; attempt++ {
		names, err := listNames(ctx, r.be, backend.LockFile)
		if err != nil {
			return nil, err
		}
		var out []*LockInfo
		vanished := false
		for _, n := range names {
			li, err := r.loadLock(ctx, n)
			if errors.Is(err, backend.ErrNotExist) {
				vanished = true
				continue
			}
			if errors.Is(err, ErrDamaged) {
				return nil, fmt.Errorf("%w: %w: locks/%s (%v)", ErrLocked, ErrLockUnreadable, n, err)
			}
			if err != nil {
				return nil, err
			}
			out = append(out, li)
		}
		if !vanished || attempt >= 20 {
			return out, nil
		}
	}
}

func (r *Repository) loadLock(ctx context.Context, name string) (*LockInfo, error) {
	h := backend.Handle{Type: backend.LockFile, Name: name}
	plain, err := r.loadSealedFile(ctx, h, format.ADLock)
	if err != nil {
		return nil, err
	}
	var li LockInfo
	if err := json.Unmarshal(plain, &li); err != nil {
		return nil, &DamagedError{File: h, Err: err}
	}
	li.Name = name
	return &li, nil
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// Lock takes a lock, waiting up to o.Wait for conflicting live locks to go
// away. Stale locks are ignored but never removed here. An exclusive lock
// that waits only for shared ones keeps its file while it waits, so new
// shared lockers queue behind it instead of starving it.
func (r *Repository) Lock(ctx context.Context, o LockOptions) (*Lock, error) {
	me := localOrigin()
	l := &Lock{r: r, info: LockInfo{Host: me.Host, BootID: me.BootID, PIDNS: me.PIDNS, PID: os.Getpid(), Exclusive: o.Exclusive, Op: o.Op, Nonce: newNonce()},
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := r.acquire(ctx, l, o); err != nil {
		return nil, err
	}
	go l.refreshLoop()
	return l, nil
}

// acquire writes l's lock file and waits until no live lock conflicts with
// it. A file it keeps while waiting is rewritten every lockRefresh, like a
// held lock, so a long wait neither makes it stale to others nor leaves it
// untrusted when the wait ends.
func (r *Repository) acquire(ctx context.Context, l *Lock, o LockOptions) error {
	poll := o.Poll
	if poll <= 0 {
		poll = 3 * time.Second
	}
	start := r.opts.Now()
	notified := false
	for {
		if l.info.Name == "" || r.opts.Now().Sub(l.info.Time) >= lockRefresh {
			old := l.info.Name
			l.info.Time = r.opts.Now()
			if err := l.write(ctx); err != nil {
				return err
			}
			if old != "" {
				_ = r.be.Remove(ctx, backend.Handle{Type: backend.LockFile, Name: old})
			}
		}
		holder, err := r.conflict(ctx, &l.info)
		if err != nil {
			l.remove(ctx)
			return err
		}
		if holder == nil {
			l.lastOK = l.info.Time
			return nil
		}
		// A shared locker steps back so an exclusive one can proceed;
		// an exclusive one steps back only from another exclusive one
		// (both would wait forever otherwise).
		if !l.info.Exclusive || holder.Exclusive || holder.Op == OpPrune && l.info.Op == OpPrune {
			l.remove(ctx)
		}
		waited := r.opts.Now().Sub(start)
		if waited >= o.Wait {
			l.remove(ctx)
			return &LockError{Holder: holder, Waited: waited}
		}
		if !notified && o.Waiting != nil {
			o.Waiting(holder)
			notified = true
		}
		// Jitter keeps two waiters from retrying in lockstep.
		d := min(poll+time.Duration(rand.Int64N(int64(poll)/4+1)), o.Wait-waited)
		select {
		case <-ctx.Done():
			l.remove(ctx)
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// conflict returns a live lock that conflicts with mine, ignoring my own
// files (same nonce).
func (r *Repository) conflict(ctx context.Context, mine *LockInfo) (*LockInfo, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return nil, err
	}
	host := localOrigin()
	for _, li := range locks {
		if li.Name == mine.Name || (mine.Nonce != "" && li.Nonce == mine.Nonce) || li.Stale(r.opts.Now(), host) {
			continue
		}
		if conflicts(mine, li) {
			return li, nil
		}
	}
	return nil, nil
}

// Upgrade turns a held shared lock into an exclusive one, waiting up to
// o.Wait for the other holders to finish (o.Exclusive and o.Op are
// ignored). The shared lock stays held, and refreshed, while it waits, and
// is still held if the upgrade fails.
func (l *Lock) Upgrade(ctx context.Context, o LockOptions) error {
	l.mu.Lock()
	if l.info.Exclusive {
		l.mu.Unlock()
		return nil
	}
	x := &Lock{r: l.r, info: l.info} // same nonce: never in conflict with the shared file
	l.mu.Unlock()
	x.info.Exclusive, x.info.Name = true, ""
	if err := l.r.acquire(ctx, x, o); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.remove(ctx)
	l.info, l.lastOK = x.info, x.lastOK
	return nil
}

func (l *Lock) write(ctx context.Context) error {
	b, err := json.Marshal(l.info)
	if err != nil {
		return err
	}
	id, err := l.r.saveSealedFile(ctx, backend.LockFile, b, format.ADLock)
	if err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	l.info.Name = id.String()
	return nil
}

func (l *Lock) remove(ctx context.Context) {
	if l.info.Name != "" {
		_ = l.r.be.Remove(ctx, backend.Handle{Type: backend.LockFile, Name: l.info.Name})
		l.info.Name = ""
	}
}

func (l *Lock) refreshLoop() {
	defer close(l.done)
	t := time.NewTicker(lockRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			_ = l.Refresh(context.Background())
		}
	}
}

// Refresh rewrites the lock file with the current time (a new file, then the
// old one is removed). It is called every few minutes while the lock is
// held. If the old file is gone, someone removed the lock ('snap unlock
// --remove-all'): the lock is lost and Check reports it.
func (l *Lock) Refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost {
		return l.errLost()
	}
	old := l.info
	if _, err := l.r.be.Stat(ctx, backend.Handle{Type: backend.LockFile, Name: old.Name}); errors.Is(err, backend.ErrNotExist) {
		l.lost = true
		return l.errLost()
	}
	l.info.Time = l.r.opts.Now()
	if err := l.write(ctx); err != nil {
		l.info = old // keep the old file: it still protects us until it is stale
		return err
	}
	l.lastOK = l.info.Time
	_ = l.r.be.Remove(ctx, backend.Handle{Type: backend.LockFile, Name: old.Name})
	return nil
}

func (l *Lock) errLost() error {
	return fmt.Errorf("%w: %w (locks/%s); stopping before anything is committed", ErrLockLost, ErrLockRemoved, l.info.Name)
}

// Check returns ErrLockLost (wrapped) if the lock can no longer be trusted:
// call it before a commit point (a snapshot, a deletion).
func (l *Lock) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost {
		return l.errLost()
	}
	if age := l.r.opts.Now().Sub(l.lastOK); age > lockValid {
		return fmt.Errorf("%w: it could not be refreshed for %s (is the repository's disk full or gone?), so another process may treat it as stale; stopping before anything is committed", ErrLockLost, age.Round(time.Second))
	}
	return nil
}

// Info returns the lock's current content.
func (l *Lock) Info() LockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	l.remove(context.Background())
	l.mu.Unlock()
}

// RemoveLocks removes stale lock files (all of them with all) and returns
// what it removed and what it left. Unreadable lock files count as stale:
// a live holder rewrites its file every few minutes.
func (r *Repository) RemoveLocks(ctx context.Context, all bool) (removed, kept []*LockInfo, err error) {
	names, err := listNames(ctx, r.be, backend.LockFile)
	if err != nil {
		return nil, nil, err
	}
	host := localOrigin()
	for _, n := range names {
		li, err := r.loadLock(ctx, n)
		if errors.Is(err, backend.ErrNotExist) {
			continue
		}
		if errors.Is(err, ErrDamaged) {
			li, err = &LockInfo{Name: n, Unreadable: true}, nil
		}
		if err != nil {
			return removed, kept, err
		}
		if !all && !li.Unreadable && !li.Stale(r.opts.Now(), host) {
			kept = append(kept, li)
			continue
		}
		if err := r.be.Remove(ctx, backend.Handle{Type: backend.LockFile, Name: n}); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return removed, kept, err
		}
		removed = append(removed, li)
	}
	return removed, kept, nil
}

func newNonce() string {
	k := crypt.NewRandomKey()
	return hex.EncodeToString(k[:8])
}
