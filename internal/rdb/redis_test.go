package rdb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"snap/internal/testreq"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateVector = flag.Bool("update-vector", false, "regenerate testdata/redis7.rdb and its .json from the local redis-server")

const vectorFile = "testdata/redis7.rdb"

// redisBinary finds a program of the redis-server package. Without it the
// real-Redis tests skip, except in CI, where they must run.
func redisBinary(t *testing.T, name string) string {
	t.Helper()
	return testreq.Tool(t, name, "redis-server")
}

type redisServer struct {
	dir  string
	port string
	cli  *client
}

// startRedis runs redis-server on 127.0.0.1 and a free port, persisting
// nothing unless told to (SAVE), in a temporary directory.
func startRedis(t *testing.T, args ...string) *redisServer {
	t.Helper()
	bin := redisBinary(t, "redis-server")
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		cmd := exec.Command(bin, append([]string{"--bind", "127.0.0.1", "--port", port,
			"--save", "", "--appendonly", "no", "--dir", dir, "--dbfilename", "dump.rdb",
			"--daemonize", "no", "--enable-debug-command", "yes",
			"--repl-diskless-sync-delay", "0"}, args...)...) // redis-cli --rdb waits that long
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Its log says when it listens; it ends early if the port was
		// taken meanwhile.
		ready := make(chan bool, 1)
		var log bytes.Buffer
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "Ready to accept connections") {
					ready <- true
					_, _ = io.Copy(io.Discard, out) // keep its output flowing
					return
				}
			}
			ready <- false
		}()
		var ok bool
		select {
		case ok = <-ready:
		case <-time.After(time.Minute):
		}
		if !ok {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if attempt < 5 && strings.Contains(log.String(), "in use") {
				continue
			}
			t.Fatalf("redis-server did not start:\n%s", log.String())
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		c, err := dial("127.0.0.1:" + port)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.conn.Close() })
		return &redisServer{dir: dir, port: port, cli: c}
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// client speaks just enough RESP2 for these tests.
type client struct {
	conn net.Conn
	r    *bufio.Reader
}

func dial(addr string) (*client, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &client{conn: c, r: bufio.NewReader(c)}, nil
}

type respError string

func (e respError) Error() string { return string(e) }

func (c *client) do(args ...any) (any, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		s := fmt.Sprint(a)
		if p, ok := a.([]byte); ok {
			s = string(p)
		}
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(s), s)
	}
	c.conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := c.conn.Write(b.Bytes()); err != nil {
		return nil, err
	}
	return c.reply()
}

func (c *client) reply() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty RESP line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, respError(line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		p := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, p); err != nil {
			return nil, err
		}
		return p[:n], nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.reply(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected RESP line %q", line)
}

func (s *redisServer) must(t *testing.T, args ...any) any {
	t.Helper()
	v, err := s.cli.do(args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

func (s *redisServer) str(t *testing.T, args ...any) string {
	t.Helper()
	switch v := s.must(t, args...).(type) {
	case []byte:
		return string(v)
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// info returns the fields of an INFO section.
func (s *redisServer) info(t *testing.T, section string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s.str(t, "INFO", section), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

var keyspaceLine = regexp.MustCompile(`^keys=(\d+),expires=(\d+)`)

// keyspace is INFO keyspace: keys and expires per database.
func (s *redisServer) keyspace(t *testing.T) map[int][2]int64 {
	out := map[int][2]int64{}
	for k, v := range s.info(t, "keyspace") {
		db, err := strconv.Atoi(strings.TrimPrefix(k, "db"))
		m := keyspaceLine.FindStringSubmatch(v)
		if err != nil || m == nil {
			t.Fatalf("INFO keyspace line %s:%s", k, v)
		}
		keys, _ := strconv.ParseInt(m[1], 10, 64)
		exp, _ := strconv.ParseInt(m[2], 10, 64)
		out[db] = [2]int64{keys, exp}
	}
	return out
}

// version is redis_version as major*100+minor (7.0.15 -> 700).
func (s *redisServer) version(t *testing.T) int {
	var major, minor int
	fmt.Sscanf(s.info(t, "server")["redis_version"], "%d.%d", &major, &minor)
	return major*100 + minor
}

// populate makes keys of every type and encoding the server can make, n
// setting the sizes: the encodings that a size picks depend on the
// server's *-max-* settings.
func populate(t *testing.T, s *redisServer, n int) {
	ver := s.version(t)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	random := func(k int) []byte {
		b := make([]byte, k)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	seq := func(prefix string, k int) []any {
		var out []any
		for i := range k {
			out = append(out, fmt.Sprintf("%s%06d", prefix, i))
		}
		return out
	}
	pairs := func(prefix string, k int) []any {
		var out []any
		for i := range k {
			out = append(out, fmt.Sprintf("%sf%d", prefix, i), fmt.Sprintf("%sv%d", prefix, i))
		}
		return out
	}
	do := func(args ...any) { s.must(t, args...) }

	do("SELECT", 0)
	do("SET", "str:int", 12345)
	do("SET", "str:neg", -7)
	do("SET", "str:int32", -2000000000)
	do("SET", "str:bigint", "123456789012345")
	do("SET", "str:short", "hello")
	do("SET", "str:empty", "")
	do("SET", "str:random", random(20*n))
	do("SET", "str:compressible", strings.Repeat("snap-", 60*n))
	do(append([]any{"RPUSH", "list:small"}, "a", "b", 3)...)
	do(append([]any{"RPUSH", "list:big"}, seq("item-item-item-", 10*n)...)...)
	if ver >= 700 {
		// Elements above the threshold become plain quicklist nodes.
		do("DEBUG", "QUICKLIST-PACKED-THRESHOLD", 10*n)
		do("RPUSH", "list:plain", "small", strings.Repeat("P", 20*n), random(20*n))
	}
	do("SADD", "set:ints", 1, 2, 3, -4)
	do(append([]any{"SADD", "set:manyints"}, intSeq(6*n)...)...)
	do("SADD", "set:strs", "a", "b", "c")
	do(append([]any{"SADD", "set:bigstrs"}, seq("member-", 6*n)...)...)
	do(append([]any{"HSET", "hash:small"}, pairs("", 2)...)...)
	do(append([]any{"HSET", "hash:big"}, pairs("big-", 5*n)...)...)
	for i := range 2 * n { // one by one: a bulk HSET may stay a listpack
		do("HSET", "hash:grown", i, i)
	}
	do("HSET", "hash:longval", "f", strings.Repeat("v", 100))
	do("ZADD", "zset:small", 1, "a", 2.5, "b")
	zs := []any{"ZADD", "zset:big"}
	for i := range 5 * n {
		zs = append(zs, float64(i)/3, fmt.Sprint("m", i))
	}
	do(zs...)
	do("ZADD", "zset:inf", "+inf", "top", "-inf", "bottom", 0, "zero")
	// A stream over several nodes, two groups, pending entries owned by
	// two consumers, one acknowledged, one entry deleted.
	var ids []string
	for i := range 5 * n {
		ids = append(ids, s.str(t, "XADD", "stream:s", "*", "field", i, "other", "x"))
	}
	do("XGROUP", "CREATE", "stream:s", "g1", "0")
	do("XREADGROUP", "GROUP", "g1", "alice", "COUNT", 3, "STREAMS", "stream:s", ">")
	do("XREADGROUP", "GROUP", "g1", "bob", "COUNT", 2, "STREAMS", "stream:s", ">")
	do("XACK", "stream:s", "g1", ids[0])
	do("XGROUP", "CREATE", "stream:s", "g2", "$")
	if ver >= 700 {
		do("XGROUP", "CREATECONSUMER", "stream:s", "g2", "carol")
	}
	do("XDEL", "stream:s", ids[len(ids)-1])
	do("XGROUP", "CREATE", "stream:empty", "g", "$", "MKSTREAM")
	do("XADD", "stream:drained", "1-1", "f", "v")
	do("XDEL", "stream:drained", "1-1")
	// Expire times.
	do("SET", "ttl:ex", "v", "EX", 100000)
	do("SET", "ttl:px", "v", "PX", 100000000)
	do("EXPIRE", "list:small", 50000)
	do("PEXPIRE", "hash:big", 90000000)
	if ver >= 704 {
		// Hash fields with their own expire times.
		do("HSET", "hashttl:small", "f", "v", "g", "w")
		do("HEXPIRE", "hashttl:small", 100000, "FIELDS", 1, "f")
		do(append([]any{"HSET", "hashttl:big"}, pairs("t-", 20*n)...)...)
		do("HEXPIRE", "hashttl:big", 100000, "FIELDS", 2, "t-f0", "t-f1")
	}
	// Other databases.
	do("SELECT", 1)
	do("SET", "one", "1")
	do("SADD", "one:set", "x", "y")
	do("EXPIRE", "one:set", 1000)
	do("SELECT", 5)
	do("RPUSH", "five:list", "a")
	do("SELECT", 15)
	do("SET", "fifteen", "v", "EX", 1000)
	do("SELECT", 0)
	if ver >= 700 {
		do("FUNCTION", "LOAD", "#!lua name=snaplib\nredis.register_function('snapfn', function(keys, args) return 1 end)")
		do("FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('otherfn', function(keys, args) return 2 end)")
	}
}

func intSeq(k int) []any {
	out := make([]any, k)
	for i := range out {
		out[i] = i * 3
	}
	return out
}

// expected says what Redis knows about the keys: per database, the keys
// and expires of INFO keyspace, and the RDB type of every key from its
// TYPE and OBJECT ENCODING.
type expected struct {
	RedisVersion string           `json:"redis_version"`
	RDBVersion   int              `json:"rdb_version"`
	Keyspace     map[int][2]int64 `json:"keyspace"`
	Types        map[string]int64 `json:"types"`
	Functions    int              `json:"functions"`
}

func (s *redisServer) expected(t *testing.T) expected {
	e := expected{
		RedisVersion: s.info(t, "server")["redis_version"],
		Keyspace:     s.keyspace(t),
		Types:        map[string]int64{},
	}
	ver := s.version(t)
	switch {
	case ver >= 704:
		e.RDBVersion = 12
	case ver >= 702:
		e.RDBVersion = 11
	case ver >= 700:
		e.RDBVersion = 10
	default:
		e.RDBVersion = 9
	}
	for db := range e.Keyspace {
		s.must(t, "SELECT", db)
		for _, k := range s.must(t, "KEYS", "*").([]any) {
			key := string(k.([]byte))
			typ := typeOf(t, s.str(t, "TYPE", key), s.str(t, "OBJECT", "ENCODING", key), key, e.RDBVersion)
			e.Types[typ.String()]++
		}
	}
	s.must(t, "SELECT", 0)
	if ver >= 700 {
		e.Functions = len(s.must(t, "FUNCTION", "LIST").([]any))
	}
	return e
}

// typeOf is the RDB type Redis writes for a key (rdbSaveObjectType).
func typeOf(t *testing.T, kind, enc, key string, rdbVersion int) Type {
	switch kind + "/" + enc {
	case "string/int", "string/embstr", "string/raw":
		return TypeString
	case "list/quicklist", "list/listpack", "list/ziplist":
		if rdbVersion >= 10 {
			return TypeListQuicklist2
		}
		return TypeListQuicklist
	case "set/intset":
		return TypeSetIntset
	case "set/hashtable":
		return TypeSet
	case "set/listpack":
		return TypeSetListpack
	case "zset/skiplist":
		return TypeZSet2
	case "zset/listpack":
		return TypeZSetListpack
	case "zset/ziplist":
		return TypeZSetZiplist
	case "hash/ziplist":
		return TypeHashZiplist
	case "hash/listpack":
		return TypeHashListpack
	case "hash/listpackex":
		return TypeHashListpackEx
	case "hash/hashtable":
		if strings.HasPrefix(key, "hashttl:") {
			return TypeHashMetadata
		}
		return TypeHash
	case "stream/stream":
		switch {
		case rdbVersion >= 11:
			return TypeStreamListpacks3
		case rdbVersion == 10:
			return TypeStreamListpacks2
		}
		return TypeStreamListpacks
	}
	t.Fatalf("key %s: no RDB type known for %s/%s", key, kind, enc)
	return 0
}

// check compares a Summary with what Redis said before it wrote the RDB.
func check(t *testing.T, what string, s *Summary, e expected) {
	t.Helper()
	if s.Version != e.RDBVersion || s.RedisVersion != e.RedisVersion || s.CTime.IsZero() {
		t.Errorf("%s: version %d, redis-ver %q, ctime %v; want %d, %q", what, s.Version, s.RedisVersion, s.CTime, e.RDBVersion, e.RedisVersion)
	}
	if len(s.DBs) != len(e.Keyspace) {
		t.Errorf("%s: databases %+v, INFO keyspace %v", what, s.DBs, e.Keyspace)
	}
	for db, ke := range e.Keyspace {
		want := DB{Index: db, Keys: ke[0], Expires: ke[1], SizeHint: ke[0], ExpiresHint: ke[1]}
		if got := s.DB(db); got != want {
			t.Errorf("%s: db %d: %+v, INFO keyspace says keys=%d expires=%d", what, db, got, ke[0], ke[1])
		}
	}
	types := map[string]int64{}
	for ty, n := range s.Types {
		types[ty.String()] = n
	}
	if fmt.Sprint(types) != fmt.Sprint(e.Types) {
		t.Errorf("%s: types %v, Redis's encodings say %v", what, types, e.Types)
	}
	if s.Functions != e.Functions {
		t.Errorf("%s: %d function libraries, FUNCTION LIST has %d", what, s.Functions, e.Functions)
	}
}

// checkTool compares with redis-check-rdb's count.
func checkTool(t *testing.T, file string, s *Summary) {
	t.Helper()
	bin := redisBinary(t, "redis-check-rdb")
	out, err := exec.Command(bin, file).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-check-rdb %s: %v\n%s", file, err, out)
	}
	m := regexp.MustCompile(`\[info\] (\d+) keys read\n.*\[info\] (\d+) expires`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("redis-check-rdb said:\n%s", out)
	}
	if string(m[1]) != fmt.Sprint(s.Keys()) || string(m[2]) != fmt.Sprint(s.Expires()) {
		t.Errorf("redis-check-rdb: %s keys, %s expires; Count: %d, %d", m[1], m[2], s.Keys(), s.Expires())
	}
}

// save runs SAVE and returns dump.rdb.
func (s *redisServer) save(t *testing.T) []byte {
	s.must(t, "SAVE")
	data, err := os.ReadFile(filepath.Join(s.dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// countBoth counts data with Count's parser and with a Counter fed
// random pieces, which must agree.
func countBoth(t *testing.T, data []byte) (*Summary, stats) {
	t.Helper()
	p := newParser(bytes.NewReader(data))
	s, err := p.run()
	if err != nil {
		t.Fatal(err)
	}
	c := NewCounter()
	rng := rand.New(rand.NewPCG(uint64(len(data)), 1))
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(70000))
		c.Write(rest[:n])
		rest = rest[n:]
	}
	s2, err := c.Summary()
	if err != nil {
		t.Fatal(err)
	}
	sameSummary(t, s2, s)
	return s, p.seen
}

// TestRealRedis: RDBs that a real Redis wrote, with keys of every type and
// encoding it makes, counted as INFO keyspace, RESIZEDB, the keys' own
// encodings and redis-check-rdb count them: written by SAVE under several
// settings, and sent by `redis-cli --rdb -`.
func TestRealRedis(t *testing.T) {
	srv := startRedis(t, "--list-compress-depth", "1")
	populate(t, srv, 100)
	want := srv.expected(t)
	t.Logf("Redis %s, RDB version %d, %v, types %v", want.RedisVersion, want.RDBVersion, want.Keyspace, want.Types)
	if want.RDBVersion < 10 {
		t.Logf("Redis older than 7.0: no functions, no plain quicklist nodes")
	}

	variants := []struct {
		name   string
		config []string
	}{
		{"default", nil},
		{"LFU (FREQ opcodes)", []string{"maxmemory-policy", "allkeys-lfu"}},
		{"LRU (IDLE opcodes)", []string{"maxmemory-policy", "allkeys-lru"}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			if v.config != nil {
				srv.must(t, append([]any{"CONFIG", "SET"}, strs(v.config)...)...)
			}
			data := srv.save(t)
			s, seen := countBoth(t, data)
			check(t, v.name, s, want)
			checkTool(t, filepath.Join(srv.dir, "dump.rdb"), s)
			if s.Checksum == 0 {
				t.Error("no checksum")
			}
			// Compressed strings and quicklist nodes, plain nodes, and
			// the eviction policy's opcodes were all read.
			if seen.lzf < 5 || seen.plainNodes != 2 || seen.expireMs != int(s.Expires()) ||
				(seen.freq == int(s.Keys())) != strings.Contains(v.name, "FREQ") ||
				(seen.idle == int(s.Keys())) != strings.Contains(v.name, "IDLE") {
				t.Errorf("paths taken: %+v", seen)
			}
			t.Logf("%d bytes, %+v", len(data), seen)
		})
	}
	srv.must(t, "CONFIG", "SET", "maxmemory-policy", "noeviction")

	// rdbchecksum cannot be changed at run time: a server of its own.
	t.Run("no compression, no checksum", func(t *testing.T) {
		srv := startRedis(t, "--rdbcompression", "no", "--rdbchecksum", "no", "--list-compress-depth", "1")
		populate(t, srv, 100)
		want := srv.expected(t)
		data := srv.save(t)
		s, seen := countBoth(t, data)
		check(t, "no checksum", s, want)
		// Only the quicklist nodes compressed in memory are LZF.
		if seen.lzf == 0 || seen.lzf > 100 {
			t.Errorf("paths taken: %+v", seen)
		}
		checkTool(t, filepath.Join(srv.dir, "dump.rdb"), s)
		if s.Checksum != 0 || !bytes.Equal(data[len(data)-8:], make([]byte, 8)) {
			t.Errorf("checksum %016x", s.Checksum)
		}
	})

	t.Run("redis-cli --rdb -", func(t *testing.T) {
		cli := redisBinary(t, "redis-cli")
		cmd := exec.Command(cli, "-h", "127.0.0.1", "-p", srv.port, "--rdb", "-")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		data, err := cmd.Output()
		if err != nil {
			t.Fatalf("redis-cli --rdb -: %v\n%s", err, stderr.Bytes())
		}
		// With diskless replication, redis-cli leaves the 40-character
		// EOF mark after the RDB on stdout; a caller must cut it.
		if n := len(data); n > 49 && regexp.MustCompile(`^[0-9a-f]{40}$`).Match(data[n-40:]) && data[n-49] == opEOF {
			if _, err := Count(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "40 bytes follow the end") {
				t.Errorf("the EOF mark was not refused: %v", err)
			}
			data = data[:n-40]
			t.Log("cut the EOF mark")
		}
		s, _ := countBoth(t, data)
		check(t, "redis-cli --rdb", s, want)
	})

	t.Run("DUMP of every key", func(t *testing.T) { checkDumps(t, srv) })
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// checkDumps reads each key's DUMP payload ([type][value][RDB version,
// 2 bytes][CRC-64, 8 bytes]) with the value reader: it must consume the
// value exactly. The LZF reader must give back the compressible string.
func checkDumps(t *testing.T, srv *redisServer) {
	for db := range srv.keyspace(t) {
		srv.must(t, "SELECT", db)
		for _, k := range srv.must(t, "KEYS", "*").([]any) {
			payload := srv.must(t, "DUMP", k).([]byte)
			n := len(payload)
			if n < 11 || crc(0, payload[:n-8]) != binary.LittleEndian.Uint64(payload[n-8:]) {
				t.Fatalf("key %s: DUMP payload's CRC", k)
			}
			p := newParser(bytes.NewReader(payload[:n-10]))
			typ, err := p.byte()
			if err == nil {
				_, err = p.value(Type(typ))
			}
			if err == nil {
				var end bool
				if end, err = p.r.atEnd(); err == nil && !end {
					err = errors.New("the value reader stopped before the value's end")
				}
			}
			if err != nil {
				t.Errorf("db %d key %s (type %s): %v", db, k, Type(typ), err)
			}
		}
	}
	srv.must(t, "SELECT", 0)
	want := []byte(srv.str(t, "GET", "str:compressible"))
	payload := srv.must(t, "DUMP", "str:compressible").([]byte)
	p := newParser(bytes.NewReader(payload[1:]))
	if n, enc, err := p.rawLength(); err != nil || !enc || n != 3 {
		t.Fatalf("str:compressible is not LZF in its DUMP: %v", err)
	}
	clen, _ := p.length("")
	ulen, _ := p.length("")
	c := &capture{head: make([]byte, 0, ulen)}
	if err := p.lzf(clen, ulen, c); err != nil || !bytes.Equal(c.head, want) {
		t.Fatalf("LZF of Redis: %v, equal %v", err, bytes.Equal(c.head, want))
	}
}

// TestVector regenerates (-update-vector) or checks the committed small
// RDB, the fuzz seed: Redis's own counts of it are in the .json beside it.
func TestVector(t *testing.T) {
	if *updateVector {
		srv := startRedis(t, "--list-max-listpack-size", "4", "--list-compress-depth", "1",
			"--set-max-intset-entries", "4", "--hash-max-listpack-entries", "4",
			"--zset-max-listpack-entries", "4", "--stream-node-max-entries", "4")
		populate(t, srv, 2)
		want := srv.expected(t)
		data := srv.save(t)
		js, _ := json.MarshalIndent(want, "", "  ")
		if err := os.WriteFile(vectorFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(strings.TrimSuffix(vectorFile, ".rdb")+".json", append(js, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", vectorFile, len(data))
	}
	js, err := os.ReadFile(strings.TrimSuffix(vectorFile, ".rdb") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var want expected
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	s, seen := countBoth(t, readVector(t))
	check(t, vectorFile, s, want)
	if seen.lzf == 0 || seen.plainNodes == 0 || seen.expireMs == 0 {
		t.Errorf("the vector lacks a path: %+v", seen)
	}
}

func readVector(t testing.TB) []byte {
	data, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
