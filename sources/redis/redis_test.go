package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	rdbcount "snap/internal/rdb"
	"snap/internal/teststack"
	"snap/sources"
)

func TestFromContainer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cmd, env []string
		port     int
		pw       string
	}{
		{"stack", []string{"redis-server", "--port", "6386", "--requirepass", "s3cret", "--bind", "127.0.0.1"}, nil, 6386, "s3cret"},
		{"defaults", []string{"redis-server"}, nil, 6379, ""},
		{"env password", []string{"redis-server", "--appendonly", "yes"}, []string{"PATH=/bin", "REDIS_PASSWORD=fromenv"}, 6379, "fromenv"},
		{"argv wins over env", []string{"--requirepass", "argv", "--port", "7000"}, []string{"REDIS_PASSWORD=env"}, 7000, "argv"},
		{"sh -c with vars", []string{"sh", "-c", `redis-server --port ${PORT} --requirepass "$PW"`}, []string{"PORT=6390", "PW=x y"}, 6390, "x y"},
		{"config file out of scope", []string{"redis-server", "/etc/redis/redis.conf"}, nil, 6379, ""},
		{"bad port", []string{"redis-server", "--port", "none"}, nil, 6379, ""},
	} {
		r := FromContainer(nil, "c", tc.cmd, tc.env)
		if r.Port != tc.port || r.Password != tc.pw || r.Container != "c" {
			t.Errorf("%s: got port %d password %q, want %d %q", tc.name, r.Port, r.Password, tc.port, tc.pw)
		}
	}
}

func TestRedisRDBWriter(t *testing.T) {
	body := append([]byte("REDIS0010\xfa\x09redis-ver\x067.0.15"), make([]byte, 100000)...)
	rdb := append(body, 0xFF, 1, 2, 3, 4, 5, 6, 7, 8)
	mark := []byte("b307e904d6b249bea3954f93c8e224c72b1d3972")
	write := func(in []byte, chunk int) ([]byte, error) {
		var out bytes.Buffer
		w := &rdbWriter{w: &out}
		for len(in) > 0 {
			n := min(chunk, len(in))
			if _, err := w.Write(in[:n]); err != nil {
				return out.Bytes(), err
			}
			in = in[n:]
		}
		err := w.finish()
		return out.Bytes(), err
	}
	for _, chunk := range []int{1, 3, 7, 4096, 1 << 20} {
		if out, err := write(rdb, chunk); err != nil || !bytes.Equal(out, rdb) {
			t.Fatalf("chunk %d plain: err %v, %d bytes out of %d", chunk, err, len(out), len(rdb))
		}
		if out, err := write(append(append([]byte{}, rdb...), mark...), chunk); err != nil || !bytes.Equal(out, rdb) {
			t.Fatalf("chunk %d with EOF mark: err %v, %d bytes, want %d", chunk, err, len(out), len(rdb))
		}
		if out, err := write([]byte("NOAUTH Authentication required.\n"), chunk); !errors.Is(err, errNotRDB) || len(out) != 0 {
			t.Fatalf("chunk %d error text: err %v, %d bytes out", chunk, err, len(out))
		}
		if _, err := write(rdb[:len(rdb)/2], chunk); err == nil {
			t.Fatalf("chunk %d: truncated RDB accepted", chunk)
		}
	}
	// A tiny (empty-dataset) RDB with the mark.
	tiny := []byte("REDIS0010\xff12345678")
	if out, err := write(append(append([]byte{}, tiny...), mark...), 2); err != nil || !bytes.Equal(out, tiny) {
		t.Fatalf("tiny: err %v, out %q", err, out)
	}
	if _, err := write(nil, 1); !errors.Is(err, errNotRDB) {
		t.Fatalf("empty output: %v", err)
	}
}

// redisOf discovers the stack's Redis the way snap does: from the
// container's command line and env.
func redisOf(t *testing.T, s *teststack.Stack) *Redis {
	t.Helper()
	ctr := s.Container("redis")
	ins, err := s.Docker.Inspect(context.Background(), ctr)
	if err != nil {
		t.Fatal(err)
	}
	r := FromContainer(s.Docker, ctr, ins.Config.Cmd, ins.Config.Env)
	if r.Port != 6386 || r.Password != s.Env["REDIS_PASSWORD"] || r.Password == "" {
		t.Fatalf("discovered port %d password ok=%v, want 6386 and the stack's password", r.Port, r.Password == s.Env["REDIS_PASSWORD"])
	}
	return r
}

// redisInfo is one field of INFO persistence.
func redisInfo(t *testing.T, r *Redis, field string) string {
	t.Helper()
	inf, err := r.info(context.Background(), r.Container, true, "persistence")
	if err != nil {
		t.Fatal(err)
	}
	v, ok := inf[field]
	if !ok {
		t.Fatalf("INFO persistence has no %s", field)
	}
	return v
}

func redisDo(t *testing.T, r *Redis, args ...string) string {
	t.Helper()
	out, err := r.cli(context.Background(), r.Container, true, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// redisSample reads a few keys of each seeded type.
func redisSample(t *testing.T, r *Redis) map[string]string {
	t.Helper()
	return map[string]string{
		"string":  redisDo(t, r, "GET", "n8n:cache:workflow:7"),
		"hash":    redisDo(t, r, "HGETALL", "bull:jobs:42"),
		"list":    redisDo(t, r, "LRANGE", "n8n:events:3", "0", "-1"),
		"zset":    redisDo(t, r, "ZRANGE", "bull:jobs:completed", "0", "4", "WITHSCORES"),
		"set":     redisDo(t, r, "SCARD", "n8n:active-workflows"),
		"stream":  redisDo(t, r, "XLEN", "bull:jobs:events"),
		"large":   redisDo(t, r, "STRLEN", "n8n:binary:large"),
		"ttl-set": redisDo(t, r, "EXISTS", "n8n:session:3"),
		"seeded":  redisDo(t, r, "GET", "n8n:seeded"),
	}
}

func dumpRedis(t *testing.T, ctx context.Context, r *Redis) []byte {
	t.Helper()
	var buf bytes.Buffer
	start := time.Now()
	if err := r.DumpRDB(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	t.Logf("DumpRDB: %d bytes in %s", len(b), time.Since(start).Round(time.Millisecond))
	if !bytes.HasPrefix(b, []byte("REDIS00")) {
		t.Fatalf("dump starts with %q", b[:min(len(b), 16)])
	}
	if len(b) < 18 || b[len(b)-9] != 0xFF {
		t.Fatalf("dump does not end with the EOF opcode + checksum (EOF mark left in?): tail %q", b[max(0, len(b)-50):])
	}
	return b
}

// scramble empties the server and writes other keys, as a disaster would.
func scramble(t *testing.T, r *Redis) {
	t.Helper()
	redisDo(t, r, "FLUSHALL")
	redisDo(t, r, "SET", "snap:not-in-backup", "1")
	redisDo(t, r, "HSET", "n8n:cache:workflow:7", "f", "v")
	if n := redisDo(t, r, "DBSIZE"); n != "2" {
		t.Fatalf("DBSIZE after scramble = %s", n)
	}
}

func checkRestored(t *testing.T, r *Redis, want map[string]string, keys string) {
	t.Helper()
	if n := redisDo(t, r, "DBSIZE"); n != keys {
		t.Errorf("DBSIZE = %s, want %s", n, keys)
	}
	if got := redisSample(t, r); !reflect.DeepEqual(got, want) {
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("%s: got %.80q, want %.80q", k, got[k], want[k])
			}
		}
	}
	if n := redisDo(t, r, "EXISTS", "snap:not-in-backup"); n != "0" {
		t.Errorf("key written after the dump survived the restore")
	}
}

func noHelpersLeft(t *testing.T, r *Redis) {
	t.Helper()
	list, err := r.Docker.Helpers(context.Background(), r.Container)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		t.Errorf("helper container left behind: %v %s", c.Names, c.State)
	}
}

func TestRedis(t *testing.T) {
	start := time.Now()
	s := teststack.Start(t, "snaptredis")
	t.Logf("stack up in %s", time.Since(start).Round(time.Millisecond))
	r := redisOf(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// One dump serves the later subtests: nothing changes the data
	// between them (each restore puts back the same 1000 keys).
	var (
		rdb, saved []byte
		meta       map[string]string
		before     map[string]string
	)
	t.Run("DumpAndMetadata", func(t *testing.T) {
		before = redisSample(t, r)
		saves := redisInfo(t, r, "rdb_saves")
		rdb = dumpRedis(t, ctx, r)
		// The first way is BGSAVE (no repl-diskless-sync-delay to wait).
		if after := redisInfo(t, r, "rdb_saves"); after == saves {
			t.Errorf("DumpRDB did not BGSAVE: rdb_saves %s before and after", saves)
		}
		var err error
		meta, err = r.Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"keys": "1000", "dir": "/data", "dbfilename": "dump.rdb", "appendonly": "no",
			"appenddirname": "appendonlydir", "appendfilename": "appendonly.aof", "data_uid": "999", "data_gid": "999"}
		for k, v := range want {
			if meta[k] != v {
				t.Errorf("meta[%s] = %q, want %q", k, meta[k], v)
			}
		}
		if !strings.HasPrefix(meta["redis_version"], "7.") {
			t.Errorf("redis_version = %q", meta["redis_version"])
		}
	})
	if rdb == nil {
		t.FailNow()
	}

	t.Run("ReplicationFallback", func(t *testing.T) {
		// BGSAVE denied (as an ACL or rename-command can): the RDB comes
		// over the replication protocol instead.
		redisDo(t, r, "ACL", "SETUSER", "default", "-bgsave")
		defer redisDo(t, r, "ACL", "SETUSER", "default", "+bgsave")
		var buf bytes.Buffer
		t0 := time.Now()
		if err := r.DumpRDB(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		t.Logf("redis-cli --rdb: %d bytes in %s", buf.Len(), time.Since(t0).Round(time.Millisecond))
		if !bytes.HasPrefix(buf.Bytes(), []byte("REDIS00")) {
			t.Fatalf("fallback output starts with %q", buf.Bytes()[:min(buf.Len(), 16)])
		}
		if err := r.VerifyRDB(ctx, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
			t.Fatal(err)
		}
		saved = buf.Bytes()
	})

	t.Run("WrongPassword", func(t *testing.T) {
		for _, pw := range []string{"not-the-password", ""} {
			bad := *r
			bad.Password = pw
			var buf bytes.Buffer
			err := bad.DumpRDB(ctx, &buf)
			if !errors.Is(err, ErrRedisAuth) || buf.Len() != 0 {
				t.Fatalf("password %q: DumpRDB err = %v, %d bytes written", pw, err, buf.Len())
			}
			t.Logf("password %q: %v", pw, err)
			if _, err := bad.Metadata(ctx); !errors.Is(err, ErrRedisAuth) {
				t.Fatalf("password %q: Metadata err = %v", pw, err)
			}
		}
		// Restore checks the password before it stops anything.
		bad := *r
		bad.Password = "not-the-password"
		meta := map[string]string{"dir": "/data", "dbfilename": "dump.rdb", "data_uid": "999", "data_gid": "999", "keys": "1000"}
		if err := bad.Restore(ctx, bytes.NewReader(rdb), int64(len(rdb)), meta); !errors.Is(err, ErrRedisAuth) {
			t.Fatalf("Restore with a wrong password: %v", err)
		}
		if redisDo(t, r, "PING") != "PONG" {
			t.Fatal("server not answering after a refused restore")
		}
	})

	t.Run("VerifyRDB", func(t *testing.T) {
		t0 := time.Now()
		if err := r.VerifyRDB(ctx, bytes.NewReader(rdb), int64(len(rdb))); err != nil {
			t.Fatalf("good RDB rejected: %v", err)
		}
		t.Logf("VerifyRDB (good): %s", time.Since(t0).Round(time.Millisecond))
		half := rdb[:len(rdb)/2]
		err := r.VerifyRDB(ctx, bytes.NewReader(half), int64(len(half)))
		if err == nil {
			t.Fatal("truncated RDB accepted")
		}
		t.Logf("truncated: %v", err)
		if err := r.VerifyRDB(ctx, bytes.NewReader(half), int64(len(rdb))); err == nil || !strings.Contains(err.Error(), "ended after") {
			t.Fatalf("stream shorter than its size: %v", err)
		}
		noHelpersLeft(t, r)
	})

	t.Run("RoundTrip", func(t *testing.T) {
		scramble(t, r)
		t0 := time.Now()
		if err := r.Restore(ctx, bytes.NewReader(rdb), int64(len(rdb)), meta); err != nil {
			t.Fatal(err)
		}
		t.Logf("Restore: %s", time.Since(t0).Round(time.Millisecond))
		checkRestored(t, r, before, meta["keys"])
		out, err := s.Docker.Output(ctx, r.Container, nil, "sh", "-c", "stat -c '%u %g %a' /data/dump.rdb; ls -a /data")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, "999 999 600\n") || strings.Contains(out, ".snap-restore") {
			t.Errorf("data dir after restore:\n%s", out)
		}
		noHelpersLeft(t, r)
	})

	t.Run("RestoreStopped", func(t *testing.T) {
		// Into a stopped container: it stays stopped, the settings come
		// from meta, and the server loads the RDB when started. The RDB is
		// the one the replication fallback streamed.
		if saved == nil {
			t.Skip("no RDB from the replication fallback")
		}
		scramble(t, r)
		if _, err := s.Docker.Stop(ctx, r.Container); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := r.Restore(ctx, bytes.NewReader(saved), int64(len(saved)), meta); err != nil {
			t.Fatal(err)
		}
		t.Logf("Restore (stopped): %s", time.Since(t0).Round(time.Millisecond))
		ins, err := s.Docker.Inspect(ctx, r.Container)
		if err != nil {
			t.Fatal(err)
		}
		if ins.State.Running {
			t.Fatal("Restore started a container that was stopped")
		}
		if err := s.Docker.Start(ctx, r.Container); err != nil {
			t.Fatal(err)
		}
		if err := r.waitReady(ctx, r.Container, true); err != nil {
			t.Fatal(err)
		}
		checkRestored(t, r, before, meta["keys"])
		noHelpersLeft(t, r)
	})
	// Last: it writes. The key count recorded with a backup is the RDB's
	// own, whatever the server does meanwhile (INFO's count, read a moment
	// apart, drifted on a busy queue).
	t.Run("KeysFromTheRDB", func(t *testing.T) {
		stop := make(chan struct{})
		done := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-stop:
					done <- n
					return
				default:
				}
				if _, err := r.cli(ctx, r.Container, true, "SET", fmt.Sprintf("snap:busy:%d", n), "x"); err == nil {
					n++
				}
			}
		}()
		var buf bytes.Buffer
		extra, err := NewSource(r, "redis").Stream(ctx, &buf)
		close(stop)
		writes := <-done
		if err != nil {
			t.Fatal(err)
		}
		sum, err := rdbcount.Count(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if extra["keys_from"] != "rdb" || extra["keys"] != strconv.FormatInt(sum.Keys(), 10) {
			t.Fatalf("recorded keys=%s (from %s), the RDB holds %d", extra["keys"], extra["keys_from"], sum.Keys())
		}
		t.Logf("%d writes during the dump; recorded %s keys, as in the RDB", writes, extra["keys"])
	})
}

func TestRedisAOF(t *testing.T) {
	start := time.Now()
	s := teststack.Start(t, "snaptraof", "--aof")
	t.Logf("stack up in %s", time.Since(start).Round(time.Millisecond))
	r := redisOf(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	before := redisSample(t, r)
	rdb := dumpRedis(t, ctx, r)
	meta, err := r.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if meta["appendonly"] != "yes" || meta["appenddirname"] != "appendonlydir" || meta["keys"] != "1000" {
		t.Fatalf("meta = %v", meta)
	}
	scramble(t, r)
	t0 := time.Now()
	if err := r.Restore(ctx, bytes.NewReader(rdb), int64(len(rdb)), meta); err != nil {
		t.Fatal(err)
	}
	t.Logf("Restore with AOF rebuild: %s", time.Since(t0).Round(time.Millisecond))
	checkRestored(t, r, before, "1000")
	if got := redisDo(t, r, "CONFIG", "GET", "appendonly"); got != "appendonly\nyes" {
		t.Fatalf("CONFIG GET appendonly = %q", got)
	}
	out, err := s.Docker.Output(ctx, r.Container, nil, "ls", "-a", "/data")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "appendonlydir.snap-") || strings.Contains(out, ".snap-restore") {
		t.Errorf("data dir after restore:\n%s", out)
	}
	t.Logf("data dir: %s", strings.Join(strings.Fields(out), " "))
	noHelpersLeft(t, r)

	// A restart loads the AOF, not dump.rdb: the data is still there only
	// if the AOF was rebuilt from the restored RDB.
	if err := s.Docker.Restart(ctx, r.Container); err != nil {
		t.Fatal(err)
	}
	if err := r.waitReady(ctx, r.Container, true); err != nil {
		t.Fatal(err)
	}
	checkRestored(t, r, before, "1000")
	inf, err := r.info(ctx, r.Container, true, "persistence")
	if err != nil {
		t.Fatal(err)
	}
	if inf["aof_enabled"] != "1" {
		t.Errorf("aof_enabled:%s after restart", inf["aof_enabled"])
	}

	// A key count that differs from the recorded one is not damage: the
	// restore completes (data back, AOF rebuilt, server started) and
	// reports the discrepancy; the AOF set-aside of the earlier restore
	// is replaced by this one's, so they never pile up.
	redisDo(t, r, "SET", "snap:after-restore", "1")
	bad := map[string]string{}
	for k, v := range meta {
		bad[k] = v
	}
	bad["keys"] = "1234"
	err = r.Restore(ctx, bytes.NewReader(rdb), int64(len(rdb)), bad)
	if !errors.Is(err, sources.ErrDiscrepancy) || !strings.Contains(err.Error(), "recorded 1234") {
		t.Fatalf("Restore with a wrong key count: %v, want a discrepancy", err)
	}
	t.Logf("restore with a discrepancy: %v", err)
	if err := r.waitReady(ctx, r.Container, true); err != nil {
		t.Fatal(err)
	}
	checkRestored(t, r, before, "1000")
	if redisDo(t, r, "EXISTS", "snap:after-restore") != "0" {
		t.Fatal("the restore with a discrepancy did not put the RDB's data back")
	}
	out, err = s.Docker.Output(ctx, r.Container, nil, "ls", "-a", "/data")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "appendonlydir.snap-") != 1 || strings.Contains(out, ".snap-restore") {
		t.Errorf("data dir after two restores: want one AOF set-aside and no upload left:\n%s", out)
	}
	noHelpersLeft(t, r)
}
