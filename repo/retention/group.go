package retention

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// GroupBy says which fields split snapshots into groups that a Policy is
// applied to separately. snap's default is host,profile: a retention
// policy for one database must not delete another's backups. The zero
// GroupBy puts every snapshot in one group.
type GroupBy struct{ Host, Profile, Tags bool }

// ParseGroupBy parses a comma-separated subset of "host", "profile" and
// "tags", e.g. "host,profile"; "" means one group for everything.
func ParseGroupBy(s string) (GroupBy, error) {
	var g GroupBy
	if strings.TrimSpace(s) == "" {
		return g, nil
	}
	for f := range strings.SplitSeq(s, ",") {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "host":
			g.Host = true
		case "profile":
			g.Profile = true
		case "tags":
			g.Tags = true
		case "":
			return GroupBy{}, fmt.Errorf("invalid group-by %q: empty field; want a comma-separated subset of host, profile, tags, e.g. \"host,profile\" (or \"\" for one group)", s)
		default:
			return GroupBy{}, fmt.Errorf("invalid group-by %q: unknown field %q; want a comma-separated subset of host, profile, tags, e.g. \"host,profile\" (or \"\" for one group)", s, strings.TrimSpace(f))
		}
	}
	return g, nil
}

// String formats g as ParseGroupBy reads it, e.g. "host,profile".
func (g GroupBy) String() string {
	var fs []string
	for _, f := range []struct {
		on   bool
		name string
	}{{g.Host, "host"}, {g.Profile, "profile"}, {g.Tags, "tags"}} {
		if f.on {
			fs = append(fs, f.name)
		}
	}
	return strings.Join(fs, ",")
}

// Key returns the group label of s, e.g. "host=web1 profile=n8n" or
// "host=web1 tags=daily,db": equal keys mean the same group. Tags are
// sorted and deduplicated; "(none)" means no tags; values that are empty
// or hold spaces, commas or quotes are quoted, so distinct groups never
// share a label. The zero GroupBy gives "".
func (g GroupBy) Key(s Snapshot) string {
	var parts []string
	if g.Host {
		parts = append(parts, "host="+quoteValue(s.Host))
	}
	if g.Profile {
		parts = append(parts, "profile="+quoteValue(s.Profile))
	}
	if g.Tags {
		tags := slices.Clone(s.Tags)
		slices.Sort(tags)
		tags = slices.Compact(tags)
		for i, t := range tags {
			tags[i] = quoteValue(t)
		}
		v := strings.Join(tags, ",")
		if len(tags) == 0 {
			v = "(none)"
		}
		parts = append(parts, "tags="+v)
	}
	return strings.Join(parts, " ")
}

// quoteValue quotes v unless it is a plain word, keeping labels readable
// and unambiguous.
func quoteValue(v string) string {
	if v == "" {
		return `""`
	}
	for _, r := range v {
		plain := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@:/+", r)
		if !plain {
			return strconv.Quote(v)
		}
	}
	return v
}

// Group splits snaps into the groups of g, ordered by Key, each sorted
// newest first like Apply's result.
func Group(snaps []Snapshot, g GroupBy) [][]Snapshot {
	byKey := map[string][]Snapshot{}
	for _, s := range snaps {
		k := g.Key(s)
		byKey[k] = append(byKey[k], s)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	groups := make([][]Snapshot, len(keys))
	for i, k := range keys {
		groups[i] = byKey[k]
		slices.SortStableFunc(groups[i], newestFirst)
	}
	return groups
}
