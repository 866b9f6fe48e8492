package rdb

import "fmt"

// Type is an RDB value type: the byte before a key says how its value is
// encoded.
type Type uint8

// The value types Redis writes (rdb.h).
const (
	TypeString              Type = 0
	TypeList                Type = 1 // linked list (Redis < 3.2)
	TypeSet                 Type = 2 // hash table
	TypeZSet                Type = 3 // scores as text (Redis < 4)
	TypeHash                Type = 4 // hash table
	TypeZSet2               Type = 5 // binary scores
	TypeModulePreGA         Type = 6 // Redis 4.0 release candidates: cannot be skipped
	TypeModule2             Type = 7
	TypeHashZipmap          Type = 9
	TypeListZiplist         Type = 10
	TypeSetIntset           Type = 11
	TypeZSetZiplist         Type = 12
	TypeHashZiplist         Type = 13
	TypeListQuicklist       Type = 14 // nodes are ziplists (Redis 3.2 to 6.2)
	TypeStreamListpacks     Type = 15
	TypeHashListpack        Type = 16
	TypeZSetListpack        Type = 17
	TypeListQuicklist2      Type = 18 // nodes are listpacks or plain (Redis 7.0+)
	TypeStreamListpacks2    Type = 19
	TypeSetListpack         Type = 20
	TypeStreamListpacks3    Type = 21
	TypeHashMetadataPreGA   Type = 22 // hash with field expiry, 7.4 release candidates
	TypeHashListpackExPreGA Type = 23
	TypeHashMetadata        Type = 24 // hash with field expiry (Redis 7.4+)
	TypeHashListpackEx      Type = 25
)

var typeNames = [...]string{
	TypeString:              "string",
	TypeList:                "list-linked",
	TypeSet:                 "set-hashtable",
	TypeZSet:                "zset-v1",
	TypeHash:                "hash-hashtable",
	TypeZSet2:               "zset-v2",
	TypeModulePreGA:         "module-pre-ga",
	TypeModule2:             "module-v2",
	TypeHashZipmap:          "hash-zipmap",
	TypeListZiplist:         "list-ziplist",
	TypeSetIntset:           "set-intset",
	TypeZSetZiplist:         "zset-ziplist",
	TypeHashZiplist:         "hash-ziplist",
	TypeListQuicklist:       "list-quicklist",
	TypeStreamListpacks:     "stream-v1",
	TypeHashListpack:        "hash-listpack",
	TypeZSetListpack:        "zset-listpack",
	TypeListQuicklist2:      "list-quicklist-v2",
	TypeStreamListpacks2:    "stream-v2",
	TypeSetListpack:         "set-listpack",
	TypeStreamListpacks3:    "stream-v3",
	TypeHashMetadataPreGA:   "hash-hashtable-ttl-pre-ga",
	TypeHashListpackExPreGA: "hash-listpack-ttl-pre-ga",
	TypeHashMetadata:        "hash-hashtable-ttl",
	TypeHashListpackEx:      "hash-listpack-ttl",
}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

// known says whether t is a value type this package reads.
func (t Type) known() bool {
	return int(t) < len(typeNames) && typeNames[t] != ""
}

// Opcodes: the bytes before keys that are not value types.
const (
	opSlotInfo      = 0xF4 // cluster slot sizes (Redis 7.4+ in cluster mode)
	opFunction2     = 0xF5 // a function library
	opFunctionPreGA = 0xF6 // 7.0 release candidates' functions
	opModuleAux     = 0xF7
	opIdle          = 0xF8 // LRU idle time of the next key
	opFreq          = 0xF9 // LFU counter of the next key
	opAux           = 0xFA
	opResizeDB      = 0xFB
	opExpireMs      = 0xFC
	opExpireSec     = 0xFD
	opSelectDB      = 0xFE
	opEOF           = 0xFF
)

// Module value opcodes (RDB_MODULE_OPCODE_*).
const (
	modEOF = iota
	modSInt
	modUInt
	modFloat
	modDouble
	modString
)

// Quicklist v2 node containers.
const (
	containerPlain  = 1
	containerPacked = 2
)

// moduleName spells a module type id as Redis does (moduleTypeNameByID):
// nine 6-bit characters above a 10-bit encoding version.
func moduleName(id uint64) string {
	const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var b [9]byte
	id >>= 10
	for i := 8; i >= 0; i-- {
		b[i] = set[id&63]
		id >>= 6
	}
	return string(b[:])
}
