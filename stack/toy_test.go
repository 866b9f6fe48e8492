package stack_test

// This file is the proof that a source kind is a plug-in: the toy kind is
// registered, decoded from a profile item (toy: {...}), planned, backed up,
// restored and drilled through the registry and package stack, and no
// other file knows it exists.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"snap/repo"
	"snap/sources"
	"snap/stack"
)

func init() {
	sources.Register(sources.Kind{Name: "toy", ConfigKey: "toy", Decode: decodeToy})
}

// toySpec is what a profile writes under toy:.
type toySpec struct {
	Text  string `yaml:"text"`
	Times int    `yaml:"times"`
}

func decodeToy(decode func(any) error) (sources.Spec, error) {
	var s toySpec
	if err := decode(&s); err != nil {
		return nil, err
	}
	if s.Times <= 0 {
		return nil, errors.New("toy: times must be positive")
	}
	return &s, nil
}

func (s *toySpec) Resolve(_ context.Context, _ *sources.Env, name string) ([]*sources.PlanItem, error) {
	return []*sources.PlanItem{{Name: name, Source: &toy{spec: *s}}}, nil
}

// toy backs up its text Times times and restores into toyPlace.
type toy struct{ spec toySpec }

var toyPlace sync.Map // item name -> restored text

func (t *toy) Kind() string            { return "toy" }
func (t *toy) Describe() string        { return fmt.Sprintf("%q %d times", t.spec.Text, t.spec.Times) }
func (t *toy) Meta() map[string]string { return map[string]string{"text": t.spec.Text} }

func (t *toy) Stream(_ context.Context, w io.Writer) (map[string]string, error) {
	_, err := io.WriteString(w, strings.Repeat(t.spec.Text, t.spec.Times))
	return map[string]string{"times": fmt.Sprint(t.spec.Times)}, err
}

func (t *toy) read(ctx context.Context, st sources.Stored) (string, error) {
	rc := st.Open(ctx)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return "", err
	}
	if want := strings.Repeat(st.Meta()["text"], t.spec.Times); string(b) != want {
		return "", fmt.Errorf("stored %q, want %q", b, want)
	}
	return string(b), nil
}

func (t *toy) Restore(ctx context.Context, st sources.Stored) (string, error) {
	s, err := t.read(ctx, st)
	if err != nil {
		return "", err
	}
	toyPlace.Store(st.Name(), s)
	return "played back", nil
}

func (t *toy) Drill(ctx context.Context, st sources.Stored) (string, error) {
	_, err := t.read(ctx, st)
	return "plays back", err
}

func decodeProfile(doc string) ([]sources.ItemSpec, error) {
	var cfg struct {
		Items []sources.ItemSpec `yaml:"items"`
	}
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	err := dec.Decode(&cfg)
	return cfg.Items, err
}

func TestToyKind(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"items:\n  - name: a\n    toy: {text: x, tims: 2}\n", "line 3: field tims not found in type stack_test.toySpec"},
		{"items:\n  - name: a\n    toyy: {text: x}\n", `line 3: unknown item key "toyy"`},
		{"items:\n  - name: a\n    toy: {text: x}\n", `line 3: item "a": toy: times must be positive`},
		{"items:\n  - toy: {text: x, times: 1}\n", "line 2: an item needs a name"},
		{"items:\n  - name: a\n", `line 2: item "a": give exactly one of`},
		{"items:\n  - name: a\n    toy: {text: x, times: many}\n", "line 3: cannot unmarshal !!str `many` into int"},
	} {
		_, err := decodeProfile(c.doc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.doc, err, c.want)
		}
	}

	specs, err := decodeProfile(`items:
  - name: greeting
    toy: {text: "hi ", times: 3}
  - name: farewell
    toy:
      text: "bye "
      times: 2
`)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plan, err := sources.PlanFromSpecs(ctx, "toys", specs)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	if d := plan.Items[0].Source.Describe(); d != `"hi " 3 times` {
		t.Errorf("--dry-run line %q", d)
	}
	w := newWorld(t)
	snap := w.backup(plan)
	it, _ := snap.Item("greeting")
	if it.Meta["source"] != "toy" || it.Meta["profile"] != "toys" || it.Meta["text"] != "hi " || it.Meta["times"] != "3" {
		t.Errorf("recorded meta %v", it.Meta)
	}
	var say []string
	if err := stack.Restore(ctx, w.r, plan, snap, items(snap), stack.RestoreOptions{Say: func(s string) { say = append(say, s) }}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"greeting": "hi hi hi ", "farewell": "bye bye "} {
		if got, _ := toyPlace.Load(name); got != want {
			t.Errorf("%s restored %q, want %q", name, got, want)
		}
	}
	if strings.Join(say, "; ") != "greeting: played back; farewell: played back" {
		t.Errorf("restore log %q", say)
	}
	reports := map[string]string{}
	err = stack.Verify(ctx, w.r, plan, snap, stack.VerifyOptions{Report: func(it *repo.Item, msg string) { reports[it.Name] = msg }})
	if err != nil || reports["greeting"] != "plays back" {
		t.Fatalf("verify: %v %v", err, reports)
	}
}
