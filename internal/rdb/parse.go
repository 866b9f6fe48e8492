package rdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"
)

// Limits. Nothing is allocated in proportion to a length read from the
// stream; these bound what is kept and reject numbers no Redis writes.
const (
	maxVersion   = 12      // RDB_VERSION of Redis 7.4, the newest layout read here
	maxCount     = 1 << 40 // any byte length or element count
	maxDBIndex   = math.MaxInt32
	maxDBs       = 1 << 16 // distinct databases with keys
	maxAuxFields = 64
	maxAuxKey    = 64
	maxAuxValue  = 1024
	maxExpireAt  = 1<<48 - 1 // hash field expire times (EB_EXPIRE_TIME_MAX)
)

type parser struct {
	r     *reader
	sum   Summary
	dbs   map[int]*DB
	db    int   // selected database
	nkeys int64 // keys read so far
	// The key being read, for errors: key is -1 outside a key.
	key   int64
	keyAt int64
	typ   Type

	seen stats // for tests: which paths a stream took

	cap   capture
	small [maxAuxValue]byte // capture's buffer
	num   [24]byte          // integer-encoded strings, as text
	win   *[lzfWindow]byte  // LZF window, made on first use
}

// stats counts a few encodings and opcodes, so tests can tell that a real
// RDB exercised them.
type stats struct {
	lzf, plainNodes, idle, freq, expireSec, expireMs int
}

func newParser(r io.Reader) *parser {
	return &parser{
		r:   newReader(r),
		dbs: map[int]*DB{},
		key: -1,
		sum: Summary{Aux: map[string]string{}, Types: map[Type]int64{}},
	}
}

func (p *parser) fail(sentinel error, format string, a ...any) error {
	e := &Error{Offset: p.r.offset(), Key: -1, Msg: fmt.Sprintf(format, a...), Err: sentinel}
	if p.key >= 0 {
		e.Key, e.KeyOffset, e.DB, e.Type = p.key, p.keyAt, p.db, p.typ
	}
	return e
}

func (p *parser) corrupt(format string, a ...any) error {
	return p.fail(ErrCorrupt, format, a...)
}

// read turns an error of p.r into an *Error.
func (p *parser) read(err error) error {
	if err == io.ErrUnexpectedEOF {
		e := p.fail(ErrTruncated, "the stream ends before the RDB does").(*Error)
		e.Offset = p.r.base + int64(p.r.w)
		return e
	}
	return p.fail(err, "reading the stream")
}

func (p *parser) next(n int) ([]byte, error) {
	b, err := p.r.next(n)
	if err != nil {
		return nil, p.read(err)
	}
	return b, nil
}

func (p *parser) byte() (byte, error) {
	c, err := p.r.byte()
	if err != nil {
		return 0, p.read(err)
	}
	return c, nil
}

// rawLength reads RDB's length encoding: 00xxxxxx, 01xxxxxx xxxxxxxx,
// 0x80 + 4 bytes and 0x81 + 8 bytes (big-endian) are lengths; 11xxxxxx is
// a special string encoding, returned with enc set.
func (p *parser) rawLength() (n uint64, enc bool, err error) {
	b0, err := p.byte()
	if err != nil {
		return 0, false, err
	}
	switch b0 >> 6 {
	case 0:
		return uint64(b0), false, nil
	case 1:
		b1, err := p.byte()
		return uint64(b0&0x3f)<<8 | uint64(b1), false, err
	case 3:
		return uint64(b0 & 0x3f), true, nil
	}
	switch b0 {
	case 0x80:
		b, err := p.next(4)
		if err != nil {
			return 0, false, err
		}
		return uint64(binary.BigEndian.Uint32(b)), false, nil
	case 0x81:
		b, err := p.next(8)
		if err != nil {
			return 0, false, err
		}
		return binary.BigEndian.Uint64(b), false, nil
	}
	return 0, false, p.corrupt("unknown length encoding 0x%02x", b0)
}

// number reads a length-encoded number, any value.
func (p *parser) number(what string) (uint64, error) {
	n, enc, err := p.rawLength()
	if err != nil {
		return 0, err
	}
	if enc {
		return 0, p.corrupt("%s: a string encoding (0x%02x) where a number belongs", what, 0xc0|n)
	}
	return n, nil
}

// length reads a byte length or an element count.
func (p *parser) length(what string) (uint64, error) {
	n, err := p.number(what)
	if err == nil && n > maxCount {
		err = p.fail(ErrLimit, "%s %d is beyond any Redis (limit %d)", what, n, uint64(maxCount))
	}
	return n, err
}

// str consumes a string, keeping its first keep (<= maxAuxValue) bytes in
// the returned capture, which is valid until the next str.
func (p *parser) str(what string, keep int) (*capture, error) {
	c := &p.cap
	c.reset(p.small[:keep:keep])
	n, enc, err := p.rawLength()
	if err != nil {
		return nil, err
	}
	if !enc {
		if n > maxCount {
			return nil, p.fail(ErrLimit, "%s of %d bytes is beyond any Redis (limit %d)", what, n, uint64(maxCount))
		}
		if err := p.r.skip(n, c); err != nil {
			return nil, p.read(err)
		}
		return c, nil
	}
	switch n {
	case 0, 1, 2: // an integer of 1, 2 or 4 bytes, little-endian: its decimal text
		b, err := p.next(1 << n)
		if err != nil {
			return nil, err
		}
		var v int64
		switch n {
		case 0:
			v = int64(int8(b[0]))
		case 1:
			v = int64(int16(binary.LittleEndian.Uint16(b)))
		case 2:
			v = int64(int32(binary.LittleEndian.Uint32(b)))
		}
		c.add(strconv.AppendInt(p.num[:0], v, 10))
		return c, nil
	case 3:
		clen, err := p.length("LZF compressed length")
		if err != nil {
			return nil, err
		}
		ulen, err := p.length("LZF decompressed length")
		if err != nil {
			return nil, err
		}
		p.seen.lzf++
		return c, p.lzf(clen, ulen, c)
	}
	return nil, p.corrupt("%s: unknown string encoding %d", what, n)
}

func (p *parser) run() (*Summary, error) {
	if err := p.header(); err != nil {
		return nil, err
	}
	var expire, idle, freq bool // key attributes read, for the next key
	for {
		op, err := p.byte()
		if err != nil {
			return nil, err
		}
		// Opcodes other than a key's attributes may not come between
		// those and the key.
		attr := op == opExpireMs || op == opExpireSec || op == opIdle || op == opFreq
		if op >= opSlotInfo && !attr && (expire || idle || freq) {
			return nil, p.corrupt("opcode 0x%02x where the key of a preceding expire, idle or freq opcode belongs", op)
		}
		switch op {
		case opEOF:
			return p.end()
		case opSelectDB:
			n, err := p.number("SELECTDB index")
			if err != nil {
				return nil, err
			}
			if n > maxDBIndex {
				return nil, p.fail(ErrLimit, "SELECTDB %d: beyond any Redis (limit %d)", n, maxDBIndex)
			}
			p.db = int(n)
		case opResizeDB:
			err = p.resizeDB()
		case opSlotInfo:
			for _, what := range []string{"SLOT_INFO slot", "SLOT_INFO size", "SLOT_INFO expires"} {
				if _, err = p.number(what); err != nil {
					break
				}
			}
		case opExpireMs, opExpireSec:
			if expire {
				return nil, p.corrupt("a second expire opcode for one key")
			}
			expire = true
			size := 8 // milliseconds, int64 LE
			if op == opExpireSec {
				size = 4 // seconds, int32
				p.seen.expireSec++
			} else {
				p.seen.expireMs++
			}
			_, err = p.next(size)
		case opIdle:
			if idle {
				return nil, p.corrupt("a second IDLE opcode for one key")
			}
			idle = true
			p.seen.idle++
			_, err = p.number("IDLE time")
		case opFreq:
			if freq {
				return nil, p.corrupt("a second FREQ opcode for one key")
			}
			freq = true
			p.seen.freq++
			_, err = p.next(1)
		case opAux:
			err = p.aux()
		case opModuleAux:
			err = p.moduleAux()
		case opFunction2:
			_, err = p.str("function library", 0)
			p.sum.Functions++
		case opFunctionPreGA:
			err = p.fail(ErrUnsupported, "a function in the format of Redis 7.0's release candidates (opcode 0xf6), which Redis itself no longer loads")
		default:
			err = p.keyValue(Type(op), expire)
			expire, idle, freq = false, false, false
		}
		if err != nil {
			return nil, err
		}
	}
}

// resizeDB reads RESIZEDB's hint: the database's key and expire counts.
func (p *parser) resizeDB() error {
	size, err := p.number("RESIZEDB size")
	if err != nil {
		return err
	}
	exp, err := p.number("RESIZEDB expires")
	if err != nil {
		return err
	}
	if size > math.MaxInt64 || exp > math.MaxInt64 {
		return p.corrupt("RESIZEDB %d %d: out of range", size, exp)
	}
	d, err := p.dbEntry()
	if err != nil {
		return err
	}
	d.SizeHint, d.ExpiresHint = int64(size), int64(exp)
	return nil
}

// header reads "REDIS" and the 4-digit version.
func (p *parser) header() error {
	b, err := p.next(9)
	if err != nil {
		return err
	}
	if !bytes.Equal(b[:5], []byte("REDIS")) {
		return p.fail(ErrCorrupt, "not an RDB: it starts with %q, not \"REDIS\"", b[:5])
	}
	v := 0
	for _, c := range b[5:] {
		if c < '0' || c > '9' {
			return p.corrupt("RDB version %q is not 4 digits", b[5:])
		}
		v = v*10 + int(c-'0')
	}
	if v < 1 {
		return p.corrupt("RDB version %d", v)
	}
	if v > maxVersion {
		return p.fail(ErrUnsupported, "RDB version %d is newer than this reader knows (%d, Redis 7.4)", v, maxVersion)
	}
	p.sum.Version = v
	return nil
}

// end reads what follows the EOF opcode: the checksum (version 5 on), then
// nothing.
func (p *parser) end() (*Summary, error) {
	if p.sum.Version >= 5 {
		want := p.r.checksum()
		b, err := p.next(8)
		if err != nil {
			return nil, err
		}
		got := binary.LittleEndian.Uint64(b)
		if got != 0 && got != want {
			return nil, p.fail(ErrChecksum, "the RDB says CRC-64 %016x, its bytes give %016x", got, want)
		}
		p.sum.Checksum = got
	}
	at := p.r.offset()
	if ok, err := p.r.atEnd(); err != nil {
		return nil, p.read(err)
	} else if !ok {
		n, err := p.r.rest()
		if err != nil {
			return nil, p.read(err)
		}
		e := p.corrupt("%d bytes follow the end of the RDB", n).(*Error)
		e.Offset = at
		return nil, e
	}
	p.sum.Size = at
	for _, d := range p.dbs {
		p.sum.DBs = append(p.sum.DBs, *d)
	}
	slices.SortFunc(p.sum.DBs, func(a, b DB) int { return a.Index - b.Index })
	return &p.sum, nil
}

func (p *parser) dbEntry() (*DB, error) {
	d := p.dbs[p.db]
	if d == nil {
		if len(p.dbs) >= maxDBs {
			return nil, p.fail(ErrLimit, "more than %d databases", maxDBs)
		}
		d = &DB{Index: p.db, SizeHint: -1, ExpiresHint: -1}
		p.dbs[p.db] = d
	}
	return d, nil
}

func (p *parser) aux() error {
	k, err := p.str("AUX key", maxAuxKey)
	if err != nil {
		return err
	}
	key, whole := string(k.head), k.n <= maxAuxKey
	v, err := p.str("AUX value", maxAuxValue)
	if err != nil {
		return err
	}
	if !whole || v.n > maxAuxValue {
		return nil // too long to keep; Redis skips AUX fields it does not know
	}
	val := string(v.head)
	switch key {
	case "redis-ver":
		p.sum.RedisVersion = val
	case "ctime":
		t, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return p.corrupt("AUX ctime %q is not a number", val)
		}
		p.sum.CTime = time.Unix(t, 0)
	}
	if _, ok := p.sum.Aux[key]; ok || len(p.sum.Aux) < maxAuxFields {
		p.sum.Aux[key] = val
	}
	return nil
}

// moduleAux skips a module's AUX record: module id, the UINT opcode and
// the "when" value, then the module's opcode stream.
func (p *parser) moduleAux() error {
	id, err := p.number("module AUX: module id")
	if err != nil {
		return err
	}
	op, err := p.number("module AUX: when opcode")
	if err != nil {
		return err
	}
	if op != modUInt {
		return p.corrupt("module AUX of %q: when opcode %d, not %d", moduleName(id), op, modUInt)
	}
	if _, err := p.number("module AUX: when"); err != nil {
		return err
	}
	if err := p.moduleOps(id); err != nil {
		return err
	}
	p.sum.ModuleAux++
	return nil
}

// moduleOps skips a module value's opcode stream up to its EOF opcode.
func (p *parser) moduleOps(id uint64) error {
	for {
		op, err := p.number("module opcode")
		if err != nil {
			return err
		}
		switch op {
		case modEOF:
			return nil
		case modSInt, modUInt:
			_, err = p.number("module integer")
		case modFloat:
			_, err = p.next(4)
		case modDouble:
			_, err = p.next(8)
		case modString:
			_, err = p.str("module string", 0)
		default:
			return p.corrupt("module %q: unknown module opcode %d", moduleName(id), op)
		}
		if err != nil {
			return err
		}
	}
}

func (p *parser) keyValue(t Type, expire bool) error {
	if !t.known() { // every opcode has its case in run
		return p.fail(ErrUnsupported, "unknown RDB value type %d (corrupt, or written by a Redis newer than 7.4?)", uint8(t))
	}
	d, err := p.dbEntry()
	if err != nil {
		return err
	}
	p.key, p.keyAt, p.typ = p.nkeys, p.r.offset()-1, t
	if _, err := p.str("key", 0); err != nil {
		return err
	}
	empty, err := p.value(t)
	if err != nil {
		return err
	}
	p.key = -1
	p.nkeys++
	d.Keys++
	if expire {
		d.Expires++
	}
	if empty {
		d.Empty++
	}
	p.sum.Types[t]++
	return nil
}

// value consumes a value of type t and says whether it is an empty
// collection, which Redis drops when loading.
func (p *parser) value(t Type) (empty bool, err error) {
	switch t {
	case TypeString:
		_, err = p.str("string value", 0)
		return false, err
	case TypeList, TypeSet:
		return p.elements(1, nil)
	case TypeHash:
		return p.elements(2, nil)
	case TypeZSet:
		return p.elements(1, p.textScore)
	case TypeZSet2:
		return p.elements(1, p.binaryScore)
	case TypeHashMetadataPreGA, TypeHashMetadata:
		return p.hashWithTTLs(t)
	case TypeModulePreGA:
		id, err := p.number("module id")
		if err != nil {
			return false, err
		}
		return false, p.fail(ErrUnsupported, "a value of module type %q in the format of Redis 4.0's release candidates, which cannot be skipped without the module", moduleName(id))
	case TypeModule2:
		id, err := p.number("module id")
		if err != nil {
			return false, err
		}
		return false, p.moduleOps(id)
	case TypeHashZipmap:
		return false, p.zipmap()
	case TypeSetIntset:
		return false, p.intset()
	case TypeListZiplist:
		n, err := p.ziplist("list ziplist", 1)
		return n == 0, err
	case TypeZSetZiplist, TypeHashZiplist:
		n, err := p.ziplist(t.String(), 2)
		return n == 0, err
	case TypeListQuicklist, TypeListQuicklist2:
		return p.quicklist(t)
	case TypeSetListpack:
		n, err := p.listpack("set listpack", 1)
		return n == 0, err
	case TypeHashListpack, TypeZSetListpack:
		n, err := p.listpack(t.String(), 2)
		return n == 0, err
	case TypeHashListpackEx, TypeHashListpackExPreGA:
		if t == TypeHashListpackEx {
			if err := p.minExpire(); err != nil {
				return false, err
			}
		}
		n, err := p.listpack(t.String(), 3)
		return n == 0, err
	case TypeStreamListpacks, TypeStreamListpacks2, TypeStreamListpacks3:
		return false, p.stream(t)
	}
	return false, p.fail(ErrUnsupported, "value type %s", t) // unreachable: keyValue checks known()
}

// elements consumes a counted collection of strings: n entries of tuple
// strings each, and a score after each entry's strings when score is set.
func (p *parser) elements(tuple int, score func() error) (bool, error) {
	n, err := p.length("element count")
	if err != nil {
		return false, err
	}
	for range n {
		for range tuple {
			if _, err := p.str("element", 0); err != nil {
				return false, err
			}
		}
		if score != nil {
			if err := score(); err != nil {
				return false, err
			}
		}
	}
	return n == 0, nil
}

// textScore is a zset-v1 score: a length byte and the number as text, or
// 253, 254, 255 for NaN, +inf, -inf.
func (p *parser) textScore() error {
	n, err := p.byte()
	if err != nil {
		return err
	}
	switch n {
	case 253:
		return p.corrupt("zset score NaN")
	case 254, 255:
		return nil
	}
	b, err := p.next(int(n))
	if err != nil {
		return err
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) {
		return p.corrupt("zset score %q is not a number", b)
	}
	return nil
}

// binaryScore is a zset-v2 score: a little-endian IEEE 754 double.
func (p *parser) binaryScore() error {
	b, err := p.next(8)
	if err != nil {
		return err
	}
	if math.IsNaN(math.Float64frombits(binary.LittleEndian.Uint64(b))) {
		return p.corrupt("zset score NaN")
	}
	return nil
}

// minExpire reads the 8-byte minimum field expire time of a hash with
// field expiry (0 or EB_EXPIRE_TIME_INVALID when there is none).
func (p *parser) minExpire() error {
	b, err := p.next(8)
	if err != nil {
		return err
	}
	if v := binary.LittleEndian.Uint64(b); v > maxExpireAt+1 {
		return p.corrupt("hash minimum field expire time %d is out of range", v)
	}
	return nil
}

// hashWithTTLs: a hash table with field expiry, each field preceded by its
// TTL: absolute (pre-GA) or relative to the minimum expire time plus one (0:
// none).
func (p *parser) hashWithTTLs(t Type) (bool, error) {
	var minExp uint64
	if t == TypeHashMetadata {
		b, err := p.next(8)
		if err != nil {
			return false, err
		}
		if minExp = binary.LittleEndian.Uint64(b); minExp > maxExpireAt+1 {
			return false, p.corrupt("hash minimum field expire time %d is out of range", minExp)
		}
	}
	n, err := p.length("field count")
	if err != nil {
		return false, err
	}
	for range n {
		ttl, err := p.number("hash field TTL")
		if err != nil {
			return false, err
		}
		at := ttl
		if t == TypeHashMetadata && ttl != 0 {
			at = ttl + minExp - 1
			if at < ttl { // wrapped
				at = math.MaxUint64
			}
		}
		if at > maxExpireAt {
			return false, p.corrupt("hash field expire time %d is out of range", at)
		}
		for _, what := range []string{"hash field", "hash value"} {
			if _, err := p.str(what, 0); err != nil {
				return false, err
			}
		}
	}
	return n == 0, nil
}

// Encoded values are strings holding a structure; these check its header
// and end byte and return its element count.
const headKeep = 16

// listpack: total bytes (uint32 LE), element count (uint16 LE, 65535:
// unknown), entries, 0xFF. Returns the count, -1 when unknown.
func (p *parser) listpack(what string, tuple int) (int, error) {
	c, err := p.str(what, headKeep)
	if err != nil {
		return 0, err
	}
	if c.n < 7 || c.last != 0xff {
		return 0, p.corrupt("%s of %d bytes is not a listpack (at least 7 bytes, ending in 0xff)", what, c.n)
	}
	if total := binary.LittleEndian.Uint32(c.head); uint64(total) != c.n {
		return 0, p.corrupt("%s: the listpack header says %d bytes, its string holds %d", what, total, c.n)
	}
	n := int(binary.LittleEndian.Uint16(c.head[4:]))
	if n == 65535 {
		return -1, nil
	}
	if (n == 0) != (c.n == 7) {
		return 0, p.corrupt("%s: the listpack header says %d elements in %d bytes", what, n, c.n)
	}
	if n%tuple != 0 {
		return 0, p.corrupt("%s: %d listpack elements are not whole groups of %d", what, n, tuple)
	}
	return n, nil
}

// ziplist: total bytes, offset of the last entry (uint32 LE each), element
// count (uint16 LE, 65535: unknown), entries, 0xFF.
func (p *parser) ziplist(what string, tuple int) (int, error) {
	c, err := p.str(what, headKeep)
	if err != nil {
		return 0, err
	}
	if c.n < 11 || c.last != 0xff {
		return 0, p.corrupt("%s of %d bytes is not a ziplist (at least 11 bytes, ending in 0xff)", what, c.n)
	}
	if total := binary.LittleEndian.Uint32(c.head); uint64(total) != c.n {
		return 0, p.corrupt("%s: the ziplist header says %d bytes, its string holds %d", what, total, c.n)
	}
	if tail := binary.LittleEndian.Uint32(c.head[4:]); tail < 10 || uint64(tail) >= c.n {
		return 0, p.corrupt("%s: the ziplist's last entry at %d is outside its %d bytes", what, tail, c.n)
	}
	n := int(binary.LittleEndian.Uint16(c.head[8:]))
	if n == 65535 {
		return -1, nil
	}
	if (n == 0) != (c.n == 11) {
		return 0, p.corrupt("%s: the ziplist header says %d elements in %d bytes", what, n, c.n)
	}
	if n%tuple != 0 {
		return 0, p.corrupt("%s: %d ziplist elements are not whole groups of %d", what, n, tuple)
	}
	return n, nil
}

// intset: encoding (2, 4 or 8 bytes an integer) and count, uint32 LE each,
// then the integers; never empty.
func (p *parser) intset() error {
	c, err := p.str("intset", headKeep)
	if err != nil {
		return err
	}
	if c.n < 8 {
		return p.corrupt("intset of %d bytes is shorter than its header", c.n)
	}
	enc := uint64(binary.LittleEndian.Uint32(c.head))
	n := uint64(binary.LittleEndian.Uint32(c.head[4:]))
	if enc != 2 && enc != 4 && enc != 8 {
		return p.corrupt("intset encoding %d (not 2, 4 or 8)", enc)
	}
	if 8+n*enc != c.n || n == 0 {
		return p.corrupt("intset of %d %d-byte integers in %d bytes", n, enc, c.n)
	}
	return nil
}

// zipmap (Redis < 2.6 hashes): a count byte (254: unknown), entries, 0xFF;
// never empty.
func (p *parser) zipmap() error {
	c, err := p.str("zipmap", headKeep)
	if err != nil {
		return err
	}
	if c.n < 2 || c.last != 0xff {
		return p.corrupt("zipmap of %d bytes does not end in 0xff", c.n)
	}
	if c.head[0] == 0 || c.n == 2 {
		return p.corrupt("empty zipmap")
	}
	return nil
}

// quicklist: a count of nodes; v1 nodes are ziplists, v2 nodes a container
// (plain: one element as is; packed: a listpack). Redis skips empty nodes
// and drops the key when no node has an element.
func (p *parser) quicklist(t Type) (bool, error) {
	nodes, err := p.length("quicklist node count")
	if err != nil {
		return false, err
	}
	empty := true
	for range nodes {
		container := uint64(containerPacked)
		if t == TypeListQuicklist2 {
			if container, err = p.number("quicklist node container"); err != nil {
				return false, err
			}
		}
		var n int
		switch {
		case container == containerPlain:
			c, err := p.str("quicklist plain node", 0)
			if err != nil {
				return false, err
			}
			if c.n == 0 {
				return false, p.corrupt("empty quicklist plain node")
			}
			p.seen.plainNodes++
			n = 1
		case container != containerPacked:
			return false, p.corrupt("quicklist node container %d (not 1 plain or 2 packed)", container)
		case t == TypeListQuicklist:
			n, err = p.ziplist("quicklist node", 1)
		default:
			n, err = p.listpack("quicklist node", 1)
		}
		if err != nil {
			return false, err
		}
		if n != 0 {
			empty = false
		}
	}
	return empty, nil
}

// stream: listpacks keyed by their master ID, the stream's metadata, then
// its consumer groups with their pending entries and consumers.
func (p *parser) stream(t Type) error {
	nodes, err := p.length("stream listpack count")
	if err != nil {
		return err
	}
	for range nodes {
		c, err := p.str("stream node key", headKeep)
		if err != nil {
			return err
		}
		if c.n != 16 {
			return p.corrupt("stream node key of %d bytes, not a 16-byte ID", c.n)
		}
		n, err := p.listpack("stream listpack", 1)
		if err != nil {
			return err
		}
		if n == 0 {
			return p.corrupt("empty listpack in a stream")
		}
	}
	length, err := p.number("stream length")
	if err != nil {
		return err
	}
	if length > 0 && nodes == 0 {
		return p.corrupt("stream of %d entries without a listpack", length)
	}
	meta := []string{"stream last ID ms", "stream last ID seq"}
	if t >= TypeStreamListpacks2 {
		meta = append(meta, "stream first ID ms", "stream first ID seq",
			"stream max deleted ID ms", "stream max deleted ID seq", "stream entries added")
	}
	for _, what := range meta {
		if _, err := p.number(what); err != nil {
			return err
		}
	}
	groups, err := p.length("stream consumer group count")
	if err != nil {
		return err
	}
	for range groups {
		if _, err := p.str("consumer group name", 0); err != nil {
			return err
		}
		meta := []string{"group last ID ms", "group last ID seq"}
		if t >= TypeStreamListpacks2 {
			meta = append(meta, "group entries read")
		}
		for _, what := range meta {
			if _, err := p.number(what); err != nil {
				return err
			}
		}
		pending, err := p.length("group pending entries count")
		if err != nil {
			return err
		}
		for range pending { // ID (16 bytes), delivery time (8), delivery count
			if _, err := p.next(24); err != nil {
				return err
			}
			if _, err := p.number("pending entry delivery count"); err != nil {
				return err
			}
		}
		consumers, err := p.length("group consumer count")
		if err != nil {
			return err
		}
		for range consumers {
			if _, err := p.str("consumer name", 0); err != nil {
				return err
			}
			times := 8 // seen time
			if t >= TypeStreamListpacks3 {
				times = 16 // and active time
			}
			if _, err := p.next(times); err != nil {
				return err
			}
			pending, err := p.length("consumer pending entries count")
			if err != nil {
				return err
			}
			for range pending {
				if _, err := p.next(16); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
