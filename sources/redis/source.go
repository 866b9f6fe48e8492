package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"snap/internal/rdb"
	"snap/sources"
)

// Kind is the kind name, recorded as Meta["source"].
const Kind = "redis"

func init() {
	sources.Register(sources.Kind{Name: Kind, ConfigKey: "redis", Decode: decode,
		Target: func(map[string]string) (sources.Source, error) {
			return nil, errors.New("no Redis container in the project now")
		}})
}

// Source is the server's data as an RDB snapshot.
type Source struct {
	R    *Redis
	Desc string
}

// NewSource is the source of r's RDB, described by desc.
func NewSource(r *Redis, desc string) *Source { return &Source{R: r, Desc: desc} }

func (s *Source) Kind() string            { return Kind }
func (s *Source) Describe() string        { return s.Desc }
func (s *Source) Meta() map[string]string { return map[string]string{"container": s.R.Container} }
func (s *Source) RestoreOrder() int       { return sources.OrderCache }
func (s *Source) check(ctx context.Context, st sources.Stored) error {
	rc := st.Open(ctx)
	defer rc.Close()
	return s.R.VerifyRDB(ctx, rc, st.Size())
}

// Stream records Metadata (version, data dir and owner) and streams the
// RDB. The key count is read from the RDB itself as it passes (INFO's
// count, taken a moment apart, drifts on a busy server such as n8n's
// queue); only an RDB the counter cannot parse keeps INFO's figure, marked
// keys_from=info.
func (s *Source) Stream(ctx context.Context, w io.Writer) (map[string]string, error) {
	meta, err := s.R.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	c := rdb.NewCounter()
	if err := s.R.DumpRDB(ctx, io.MultiWriter(w, c)); err != nil {
		return nil, err
	}
	if sum, err := c.Summary(); err == nil {
		meta["keys"] = strconv.FormatInt(sum.Keys()-sum.Empty(), 10)
		meta["keys_from"] = "rdb"
	} else {
		meta["keys_from"] = "info"
	}
	return meta, nil
}

// Prepare checks the stored RDB with redis-check-rdb; the swap is Restore.
func (s *Source) Prepare(ctx context.Context, st sources.Stored) (sources.Swap, string, error) {
	if err := s.check(ctx, st); err != nil {
		return nil, "", fmt.Errorf("the stored RDB does not check: %w (Redis was not touched)", err)
	}
	return &swap{s: s, st: st}, "RDB checked with redis-check-rdb", nil
}

type swap struct {
	s  *Source
	st sources.Stored
}

func (w *swap) Commit(ctx context.Context) (string, error) {
	rc := w.st.Open(ctx)
	defer rc.Close()
	meta := w.st.Meta()
	if err := w.s.R.Restore(ctx, rc, w.st.Size(), meta); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("restored, %s keys as recorded", meta["keys"])
	if meta["appendonly"] == "yes" {
		aof := meta["appenddirname"]
		if aof == "" {
			aof = meta["appendfilename"]
		}
		msg += fmt.Sprintf("; the previous AOF is kept as %s/%s.snap-<time> in %s's data volume (one copy: earlier ones were removed; delete it once the restore is confirmed)", meta["dir"], aof, w.s.R.Container)
	}
	return msg, nil
}

// Abort has nothing to throw away: the check left nothing behind.
func (w *swap) Abort(context.Context) error { return nil }

// Drill checks the stored RDB with redis-check-rdb.
func (s *Source) Drill(ctx context.Context, st sources.Stored) (string, error) {
	if err := s.check(ctx, st); err != nil {
		return "", err
	}
	return "RDB passes redis-check-rdb", nil
}

// Preview says whose data is replaced and with how much.
func (s *Source) Preview(ctx context.Context, st sources.Stored) (string, error) {
	meta := st.Meta()
	msg := fmt.Sprintf("the data of Redis in %s replaced by the backup's RDB (%s keys)", s.R.Container, meta["keys"])
	if meta["appendonly"] == "yes" {
		msg += "; its AOF is rebuilt from it and the current one kept aside"
	}
	return msg, nil
}
