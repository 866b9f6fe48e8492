package docker

import (
	"testing"

	"github.com/docker/docker/api/types/container"
)

func TestMountHolding(t *testing.T) {
	mounts := []container.MountPoint{
		{Destination: "/home/node", Name: "home"},
		{Destination: "/home/node/.n8n", Name: "data"},
		{Destination: "/data2", Name: "other"},
	}
	for _, c := range []struct {
		p, name, rel string
		ok           bool
	}{
		{"/home/node/.n8n/database.sqlite", "data", "database.sqlite", true},
		{"/home/node/.n8n", "data", ".", true},
		{"/home/node/x", "home", "x", true},
		{"/home/node/.n8nx/db", "home", ".n8nx/db", true},
		{"/data", "", "", false},
		{"/data2x/db", "", "", false},
	} {
		m, rel, ok := MountHolding(mounts, c.p)
		if ok != c.ok || (ok && (m.Name != c.name || rel != c.rel)) {
			t.Errorf("MountHolding(%s) = %s %q %v, want %s %q %v", c.p, m.Name, rel, ok, c.name, c.rel, c.ok)
		}
	}
}
