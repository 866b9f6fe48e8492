// Package redis is the redis source kind: an RDB snapshot of a Redis
// server in a container (redis-cli --rdb, BGSAVE as fallback), checked with
// redis-check-rdb in a throwaway container before a restore puts it in the
// server's data dir (rebuilding the AOF when AOF is on).
package redis

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"snap/sources"
	"snap/sources/docker"
)

// Redis is a Redis server in a container. Everything goes through the Docker
// API and redis-cli inside the container: the server usually listens on the
// container's loopback only (network none in the test stack), so snap never
// opens a connection to it itself.
type Redis struct {
	Docker    *docker.Client
	Container string
	Port      int    // real port (the original stack ran on 6386)
	Password  string // passed via REDISCLI_AUTH in the exec env, never argv
}

// ErrRedisAuth is a server that refused our credentials (wrong or missing
// password). redis-cli exits 0 on NOAUTH, so it is detected from the reply.
var ErrRedisAuth = errors.New("redis: authentication failed (wrong or missing password)")

const (
	redisDefaultPort = 6379
	// redisWait bounds each wait for the server (loading a dataset, a
	// BGSAVE, an AOF rewrite); large datasets take minutes, not hours.
	redisWait = 10 * time.Minute
	// rdbEOFMarkLen is the random hex mark that ends a diskless replication
	// transfer; rdbTrailerLen is the EOF opcode (0xFF) plus the CRC64.
	rdbEOFMarkLen = 40
	rdbTrailerLen = 9
)

// RedisFromContainer discovers port and password from the container's
// command line (--port N, --requirepass X; arguments of a `sh -c "..."` are
// split too, and a $VAR or ${VAR} value is looked up in env) and env
// (REDIS_PASSWORD, used when the command line has no --requirepass). A config
// file (`redis-server /path/redis.conf`) is out of scope: port 6379.
func FromContainer(d *docker.Client, container string, cmd []string, env []string) *Redis {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var words []string
	for _, a := range cmd {
		if strings.ContainsAny(a, " \t\n") {
			words = append(words, strings.Fields(a)...)
		} else {
			words = append(words, a)
		}
	}
	value := func(s string) string {
		s = strings.Trim(s, `"'`)
		if name, ok := strings.CutPrefix(s, "$"); ok {
			return vars[strings.TrimSuffix(strings.TrimPrefix(name, "{"), "}")]
		}
		return s
	}
	r := &Redis{Docker: d, Container: container, Port: redisDefaultPort, Password: vars["REDIS_PASSWORD"]}
	for i := 0; i+1 < len(words); i++ {
		switch words[i] {
		case "--port":
			if p, err := strconv.Atoi(value(words[i+1])); err == nil && p > 0 && p < 65536 {
				r.Port = p
			}
		case "--requirepass":
			if pw := value(words[i+1]); pw != "" {
				r.Password = pw
			}
		}
	}
	return r
}

// DumpRDB writes a consistent RDB snapshot of the server to w.
//
// It first checks with PING that the server takes our password (redis-cli
// exits 0 on NOAUTH, so only the reply tells). Then BGSAVE: the server
// forks and writes a point-in-time dump.rdb (rename-over, so a reader sees
// a whole file), polled through INFO persistence until that save is done,
// and the file is copied out with CopyFromContainer. That is what the
// shell scripts snap replaces did, and it takes as long as the fork and
// the write (well under a second for n8n's queue).
//
// When BGSAVE is not possible and nothing was written yet (denied by an
// ACL or rename-command, the server's disk full, the file not readable
// through the container): `redis-cli --rdb -` (redis-cli 7+), where the
// server streams a fresh snapshot over the replication protocol and writes
// nothing to its disk. That path waits out the server's
// repl-diskless-sync-delay (5 s by default) before the transfer starts,
// which is why it is not the first choice. redis-cli 7.0 leaves the
// 40-byte EOF mark of a diskless transfer at the end of stdout (it
// truncates it only from a file); rdbWriter strips it, which is safe
// because a real RDB always ends with the 0xFF opcode and 8 checksum
// bytes, never 40 hex characters. A failure after bytes reached w is
// returned as is: w cannot be rewound.
func (r *Redis) DumpRDB(ctx context.Context, w io.Writer) error {
	if err := r.ping(ctx); err != nil {
		return err
	}
	cw := &countingWriter{w: w}
	viaBGSAVE := r.bgsaveCopy(ctx, cw)
	switch {
	case viaBGSAVE == nil:
		return nil
	case cw.n > 0:
		return fmt.Errorf("redis %s: copying the RDB failed after %d bytes: %w", r.Container, cw.n, viaBGSAVE)
	case ctx.Err() != nil:
		return viaBGSAVE
	}
	var viaCLI error
	if ver, err := r.Docker.Output(ctx, r.Container, nil, "redis-cli", "--version"); err != nil {
		viaCLI = fmt.Errorf("redis-cli --version: %w", err)
	} else if major(strings.TrimPrefix(strings.TrimSpace(ver), "redis-cli ")) < 7 {
		viaCLI = fmt.Errorf("%s cannot stream an RDB to stdout", strings.TrimSpace(ver))
	} else {
		rw := &rdbWriter{w: w}
		err := r.Docker.Exec(ctx, r.Container, docker.ExecOptions{
			Cmd: []string{"redis-cli", "-p", strconv.Itoa(r.Port), "--rdb", "-"}, Env: r.authEnv(), Stdout: rw,
		})
		if err == nil {
			err = rw.finish()
		}
		switch {
		case err == nil:
			return nil
		case rw.werr != nil:
			return rw.werr
		case rw.n > 0:
			return fmt.Errorf("redis %s: RDB transfer failed after %d bytes: %w", r.Container, rw.n, err)
		}
		viaCLI = err
	}
	return fmt.Errorf("redis %s: dump failed: BGSAVE: %v; redis-cli --rdb: %w", r.Container, viaBGSAVE, viaCLI)
}

// countingWriter counts what reached w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// bgsaveCopy is DumpRDB's first way: BGSAVE and copy the file out.
func (r *Redis) bgsaveCopy(ctx context.Context, w io.Writer) error {
	dir, err := r.configGet(ctx, "dir")
	if err != nil {
		return err
	}
	dbfile, err := r.configGet(ctx, "dbfilename")
	if err != nil {
		return err
	}
	// "Background saving started" is replied after the fork, so from then
	// on rdb_bgsave_in_progress stays 1 until this save is done. While
	// another save or an AOF rewrite runs BGSAVE is refused: try again.
	err = poll(ctx, redisWait, "BGSAVE to start", func(ctx context.Context) (bool, error) {
		reply, err := r.cli(ctx, r.Container, true, "BGSAVE")
		switch {
		case err == nil && strings.HasPrefix(reply, "Background saving started"):
			return true, nil
		case err != nil && (strings.Contains(err.Error(), "in progress") || strings.Contains(err.Error(), "child process is active")):
			return false, err
		case err == nil:
			err = fmt.Errorf("unexpected BGSAVE reply %q", reply)
		}
		return true, err
	})
	if err != nil {
		return err
	}
	err = poll(ctx, redisWait, "BGSAVE to finish", func(ctx context.Context) (bool, error) {
		inf, err := r.info(ctx, r.Container, true, "persistence")
		if err != nil {
			return true, err
		}
		if inf["rdb_bgsave_in_progress"] != "0" {
			return false, errors.New("rdb_bgsave_in_progress:" + inf["rdb_bgsave_in_progress"])
		}
		if s := inf["rdb_last_bgsave_status"]; s != "ok" {
			return true, fmt.Errorf("BGSAVE failed: rdb_last_bgsave_status:%s (see the server log)", s)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	src := path.Join(dir, dbfile)
	rc, err := r.Docker.CopyFrom(ctx, r.Container, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return fmt.Errorf("%w: copy %s out of %s: %v", docker.ErrDocker, src, r.Container, err)
	}
	rw := &rdbWriter{w: w}
	if _, err := io.Copy(rw, tr); err != nil {
		if rw.werr != nil {
			return rw.werr
		}
		return fmt.Errorf("reading %s from %s: %w", src, r.Container, err)
	}
	return rw.finish()
}

// Metadata records what Restore needs and a reader wants to see:
// "redis_version", "keys" (total over all dbs from INFO keyspace), "dir",
// "dbfilename", "appendonly" (yes/no), "appenddirname" (empty before Redis
// 7), "appendfilename", "data_uid" and "data_gid" (owner of the data dir).
// "keys" is read separately from the dump: on a server that is being written
// to, call it right before or after DumpRDB and expect a small drift.
func (r *Redis) Metadata(ctx context.Context) (map[string]string, error) {
	if err := r.ping(ctx); err != nil {
		return nil, err
	}
	meta := map[string]string{}
	srv, err := r.info(ctx, r.Container, true, "server")
	if err != nil {
		return nil, err
	}
	if meta["redis_version"] = srv["redis_version"]; meta["redis_version"] == "" {
		return nil, fmt.Errorf("redis %s: INFO server has no redis_version", r.Container)
	}
	ks, err := r.info(ctx, r.Container, true, "keyspace")
	if err != nil {
		return nil, err
	}
	meta["keys"] = strconv.FormatInt(keyspaceKeys(ks), 10)
	for _, k := range []string{"dir", "dbfilename", "appendonly", "appenddirname", "appendfilename"} {
		if meta[k], err = r.configGet(ctx, k); err != nil {
			return nil, err
		}
	}
	out, err := r.Docker.Output(ctx, r.Container, nil, "stat", "-c", "%u %g", meta["dir"])
	if err != nil {
		return nil, fmt.Errorf("redis %s: owner of %s: %w", r.Container, meta["dir"], err)
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return nil, fmt.Errorf("redis %s: owner of %s: unexpected stat output %q", r.Container, meta["dir"], out)
	}
	meta["data_uid"], meta["data_gid"] = f[0], f[1]
	return meta, nil
}

// Restore puts an RDB back into the server's data dir.
//
//  1. The RDB is uploaded next to dump.rdb under a temporary name (with the
//     recorded owner, mode 0600 as Redis writes it) before anything is
//     stopped: a failed upload leaves the server untouched.
//  2. The container is stopped (Restore remembers whether it was running).
//  3. A throwaway container of the same image with the data volume mounted
//     (network none) checks the upload's size, moves an AOF dir aside
//     (appendonlydir -> appendonlydir.snap-<unixtime>; it is kept for the
//     user to delete, and the set-asides of earlier restores are removed,
//     so they never pile up) and renames the upload to dump.rdb.
//  4. With AOF on, Redis would ignore dump.rdb, so the AOF is rebuilt from
//     it: a temporary redis-server with --appendonly no loads dump.rdb,
//     CONFIG SET appendonly yes writes a fresh AOF, SHUTDOWN SAVE. On
//     failure the old AOF dir is moved back.
//  5. The container is started again if it was running, and the number of
//     keys it loaded is compared with meta["keys"] (keys whose TTL ran out
//     since the dump, which Redis drops when loading, are allowed for). A
//     difference is not damage (redis-check-rdb passed): the restore
//     completes and returns an error wrapping sources.ErrDiscrepancy.
//
// The data dir, file names and AOF setting come from the running server when
// it runs (what it will load), else from meta. If anything fails after the
// stop, the container is started again (if it was running).
func (r *Redis) Restore(ctx context.Context, rdb io.Reader, size int64, meta map[string]string) (err error) {
	ins, err := r.Docker.Inspect(ctx, r.Container)
	if err != nil {
		return err
	}
	running := ins.State != nil && ins.State.Running
	cfg := map[string]string{}
	for _, k := range []string{"dir", "dbfilename", "appendonly", "appenddirname", "appendfilename"} {
		cfg[k] = meta[k]
	}
	if running {
		// Fail before stopping anything if we cannot talk to it.
		if err := r.ping(ctx); err != nil {
			return err
		}
		for k := range cfg {
			if cfg[k], err = r.configGet(ctx, k); err != nil {
				return err
			}
		}
	}
	if cfg["dir"] == "" || cfg["dbfilename"] == "" {
		return fmt.Errorf("redis %s: restore needs the data dir and dbfilename (meta has dir=%q dbfilename=%q)", r.Container, cfg["dir"], cfg["dbfilename"])
	}
	uid, err1 := strconv.Atoi(meta["data_uid"])
	gid, err2 := strconv.Atoi(meta["data_gid"])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("redis %s: meta has no valid data_uid/data_gid (%q, %q)", r.Container, meta["data_uid"], meta["data_gid"])
	}
	var want int64 = -1
	if s, ok := meta["keys"]; ok {
		if want, err = strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Errorf("redis %s: meta keys=%q: %v", r.Container, s, err)
		}
	}
	dataMount, err := mountFor(ins.Mounts, cfg["dir"])
	if err != nil {
		return fmt.Errorf("redis %s: %w", r.Container, err)
	}
	aof := ""
	if cfg["appendonly"] == "yes" {
		if aof = cfg["appenddirname"]; aof == "" { // Redis < 7: one file
			aof = cfg["appendfilename"]
		}
		if aof == "" || strings.Contains(aof, "/") {
			return fmt.Errorf("redis %s: AOF is on but its name is %q", r.Container, aof)
		}
	}
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	tmpName := ".snap-restore-" + stamp + ".rdb"
	h := docker.Helper{D: r.Docker, Image: ins.Image, For: r.Container, Mounts: []mount.Mount{dataMount}}

	// 1. upload
	if err := copyFileTo(ctx, r.Docker, r.Container, cfg["dir"], tmpName, rdb, size, uid, gid, 0o600); err != nil {
		if _, cerr := h.Sh(context.WithoutCancel(ctx), `cd "$1" && rm -f "$2"`, cfg["dir"], tmpName); cerr != nil {
			err = fmt.Errorf("%w (and removing %s/%s: %v)", err, cfg["dir"], tmpName, cerr)
		}
		return fmt.Errorf("redis %s: upload of the RDB failed, server left untouched: %w", r.Container, err)
	}
	// 2. stop; from here on a failure starts the container again
	started := false
	if running {
		if _, err := r.Docker.Stop(ctx, r.Container); err != nil {
			return err
		}
		defer func() {
			if err == nil || started {
				return
			}
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if serr := r.Docker.Start(bg, r.Container); serr != nil {
				err = fmt.Errorf("%w; starting %s again also failed: %v", err, r.Container, serr)
			} else {
				err = fmt.Errorf("%w (%s was started again)", err, r.Container)
			}
		}()
	}
	// 3. swap
	const swap = `set -e
cd "$1"
have=$(($(wc -c <"$2")))
if [ "$have" -ne "$3" ]; then rm -f "$2"; echo "$2 has $have bytes, expected $3" >&2; exit 3; fi
if [ -n "$5" ] && [ -e "$5" ]; then
	for old in "$5".snap-[0-9]*; do if [ -e "$old" ]; then rm -rf -- "$old"; fi; done
	mv "$5" "$5$6"
fi
mv -f "$2" "$4"`
	if _, err := h.Sh(ctx, swap, cfg["dir"], tmpName, strconv.FormatInt(size, 10), cfg["dbfilename"], aof, ".snap-"+stamp); err != nil {
		return fmt.Errorf("redis %s: placing %s: %w", r.Container, cfg["dbfilename"], err)
	}
	// 4. AOF
	var expired int64
	var disc error // a key count that differs: reported after the start
	if aof != "" {
		user := ""
		if ins.Config != nil {
			user = ins.Config.User
		}
		if expired, disc, err = r.rebuildAOF(ctx, h, user, cfg, want); err != nil {
			const back = `cd "$1" && if [ -e "$2$3" ]; then rm -rf "$2" && mv "$2$3" "$2"; fi`
			if _, berr := h.Sh(context.WithoutCancel(ctx), back, cfg["dir"], aof, ".snap-"+stamp); berr != nil {
				err = fmt.Errorf("%w; moving %s%s back also failed: %v", err, aof, ".snap-"+stamp, berr)
			}
			return fmt.Errorf("redis %s: rebuilding the AOF: %w", r.Container, err)
		}
	}
	if !running {
		return disc
	}
	// 5. start and check
	if err := r.Docker.Start(ctx, r.Container); err != nil {
		return err
	}
	started = true
	if err := r.waitReady(ctx, r.Container, true); err != nil {
		return err
	}
	if want >= 0 && disc == nil {
		if err := r.checkLoaded(ctx, r.Container, true, want-expired); err != nil {
			return err
		}
	}
	return disc
}

// rebuildAOF runs a temporary redis-server on the data volume that loads
// dump.rdb with AOF off, checks the keys, then turns AOF on (Redis writes a
// new AOF from memory) and shuts down saving. It returns how many keys were
// dropped on load because their TTL had run out.
func (r *Redis) rebuildAOF(ctx context.Context, h docker.Helper, user string, cfg map[string]string, want int64) (expired int64, disc error, err error) {
	cmd := []string{"redis-server", "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--dir", cfg["dir"], "--dbfilename", cfg["dbfilename"], "--appendonly", "no"}
	if v := cfg["appenddirname"]; v != "" {
		cmd = append(cmd, "--appenddirname", v)
	}
	if v := cfg["appendfilename"]; v != "" {
		cmd = append(cmd, "--appendfilename", v)
	}
	id, err := h.Create(ctx, "aof", nil, cmd, user)
	if err != nil {
		return 0, nil, err
	}
	defer h.Remove(ctx, id)
	if err := h.Start(ctx, id); err != nil {
		return 0, nil, err
	}
	if err := r.waitReady(ctx, id, false); err != nil {
		return 0, nil, err
	}
	if want >= 0 {
		loaded, exp, err := r.loadedKeys(ctx, id, false)
		if err != nil {
			return 0, nil, err
		}
		if loaded+exp != want {
			// Not damage (redis-check-rdb passed): the data goes back
			// whole and the difference is reported at the end.
			disc = fmt.Errorf("the RDB loaded %d keys (+%d expired), the backup recorded %d: %w", loaded, exp, want, sources.ErrDiscrepancy)
		}
		expired = exp
	}
	if _, err := r.cli(ctx, id, false, "CONFIG", "SET", "appendonly", "yes"); err != nil {
		return 0, nil, err
	}
	err = poll(ctx, redisWait, "the AOF rewrite", func(ctx context.Context) (bool, error) {
		inf, err := r.info(ctx, id, false, "persistence")
		if err != nil {
			return true, err
		}
		if s := inf["aof_last_bgrewrite_status"]; s != "ok" {
			return true, fmt.Errorf("AOF rewrite failed: aof_last_bgrewrite_status:%s", s)
		}
		if inf["aof_enabled"] != "1" || inf["aof_rewrite_in_progress"] != "0" || inf["aof_rewrite_scheduled"] != "0" ||
			(inf["aof_rewrites"] != "" && inf["aof_rewrites"] == "0") {
			return false, fmt.Errorf("aof_enabled:%s aof_rewrite_in_progress:%s aof_rewrite_scheduled:%s",
				inf["aof_enabled"], inf["aof_rewrite_in_progress"], inf["aof_rewrite_scheduled"])
		}
		return true, nil
	})
	if err != nil {
		return 0, nil, err
	}
	// The connection drops when the server exits; its exit code tells.
	reply, _ := r.cli(ctx, id, false, "SHUTDOWN", "SAVE")
	code, logs, err := h.Wait(ctx, id, time.Minute)
	if err != nil {
		return 0, nil, fmt.Errorf("SHUTDOWN SAVE (reply %q): %w", reply, err)
	}
	if code != 0 {
		return 0, nil, fmt.Errorf("temporary redis-server exited with code %d: %s", code, logs)
	}
	return expired, disc, nil
}

// VerifyRDB checks that an RDB parses (redis-check-rdb), without touching the
// live server: the stream goes into a throwaway container of the same image
// with no volume of the server mounted and the network off, which is then
// removed. Chosen over a temp file in the live container because it works
// whether that container runs or not, costs the server no disk or CPU, and
// cannot leave a copy of the data behind in it if interrupted.
func (r *Redis) VerifyRDB(ctx context.Context, rdb io.Reader, size int64) error {
	ins, err := r.Docker.Inspect(ctx, r.Container)
	if err != nil {
		return err
	}
	h := docker.Helper{D: r.Docker, Image: ins.Image, For: r.Container}
	const file = "snap-verify.rdb"
	id, err := h.Create(ctx, "verify", []string{"redis-check-rdb"}, []string{"/" + file}, "")
	if err != nil {
		return err
	}
	defer h.Remove(ctx, id)
	if err := copyFileTo(ctx, r.Docker, id, "/", file, rdb, size, 0, 0, 0o644); err != nil {
		return fmt.Errorf("redis verify: %w", err)
	}
	if err := h.Start(ctx, id); err != nil {
		return err
	}
	code, logs, err := h.Wait(ctx, id, redisWait)
	if err != nil {
		return fmt.Errorf("redis verify: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("redis verify: the RDB does not parse (redis-check-rdb exit %d): %s", code, lastLines(logs, 6))
	}
	return nil
}

// ---------------------------------------------------------------- redis-cli

func (r *Redis) authEnv() []string {
	if r.Password == "" {
		return nil
	}
	return []string{"REDISCLI_AUTH=" + r.Password}
}

// cli runs redis-cli in ctr (the server's container, or a helper when auth is
// false) and returns the reply with trailing newlines removed. redis-cli
// prints error replies to stdout and may exit 0, so an error reply (a first
// word in capitals followed by a message: "ERR ...", "NOAUTH ...") is turned
// into an error here.
func (r *Redis) cli(ctx context.Context, ctr string, auth bool, args ...string) (string, error) {
	var env []string
	if auth {
		env = r.authEnv()
	}
	argv := append([]string{"redis-cli", "-p", strconv.Itoa(r.Port)}, args...)
	out, err := r.Docker.Output(ctx, ctr, env, argv...)
	out = strings.TrimRight(out, "\r\n")
	if err != nil {
		return out, fmt.Errorf("redis-cli %s in %s: %w", args[0], ctr, err)
	}
	if code, ok := replyError(out); ok {
		if code == "NOAUTH" || code == "WRONGPASS" {
			return "", fmt.Errorf("%w: %s in %s: %s", ErrRedisAuth, args[0], ctr, out)
		}
		return "", fmt.Errorf("redis %s in %s: %s", args[0], ctr, out)
	}
	return out, nil
}

func replyError(out string) (string, bool) {
	first, _, _ := strings.Cut(out, "\n")
	code, msg, ok := strings.Cut(first, " ")
	if !ok || msg == "" || len(code) < 2 {
		return "", false
	}
	for _, c := range code {
		if c < 'A' || c > 'Z' {
			return "", false
		}
	}
	return code, true
}

// ping checks that the server answers and accepts the password.
func (r *Redis) ping(ctx context.Context) error {
	reply, err := r.cli(ctx, r.Container, true, "PING")
	if err != nil {
		return fmt.Errorf("redis %s: %w", r.Container, err)
	}
	if reply != "PONG" {
		return fmt.Errorf("redis %s: PING answered %q", r.Container, reply)
	}
	return nil
}

func (r *Redis) info(ctx context.Context, ctr string, auth bool, section string) (map[string]string, error) {
	out, err := r.cli(ctx, ctr, auth, "INFO", section)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\r"), ":"); ok && !strings.HasPrefix(k, "#") {
			m[k] = v
		}
	}
	return m, nil
}

// configGet returns one setting ("" for one this version doesn't have).
func (r *Redis) configGet(ctx context.Context, name string) (string, error) {
	out, err := r.cli(ctx, r.Container, true, "CONFIG", "GET", name)
	if err != nil {
		return "", fmt.Errorf("redis %s: %w", r.Container, err)
	}
	lines := strings.Split(out, "\n")
	if lines[0] == "" {
		return "", nil // unknown setting: empty array
	}
	if lines[0] != name {
		return "", fmt.Errorf("redis %s: CONFIG GET %s answered %q", r.Container, name, out)
	}
	if len(lines) < 2 {
		return "", nil
	}
	return strings.TrimRight(lines[1], "\r"), nil
}

// keyspaceKeys sums keys=N over the db lines of INFO keyspace.
func keyspaceKeys(ks map[string]string) int64 {
	var n int64
	for k, v := range ks {
		if !strings.HasPrefix(k, "db") {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if s, ok := strings.CutPrefix(f, "keys="); ok {
				c, _ := strconv.ParseInt(s, 10, 64)
				n += c
			}
		}
	}
	return n
}

// loadedKeys is what the server loaded at startup: rdb_last_load_keys_loaded
// and _expired (Redis 7+), which later writes by clients don't change; before
// Redis 7 the keyspace count and 0.
func (r *Redis) loadedKeys(ctx context.Context, ctr string, auth bool) (loaded, expired int64, err error) {
	p, err := r.info(ctx, ctr, auth, "persistence")
	if err != nil {
		return 0, 0, err
	}
	if s, ok := p["rdb_last_load_keys_loaded"]; ok {
		loaded, err1 := strconv.ParseInt(s, 10, 64)
		expired, err2 := strconv.ParseInt(p["rdb_last_load_keys_expired"], 10, 64)
		if err1 == nil && err2 == nil {
			return loaded, expired, nil
		}
	}
	ks, err := r.info(ctx, ctr, auth, "keyspace")
	if err != nil {
		return 0, 0, err
	}
	return keyspaceKeys(ks), 0, nil
}

func (r *Redis) checkLoaded(ctx context.Context, ctr string, auth bool, want int64) error {
	loaded, expired, err := r.loadedKeys(ctx, ctr, auth)
	if err != nil {
		return err
	}
	if loaded+expired != want {
		return fmt.Errorf("redis %s: loaded %d keys (+%d expired) after the restore, the backup recorded %d: %w", ctr, loaded, expired, want, sources.ErrDiscrepancy)
	}
	return nil
}

// waitReady polls until the server in ctr answers PING and is not loading.
// A container that stopped, or a refused password, ends the wait at once.
func (r *Redis) waitReady(ctx context.Context, ctr string, auth bool) error {
	return poll(ctx, redisWait, "redis in "+ctr+" to be ready", func(ctx context.Context) (bool, error) {
		reply, err := r.cli(ctx, ctr, auth, "PING")
		if errors.Is(err, ErrRedisAuth) {
			return true, err
		}
		if err == nil && reply == "PONG" {
			inf, err := r.info(ctx, ctr, auth, "persistence")
			if err == nil && inf["loading"] == "0" {
				return true, nil
			}
			return false, err
		}
		ins, ierr := r.Docker.Inspect(ctx, ctr)
		if ierr == nil && ins.State != nil && !ins.State.Running && !ins.State.Restarting {
			return true, fmt.Errorf("redis %s: container is %s (exit code %d): %s", ctr, ins.State.Status, ins.State.ExitCode, lastLines(r.Docker.Logs(ctx, ctr, 50), 8))
		}
		if err == nil {
			err = fmt.Errorf("PING answered %q", reply)
		}
		return false, err
	})
}

// poll calls f until it reports done, at a short growing interval, for at
// most timeout. f returns (true, nil) when done, (true, err) to give up, and
// (false, err) to try again, err saying why it is not done yet.
func poll(ctx context.Context, timeout time.Duration, what string, f func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	interval := 20 * time.Millisecond
	for {
		done, err := f(ctx)
		if done {
			return err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("waiting for %s: gave up after %s: %w", what, timeout, err)
		case <-t.C:
		}
		interval = min(2*interval, 500*time.Millisecond)
	}
}

func major(version string) int {
	m, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(m)
	if err != nil {
		return 0
	}
	return n
}

// ---------------------------------------------------------------- RDB stream

// rdbWriter passes an RDB stream through to w. It refuses a stream that
// doesn't start with the "REDIS" magic (before anything reaches w), holds
// back the last 49 bytes, and on finish drops a trailing 40-character hex EOF
// mark left by `redis-cli --rdb -` and checks that the stream ends with the
// EOF opcode 0xFF and the 8-byte checksum.
type rdbWriter struct {
	w       io.Writer
	hold    []byte
	checked bool
	n       int64 // bytes passed on to w
	werr    error // w's own error
}

var errNotRDB = errors.New("output is not an RDB (no REDIS magic)")

func (r *rdbWriter) Write(p []byte) (int, error) {
	r.hold = append(r.hold, p...)
	if !r.checked {
		if len(r.hold) < 5 {
			if !bytes.HasPrefix([]byte("REDIS"), r.hold) {
				return 0, errNotRDB
			}
			return len(p), nil
		}
		if !bytes.HasPrefix(r.hold, []byte("REDIS")) {
			return 0, errNotRDB
		}
		r.checked = true
	}
	if k := len(r.hold) - rdbEOFMarkLen - rdbTrailerLen; k > 0 {
		if err := r.pass(r.hold[:k]); err != nil {
			return 0, err
		}
		r.hold = append(r.hold[:0], r.hold[k:]...)
	}
	return len(p), nil
}

func (r *rdbWriter) pass(p []byte) error {
	n, err := r.w.Write(p)
	r.n += int64(n)
	if err != nil {
		r.werr = err
	}
	return err
}

func (r *rdbWriter) finish() error {
	h := r.hold
	if n := len(h); n >= rdbEOFMarkLen+rdbTrailerLen && h[n-rdbEOFMarkLen-rdbTrailerLen] == 0xFF && isHex(h[n-rdbEOFMarkLen:]) {
		h = h[:n-rdbEOFMarkLen]
	}
	if !r.checked || len(h) < rdbTrailerLen || h[len(h)-rdbTrailerLen] != 0xFF {
		if !r.checked {
			return errNotRDB
		}
		return errors.New("incomplete RDB: it does not end with the EOF opcode and checksum")
	}
	r.hold = r.hold[:0]
	return r.pass(h)
}

func isHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------- helpers

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// mountFor finds the volume or bind mount that holds dir (the deepest one)
// and returns it as a mount for a helper container.
func mountFor(mounts []container.MountPoint, dir string) (mount.Mount, error) {
	best, _, ok := docker.MountHolding(mounts, dir)
	switch {
	case !ok:
		return mount.Mount{}, fmt.Errorf("data dir %s is not on a volume or bind mount", dir)
	case best.Type == mount.TypeVolume:
		return mount.Mount{Type: mount.TypeVolume, Source: best.Name, Target: best.Destination}, nil
	case best.Type == mount.TypeBind:
		return mount.Mount{Type: mount.TypeBind, Source: best.Source, Target: best.Destination}, nil
	}
	return mount.Mount{}, fmt.Errorf("data dir %s is on a %s mount, which a helper container cannot share", dir, best.Type)
}

// copyFileTo streams r (exactly size bytes) into dir/name of a container as
// a one-file tar with the given owner and mode (the Engine keeps them). A
// stream shorter or longer than size is an error.
func copyFileTo(ctx context.Context, d *docker.Client, ctr, dir, name string, r io.Reader, size int64, uid, gid int, mode int64) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: mode,
			Uid: uid, Gid: gid, ModTime: time.Now(), Format: tar.FormatPAX})
		if err == nil {
			var n int64
			n, err = io.CopyN(tw, r, size)
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("the RDB stream ended after %d of %d bytes", n, size)
			}
		}
		if err == nil {
			var one [1]byte
			if k, rerr := io.ReadFull(r, one[:]); k > 0 {
				err = fmt.Errorf("the RDB stream is longer than its size %d", size)
			} else if rerr != nil && !errors.Is(rerr, io.EOF) {
				err = rerr
			}
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	errAbort := errors.New("copy aborted")
	err := d.CopyTo(ctx, ctr, dir, pr)
	pr.CloseWithError(errAbort)
	if werr := <-done; werr != nil && !errors.Is(werr, errAbort) {
		return werr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	return nil
}
