package n8n

// Queue mode: n8n as larger installs run it, a main container, one or more
// `n8n worker` containers and sometimes `n8n webhook` processors, all on the
// same PostgreSQL and Redis. A restore must stop every one of them before
// it replaces the database, not only the one that mounts the data volume.

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"snap/sources"
	"snap/sources/docker"
)

// Roles of n8n containers.
const (
	RoleMain    = "main"
	RoleWorker  = "worker"
	RoleWebhook = "webhook"
)

// DefaultStopTimeout is how long a restore lets an n8n container finish
// running executions after SIGTERM (workers drain on it) before it is
// killed. N8N_GRACEFUL_SHUTDOWN_TIMEOUT raises it.
const DefaultStopTimeout = 60 * time.Second

// maxStopTimeout bounds what a container's setting can ask for.
const maxStopTimeout = 10 * time.Minute

// n8nRole says whether a container (not already taken as PostgreSQL or
// Redis) runs n8n and in which role: by its image name, its N8N_* or
// EXECUTIONS_MODE env, or the data mount; workers often have neither the
// mount nor a distinctive image, so any of them is enough. The role comes
// from the command (`worker`, `webhook`, also inside `sh -c "n8n worker"`).
func n8nRole(ins *container.InspectResponse) (string, bool) {
	if ins.Config == nil {
		return "", false
	}
	image := strings.ToLower(ins.Config.Image)
	if i := strings.LastIndex(image, "@"); i >= 0 {
		image = image[:i]
	}
	base := path.Base(image)
	if i := strings.Index(base, ":"); i >= 0 {
		base = base[:i]
	}
	is := base == "n8n" || strings.HasPrefix(base, "n8n-") || strings.HasSuffix(base, "-n8n")
	for _, kv := range ins.Config.Env {
		if strings.HasPrefix(kv, "N8N_") || strings.HasPrefix(kv, "EXECUTIONS_MODE=") {
			is = true
		}
	}
	for _, m := range ins.Mounts {
		if m.Destination == dataPath {
			is = true
		}
	}
	if !is {
		return "", false
	}
	for _, arg := range append(append([]string{}, ins.Config.Entrypoint...), ins.Config.Cmd...) {
		for _, w := range strings.Fields(arg) {
			switch w {
			case "worker":
				return RoleWorker, true
			case "webhook":
				return RoleWebhook, true
			}
		}
	}
	return RoleMain, true
}

// apps are the plan's n8n containers: workers and webhook processors stop
// first (tier 0, together), then main (tier 1); main is asked for
// /healthz after the restart.
func apps(d *docker.Client, list []*container.InspectResponse) []sources.App {
	var out []sources.App
	for _, ins := range list {
		role, _ := n8nRole(ins)
		env := envMap(ins.Config.Env)
		a := sources.App{Container: strings.TrimPrefix(ins.Name, "/"), Role: role, StopTimeout: stopTimeout(env)}
		if role == RoleMain {
			a.StopTier = 1
			a.Ready = healthz(d, a.Container, env["N8N_PORT"])
		}
		out = append(out, a)
	}
	return out
}

// stopTimeout is DefaultStopTimeout, or the container's own graceful
// shutdown timeout and a margin when that is longer.
func stopTimeout(env map[string]string) time.Duration {
	t := DefaultStopTimeout
	if s, err := strconv.Atoi(env["N8N_GRACEFUL_SHUTDOWN_TIMEOUT"]); err == nil && s > 0 {
		if own := time.Duration(s)*time.Second + 5*time.Second; own > t {
			t = min(own, maxStopTimeout)
		}
	}
	return t
}

// healthz asks n8n inside its container (so no port needs to be published)
// until it answers or ctx ends.
func healthz(d *docker.Client, ctr, port string) func(context.Context) (string, error) {
	if port == "" {
		port = "5678"
	}
	url := "http://127.0.0.1:" + port + "/healthz"
	return func(ctx context.Context) (string, error) {
		start := time.Now()
		for {
			_, err := d.Output(ctx, ctr, nil, "wget", "-q", "-O-", url)
			if err == nil {
				return fmt.Sprintf("%s after %s", url, time.Since(start).Round(100*time.Millisecond)), nil
			}
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("no answer on %s within %s (last: %v)", url, time.Since(start).Round(time.Second), err)
			case <-time.After(time.Second):
			}
		}
	}
}

// ErrAmbiguous: the project has several containers of a kind and n8n's
// settings do not say which one it uses.
var ErrAmbiguous = errors.New("n8n: cannot tell which container n8n uses")

// AmbiguousError names the candidates and the setting that should have
// told them apart.
type AmbiguousError struct {
	What       string // "PostgreSQL", "Redis"
	Setting    string // DB_POSTGRESDB_HOST, QUEUE_BULL_REDIS_HOST
	Host       string // its value on the n8n container, maybe empty
	Candidates []string
}

func (e *AmbiguousError) Error() string {
	why := fmt.Sprintf("the n8n container's %s is not set", e.Setting)
	if e.Host != "" {
		why = fmt.Sprintf("the n8n container's %s=%q matches none of them (by container name, Compose service or network alias)", e.Setting, e.Host)
	}
	return fmt.Sprintf("the project has %d %s containers (%s) and %s; snap does not guess which one holds n8n's data: set %s on n8n to one of them, or write a profile that names the containers",
		len(e.Candidates), e.What, strings.Join(e.Candidates, ", "), why, e.Setting)
}

func (e *AmbiguousError) Unwrap() error { return ErrAmbiguous }

// pick is the one container of cands that n8n reaches as host. A single
// candidate is taken as it is (the common stack); several are told apart
// only by host matching exactly one container's name, Compose service or
// network alias, else refused.
func pick(what, setting, host string, cands []*container.InspectResponse) (*container.InspectResponse, error) {
	switch len(cands) {
	case 0:
		return nil, nil
	case 1:
		return cands[0], nil
	}
	var match []*container.InspectResponse
	var names []string
	for _, c := range cands {
		names = append(names, strings.TrimPrefix(c.Name, "/"))
		if host != "" && answersTo(c, host) {
			match = append(match, c)
		}
	}
	if len(match) == 1 {
		return match[0], nil
	}
	return nil, &AmbiguousError{What: what, Setting: setting, Host: host, Candidates: names}
}

// answersTo: host is the container's name, Compose service or a network
// alias (DNS names are case-insensitive).
func answersTo(c *container.InspectResponse, host string) bool {
	eq := func(s string) bool { return s != "" && strings.EqualFold(s, host) }
	if eq(strings.TrimPrefix(c.Name, "/")) {
		return true
	}
	if c.Config != nil && eq(c.Config.Labels["com.docker.compose.service"]) {
		return true
	}
	if c.NetworkSettings != nil {
		for _, n := range c.NetworkSettings.Networks {
			if n == nil {
				continue
			}
			for _, a := range append(append([]string{}, n.Aliases...), n.DNSNames...) {
				if eq(a) {
					return true
				}
			}
		}
	}
	return false
}

// mainContainer is the n8n container whose env and data mount the plan
// uses: a main one with the data mount, else any with it, else the first
// main one, else the first.
func mainContainer(list []*container.InspectResponse) *container.InspectResponse {
	mounts := func(ins *container.InspectResponse) bool {
		for _, m := range ins.Mounts {
			if m.Destination == dataPath {
				return true
			}
		}
		return false
	}
	for _, pass := range []func(*container.InspectResponse) bool{
		func(ins *container.InspectResponse) bool { r, _ := n8nRole(ins); return r == RoleMain && mounts(ins) },
		mounts,
		func(ins *container.InspectResponse) bool { r, _ := n8nRole(ins); return r == RoleMain },
		func(*container.InspectResponse) bool { return true },
	} {
		for _, ins := range list {
			if pass(ins) {
				return ins
			}
		}
	}
	return nil
}
