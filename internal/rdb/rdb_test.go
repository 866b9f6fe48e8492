package rdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCRC64Jones(t *testing.T) {
	// The check value of CRC-64/Jones as Redis's crc64.c tests it.
	if got := crc(0, []byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Fatalf("crc64 jones of 123456789 = %016x", got)
	}
	// Incremental updates give the same.
	if crc(crc(0, []byte("1234")), []byte("56789")) != 0xe9c6d914c4b8d9ca {
		t.Fatal("incremental crc differs")
	}
}

// syntheticAll holds one key of every value type and every opcode that
// Redis 7.0 does not write itself, laid out as rdb.c reads them. Its
// expected counts are in syntheticWant.
func syntheticAll() []byte {
	b := newRDB(12)
	b.aux("redis-ver", "7.4.1").aux("redis-bits", "64")
	b.op(opAux).str("ctime").intStr(1700000000)
	b.aux("%info", strings.Repeat("x", 2000)) // too long to keep: skipped
	// A module AUX record with every module opcode.
	b.op(opModuleAux).len(0x1234567890 << 10).len(modUInt).len(2)
	b.len(modSInt).len(5).len(modUInt).len(1<<40).len(modFloat).op(1, 2, 3, 4)
	b.len(modDouble).u64(math.Float64bits(2.5)).len(modString).str("aux").len(modEOF)
	b.op(opFunction2).str("#!lua name=lib\nredis.register_function('f', function() return 1 end)")

	b.selectDB(0).op(opResizeDB).len(19).len(2)
	b.op(opSlotInfo).len(1234).len(19).len(2)
	b.key(TypeString, "s-plain").str("hello")
	b.key(TypeString, "s-int8").intStr(-7)
	b.key(TypeString, "s-int16").intStr(1234)
	b.key(TypeString, "s-int32").intStr(-123456789)
	b.key(TypeString, "s-lzf").lzfStr(bytes.Repeat([]byte("abcdefgh"), 300))
	b.op(opExpireSec).op(1, 2, 3, 4)
	b.key(TypeString, "s-len32").len32(3).op('a', 'b', 'c')
	b.op(opExpireMs).u64(1<<41).op(opIdle).len(300).op(opFreq, 5)
	b.key(TypeString, "s-len64").len64(2).op('x', 'y')
	b.key(TypeList, "list-linked").len(3).str("a").intStr(2).lzfStr([]byte(strings.Repeat("c", 100)))
	b.key(TypeSet, "set-ht").len(2).str("a").str("b")
	b.key(TypeZSet, "zset-v1").len(3).str("a").op(3, '1', '.', '5').str("b").op(254).str("c").op(255)
	b.key(TypeHash, "hash-ht").len(1).str("f").str("v")
	b.key(TypeZSet2, "zset-v2").len(1).str("m").u64(math.Float64bits(-1.25))
	b.key(TypeModule2, "module").len(0x2233445566<<10 | 3).len(modString).str("v").len(modDouble).u64(0).len(modEOF)
	b.key(TypeHashZipmap, "hash-zipmap").bytes(zipmap("f", "v", "g", "w"))
	b.key(TypeListZiplist, "list-ziplist").bytes(ziplist("a", "b"))
	b.key(TypeSetIntset, "set-intset").bytes(intset(1, 2, 3))
	b.key(TypeZSetZiplist, "zset-ziplist").bytes(ziplist("m", "1"))
	b.key(TypeHashZiplist, "hash-ziplist").lzfStr(ziplist("f", "v", "f2", strings.Repeat("v", 60)))
	b.key(TypeListQuicklist, "list-quicklist").len(2).bytes(ziplist("a")).bytes(ziplist("b", "c"))
	b.op(opSelectDB).len(3) // a second database
	b.key(TypeHashListpack, "hash-lp").bytes(listpack("f", "v"))
	b.key(TypeZSetListpack, "zset-lp").bytes(listpack("m", "2"))
	b.key(TypeListQuicklist2, "list-ql2").len(3).
		len(containerPacked).bytes(listpack("a", "b")).
		len(containerPlain).str(strings.Repeat("p", 100)).
		len(containerPacked).lzfStr(listpack(strings.Repeat("q", 60), strings.Repeat("q", 60)))
	b.key(TypeSetListpack, "set-lp").bytes(listpack("a", "b", "c"))
	b.key(TypeHashListpackExPreGA, "hash-lpex-prega").bytes(listpack("f", "v", "0"))
	b.op(opExpireMs).u64(99)
	b.key(TypeHashListpackEx, "hash-lpex").u64(1700000000000).bytes(listpack("f", "v", "1700000000000"))
	b.key(TypeHashMetadataPreGA, "hash-md-prega").len(2).len(0).str("f").str("v").len(1700000000000).str("g").str("w")
	b.key(TypeHashMetadata, "hash-md").u64(1700000000000).len(2).len(0).str("f").str("v").len(5).str("g").str("w")
	// Streams: v1, v2 and v3 layouts, with a group, a pending entry and a
	// consumer owning it.
	for _, t := range []Type{TypeStreamListpacks, TypeStreamListpacks2, TypeStreamListpacks3} {
		b.key(t, t.String())
		b.len(1).bytes(streamID(1, 0)).bytes(listpack("1", "0", "0", "1", "f", "0", "v", "0", "0", "1", "4"))
		b.len(1).len(1).len(0) // length, last ID
		if t >= TypeStreamListpacks2 {
			b.len(1).len(0).len(0).len(0).len(1) // first ID, max deleted ID, entries added
		}
		b.len(1).str("group").len(1).len(0) // one group, its last ID
		if t >= TypeStreamListpacks2 {
			b.len(1) // entries read
		}
		b.len(1).Write(streamID(1, 0)) // global PEL: ID, delivery time, count
		b.u64(1700000000000).len(1)
		b.len(1).str("consumer").u64(1700000000000) // consumer, seen time
		if t >= TypeStreamListpacks3 {
			b.u64(1700000000000) // active time
		}
		b.len(1).Write(streamID(1, 0))
	}
	// An empty stream (XGROUP CREATE ... MKSTREAM): no listpacks, length 0.
	b.key(TypeStreamListpacks3, "stream-empty").len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0).len(0)
	// Empty collections: old Redis bugs; Redis drops them on load.
	b.key(TypeList, "empty-list").len(0)
	b.key(TypeListQuicklist2, "empty-ql2").len(1).len(containerPacked).bytes(listpack())
	return b.finish()
}

var syntheticWant = map[int]DB{
	0: {Index: 0, Keys: 19, Expires: 2, SizeHint: 19, ExpiresHint: 2},
	3: {Index: 3, Keys: 14, Expires: 1, Empty: 2, SizeHint: -1, ExpiresHint: -1},
}

func TestSyntheticEveryType(t *testing.T) {
	s, err := Count(bytes.NewReader(syntheticAll()))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.DBs) != len(syntheticWant) {
		t.Fatalf("DBs %+v", s.DBs)
	}
	for _, d := range s.DBs {
		if d != syntheticWant[d.Index] {
			t.Errorf("db %d: got %+v, want %+v", d.Index, d, syntheticWant[d.Index])
		}
	}
	if s.Version != 12 || s.RedisVersion != "7.4.1" || !s.CTime.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("header: version %d redis-ver %q ctime %v", s.Version, s.RedisVersion, s.CTime)
	}
	if s.Functions != 1 || s.ModuleAux != 1 || s.Aux["redis-bits"] != "64" || s.Aux["ctime"] != "1700000000" {
		t.Errorf("functions %d, module aux %d, aux %v", s.Functions, s.ModuleAux, s.Aux)
	}
	if _, ok := s.Aux["%info"]; ok {
		t.Error("an AUX value over the limit was kept")
	}
	for ty := range Type(26) {
		if ty.known() && ty != TypeModulePreGA && s.Types[ty] == 0 {
			t.Errorf("no key of type %s counted", ty)
		}
	}
	if s.Keys() != 33 || s.Expires() != 3 || s.Empty() != 2 {
		t.Errorf("totals %d %d %d", s.Keys(), s.Expires(), s.Empty())
	}
	if d := s.DB(7); d.Keys != 0 || d.SizeHint != -1 {
		t.Errorf("DB(7) = %+v", d)
	}
}

// Versions before 5 have no checksum; the parser must not want one.
func TestOldVersionNoChecksum(t *testing.T) {
	b := newRDB(3)
	b.selectDB(0).key(TypeString, "k").str("v")
	s, err := Count(bytes.NewReader(b.finish()))
	if err != nil || s.Keys() != 1 || s.Checksum != 0 {
		t.Fatalf("%v %+v", err, s)
	}
}

func TestChecksum(t *testing.T) {
	good := newRDB(10).selectDB(0).key(TypeString, "k").str("v")
	data := good.finish()
	s, err := Count(bytes.NewReader(data))
	if err != nil || s.Checksum != binary.LittleEndian.Uint64(data[len(data)-8:]) {
		t.Fatalf("%v %+v", err, s)
	}
	// rdbchecksum no: a zero CRC is accepted.
	zero := bytes.Clone(data)
	clear(zero[len(zero)-8:])
	if s, err := Count(bytes.NewReader(zero)); err != nil || s.Checksum != 0 || s.Keys() != 1 {
		t.Fatalf("zero CRC: %v %+v", err, s)
	}
	bad := bytes.Clone(data)
	bad[len(bad)-3] ^= 1
	_, err = Count(bytes.NewReader(bad))
	var e *Error
	if !errors.Is(err, ErrChecksum) || !errors.As(err, &e) || e.Offset != int64(len(data)) {
		t.Fatalf("wrong CRC: %v", err)
	}
	// A flipped byte in a value is caught by the CRC.
	flip := bytes.Clone(data)
	flip[bytes.Index(flip, []byte("v"))] = 'w'
	if _, err := Count(bytes.NewReader(flip)); !errors.Is(err, ErrChecksum) {
		t.Fatalf("flipped value byte: %v", err)
	}
}

func TestErrors(t *testing.T) {
	rdb := func(body func(b *builder)) []byte {
		b := newRDB(10)
		body(b)
		return b.finish()
	}
	key := func(b *builder, ty Type) *builder { return b.selectDB(0).key(ty, "k") }
	tests := []struct {
		name  string
		data  []byte
		want  error
		msg   string
		at    int64 // -1: don't check
		inKey bool
	}{
		{"not an RDB", []byte("HELLO0010\xff"), ErrCorrupt, `starts with "HELLO"`, 9, false},
		{"bad version", []byte("REDIS00a1\xff"), ErrCorrupt, "not 4 digits", 9, false},
		{"version 0", []byte("REDIS0000\xff"), ErrCorrupt, "RDB version 0", 9, false},
		{"newer version", []byte("REDIS0013\xff"), ErrUnsupported, "version 13 is newer", 9, false},
		{"empty", nil, ErrTruncated, "ends before", 0, false},
		{"header only", []byte("REDIS0010"), ErrTruncated, "ends before", 9, false},
		{"no checksum", []byte("REDIS0010\xff\x00\x00"), ErrTruncated, "ends before", 12, false},
		{"trailing bytes", append(rdb(func(*builder) {}), "0123456789"...), ErrCorrupt, "10 bytes follow the end", 18, false},
		{"module pre-GA value", rdb(func(b *builder) { key(b, TypeModulePreGA).len(0x2233445566 << 10) }), ErrUnsupported, "module type", -1, true},
		{"function pre-GA", rdb(func(b *builder) { b.op(opFunctionPreGA).str("f") }), ErrUnsupported, "0xf6", 10, false},
		{"unknown type", rdb(func(b *builder) { b.op(26).str("k").str("v") }), ErrUnsupported, "value type 26", 10, false},
		{"type 8", rdb(func(b *builder) { b.op(8) }), ErrUnsupported, "value type 8", 10, false},
		{"expire then EOF", rdb(func(b *builder) { b.op(opExpireMs).u64(1) }), ErrCorrupt, "preceding expire", 19, false},
		{"expire then AUX", rdb(func(b *builder) { b.op(opIdle).len(1).aux("a", "b") }), ErrCorrupt, "preceding expire", 12, false},
		{"two expires", rdb(func(b *builder) { b.op(opExpireMs).u64(1).op(opExpireSec).op(1, 2, 3, 4) }), ErrCorrupt, "second expire", 19, false},
		{"length 0x82", rdb(func(b *builder) { b.selectDB(0).op(byte(TypeString), 0x82) }), ErrCorrupt, "unknown length encoding 0x82", 13, true},
		{"string encoding 4", rdb(func(b *builder) { key(b, TypeString).op(0xc4) }), ErrCorrupt, "unknown string encoding 4", -1, true},
		{"encoded length as count", rdb(func(b *builder) { key(b, TypeList).op(0xc0, 1) }), ErrCorrupt, "where a number belongs", -1, true},
		{"huge string", rdb(func(b *builder) { key(b, TypeString).len64(1 << 50) }), ErrLimit, "beyond any Redis", -1, true},
		{"huge count", rdb(func(b *builder) { key(b, TypeSet).len64(1 << 41) }), ErrLimit, "beyond any Redis", -1, true},
		{"huge db", rdb(func(b *builder) { b.selectDB(1 << 32) }), ErrLimit, "SELECTDB", -1, false},
		{"truncated string", []byte("REDIS0010\xfe\x00\x00\x01k\x05ab"), ErrTruncated, "ends before", 17, true},
		{"lzf backref before start", rdb(func(b *builder) { key(b, TypeString).op(0xc3).len(2).len(3).op(0x20, 0x05) }), ErrCorrupt, "back reference", -1, true},
		{"lzf too long", rdb(func(b *builder) { key(b, TypeString).op(0xc3).len(3).len(1).op(0x01, 'a', 'b') }), ErrCorrupt, "more than the declared", -1, true},
		{"lzf too short", rdb(func(b *builder) { key(b, TypeString).op(0xc3).len(2).len(5).op(0x00, 'a') }), ErrCorrupt, "decompresses to 1 bytes, declared 5", -1, true},
		{"lzf literal past input", rdb(func(b *builder) { key(b, TypeString).op(0xc3).len(2).len(5).op(0x04, 'a') }), ErrCorrupt, "past the end of the compressed", -1, true},
		{"lzf backref cut", rdb(func(b *builder) { key(b, TypeString).op(0xc3).len(3).len(9).op(0x00, 'a', 0xe0) }), ErrCorrupt, "cut off", -1, true},
		{"listpack size mismatch", rdb(func(b *builder) { key(b, TypeHashListpack).bytes(append(listpack("a", "b"), 0xff)) }), ErrCorrupt, "listpack header says", -1, true},
		{"listpack no end", rdb(func(b *builder) { key(b, TypeSetListpack).bytes(listpack("a")[:7]) }), ErrCorrupt, "not a listpack", -1, true},
		{"listpack odd pairs", rdb(func(b *builder) { key(b, TypeZSetListpack).bytes(listpack("a")) }), ErrCorrupt, "whole groups of 2", -1, true},
		{"listpack count 0 with entries", rdb(func(b *builder) {
			lp := listpack("a")
			lp[4] = 0
			key(b, TypeSetListpack).bytes(lp)
		}), ErrCorrupt, "says 0 elements", -1, true},
		{"ziplist tail outside", rdb(func(b *builder) {
			zl := ziplist("a")
			zl[4] = 200
			key(b, TypeListZiplist).bytes(zl)
		}), ErrCorrupt, "last entry at 200", -1, true},
		{"intset empty", rdb(func(b *builder) { key(b, TypeSetIntset).bytes(intset()) }), ErrCorrupt, "intset of 0", -1, true},
		{"intset encoding", rdb(func(b *builder) {
			is := intset(1)
			is[0] = 3
			key(b, TypeSetIntset).bytes(is)
		}), ErrCorrupt, "intset encoding 3", -1, true},
		{"zipmap empty", rdb(func(b *builder) { key(b, TypeHashZipmap).bytes(zipmap()) }), ErrCorrupt, "empty zipmap", -1, true},
		{"integer as listpack", rdb(func(b *builder) { key(b, TypeHashListpack).intStr(5) }), ErrCorrupt, "not a listpack", -1, true},
		{"NaN score", rdb(func(b *builder) { key(b, TypeZSet2).len(1).str("m").u64(math.Float64bits(math.NaN())) }), ErrCorrupt, "NaN", -1, true},
		{"NaN text score", rdb(func(b *builder) { key(b, TypeZSet).len(1).str("m").op(253) }), ErrCorrupt, "NaN", -1, true},
		{"bad text score", rdb(func(b *builder) { key(b, TypeZSet).len(1).str("m").op(2, 'x', 'y') }), ErrCorrupt, `"xy" is not a number`, -1, true},
		{"quicklist container 3", rdb(func(b *builder) { key(b, TypeListQuicklist2).len(1).len(3) }), ErrCorrupt, "container 3", -1, true},
		{"quicklist empty plain", rdb(func(b *builder) { key(b, TypeListQuicklist2).len(1).len(1).str("") }), ErrCorrupt, "empty quicklist plain node", -1, true},
		{"stream node key size", rdb(func(b *builder) { key(b, TypeStreamListpacks2).len(1).str("short") }), ErrCorrupt, "not a 16-byte ID", -1, true},
		{"stream empty listpack", rdb(func(b *builder) { key(b, TypeStreamListpacks2).len(1).bytes(streamID(1, 1)).bytes(listpack()) }), ErrCorrupt, "empty listpack in a stream", -1, true},
		{"stream length without listpacks", rdb(func(b *builder) { key(b, TypeStreamListpacks2).len(0).len(5) }), ErrCorrupt, "without a listpack", -1, true},
		{"module unknown opcode", rdb(func(b *builder) { key(b, TypeModule2).len(1 << 10).len(9) }), ErrCorrupt, "unknown module opcode 9", -1, true},
		{"module aux when opcode", rdb(func(b *builder) { b.op(opModuleAux).len(1 << 10).len(1) }), ErrCorrupt, "when opcode 1", -1, false},
		{"hash field expire out of range", rdb(func(b *builder) { key(b, TypeHashMetadataPreGA).len(1).len(1 << 49) }), ErrCorrupt, "out of range", -1, true},
		{"hash min expire out of range", rdb(func(b *builder) { key(b, TypeHashListpackEx).u64(1 << 60) }), ErrCorrupt, "out of range", -1, true},
		{"ctime not a number", rdb(func(b *builder) { b.aux("ctime", "soon") }), ErrCorrupt, "ctime", -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Count(bytes.NewReader(tc.data))
			var e *Error
			if !errors.Is(err, tc.want) || !errors.As(err, &e) {
				t.Fatalf("got %v, %+v; want %v", err, s, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if tc.at >= 0 && e.Offset != tc.at {
				t.Errorf("offset %d, want %d (%v)", e.Offset, tc.at, err)
			}
			if (e.Key >= 0) != tc.inKey {
				t.Errorf("key %d, want inside a key: %v (%v)", e.Key, tc.inKey, err)
			}
			if s != nil {
				t.Error("a summary with an error")
			}
			// The Counter fails the same way.
			c := NewCounter()
			c.Write(tc.data)
			if _, err2 := c.Summary(); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Counter: %v, Count: %v", err2, err)
			}
		})
	}
}

func TestErrorNamesTheKey(t *testing.T) {
	b := newRDB(10).selectDB(4)
	b.key(TypeString, "a").str("1")
	at := b.Len()
	b.key(TypeSetIntset, "b").bytes([]byte("garbage!!"))
	_, err := Count(bytes.NewReader(b.finish()))
	var e *Error
	if !errors.As(err, &e) || e.Key != 1 || e.DB != 4 || e.Type != TypeSetIntset || e.KeyOffset != int64(at) {
		t.Fatalf("%#v", err)
	}
	want := fmt.Sprintf("(key #1 of the stream, db 4, a set-intset value from byte %d)", at)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("%q does not say %q", err, want)
	}
}

func TestTooManyDatabases(t *testing.T) {
	b := newRDB(10)
	for i := range maxDBs + 1 {
		b.selectDB(uint64(i)).key(TypeString, "k").str("v")
	}
	_, err := Count(bytes.NewReader(b.finish()))
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "databases") {
		t.Fatal(err)
	}
}

// Every value decoded by the LZF reader equals what was compressed, and
// its captured head and last byte are right.
func TestLZFRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := [][]byte{
		[]byte("a"),
		bytes.Repeat([]byte("a"), 10000),
		bytes.Repeat([]byte("0123456789abcdef"), 1000),
	}
	for range 20 {
		n := rng.IntN(20000) + 1
		in := make([]byte, n)
		for i := range in {
			in[i] = byte('a' + rng.IntN(3)) // compressible, with references of every distance
		}
		inputs = append(inputs, in)
	}
	far := make([]byte, 9000) // a reference 8192 bytes back
	for i := range 8192 {
		far[i] = byte(rng.Uint32())
	}
	copy(far[8192:], far[:800])
	inputs = append(inputs, far)
	for _, in := range inputs {
		comp := lzfCompress(in)
		p := newParser(bytes.NewReader(comp))
		c := &capture{head: make([]byte, 0, len(in))}
		if err := p.lzf(uint64(len(comp)), uint64(len(in)), c); err != nil {
			t.Fatalf("%d bytes: %v", len(in), err)
		}
		if !bytes.Equal(c.head, in) || c.n != uint64(len(in)) || c.last != in[len(in)-1] {
			t.Fatalf("%d bytes: decoded differs", len(in))
		}
	}
}

// Piece-wise writes through a Counter give what Count gives.
func TestCounterPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, data := range [][]byte{syntheticAll(), readVector(t)} {
		want, err := Count(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			c := NewCounter()
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(1+rng.IntN(5000)))
				if k, err := c.Write(rest[:n]); k != n || err != nil {
					t.Fatalf("Write: %d, %v", k, err)
				}
				rest = rest[n:]
			}
			got, err := c.Summary()
			if err != nil {
				t.Fatal(err)
			}
			sameSummary(t, got, want)
		}
	}
}

func sameSummary(t *testing.T, got, want *Summary) {
	t.Helper()
	g, w := *got, *want
	if !g.CTime.Equal(w.CTime) {
		t.Errorf("ctime %v, want %v", g.CTime, w.CTime)
	}
	g.CTime, w.CTime = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("summary %+v, want %+v", g, w)
	}
}

func TestCounterUse(t *testing.T) {
	data := syntheticAll()
	c := NewCounter()
	c.Write(data[:100])
	c.Write(data[100:])
	s1, err1 := c.Summary()
	s2, err2 := c.Summary()
	if err1 != nil || s1 != s2 || err2 != nil {
		t.Fatalf("Summary twice: %v %v", err1, err2)
	}
	if _, err := c.Write([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Summary: %v", err)
	}
	// Writes after a parse error are taken (a tee goes on) and the error
	// is the first one.
	c = NewCounter()
	if _, err := c.Write([]byte("NOTANRDB!")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write after a parse error: %d %v", n, err)
	}
	if _, err := c.Summary(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not an RDB") {
		t.Fatal(err)
	}
	// Nothing written at all.
	if _, err := NewCounter().Summary(); !errors.Is(err, ErrTruncated) {
		t.Fatal(err)
	}
}

// A read error from the source is returned as it is, with the offset.
func TestSourceError(t *testing.T) {
	boom := errors.New("disk on fire")
	data := syntheticAll()
	_, err := Count(io.MultiReader(bytes.NewReader(data[:500]), iotestErr{boom}))
	var e *Error
	if !errors.Is(err, boom) || !errors.As(err, &e) || e.Offset > 500 {
		t.Fatal(err)
	}
}

type iotestErr struct{ err error }

func (r iotestErr) Read([]byte) (int, error) { return 0, r.err }

// Empty keys are counted as keys and as Empty: for list/set/zset/hash by
// their count, for encoded types by their header, for quicklists when no
// node holds an element.
func TestEmptyKeys(t *testing.T) {
	b := newRDB(10).selectDB(0)
	b.key(TypeSet, "a").len(0)
	b.key(TypeZSet2, "b").len(0)
	b.key(TypeHash, "c").len(0)
	b.key(TypeListZiplist, "d").bytes(ziplist())
	b.key(TypeZSetZiplist, "e").bytes(ziplist())
	b.key(TypeHashZiplist, "f").bytes(ziplist())
	b.key(TypeListQuicklist, "g").len(0)
	b.key(TypeListQuicklist, "h").len(2).bytes(ziplist()).bytes(ziplist())
	b.key(TypeHashListpack, "i").bytes(listpack())
	b.key(TypeZSetListpack, "j").bytes(listpack())
	b.key(TypeSetListpack, "k").bytes(listpack())
	b.key(TypeHashMetadata, "l").u64(0).len(0)
	b.key(TypeHashListpackEx, "m").u64(0).bytes(listpack())
	b.key(TypeListQuicklist2, "n").len(2).len(containerPacked).bytes(listpack()).len(containerPacked).bytes(listpack("x")) // not empty
	b.key(TypeListQuicklist, "o").len(2).bytes(ziplist()).bytes(ziplist("x"))                                              // not empty
	s, err := Count(bytes.NewReader(b.finish()))
	if err != nil {
		t.Fatal(err)
	}
	if d := s.DB(0); d.Keys != 15 || d.Empty != 13 {
		t.Fatalf("%+v", d)
	}
}

// A Counter dropped without Summary does not leave its parsing goroutine
// blocked forever: collecting the Counter closes its pipe.
func TestCounterDroppedEnds(t *testing.T) {
	res := func() *result {
		c := NewCounter()
		c.Write(syntheticAll()[:100])
		return c.res
	}()
	for i := 0; ; i++ {
		runtime.GC()
		select {
		case <-res.done:
			if !errors.Is(res.err, ErrTruncated) {
				t.Fatalf("dropped counter ended with %v", res.err)
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
		if i == 1000 {
			t.Fatal("the goroutine of a dropped Counter still runs")
		}
	}
}
