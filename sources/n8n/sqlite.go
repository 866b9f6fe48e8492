package n8n

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"snap/sources"
	"snap/sources/docker"
	"snap/sources/sqlite"
	"snap/sources/volume"
)

// usesSQLite says whether n8n runs on SQLite: DB_TYPE unset (n8n's
// default) or sqlite (sqlitedb is an old spelling n8n still accepts).
// DB_TYPE_FILE names the type in a file of the container: unknown here, so
// the database file's presence decides (sqliteFile).
func usesSQLite(env map[string]string) bool {
	switch strings.ToLower(env["DB_TYPE"]) {
	case "sqlite", "sqlitedb":
		return true
	case "":
		return env["DB_TYPE_FILE"] == ""
	}
	return false
}

// sqliteFile is where n8n keeps its SQLite database in the container:
// DB_SQLITE_DATABASE (default database.sqlite) in its user folder
// (N8N_USER_FOLDER/.n8n, default /home/node/.n8n), or that path when it is
// absolute.
func sqliteFile(env map[string]string) string {
	folder := dataPath
	if f := env["N8N_USER_FOLDER"]; f != "" {
		folder = path.Join(f, ".n8n")
	}
	db := env["DB_SQLITE_DATABASE"]
	if db == "" {
		db = "database.sqlite"
	}
	if path.IsAbs(db) {
		return path.Clean(db)
	}
	return path.Join(folder, db)
}

// planSQLite adds the item "sqlite", an online copy of n8n's SQLite
// database, when n8n uses one, and leaves the file and its journals out
// of the data volume's file tree (data may be nil): the database is then
// stored once, never torn, and a restore of the volume keeps it.
func planSQLite(ctx context.Context, d *docker.Client, plan *sources.Plan, ctr string, env map[string]string, data *volume.Volume) {
	if strings.EqualFold(env["DB_TYPE"], "postgresdb") {
		return // a database.sqlite left from before is part of the volume
	}
	known := usesSQLite(env) // else DB_TYPE_FILE: the file decides
	file := sqliteFile(env)
	src := sqlite.InContainer(d, ctr, file)
	host, err := src.HostPath(ctx)
	switch {
	case err == nil:
		if _, serr := os.Stat(host); serr != nil {
			if known {
				plan.Warnings = append(plan.Warnings, fmt.Sprintf("n8n is set up for SQLite but %s (%s on the host) does not exist yet: nothing to back up until n8n has started once", file, host))
			}
			return
		}
	case errors.Is(err, sqlite.ErrUnreachable) && known:
		// Planned anyway: the backup fails with the reason rather than
		// leaving the database out silently.
	default:
		if known {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("n8n uses SQLite, but its database cannot be located: %v", err))
		}
		return
	}
	plan.Items = append(plan.Items, &sources.PlanItem{Name: "sqlite", Source: src})
	if data == nil {
		return
	}
	if rel := strings.TrimPrefix(file, data.Path+"/"); rel != file {
		data.Exclude = append(data.Exclude, rel, rel+"-wal", rel+"-shm", rel+"-journal", rel+".snap-old-*")
		if it := plan.Item("n8n-data"); it != nil {
			if vs, ok := it.Source.(*volume.Source); ok {
				vs.Desc += fmt.Sprintf(", without %s and its journals (item sqlite)", rel)
			}
		}
	}
}
