package sources

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// App is one application container a restore stops and starts again.
type App struct {
	Container string
	// Role is what it does, for messages ("main", "worker", "webhook").
	Role string
	// StopTier orders the stops: lower tiers stop first (in parallel
	// within a tier: queue workers drain together) and start last.
	StopTier int
	// StopTimeout bounds a graceful stop (SIGTERM, then SIGKILL) so that
	// running work can finish; 0 is the runtime's default.
	StopTimeout time.Duration
	// Ready, if set, waits (bounded) after the restart until the app
	// answers and says how it went; a failure is reported, never undone.
	Ready func(ctx context.Context) (string, error)
}

// AppsInStopOrder are the plan's apps as a restore stops them: by tier,
// in plan order within one.
func (p *Plan) AppsInStopOrder() []App {
	out := slices.Clone(p.Apps)
	slices.SortStableFunc(out, func(a, b App) int { return a.StopTier - b.StopTier })
	return out
}

// AppNames are the plan's app containers, in stop order.
func (p *Plan) AppNames() []string {
	var out []string
	for _, a := range p.AppsInStopOrder() {
		out = append(out, a.Container)
	}
	return out
}

// PlanItem is one thing a backup takes.
type PlanItem struct {
	Name   string
	Source Source
}

// Plan is what a backup will take and where a restore puts it back.
type Plan struct {
	// Project names the stack in messages (a Compose project or a
	// profile).
	Project string
	// RecordAs is the Meta key under which every item records Project
	// ("project" for a discovered stack, "profile" for a profile written
	// out): restore finds the stack again by it. Empty for a plan from the
	// command line, whose items record no Meta at all.
	RecordAs string
	// Apps are the application containers (n8n main, workers, webhook
	// processors): stopped before any data is replaced, by ascending
	// StopTier, and started again in the reverse order.
	Apps  []App
	Items []*PlanItem
	// Checks run over the prepared items before anything live is
	// touched (restore) and in a restore drill (verify).
	Checks   []PlanChecker
	Warnings []string
	// Env holds what resolving the plan opened; Close releases it.
	Env *Env
}

// Item returns the plan item of that name, or nil.
func (p *Plan) Item(name string) *PlanItem {
	for _, it := range p.Items {
		if it.Name == name {
			return it
		}
	}
	return nil
}

// Meta is what a snapshot records for it: its source's Meta, the kind as
// "source" and the plan's origin; nil for a command-line plan.
func (p *Plan) Meta(it *PlanItem) map[string]string {
	if p.RecordAs == "" {
		return nil
	}
	m := maps.Clone(it.Source.Meta())
	if m == nil {
		m = map[string]string{}
	}
	m["source"] = it.Source.Kind()
	m[p.RecordAs] = p.Project
	return m
}

// Target is where a restore puts a snapshot item back: the plan's item of
// that name, else what the recorded kind builds from meta alone (host
// files). nil and no error: the item has nowhere to go and is left out.
func (p *Plan) Target(name string, meta map[string]string) (Source, error) {
	if it := p.Item(name); it != nil {
		return it.Source, nil
	}
	k, ok := Lookup(meta["source"])
	if !ok || k.Target == nil {
		return nil, nil
	}
	return k.Target(meta)
}

// Close releases what resolving the plan opened (a Docker connection).
func (p *Plan) Close() error {
	if p == nil || p.Env == nil {
		return nil
	}
	return p.Env.Close()
}

// Env holds connections that resolving a plan opened, shared by its items
// (one Docker client for every container item) and closed with the plan.
// A plan that needs none (host files, commands) opens none.
type Env struct {
	mu     sync.Mutex
	shared map[string]io.Closer
	closed bool
}

// ErrEnvClosed is returned by Shared after Close.
var ErrEnvClosed = errors.New("sources: plan environment already closed")

// Shared returns the value kept under key, opening it on first use.
func (e *Env) Shared(ctx context.Context, key string, open func(context.Context) (io.Closer, error)) (io.Closer, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrEnvClosed
	}
	if c, ok := e.shared[key]; ok {
		return c, nil
	}
	c, err := open(ctx)
	if err != nil {
		return nil, err
	}
	if e.shared == nil {
		e.shared = map[string]io.Closer{}
	}
	e.shared[key] = c
	return c, nil
}

// Close closes everything opened; the first error is returned.
func (e *Env) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	var first error
	for k, c := range e.shared {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
		delete(e.shared, k)
	}
	return first
}
