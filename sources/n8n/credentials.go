package n8n

// The credentials drill: n8n encrypts every credential with its
// encryption key (N8N_ENCRYPTION_KEY, else encryptionKey in the data
// folder's config file), and the most common n8n disaster after a restore
// is "Credentials could not be decrypted". snap holds the database and the
// key in the same snapshot, so it proves that every credential decrypts
// with that key, and refuses a restore after which the running n8n would
// use another key, or would meet migrations newer than it knows.
//
// Nothing decrypted leaves this file: plaintexts are checked to be JSON and
// wiped; messages carry counts and where a key is, never a key.

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"

	"snap/internal/cryptojs"
	"snap/sources"
	"snap/sources/postgres"
	"snap/sources/volume"
)

const (
	credentialsSQL = `SELECT id, data FROM credentials_entity ORDER BY id`
	migrationSQL   = `SELECT "timestamp", name FROM migrations ORDER BY "timestamp" DESC, id DESC LIMIT 1`
)

// dump is the postgres item of an n8n plan: a postgres dump that also
// records the n8n version (the image's N8N_VERSION) and the database's
// latest migration.
type dump struct {
	*postgres.Dump
	version string
}

// withVersion is the n8n plan's postgres item: d, recording the version of
// the n8n whose env is n8nEnv.
func withVersion(d *postgres.Dump, n8nEnv map[string]string) *dump {
	return &dump{Dump: d, version: n8nEnv["N8N_VERSION"]}
}

// credentialsCheck is the plan's credentials and version check, if it has
// both an n8n container and a PostgreSQL database (see sources.Querier for
// the SQLite database's side).
func credentialsCheck(plan *sources.Plan, n8nC *container.InspectResponse, data *volume.Volume) *credCheck {
	if n8nC == nil {
		return nil
	}
	// The database item: PostgreSQL, or SQLite (n8n's default); both
	// answer queries in their live database and in their scratch copy.
	var live sources.Querier
	var db string
	if it := plan.Item("postgres"); it != nil {
		if d, ok := it.Source.(*dump); ok {
			live, db = d.DB, "postgres"
		}
	} else if it := plan.Item("sqlite"); it != nil {
		if q, ok := it.Source.(sources.Querier); ok {
			live, db = q, "sqlite"
		}
	}
	if live == nil {
		return nil
	}
	env := envMap(n8nC.Config.Env)
	return &credCheck{
		main: strings.TrimPrefix(n8nC.Name, "/"), envKey: env["N8N_ENCRYPTION_KEY"], version: env["N8N_VERSION"],
		live: live, liveData: data, db: db, data: "n8n-data", config: "config",
	}
}

func (d *dump) Meta() map[string]string {
	m := d.Dump.Meta()
	if d.version != "" {
		m["n8n_version"] = d.version
	}
	return m
}

func (d *dump) Stream(ctx context.Context, w io.Writer) (map[string]string, error) {
	// Before the dump: a migration that lands meanwhile is in the dump
	// but not recorded, which errs on the safe side (older).
	mig, _ := latestMigration(ctx, d.DB)
	extra, err := d.Dump.Stream(ctx, w)
	if err == nil && mig.name != "" {
		extra["n8n_migration"] = strconv.FormatInt(mig.ts, 10)
		extra["n8n_migration_name"] = mig.name
	}
	return extra, err
}

type migration struct {
	ts   int64
	name string
}

func (m migration) String() string { return fmt.Sprintf("%s (%d)", m.name, m.ts) }

func latestMigration(ctx context.Context, q sources.Querier) (migration, error) {
	rows, err := q.QueryRows(ctx, migrationSQL)
	if err != nil {
		return migration{}, err
	}
	if len(rows) != 1 || len(rows[0]) != 2 {
		return migration{}, errors.New("no migrations recorded")
	}
	ts, err := strconv.ParseInt(rows[0][0], 10, 64)
	if err != nil {
		return migration{}, fmt.Errorf("migration timestamp %q: %w", rows[0][0], err)
	}
	return migration{ts: ts, name: rows[0][1]}, nil
}

// credCheck is the n8n plan's check (a sources.PlanChecker).
type credCheck struct {
	main     string          // the main n8n container
	envKey   string          // N8N_ENCRYPTION_KEY in its env, "" if unset
	version  string          // its image's N8N_VERSION
	live     sources.Querier // the live database
	liveData *volume.Volume  // the live data volume, nil if none
	db       string          // item names
	data     string
	config   string
}

func (c *credCheck) Needs() []string { return []string{c.db} }

// key is an encryption key and where it was found.
type key struct{ where, value string }

// ErrCredentials: credentials of the snapshot do not decrypt with its own
// key (a drill failure).
var ErrCredentials = errors.New("n8n credentials do not decrypt")

func (c *credCheck) CheckPrepared(ctx context.Context, p *sources.Prepared) ([]string, error) {
	q, ok := p.Swaps[c.db].(sources.Querier)
	if !ok {
		return nil, nil // the database is not part of this restore
	}
	var lines []string
	rows, err := q.QueryRows(ctx, credentialsSQL)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "no such table") {
			return []string{"credentials: the database has no credentials_entity table"}, nil
		}
		return nil, fmt.Errorf("n8n credentials: %w", err)
	}
	datas := make([]string, 0, len(rows))
	for _, r := range rows {
		if len(r) == 2 {
			datas = append(datas, r[1])
		}
	}
	// The snapshot's own key: .env first (n8n prefers the env), then the
	// volume's config, read only if needed (the volume may be large).
	var best key
	bestN := -1
	try := func(k key) {
		if k.value == "" {
			return
		}
		if n := decrypting(datas, k.value); n > bestN {
			best, bestN = k, n
		}
	}
	if st := p.Stored[c.config]; st != nil {
		try(key{"N8N_ENCRYPTION_KEY in the snapshot's .env", storedEnvKey(ctx, st)})
	}
	var storedConfigKey string
	readConfig := func() string {
		if st := p.Stored[c.data]; st != nil && storedConfigKey == "" {
			storedConfigKey = storedVolumeKey(ctx, st)
		}
		return storedConfigKey
	}
	if bestN < len(datas) {
		try(key{"encryptionKey in the snapshot's volume config (.n8n/config)", readConfig()})
	}
	switch {
	case bestN < 0:
		lines = append(lines, fmt.Sprintf("credentials: %d stored; the snapshot holds no n8n encryption key (.env or volume config) to prove they decrypt", len(datas)))
	case bestN == len(datas):
		lines = append(lines, fmt.Sprintf("credentials: %d of %d credentials decrypt with %s", bestN, len(datas), best.where))
	default:
		err := fmt.Errorf("%w: only %d of %d credentials decrypt with %s, the best key in the snapshot", ErrCredentials, bestN, len(datas), best.where)
		if !p.Restore {
			return lines, err
		}
		if !p.Force {
			return lines, fmt.Errorf("%w: %w", sources.ErrRefused, err)
		}
		lines = append(lines, forced(err.Error()))
	}
	if !p.Restore {
		return lines, nil
	}
	// The key n8n will run with after the restore: its container's env
	// survives a restart; else the volume's config, which the restore
	// brings back if it restores the volume.
	after := key{where: fmt.Sprintf("N8N_ENCRYPTION_KEY in the env of container %s (kept across the restart)", c.main), value: c.envKey}
	if after.value == "" {
		if p.Stored[c.data] != nil {
			after = key{"encryptionKey in the restored volume config", readConfig()}
		} else if c.liveData != nil {
			after = key{"encryptionKey in the live volume config", volumeConfigKey(ctx, c.liveData)}
		}
	}
	if after.value != "" && len(datas) > 0 {
		n := bestN // the same key decrypts the same credentials
		if after.value != best.value {
			n = decrypting(datas, after.value)
		}
		if n < len(datas) && n < bestN {
			msg := fmt.Sprintf("the snapshot's credentials decrypt with %s (%d of %d), but after the restore n8n would run with %s, a different key that decrypts %d of %d: n8n would fail with \"Credentials could not be decrypted\"",
				best.where, bestN, len(datas), after.where, n, len(datas))
			if !p.Force {
				return lines, fmt.Errorf("%w: %s; give the container the key that decrypts them (%s) as N8N_ENCRYPTION_KEY and recreate it, then restore again, or restore anyway", sources.ErrRefused, msg, best.where)
			}
			lines = append(lines, forced(msg))
		} else if bestN >= 0 {
			lines = append(lines, fmt.Sprintf("credentials: n8n will run with %s, which decrypts %d of %d", after.where, n, len(datas)))
		}
	}
	return c.checkMigrations(ctx, q, p, lines)
}

// checkMigrations refuses a database whose latest migration is newer than
// the live database's: the running n8n cannot migrate down.
func (c *credCheck) checkMigrations(ctx context.Context, q sources.Querier, p *sources.Prepared, lines []string) ([]string, error) {
	restored, err := latestMigration(ctx, q)
	if err != nil || c.live == nil {
		return lines, nil
	}
	live, err := latestMigration(ctx, c.live)
	if err != nil {
		return append(lines, fmt.Sprintf("migrations: the live database's cannot be read (%v); not compared", shortErr(err))), nil
	}
	if restored.ts <= live.ts {
		return append(lines, fmt.Sprintf("migrations: the snapshot's latest %s is not newer than the live database's %s", restored, live)), nil
	}
	was := "n8n version not recorded"
	if st := p.Stored[c.db]; st != nil && st.Meta()["n8n_version"] != "" {
		was = "n8n " + st.Meta()["n8n_version"]
	}
	now := "n8n version unknown"
	if c.version != "" {
		now = "n8n " + c.version
	}
	msg := fmt.Sprintf("the snapshot's database has migration %s (backed up from %s), newer than the live database's latest %s (%s runs now): n8n cannot migrate down", restored, was, live, now)
	if !p.Force {
		return lines, fmt.Errorf("%w: %s; upgrade n8n to the snapshot's version first, or restore anyway", sources.ErrRefused, msg)
	}
	return append(lines, forced(msg)), nil
}

func forced(msg string) string { return "warning: " + msg + " (restoring anyway, as forced)" }

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// decrypting counts the envelopes that open with k into JSON (n8n's
// credential data is a JSON object); plaintexts are wiped at once.
func decrypting(datas []string, k string) int {
	n := 0
	for _, d := range datas {
		plain, err := cryptojs.Decrypt(d, []byte(k))
		if err == nil && json.Valid(plain) {
			n++
		}
		clear(plain)
	}
	return n
}

// storedEnvKey is N8N_ENCRYPTION_KEY of the .env in a stored files item.
func storedEnvKey(ctx context.Context, st sources.Stored) string {
	b := storedFile(ctx, st, func(name string) bool { return path.Base(name) == ".env" })
	return envFileKey(b)
}

// storedVolumeKey is encryptionKey of the data folder's config file in a
// stored volume item.
func storedVolumeKey(ctx context.Context, st sources.Stored) string {
	b := storedFile(ctx, st, func(name string) bool {
		n := strings.TrimPrefix(path.Clean(name), "./")
		return n == "config" || n == ".n8n/config"
	})
	return configKey(b)
}

// storedFile reads the first regular file of a stored tree item whose name
// matches (at most 1 MiB), or nil.
func storedFile(ctx context.Context, st sources.Stored, match func(string) bool) []byte {
	rc := st.Open(ctx)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil
		}
		if h.Typeflag == tar.TypeReg && match(h.Name) {
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return nil
			}
			return b
		}
	}
}

// envFileKey is N8N_ENCRYPTION_KEY in a .env file's text.
func envFileKey(b []byte) string {
	var k string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "export ")
		if v, ok := strings.CutPrefix(line, "N8N_ENCRYPTION_KEY="); ok {
			k = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return k
}

// configKey is encryptionKey in n8n's config file (JSON).
func configKey(b []byte) string {
	var cfg struct {
		EncryptionKey string `json:"encryptionKey"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return ""
	}
	return cfg.EncryptionKey
}
