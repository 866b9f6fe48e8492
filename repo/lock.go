package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// Lock timing: a held lock is rewritten every lockRefresh; one not rewritten
// for lockStale is stale (its holder is presumed gone).
const (
	lockRefresh = 5 * time.Minute
	lockStale   = 30 * time.Minute
)

// LockInfo is a lock file's content (sealed with the metadata key).
type LockInfo struct {
	Time      time.Time `json:"time"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	User      string    `json:"user,omitempty"`
	Exclusive bool      `json:"exclusive"`
	Name      string    `json:"-"`
}

// Stale reports whether the lock's holder is gone: not refreshed for a long
// time, or a dead process on this host.
func (l *LockInfo) Stale(now time.Time, host string) bool {
	if now.Sub(l.Time) > lockStale {
		return true
	}
	if l.Host == host && l.PID > 0 {
		if err := syscall.Kill(l.PID, 0); err == syscall.ESRCH {
			return true
		}
	}
	return false
}

// Lock is a held lock; Unlock removes it.
type Lock struct {
	r    *Repository
	mu   sync.Mutex
	info LockInfo
	stop chan struct{}
	done chan struct{}
}

// Locks lists lock files.
func (r *Repository) Locks(ctx context.Context) ([]*LockInfo, error) {
	var names []string
	if err := r.be.List(ctx, LockFile, func(fi FileInfo) error { names = append(names, fi.Name); return nil }); err != nil {
		return nil, err
	}
	var out []*LockInfo
	for _, n := range names {
		plain, err := r.loadSealedFile(ctx, Handle{Type: LockFile, Name: n}, adLock)
		if errors.Is(err, ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, err
		}
		var li LockInfo
		if err := json.Unmarshal(plain, &li); err != nil {
			return nil, &DamagedError{File: Handle{Type: LockFile, Name: n}, Err: err}
		}
		li.Name = n
		out = append(out, &li)
	}
	return out, nil
}

// LockError says who holds the conflicting lock.
type LockError struct{ Holder *LockInfo }

func (e *LockError) Error() string {
	kind := "shared"
	if e.Holder.Exclusive {
		kind = "exclusive"
	}
	return fmt.Sprintf("repository is locked (%s lock by pid %d on %s since %s); if that process is gone, delete locks/%s in the repository (a lock not refreshed for 30 minutes is ignored anyway)",
		kind, e.Holder.PID, e.Holder.Host, e.Holder.Time.Format(time.RFC3339), e.Holder.Name)
}

func (e *LockError) Unwrap() error { return ErrLocked }

// Lock takes a shared (backup) or exclusive (prune) lock. A conflicting
// live lock is a *LockError; stale locks are ignored but never removed here.
func (r *Repository) Lock(ctx context.Context, exclusive bool) (*Lock, error) {
	host, _ := os.Hostname()
	l := &Lock{r: r, info: LockInfo{Time: r.opts.Now(), Host: host, PID: os.Getpid(), Exclusive: exclusive}, stop: make(chan struct{}), done: make(chan struct{})}
	if err := r.checkLocks(ctx, exclusive, ""); err != nil {
		return nil, err
	}
	if err := l.write(ctx); err != nil {
		return nil, err
	}
	// Check again after writing: two processes racing both see each other.
	if err := r.checkLocks(ctx, exclusive, l.info.Name); err != nil {
		l.remove(ctx)
		return nil, err
	}
	go l.refresh()
	return l, nil
}

func (r *Repository) checkLocks(ctx context.Context, exclusive bool, own string) error {
	locks, err := r.Locks(ctx)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	for _, li := range locks {
		if li.Name == own || li.Stale(r.opts.Now(), host) {
			continue
		}
		if exclusive || li.Exclusive {
			return &LockError{Holder: li}
		}
	}
	return nil
}

func (l *Lock) write(ctx context.Context) error {
	b, err := json.Marshal(l.info)
	if err != nil {
		return err
	}
	id, err := l.r.saveSealedFile(ctx, LockFile, b, adLock)
	if err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	l.info.Name = id.String()
	return nil
}

func (l *Lock) remove(ctx context.Context) {
	_ = l.r.be.Remove(ctx, Handle{Type: LockFile, Name: l.info.Name})
}

func (l *Lock) refresh() {
	defer close(l.done)
	t := time.NewTicker(lockRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			old := l.info.Name
			l.info.Time = l.r.opts.Now()
			if err := l.write(context.Background()); err == nil {
				_ = l.r.be.Remove(context.Background(), Handle{Type: LockFile, Name: old})
			}
			l.mu.Unlock()
		}
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	l.remove(context.Background())
	l.mu.Unlock()
}
