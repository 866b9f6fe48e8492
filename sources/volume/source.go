package volume

import (
	"context"
	"fmt"
	"io"
	"strings"

	"snap/sources"
	"snap/sources/docker"
)

// Kind is the kind name, recorded as Meta["source"].
const Kind = "volume"

func init() {
	sources.Register(sources.Kind{Name: Kind, ConfigKey: "volume", Decode: decode,
		Target: func(meta map[string]string) (sources.Source, error) {
			return nil, fmt.Errorf("no container mounting %s in the project now", meta["path"])
		}})
}

// Source is a volume backed up as a file tree.
type Source struct {
	V    *Volume
	Desc string
}

// NewSource is the source of v, described by desc.
func NewSource(v *Volume, desc string) *Source { return &Source{V: v, Desc: desc} }

func (s *Source) Kind() string     { return Kind }
func (s *Source) Describe() string { return s.Desc }
func (s *Source) Meta() map[string]string {
	m := map[string]string{"container": s.V.Container, "volume": s.V.Name, "path": s.V.Path}
	if len(s.V.Exclude) > 0 {
		m["exclude"] = strings.Join(s.V.Exclude, ",")
	}
	return m
}
func (s *Source) RestoreOrder() int { return sources.OrderVolume }

// Tar reads the volume.
func (s *Source) Tar(ctx context.Context) (io.ReadCloser, error) { return s.V.Tar(ctx) }

// MustStop is every running container that mounts the volume.
func (s *Source) MustStop(ctx context.Context) ([]string, error) {
	users, err := s.V.Users(ctx)
	if err != nil {
		return nil, err
	}
	return docker.Running(users), nil
}

// Prepare checks, before anything live is touched, that the volume's disk
// can hold the stored tree once its current content is cleared; the swap
// is Restore. A volume whose image cannot measure (no df or du) is not
// refused: the restore says it could not check.
func (s *Source) Prepare(ctx context.Context, st sources.Stored) (sources.Swap, string, error) {
	free, used, err := s.forStored(st).Space(ctx)
	if err != nil {
		return &restoreSwap{s: s, st: st}, fmt.Sprintf("room on the disk of volume %s not checked: %v", s.V.Name, err), nil
	}
	if need := st.Size(); free+used < need {
		return nil, "", fmt.Errorf("volume %s: its disk has %d MiB free and the volume uses %d MiB, the backup holds %d MiB: make room on the Docker host's disk first (nothing was touched)",
			s.V.Name, free>>20, used>>20, need>>20)
	}
	return &restoreSwap{s: s, st: st}, fmt.Sprintf("room checked: the disk of volume %s has %d MiB free for the backup's %d MiB", s.V.Name, (free+used)>>20, st.Size()>>20), nil
}

// restoreSwap restores the volume when the restore commits.
type restoreSwap struct {
	s  *Source
	st sources.Stored
}

func (w *restoreSwap) Commit(ctx context.Context) (string, error) { return w.s.Restore(ctx, w.st) }
func (w *restoreSwap) Abort(context.Context) error                { return nil }

// Restore replaces the volume's content and verifies it by reading it
// back: every entry's type, mode, owner, size, link and content as stored.
//
// What the snapshot left out (Meta "exclude", the files another item
// took) is kept as it is in the volume; a snapshot that excluded nothing
// replaces everything, whatever the plan excludes now.
func (s *Source) Restore(ctx context.Context, st sources.Stored) (string, error) {
	v := s.forStored(st)
	// The stored tree is read from the repository once: its summary is
	// taken as Replace copies it. (It holds nothing the excludes drop:
	// the backup left those out with the same excludes.)
	rc := st.Open(ctx)
	defer rc.Close()
	pr, pw := io.Pipe()
	type summary struct {
		m   map[string]string
		err error
	}
	sumc := make(chan summary, 1)
	go func() {
		m, err := TarSummary(pr)
		_, _ = io.Copy(io.Discard, pr)
		sumc <- summary{m, err}
	}()
	tee := io.TeeReader(rc, pw)
	err := v.Replace(ctx, tee)
	if err == nil {
		_, err = io.Copy(io.Discard, tee) // what Replace left unread: the summary needs it
	}
	pw.CloseWithError(err)
	sum := <-sumc
	if err != nil {
		return "", err
	}
	want, err := sum.m, sum.err
	if err != nil {
		return "", err
	}
	back, err := v.Tar(ctx)
	if err != nil {
		return "", err
	}
	got, err := TarSummary(back)
	back.Close()
	if err != nil {
		return "", err
	}
	if diff := CompareSummaries(want, got); diff != "" {
		return "", fmt.Errorf("volume %s differs from the snapshot after restore: %s", v.Name, diff)
	}
	kept := ""
	if len(v.Exclude) > 0 {
		kept = fmt.Sprintf("; %s left as they were (another item's)", strings.Join(v.Exclude, ", "))
	}
	return fmt.Sprintf("volume %s replaced and verified (%d entries, owners and modes kept%s)", v.Name, len(want), kept), nil
}

// forStored is the volume with the excludes st was backed up with.
func (s *Source) forStored(st sources.Stored) *Volume {
	v := *s.V
	v.Exclude = nil
	if x := st.Meta()["exclude"]; x != "" {
		v.Exclude = strings.Split(x, ",")
	}
	return &v
}

// Preview compares the stored tree with the live volume, entry by entry
// (what the backup excluded is left out on both sides).
func (s *Source) Preview(ctx context.Context, st sources.Stored) (string, error) {
	v := s.forStored(st)
	rc := st.Open(ctx)
	want, err := TarSummary(rc)
	rc.Close()
	if err != nil {
		return "", err
	}
	live, err := v.Tar(ctx)
	if err != nil {
		return "", err
	}
	got, err := TarSummary(live)
	live.Close()
	if err != nil {
		return "", err
	}
	differ := 0
	for k, w := range want {
		if got[k] != w {
			differ++
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			differ++
		}
	}
	if differ == 0 {
		return fmt.Sprintf("volume %s already holds the %d entries of the backup (rewritten anyway)", s.V.Name, len(want)), nil
	}
	return fmt.Sprintf("volume %s replaced: %d of its entries differ from the backup's %d", s.V.Name, differ, len(want)), nil
}
