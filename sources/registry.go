package sources

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Spec is one decoded profile item, resolved into plan items when a backup,
// restore or verify runs (it may look at Docker then, through env).
type Spec interface {
	Resolve(ctx context.Context, env *Env, name string) ([]*PlanItem, error)
}

// Kind is a registered source kind.
type Kind struct {
	// Name is what its sources' Kind() returns and snapshots record as
	// Meta["source"].
	Name string
	// ConfigKey is the key that selects the kind in a profile item
	// ("paths" for files); empty when profiles cannot name it (stdin, or
	// postgres-globals, which the postgres key makes).
	ConfigKey string
	// Decode reads the value under ConfigKey. decode is strict: a key the
	// target struct does not have is an error with its line.
	Decode func(decode func(v any) error) (Spec, error)
	// Target (optional) is where a restore puts an item of this kind when
	// the plan has no item of its name: a source built from the recorded
	// meta alone (host files), or an error saying what is missing now.
	Target func(meta map[string]string) (Source, error)
}

// Preset discovers a whole stack (n8n) from its Compose project.
type Preset struct {
	Name     string
	Discover func(ctx context.Context, env *Env, project string) (*Plan, error)
}

var registry struct {
	sync.RWMutex
	kinds   map[string]Kind
	keys    map[string]Kind
	presets map[string]Preset
}

// Register adds a kind; call it from the kind package's init. A name or
// config key registered twice panics.
func Register(k Kind) {
	registry.Lock()
	defer registry.Unlock()
	if k.Name == "" {
		panic("sources: Register of a kind without a name")
	}
	if _, dup := registry.kinds[k.Name]; dup {
		panic("sources: kind " + k.Name + " registered twice")
	}
	if registry.kinds == nil {
		registry.kinds, registry.keys = map[string]Kind{}, map[string]Kind{}
	}
	if k.ConfigKey != "" {
		if k.Decode == nil {
			panic("sources: kind " + k.Name + " has a config key but no Decode")
		}
		if k.ConfigKey == "name" {
			panic("sources: kind " + k.Name + " cannot use the config key \"name\"")
		}
		if _, dup := registry.keys[k.ConfigKey]; dup {
			panic("sources: config key " + k.ConfigKey + " registered twice")
		}
		registry.keys[k.ConfigKey] = k
	}
	registry.kinds[k.Name] = k
}

// Lookup returns the kind of that name.
func Lookup(name string) (Kind, bool) {
	registry.RLock()
	defer registry.RUnlock()
	k, ok := registry.kinds[name]
	return k, ok
}

func byConfigKey(key string) (Kind, bool) {
	registry.RLock()
	defer registry.RUnlock()
	k, ok := registry.keys[key]
	return k, ok
}

// ConfigKeys lists the keys a profile item may use besides name, sorted.
func ConfigKeys() []string {
	registry.RLock()
	defer registry.RUnlock()
	var out []string
	for k := range registry.keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// RegisterPreset adds a preset; a name registered twice panics.
func RegisterPreset(p Preset) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.presets[p.Name]; dup {
		panic("sources: preset " + p.Name + " registered twice")
	}
	if registry.presets == nil {
		registry.presets = map[string]Preset{}
	}
	registry.presets[p.Name] = p
}

// LookupPreset returns the preset of that name.
func LookupPreset(name string) (Preset, bool) {
	registry.RLock()
	defer registry.RUnlock()
	p, ok := registry.presets[name]
	return p, ok
}

// Presets lists the registered preset names, sorted.
func Presets() []string {
	registry.RLock()
	defer registry.RUnlock()
	var out []string
	for n := range registry.presets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Discover runs a preset on a Compose project. The plan records "project".
func Discover(ctx context.Context, preset, project string) (*Plan, error) {
	p, ok := LookupPreset(preset)
	if !ok {
		return nil, fmt.Errorf("unknown preset %q", preset)
	}
	env := &Env{}
	plan, err := p.Discover(ctx, env, project)
	if err != nil {
		env.Close()
		return nil, err
	}
	plan.Project, plan.RecordAs, plan.Env = project, "project", env
	return plan, nil
}

// PlanFromSpecs resolves a profile's items. The plan records "profile".
func PlanFromSpecs(ctx context.Context, profile string, specs []ItemSpec) (*Plan, error) {
	env := &Env{}
	plan := &Plan{Project: profile, RecordAs: "profile", Env: env}
	for _, sp := range specs {
		if sp.Spec == nil {
			env.Close()
			return nil, fmt.Errorf("profile %s: item %q has no source", profile, sp.Name)
		}
		items, err := sp.Spec.Resolve(ctx, env, sp.Name)
		if err != nil {
			env.Close()
			return nil, err
		}
		plan.Items = append(plan.Items, items...)
	}
	return plan, nil
}
