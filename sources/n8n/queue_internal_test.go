package n8n

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

func inspect(name, image string, env, cmd []string, labels map[string]string, aliases ...string) *container.InspectResponse {
	ins := &container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{Name: "/" + name},
		Config:            &container.Config{Image: image, Env: env, Cmd: cmd, Labels: labels},
		NetworkSettings:   &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{"net": {Aliases: aliases}}},
	}
	return ins
}

func TestN8nRole(t *testing.T) {
	for _, c := range []struct {
		ins  *container.InspectResponse
		role string
		ok   bool
	}{
		{inspect("a", "docker.n8n.io/n8nio/n8n:1.123.4", nil, nil, nil), RoleMain, true},
		{inspect("b", "n8nio/n8n@sha256:abc", nil, []string{"worker"}, nil), RoleWorker, true},
		{inspect("c", "n8nio/n8n", nil, []string{"webhook"}, nil), RoleWebhook, true},
		// A custom image: known by its env and command.
		{inspect("d", "acme/automation:3", []string{"EXECUTIONS_MODE=queue"}, []string{"sh", "-c", "n8n worker --concurrency=5"}, nil), RoleWorker, true},
		{inspect("e", "acme/automation:3", []string{"N8N_ENCRYPTION_KEY=k"}, []string{"start"}, nil), RoleMain, true},
		{inspect("f", "nginx:1", []string{"PATH=/bin"}, []string{"nginx"}, nil), "", false},
		{inspect("g", "acme/n8n-custom", nil, nil, nil), RoleMain, true},
	} {
		role, ok := n8nRole(c.ins)
		if role != c.role || ok != c.ok {
			t.Errorf("%s: got %q %v, want %q %v", c.ins.Name, role, ok, c.role, c.ok)
		}
	}
}

func TestPick(t *testing.T) {
	a := inspect("p-postgres-1", "postgres:16", nil, nil, map[string]string{"com.docker.compose.service": "postgres"})
	b := inspect("p-analytics-1", "postgres:16", nil, nil, map[string]string{"com.docker.compose.service": "analytics"}, "db")
	if got, err := pick("PostgreSQL", "DB_POSTGRESDB_HOST", "", []*container.InspectResponse{a}); err != nil || got != a {
		t.Errorf("one candidate: %v %v", got, err)
	}
	for host, want := range map[string]*container.InspectResponse{"postgres": a, "p-analytics-1": b, "DB": b} {
		if got, err := pick("PostgreSQL", "DB_POSTGRESDB_HOST", host, []*container.InspectResponse{a, b}); err != nil || got != want {
			t.Errorf("host %q: got %v, %v", host, got, err)
		}
	}
	for _, host := range []string{"", "db.example.com"} {
		_, err := pick("PostgreSQL", "DB_POSTGRESDB_HOST", host, []*container.InspectResponse{a, b})
		if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), "p-postgres-1, p-analytics-1") || !strings.Contains(err.Error(), "DB_POSTGRESDB_HOST") {
			t.Errorf("host %q: %v", host, err)
		}
	}
}

func TestStopTimeout(t *testing.T) {
	for v, want := range map[string]time.Duration{"": DefaultStopTimeout, "30": DefaultStopTimeout, "120": 125 * time.Second, "99999": maxStopTimeout} {
		if got := stopTimeout(map[string]string{"N8N_GRACEFUL_SHUTDOWN_TIMEOUT": v}); got != want {
			t.Errorf("%q: %s, want %s", v, got, want)
		}
	}
}
