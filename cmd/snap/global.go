package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"snap/crypt"
	"snap/internal/atomicfile"
	"snap/repo"
	"snap/repo/backend"
	"snap/repo/backend/location"
	"snap/repo/backend/meter"
	"snap/repo/backend/retry"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	Repo         string
	KeyFile      string
	PasswordFile string
	CacheDir     string
	Config       string
	JSON         bool
	Quiet        bool
	Verbose      bool
	RetryLock    time.Duration
	Connections  int
	// RemoteTimeout and RemoteRetries: how patient to be with a remote
	// repository (location.Options).
	RemoteTimeout time.Duration
	RemoteRetries int

	// asOf, set by a reading command's --as-of, opens the repository as
	// it was then (asof.go).
	asOf time.Time

	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	cfg            *configFile            // nil without a config file
	store          *meter.Meter           // counts what is asked of the repository's store, once opened
	changed        func(flag string) bool // whether a flag was given; nil: none was
	remoteAttempts int                    // from RemoteRetries once filled; 0: the default
}

func (g *globalOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&g.Repo, "repo", "r", "", "repository directory (env SNAP_REPO)")
	fs.StringVar(&g.KeyFile, "key-file", "", "key file to open the repository with (env SNAP_KEY_FILE)")
	fs.StringVar(&g.PasswordFile, "password-file", "", "read the passphrase from this file (env SNAP_PASSWORD_FILE; or SNAP_PASSWORD)")
	fs.StringVar(&g.CacheDir, "cache-dir", "", "local cache directory (env SNAP_CACHE_DIR; default ~/.cache/snap)")
	fs.StringVar(&g.Config, "config", "", "config file with repository, key and profiles (env SNAP_CONFIG; default /etc/snap/snap.yaml if it exists)")
	fs.BoolVar(&g.JSON, "json", false, "print JSON")
	fs.BoolVarP(&g.Quiet, "quiet", "q", false, "print only errors")
	fs.BoolVarP(&g.Verbose, "verbose", "v", false, "print more detail")
	fs.IntVar(&g.Connections, "connections", 0, "packs uploaded or copied at once (default 2 for a directory, 5 for s3 and sftp)")
	fs.DurationVar(&g.RetryLock, "retry-lock", defaultRetryLock, "wait up to this long for another snap process's conflicting lock (0: fail at once)")
	fs.DurationVar(&g.RemoteTimeout, "remote-timeout", location.DefaultTimeout, "fail a request to a remote repository when no byte has moved for this long (env SNAP_REMOTE_TIMEOUT)")
	fs.IntVar(&g.RemoteRetries, "remote-retries", retry.DefaultAttempts-1, "retry a request to a remote repository that failed with a passing fault this many times, with backoff (env SNAP_REMOTE_RETRIES)")
}

// defaultRetryLock lets a cron backup that meets a running prune, sync or
// another backup's exclusive step wait rather than fail.
const defaultRetryLock = 10 * time.Minute

// fillFromEnv completes the flags from the environment, then from the
// config file: flags win over the environment, which wins over the file.
func (g *globalOptions) fillFromEnv() error {
	set := func(p *string, env string) {
		if *p == "" {
			*p = g.getenv(env)
		}
	}
	set(&g.Repo, "SNAP_REPO")
	set(&g.KeyFile, "SNAP_KEY_FILE")
	set(&g.PasswordFile, "SNAP_PASSWORD_FILE")
	set(&g.CacheDir, "SNAP_CACHE_DIR")
	set(&g.Config, "SNAP_CONFIG")
	if err := g.fillRemote(); err != nil {
		return err
	}
	path, explicit := g.Config, g.Config != ""
	if !explicit {
		path = defaultConfig
	}
	cfg, err := loadConfig(path, explicit)
	if err != nil || cfg == nil {
		return err
	}
	g.cfg = cfg
	fill := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	fill(&g.Repo, cfg.Repository)
	if g.PasswordFile == "" && g.getenv("SNAP_PASSWORD") == "" {
		fill(&g.KeyFile, cfg.KeyFile)
	}
	if g.KeyFile == "" {
		fill(&g.PasswordFile, cfg.PasswordFile)
	}
	fill(&g.CacheDir, cfg.CacheDir)
	return nil
}

// fillRemote takes --remote-timeout and --remote-retries from the
// environment when not given as flags, and checks them.
func (g *globalOptions) fillRemote() error {
	given := func(f string) bool { return g.changed != nil && g.changed(f) }
	if v := g.getenv("SNAP_REMOTE_TIMEOUT"); v != "" && !given("remote-timeout") {
		d, err := time.ParseDuration(v)
		if err != nil {
			return usagef("SNAP_REMOTE_TIMEOUT=%q: not a duration (30s, 2m)", v)
		}
		g.RemoteTimeout = d
	}
	if v := g.getenv("SNAP_REMOTE_RETRIES"); v != "" && !given("remote-retries") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return usagef("SNAP_REMOTE_RETRIES=%q: not a number", v)
		}
		g.RemoteRetries = n
	}
	if g.RemoteTimeout <= 0 {
		return usagef("--remote-timeout must be positive: a request that hangs must end")
	}
	if g.RemoteRetries < 0 {
		return usagef("--remote-retries must be 0 or more")
	}
	g.remoteAttempts = g.RemoteRetries + 1
	return nil
}

// printf writes progress and summaries unless --quiet or --json.
func (g *globalOptions) printf(format string, a ...any) {
	if g.Quiet || g.JSON {
		return
	}
	fmt.Fprintf(g.stdout, format, a...)
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ttyFile returns the controlling terminal, for prompts that must work
// while stdin carries data (backup --stdin).
func ttyFile() (*os.File, bool) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, false
	}
	if !term.IsTerminal(int(f.Fd())) {
		f.Close()
		return nil, false
	}
	return f, true
}

// passphrase returns the passphrase from --password-file, SNAP_PASSWORD or
// a prompt; confirm asks twice (for new passphrases).
func (g *globalOptions) passphrase(prompt string, confirm bool) (string, error) {
	if g.PasswordFile != "" {
		return readPasswordFile(g.PasswordFile)
	}
	if p := g.getenv("SNAP_PASSWORD"); p != "" {
		return p, nil
	}
	return promptPassphrase(prompt, confirm)
}

func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	return p, nil
}

func promptPassphrase(prompt string, confirm bool) (string, error) {
	tty, ok := ttyFile()
	if !ok {
		return "", usagef("no passphrase: set SNAP_PASSWORD, use --password-file or --key-file, or run on a terminal")
	}
	defer tty.Close()
	read := func(p string) (string, error) {
		fmt.Fprint(tty, p)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return string(b), err
	}
	p, err := read(prompt)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", errors.New("empty passphrase")
	}
	if confirm {
		p2, err := read("Repeat passphrase: ")
		if err != nil {
			return "", err
		}
		if p2 != p {
			return "", errors.New("passphrases do not match")
		}
	}
	return p, nil
}

// loadKeyFile reads a plaintext key file, refusing one others can read.
func loadKeyFile(path string) (*crypt.Master, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: it holds secrets, make it private with 'chmod 600 %s'", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(f), 1<<20))
	if err != nil {
		return nil, err
	}
	m, err := crypt.ParseKeyFile(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return m, nil
}

// writeKeyFile creates a new 0600 key file; it never overwrites one.
func writeKeyFile(path string, m *crypt.Master) error {
	if err := atomicfile.WriteNew(path, crypt.MarshalKeyFile(m), 0o600); err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	return nil
}

// slotWorkFactor is the scrypt cost of new key slots. Only tests lower it
// (TestMain): opening a slot costs what its own header says, so a binary
// the tests run opens their cheap slots quickly without a switch of its own.
var slotWorkFactor = crypt.DefaultWorkFactor

// openedRepo is a repository opened with the user's key.
type openedRepo struct {
	*repo.Repository
	slot string     // the key slot the passphrase opened, if any
	lock *repo.Lock // held until Close, if taken with holdLock
	tmp  string     // a private cache directory to remove at Close (--as-of)
}

// holdLock takes a shared lock kept until Close: readers hold one so a
// prune's deleting step never removes a pack under a running restore.
func (o *openedRepo) holdLock(ctx context.Context, g *globalOptions, op string) error {
	if !g.asOf.IsZero() {
		// A view of the past is read-only, and a lock file there is
		// refused; prune deletes earlier versions only once their
		// object lock has run out.
		return nil
	}
	l, err := g.lock(ctx, o, op, false)
	if err != nil {
		return err
	}
	o.lock = l
	return nil
}

// Close releases the lock, then the repository.
func (o *openedRepo) Close() error {
	if o.lock != nil {
		o.lock.Unlock()
		o.lock = nil
	}
	err := o.Repository.Close()
	if o.tmp != "" {
		os.RemoveAll(o.tmp)
	}
	return err
}

// open opens the repository with --key-file or a passphrase.
func (g *globalOptions) open(ctx context.Context) (*openedRepo, error) {
	return g.openWith(ctx, repo.Options{CacheDir: g.CacheDir})
}

// stateDir is the user's cache directory, for what must outlive the
// private cache of check and repair (the local record of damaged packs).
func (g *globalOptions) stateDir() string {
	if g.CacheDir != "" {
		return g.CacheDir
	}
	d, _ := repo.DefaultCacheDir()
	return d
}

// openWith opens the repository with options of the caller's.
func (g *globalOptions) openWith(ctx context.Context, o repo.Options) (*openedRepo, error) {
	be, err := g.repoBackend(ctx)
	if err != nil {
		return nil, err
	}
	tmp, err := g.privateState()
	if err != nil {
		return nil, err
	}
	if tmp != "" {
		o.CacheDir, o.StateDir = tmp, tmp
	}
	or, err := g.openBackend(ctx, be, o)
	if err != nil {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
		return nil, err
	}
	or.tmp = tmp
	return or, nil
}

// openBackend opens the repository in be with the user's key.
func (g *globalOptions) openBackend(ctx context.Context, be backend.Backend, o repo.Options) (*openedRepo, error) {
	var err error
	var m *crypt.Master
	var slot string
	if g.KeyFile != "" {
		if m, err = loadKeyFile(g.KeyFile); err != nil {
			return nil, err
		}
	} else {
		// Fail on a missing or unreachable repository before asking for
		// a passphrase (and before a remote one's retries run twice).
		if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); errors.Is(err, backend.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s (create one with 'snap init')", repo.ErrNoRepository, g.Repo)
		} else if err != nil {
			return nil, err
		}
		p, err := g.passphrase("Repository passphrase: ", false)
		if err != nil {
			return nil, err
		}
		m, slot, err = repo.OpenKey(ctx, be, p)
		// scrypt's buffers are garbage now: hand them back before the
		// real work starts.
		debug.FreeOSMemory()
		if err != nil {
			return nil, err
		}
	}
	if o.Now == nil {
		o.Now = now // the command line's clock is the repository's
	}
	if o.Connections == 0 {
		o.Connections = g.connections()
	}
	if o.Warn == nil {
		o.Warn = func(msg string) { warn(g, "%s", msg) }
	}
	r, err := repo.Open(ctx, be, m, o)
	if errors.Is(err, repo.ErrNoRepository) {
		return nil, fmt.Errorf("%w at %s (create one with 'snap init')", err, g.Repo)
	}
	if err != nil {
		return nil, err
	}
	return &openedRepo{Repository: r, slot: slot}, nil
}

// lock takes a repository lock, waiting up to --retry-lock and saying so on
// stderr when it has to wait.
func (g *globalOptions) lock(ctx context.Context, r *openedRepo, op string, exclusive bool) (*repo.Lock, error) {
	return r.Lock(ctx, g.lockOptions(op, exclusive))
}

func (g *globalOptions) lockOptions(op string, exclusive bool) repo.LockOptions {
	return repo.LockOptions{Op: op, Exclusive: exclusive, Wait: g.RetryLock, Waiting: func(h *repo.LockInfo) {
		if !g.Quiet {
			fmt.Fprintf(g.stderr, "waiting up to %s for the %s\n", g.RetryLock, h)
		}
	}}
}

// openSnapshot opens the repository with a key that can read data and finds
// a snapshot: what dump, restore and verify all start with. A write-only
// key fails here, before anything is printed.
func (g *globalOptions) openSnapshot(ctx context.Context, ref string) (*openedRepo, *repo.Snapshot, error) {
	r, err := g.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !r.CanRead() {
		r.Close()
		return nil, nil, repo.ErrWriteOnly
	}
	if err := r.holdLock(ctx, g, repo.OpRestore); err != nil {
		r.Close()
		return nil, nil, err
	}
	s, err := r.FindSnapshot(ctx, ref)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, s, nil
}
