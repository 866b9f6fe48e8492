package sources_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"snap/sources"
)

// nested is a spec with every shape the strict decoder walks.
type nested struct {
	Host   string            `yaml:"host"`
	Ports  []int             `yaml:"ports"`
	Inner  *inner            `yaml:"inner"`
	List   []inner           `yaml:"list"`
	ByName map[string]inner  `yaml:"by_name"`
	Labels map[string]string `yaml:"labels"`
	Common `yaml:",inline"`
	Skip   string `yaml:"-"`
}

type inner struct {
	Size int `yaml:"size"`
}

type Common struct {
	Timeout string `yaml:"timeout"`
}

type nestedSource struct{ name string }

func (s nestedSource) Kind() string            { return "sources-test" }
func (s nestedSource) Describe() string        { return "test " + s.name }
func (s nestedSource) Meta() map[string]string { return map[string]string{"name": s.name} }

func (n *nested) Resolve(_ context.Context, _ *sources.Env, name string) ([]*sources.PlanItem, error) {
	return []*sources.PlanItem{{Name: name, Source: nestedSource{name}}}, nil
}

func init() {
	sources.Register(sources.Kind{Name: "sources-test", ConfigKey: "nested", Decode: func(dec func(any) error) (sources.Spec, error) {
		var n nested
		return &n, dec(&n)
	}, Target: func(meta map[string]string) (sources.Source, error) {
		if meta["name"] == "" {
			return nil, errors.New("no place now")
		}
		return nestedSource{meta["name"]}, nil
	}})
	sources.Register(sources.Kind{Name: "sources-test-other", ConfigKey: "other", Decode: func(dec func(any) error) (sources.Spec, error) {
		var n nested
		return &n, dec(&n)
	}})
}

func decode(doc string) ([]sources.ItemSpec, error) {
	var cfg struct {
		Items []sources.ItemSpec `yaml:"items"`
	}
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	err := dec.Decode(&cfg)
	return cfg.Items, err
}

func TestItemSpecStrict(t *testing.T) {
	good := `items:
  - name: a
    nested:
      host: h
      ports: [1, 2]
      inner: {size: 3}
      list: [{size: 4}]
      by_name: {x: {size: 5}}
      labels: {anything: goes}
      timeout: 5s
`
	items, err := decode(good)
	if err != nil {
		t.Fatal(err)
	}
	n := items[0].Spec.(*nested)
	if items[0].Name != "a" || items[0].Kind != "sources-test" || n.Inner.Size != 3 || n.List[0].Size != 4 || n.ByName["x"].Size != 5 || n.Timeout != "5s" {
		t.Fatalf("decoded %+v %+v", items[0], n)
	}
	for _, c := range []struct{ doc, want string }{
		{"items:\n  - name: a\n    nested: {hots: h}\n", "line 3: field hots not found in type sources_test.nested"},
		{"items:\n  - name: a\n    nested:\n      inner: {sise: 1}\n", "line 4: field sise not found in type sources_test.inner"},
		{"items:\n  - name: a\n    nested:\n      list:\n        - {size: 1}\n        - {sze: 2}\n", "line 6: field sze not found"},
		{"items:\n  - name: a\n    nested:\n      by_name: {x: {s: 1}}\n", "line 4: field s not found"},
		{"items:\n  - name: a\n    nested: {skip: x}\n", "field skip not found"},
		{"items:\n  - name: a\n    nested: {}\n    other: {}\n", `line 4: item "a": give exactly one of`},
		{"items:\n  - name: a\n    nestd: {}\n", `line 3: unknown item key "nestd" (known: name, `},
		{"items:\n  - name: a/b\n    nested: {}\n", `line 2: invalid item name "a/b": contains '/'`},
		{"items:\n  - name: \"a\\nb\"\n    nested: {}\n", `line 2: invalid item name "a\nb": contains the control or formatting character U+000A`},
		{"items:\n  - just a string\n", "line 2: an item is a mapping"},
		{"items:\n  - name: a\n    nested: {ports: [x]}\n", "line 3: cannot unmarshal !!str `x` into int"},
	} {
		_, err := decode(c.doc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %q", c.doc, err, c.want)
		}
	}
}

func TestPlanFromSpecs(t *testing.T) {
	items, err := decode("items:\n  - name: a\n    nested: {}\n  - name: b\n    other: {}\n")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := sources.PlanFromSpecs(context.Background(), "prof", items)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	if plan.Project != "prof" || plan.RecordAs != "profile" || len(plan.Items) != 2 || plan.Item("b") == nil || plan.Item("c") != nil {
		t.Fatalf("plan %+v", plan)
	}
	meta := plan.Meta(plan.Item("a"))
	if meta["source"] != "sources-test" || meta["profile"] != "prof" || meta["name"] != "a" || len(meta) != 3 {
		t.Errorf("meta %v", meta)
	}
	// Restore targets: the plan's item, else what the kind builds.
	if src, err := plan.Target("a", nil); err != nil || src.(nestedSource).name != "a" {
		t.Errorf("target a: %v %v", src, err)
	}
	if src, err := plan.Target("gone", map[string]string{"source": "sources-test", "name": "gone"}); err != nil || src.(nestedSource).name != "gone" {
		t.Errorf("target from meta: %v %v", src, err)
	}
	if _, err := plan.Target("gone", map[string]string{"source": "sources-test"}); err == nil {
		t.Error("the kind's error is lost")
	}
	if src, err := plan.Target("gone", map[string]string{"source": "sources-test-other"}); src != nil || err != nil {
		t.Errorf("a kind without Target: %v %v", src, err)
	}
	if src, err := plan.Target("gone", map[string]string{"source": "unknown"}); src != nil || err != nil {
		t.Errorf("an unknown kind: %v %v", src, err)
	}
	cli := &sources.Plan{Items: plan.Items}
	if m := cli.Meta(cli.Items[0]); m != nil {
		t.Errorf("a command-line plan records %v", m)
	}
}

type closer struct{ closed *int }

func (c closer) Close() error { *c.closed++; return nil }

func TestEnv(t *testing.T) {
	env := &sources.Env{}
	opened, closed := 0, 0
	open := func(context.Context) (io.Closer, error) { opened++; return closer{&closed}, nil }
	for range 3 {
		if _, err := env.Shared(context.Background(), "k", open); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Shared(context.Background(), "fails", func(context.Context) (io.Closer, error) { return nil, errors.New("no") }); err == nil {
		t.Fatal("open error lost")
	}
	plan := &sources.Plan{Env: env}
	if err := plan.Close(); err != nil || opened != 1 || closed != 1 {
		t.Fatalf("opened %d, closed %d: %v", opened, closed, err)
	}
	if _, err := env.Shared(context.Background(), "k", open); !errors.Is(err, sources.ErrEnvClosed) {
		t.Fatalf("after Close: %v", err)
	}
	var none *sources.Plan
	if none.Close() != nil || (&sources.Plan{}).Close() != nil {
		t.Fatal("closing an empty plan failed")
	}
}

func TestRegisterTwice(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a kind registered twice did not panic")
		}
	}()
	sources.Register(sources.Kind{Name: "sources-test"})
}
