package main

import (
	"context"
	"errors"
	"path/filepath"

	"snap/repo/backend"
	"snap/repo/backend/location"
	"snap/repo/backend/meter"
	"snap/repo/backend/retry"
)

// parseLocation parses a repository location; a bad one is a usage error.
// what names where it came from (a sync destination, --from), "" for the
// repository itself: the message quotes the string anyway.
func parseLocation(what, s string) (location.Location, error) {
	loc, err := location.Parse(s)
	if err != nil {
		return nil, usagef("%s%v", prefix(what), err)
	}
	return loc, nil
}

// openLocation opens the backend at loc with the config file's settings
// for its store, a remote one with the retries and timeout of the global
// flags; create prepares a new repository's place. A store snap does not
// have yet is a usage error.
func (g *globalOptions) openLocation(ctx context.Context, what string, loc location.Location, create bool) (backend.Backend, error) {
	return g.openStore(ctx, what, loc, location.Options{Create: create})
}

// openStore is openLocation with more of location.Options (AsOf).
func (g *globalOptions) openStore(ctx context.Context, what string, loc location.Location, o location.Options) (backend.Backend, error) {
	o.Timeout = g.RemoteTimeout
	o.Retry = retry.Policy{MaxAttempts: g.remoteAttempts, Log: g.retryLog()}
	if g.cfg != nil && g.cfg.S3 != nil {
		o.S3 = g.cfg.S3.settings()
	}
	be, err := location.Open(ctx, loc, o)
	if err == nil {
		be = meter.Wrap(be)
	}
	if errors.Is(err, location.ErrUnsupported) {
		return nil, usagef("%s%v", prefix(what), err)
	}
	return be, err
}

// retryLog reports each retry of a remote request on stderr, unless
// --quiet: a slow night shows why. The errors name the location and the
// cause, never credentials.
func (g *globalOptions) retryLog() func(retry.Event) {
	return func(e retry.Event) { warn(g, "%v", e) }
}

func prefix(what string) string {
	if what == "" {
		return ""
	}
	return what + ": "
}

// sameLocation reports whether a and b name the same repository: local
// paths are compared made absolute.
func sameLocation(a, b location.Location) bool {
	la, aok := a.(location.Local)
	lb, bok := b.(location.Local)
	if aok && bok {
		pa, err1 := filepath.Abs(la.Path)
		pb, err2 := filepath.Abs(lb.Path)
		return err1 == nil && err2 == nil && pa == pb
	}
	return a == b
}

// location parses the repository location (--repo, SNAP_REPO or the
// config file).
func (g *globalOptions) location() (location.Location, error) {
	if g.Repo == "" {
		return nil, usagef("no repository given: use --repo DIR or set SNAP_REPO")
	}
	return parseLocation("", g.Repo)
}

// repoBackend opens the storage of the repository.
func (g *globalOptions) repoBackend(ctx context.Context) (backend.Backend, error) {
	loc, err := g.location()
	if err != nil {
		return nil, err
	}
	if err := g.checkAsOf(); err != nil {
		return nil, err
	}
	be, err := g.openStore(ctx, "", loc, location.Options{AsOf: g.asOf})
	if errors.Is(err, location.ErrNoVersions) {
		return nil, usagef("--as-of reads earlier versions of the repository's files, which only an s3: repository in a versioned bucket keeps; %s has none", g.Repo)
	}
	if err != nil {
		return nil, err
	}
	g.store = meter.Of(be)
	return be, nil
}

// remoteConnections is the default for stores across a network: each
// request waits a round trip, so several in flight keep the link busy
// (restic's default for s3 is 5 too); memory grows by a pack (16 MiB) each.
const remoteConnections = 5

// connections is --connections, else the default for the repository's
// store (0: the repository's own default, for a directory).
func (g *globalOptions) connections() int {
	if g.Connections > 0 {
		return g.Connections
	}
	if loc, err := g.location(); err == nil {
		if _, local := loc.(location.Local); !local {
			return remoteConnections
		}
	}
	return 0
}
