// Package n8n is the n8n stack preset: it discovers a Docker Compose
// project's PostgreSQL, Redis, n8n data volume and project files and plans
// them as items of the postgres, redis, volume and files kinds.
package n8n

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"

	"snap/sources"
	"snap/sources/docker"
	"snap/sources/files"
	"snap/sources/postgres"
	"snap/sources/redis"
	"snap/sources/volume"
)

// dataPath is where the n8n container keeps its data.
const dataPath = "/home/node/.n8n"

func init() {
	sources.RegisterPreset(sources.Preset{Name: "n8n", Discover: Discover})
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func containerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID[:12]
}

// Discover finds an n8n Docker Compose stack by its project label:
// the PostgreSQL container (by image or POSTGRES_* env), the Redis one (by
// image or command), told apart by n8n's settings when there are several,
// every n8n container (main, workers, webhook processors; queue.go),
// credentials from container env, and the .env and compose files from the
// project's working directory label.
func Discover(ctx context.Context, env *sources.Env, project string) (*sources.Plan, error) {
	d, err := docker.From(ctx, env)
	if err != nil {
		return nil, err
	}
	list, err := d.ProjectContainers(ctx, project)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no containers of Docker Compose project %q (label com.docker.compose.project): is the stack created? Use --project NAME for another project name", project)
	}
	plan := &sources.Plan{}
	// Every candidate first: a stack may have several PostgreSQL or Redis
	// containers, and n8n in queue mode is several containers.
	var pgs, redises, n8ns []*container.InspectResponse
	for _, c := range list {
		ins, err := d.Inspect(ctx, containerName(c))
		if err != nil {
			return nil, err
		}
		env := envMap(ins.Config.Env)
		image := strings.ToLower(ins.Config.Image)
		cmd := strings.Join(append(append([]string{}, ins.Config.Entrypoint...), ins.Config.Cmd...), " ")
		switch {
		case strings.Contains(image, "postgres") || env["POSTGRES_PASSWORD"] != "" || env["POSTGRES_USER"] != "":
			pgs = append(pgs, &ins)
		case strings.Contains(image, "redis") || strings.Contains(cmd, "redis-server"):
			redises = append(redises, &ins)
		default:
			if _, ok := n8nRole(&ins); ok {
				n8ns = append(n8ns, &ins)
			}
		}
	}
	name := func(ins *container.InspectResponse) string { return strings.TrimPrefix(ins.Name, "/") }
	// n8nC is the main container with the data mount (workers often lack
	// it): its env says where the database and the key are.
	n8nC := mainContainer(n8ns)
	var n8nEnv map[string]string
	if n8nC != nil {
		n8nEnv = envMap(n8nC.Config.Env)
		plan.Apps = apps(d, n8ns)
	}
	pgC, err := pick("PostgreSQL", "DB_POSTGRESDB_HOST", n8nEnv["DB_POSTGRESDB_HOST"], pgs)
	if err != nil {
		return nil, err
	}
	redisC, err := pick("Redis", "QUEUE_BULL_REDIS_HOST", n8nEnv["QUEUE_BULL_REDIS_HOST"], redises)
	if err != nil {
		return nil, err
	}
	if pgC != nil {
		pg := postgres.FromEnv(d, name(pgC), pgC.Config.Env)
		if pg.Password == "" && n8nEnv["DB_POSTGRESDB_PASSWORD"] != "" {
			pg.Password = n8nEnv["DB_POSTGRESDB_PASSWORD"]
		}
		if db := n8nEnv["DB_POSTGRESDB_DATABASE"]; db != "" && envMap(pgC.Config.Env)["POSTGRES_DB"] == "" {
			pg.Database = db
		}
		if !pgC.State.Running {
			return nil, fmt.Errorf("the PostgreSQL container %s is not running (state %s): start it to back up (pg_dump runs inside it)", pg.Container, pgC.State.Status)
		}
		plan.Items = append(plan.Items,
			&sources.PlanItem{Name: "postgres", Source: withVersion(postgres.NewDump(pg, fmt.Sprintf("pg_dump of database %q as %q inside container %s (plain SQL)", pg.Database, pg.User, pg.Container)), n8nEnv)},
			&sources.PlanItem{Name: "postgres-globals", Source: postgres.NewGlobals(pg, fmt.Sprintf("pg_dumpall --globals-only (roles) inside %s", pg.Container))})
	} else if n8nC == nil || !usesSQLite(n8nEnv) {
		plan.Warnings = append(plan.Warnings, "no PostgreSQL container found in the project")
	}
	if redisC != nil {
		args := append(append([]string{}, redisC.Config.Entrypoint...), redisC.Config.Cmd...)
		r := redis.FromContainer(d, name(redisC), args, redisC.Config.Env)
		if r.Password == "" && n8nEnv["QUEUE_BULL_REDIS_PASSWORD"] != "" {
			r.Password = n8nEnv["QUEUE_BULL_REDIS_PASSWORD"]
		}
		if !redisC.State.Running {
			return nil, fmt.Errorf("the Redis container %s is not running (state %s): start it to back up", r.Container, redisC.State.Status)
		}
		plan.Items = append(plan.Items, &sources.PlanItem{Name: "redis", Source: redis.NewSource(r, fmt.Sprintf("RDB snapshot of Redis on port %d inside %s", r.Port, r.Container))})
	}
	var data *volume.Volume
	if n8nC != nil {
		for _, m := range n8nC.Mounts {
			if m.Destination != dataPath {
				continue
			}
			v := &volume.Volume{Docker: d, Name: m.Name, Container: name(n8nC), Path: dataPath, Image: n8nC.Config.Image}
			if m.Type != "volume" {
				v.Name = m.Source
			}
			data = v
			plan.Items = append(plan.Items, &sources.PlanItem{Name: "n8n-data", Source: volume.NewSource(v, fmt.Sprintf("volume %s (%s in %s) as a file tree", v.Name, dataPath, v.Container))})
		}
		planSQLite(ctx, d, plan, name(n8nC), n8nEnv, data)
	} else {
		plan.Warnings = append(plan.Warnings, "no n8n container (one mounting /home/node/.n8n) found in the project")
	}
	if n8nC != nil && data == nil {
		plan.Warnings = append(plan.Warnings, "no n8n container mounts "+dataPath+": n8n's data folder (config, binary data) is not backed up")
	}
	// The project's files: .env and compose files, from Compose's labels.
	var paths []string
	var labels map[string]string
	for _, c := range list {
		labels = c.Labels
		break
	}
	if wd := labels["com.docker.compose.project.working_dir"]; wd != "" {
		if _, err := os.Stat(filepath.Join(wd, ".env")); err == nil {
			paths = append(paths, filepath.Join(wd, ".env"))
		}
	}
	for _, f := range strings.Split(labels["com.docker.compose.project.config_files"], ",") {
		if f = strings.TrimSpace(f); f != "" {
			if _, err := os.Stat(f); err == nil {
				paths = append(paths, f)
			} else {
				plan.Warnings = append(plan.Warnings, fmt.Sprintf("compose file %s (from the project's labels) is not readable here: %v", f, err))
			}
		}
	}
	sort.Strings(paths)
	paths = slices.Compact(paths)
	if len(paths) > 0 {
		plan.Items = append(plan.Items, &sources.PlanItem{Name: "config", Source: files.New(paths, "project files "+strings.Join(paths, ", "))})
	} else {
		plan.Warnings = append(plan.Warnings, "no .env or compose file found from the project's working_dir label: back them up separately")
	}
	if c := credentialsCheck(plan, n8nC, data); c != nil {
		plan.Checks = append(plan.Checks, c)
	}
	if w := checkEncryptionKey(ctx, data, n8nEnv, paths); w != "" {
		plan.Warnings = append(plan.Warnings, w)
	}
	return plan, nil
}

// checkEncryptionKey compares n8n's encryption key in .env, in the
// container's env and in the volume's config file: if they differ, the
// restored credentials will not decrypt, which is worth saying at backup
// time rather than at restore time.
func checkEncryptionKey(ctx context.Context, data *volume.Volume, n8nEnv map[string]string, paths []string) string {
	keys := map[string]string{}
	if k := n8nEnv["N8N_ENCRYPTION_KEY"]; k != "" {
		keys["the n8n container's env"] = k
	}
	for _, p := range paths {
		if filepath.Base(p) != ".env" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			if k := envFileKey(b); k != "" {
				keys[".env"] = k
			}
		}
	}
	if data != nil {
		if k := volumeConfigKey(ctx, data); k != "" {
			keys["the volume's config"] = k
		}
	}
	var first, firstWhere string
	for where, k := range keys {
		if first == "" {
			first, firstWhere = k, where
			continue
		}
		if k != first {
			return fmt.Sprintf("n8n encryption keys differ: %s and %s have different N8N_ENCRYPTION_KEY values; credentials restored with the wrong key cannot be decrypted", firstWhere, where)
		}
	}
	return ""
}

func volumeConfigKey(ctx context.Context, v *volume.Volume) string {
	rc, err := v.Docker.CopyFrom(ctx, v.Container, v.Path+"/config")
	if err != nil {
		return ""
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
	if err != nil {
		return ""
	}
	return configKey(b)
}
