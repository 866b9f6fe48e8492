package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.yaml.in/yaml/v3"

	"snap/sources"
)

// defaultConfig is read when it exists and no --config or SNAP_CONFIG is given.
const defaultConfig = "/etc/snap/snap.yaml"

// configFile is snap's YAML config: where the repository and key are, and
// profiles (a preset such as n8n, or items written out). YAML because it is
// what Compose users already write; go.yaml.in/yaml/v3 because it can reject
// unknown keys with their line number.
type configFile struct {
	Repository   string              `yaml:"repository"`
	KeyFile      string              `yaml:"key_file"`
	PasswordFile string              `yaml:"password_file"`
	CacheDir     string              `yaml:"cache_dir"`
	Profiles     map[string]*profile `yaml:"profiles"`
}

type profile struct {
	Preset  string             `yaml:"preset"`  // "n8n"
	Project string             `yaml:"project"` // compose project for a preset
	Items   []sources.ItemSpec `yaml:"items"`
	Tags    []string           `yaml:"tags"`
}

// loadConfig reads path; a missing default config is no config.
func loadConfig(path string, explicit bool) (*configFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c configFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, usagef("config %s: %v", path, err)
	}
	for name, p := range c.Profiles {
		if p.Preset != "" && !presets[p.Preset] {
			return nil, usagef("config %s: profile %q: unknown preset %q (known: n8n)", path, name, p.Preset)
		}
		if (p.Preset == "") == (len(p.Items) == 0) {
			return nil, usagef("config %s: profile %q: give either a preset or items", path, name)
		}
	}
	return &c, nil
}
