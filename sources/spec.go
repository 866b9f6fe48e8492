package sources

import (
	"fmt"
	"reflect"
	"snap/repo/format"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ItemSpec is one item of a profile written by hand (README "Profiles"):
// name: plus exactly one registered config key (postgres:, redis:,
// volume:, paths:, command:, ...), whose value the kind decodes.
type ItemSpec struct {
	Name string
	Kind string // the kind the config key selected
	Spec Spec
}

// UnmarshalYAML decodes an item strictly: an unknown key, in the item or in
// its kind's value, is an error naming its line, as the rest of the config
// file (decoded with KnownFields) reports them.
func (s *ItemSpec) UnmarshalYAML(n *yaml.Node) error {
	keys := "name, " + strings.Join(ConfigKeys(), ", ")
	if n.Kind != yaml.MappingNode {
		return typeError(n, "an item is a mapping of name: and one of %s", strings.Join(ConfigKeys(), ", "))
	}
	var errs []string
	var kind Kind
	var value *yaml.Node
	nameLine := n.Line
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "name" {
			if err := v.Decode(&s.Name); err != nil {
				return err
			}
			nameLine = k.Line
			continue
		}
		kd, ok := byConfigKey(k.Value)
		if !ok {
			errs = append(errs, fmt.Sprintf("line %d: unknown item key %q (known: %s)", k.Line, k.Value, keys))
			continue
		}
		if value != nil {
			errs = append(errs, fmt.Sprintf("line %d: item %q: give exactly one of %s (also %s)", k.Line, s.Name, strings.Join(ConfigKeys(), ", "), kind.ConfigKey))
			continue
		}
		kind, value = kd, v
	}
	if s.Name == "" {
		errs = append(errs, fmt.Sprintf("line %d: an item needs a name", nameLine))
	} else if err := format.CheckItemName(s.Name); err != nil {
		errs = append(errs, fmt.Sprintf("line %d: %v", nameLine, err))
	}
	if value == nil && len(errs) == 0 {
		errs = append(errs, fmt.Sprintf("line %d: item %q: give exactly one of %s", n.Line, s.Name, strings.Join(ConfigKeys(), ", ")))
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	spec, err := kind.Decode(func(v any) error { return decodeStrict(value, v) })
	if err != nil {
		if te, ok := err.(*yaml.TypeError); ok {
			return te
		}
		return typeError(value, "item %q: %v", s.Name, err)
	}
	s.Kind, s.Spec = kind.Name, spec
	return nil
}

func typeError(n *yaml.Node, format string, a ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, a...)}}
}

// decodeStrict is n.Decode(v) that also rejects keys v's structs do not
// have (Node.Decode alone ignores them).
func decodeStrict(n *yaml.Node, v any) error {
	var errs []string
	unknownFields(n, reflect.TypeOf(v), &errs)
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return n.Decode(v)
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// unknownFields walks n beside t and reports mapping keys that no field of
// a struct takes, in the words yaml's KnownFields uses.
func unknownFields(n *yaml.Node, t reflect.Type, errs *[]string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) {
			return
		}
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, t))
				continue
			}
			unknownFields(n.Content[i+1], ft, errs)
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			unknownFields(c, t.Elem(), errs)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			unknownFields(n.Content[i], t.Elem(), errs)
		}
	}
}

// yamlFields maps the keys yaml decodes into t's fields (tag names, or the
// lowercased field name; ",inline" structs flattened) to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}
