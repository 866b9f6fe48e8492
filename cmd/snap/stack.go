package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"snap/repo"
	"snap/sources"
)

// presets are the stack names `snap backup NAME` understands.
var presets = map[string]bool{"n8n": true}

// isProfile reports whether backup's arguments name a profile (from the
// config file) or a stack preset rather than paths: one bare name (no '/'),
// no other sources. A directory that happens to be called n8n is backed up
// with ./n8n.
func (o *backupOptions) isProfile(g *globalOptions, args []string) bool {
	if len(args) != 1 || o.Stdin || len(o.Commands) != 0 || strings.Contains(args[0], "/") {
		return false
	}
	if g.cfg != nil && g.cfg.Profiles[args[0]] != nil {
		return true
	}
	return presets[args[0]]
}

// profilePlan resolves a profile name: a config profile (a preset or items
// written out) or a preset with its default project.
func profilePlan(ctx context.Context, g *globalOptions, name, project string) (*sources.Docker, *sources.Plan, error) {
	var p *profile
	if g.cfg != nil {
		p = g.cfg.Profiles[name]
	}
	if p == nil || p.Preset != "" {
		if project == "" && p != nil {
			project = p.Project
		}
		if project == "" {
			project = name
		}
		return discover(ctx, project)
	}
	var d *sources.Docker
	for _, it := range p.Items {
		if (it.Postgres != nil && it.Postgres.URL == "") || it.Redis != nil || it.Volume != nil {
			var err error
			if d, err = sources.NewDocker(ctx); err != nil {
				return nil, nil, err
			}
			break
		}
	}
	plan, err := sources.PlanFromSpecs(ctx, d, name, p.Items)
	if err != nil {
		if d != nil {
			d.Close()
		}
		return nil, nil, err
	}
	return d, plan, nil
}

func discover(ctx context.Context, project string) (*sources.Docker, *sources.Plan, error) {
	d, err := sources.NewDocker(ctx)
	if err != nil {
		return nil, nil, err
	}
	plan, err := sources.DiscoverN8N(ctx, d, project)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return d, plan, nil
}

func printPlan(g *globalOptions, plan *sources.Plan, verb string) {
	fmt.Fprintf(g.stdout, "%s Docker Compose project %q:\n", verb, plan.Project)
	for _, it := range plan.Items {
		fmt.Fprintf(g.stdout, "  %-18s %s\n", it.Name, it.Describe)
	}
}

func warn(g *globalOptions, format string, a ...any) {
	if !g.Quiet {
		fmt.Fprintf(g.stderr, "warning: "+format+"\n", a...)
	}
}

// runPlan backs up every item of a plan concurrently as one snapshot. Any
// failed item fails the run: no snapshot, exit 3, the item named.
func runPlan(ctx context.Context, g *globalOptions, o *backupOptions, plan *sources.Plan, profile string) error {
	r, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	snap, err := backupPlan(ctx, g, o, r, plan, profile)
	if err != nil {
		return err
	}
	return printBackupSummary(g, snap, snap.ID.String())
}

// backupPlan takes the snapshot under a shared lock; snap run calls it.
func backupPlan(ctx context.Context, g *globalOptions, o *backupOptions, r *openedRepo, plan *sources.Plan, profile string) (*repo.Snapshot, error) {
	start := now()
	snapTime := start
	if o.Time != "" {
		var err error
		if snapTime, err = parseTime(o.Time); err != nil {
			return nil, err
		}
	}
	host := o.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	lock, err := g.lock(ctx, r, repo.OpBackup, false)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	// Walk the trees while NewWriter syncs the index cache.
	pre := map[*sources.PlanItem]*repo.PreStat{}
	for _, pi := range plan.Items {
		if pi.Source == sources.SourceFiles {
			pre[pi] = repo.StartPreStat(pi.Paths, 2)
		}
	}
	w, err := r.NewWriter(ctx)
	if err != nil {
		return nil, err
	}
	prog := startProgress(g, w)
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make([]repo.Item, len(plan.Items))
	errs := make([]error, len(plan.Items))
	var caches []*repo.FilesCache
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, pi := range plan.Items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			it, fc, err := backupPlanItem(ictx, w, r, pi, g.stdin, pre[pi])
			if err != nil {
				errs[i] = fmt.Errorf("item %q (%s): %w", pi.Name, pi.Describe, err)
				cancel() // stop the other items: the run has failed
				return
			}
			items[i] = it
			if fc != nil {
				mu.Lock()
				caches = append(caches, fc)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	prog.stop()
	if err := firstCause(errs); err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if err := lock.Check(); err != nil {
		return nil, err
	}
	snap := &repo.Snapshot{Time: snapTime, Host: host, Profile: profile, Tags: o.Tags, Program: "snap " + version,
		Status: repo.StatusComplete, Items: items, Duration: now().Sub(start).Seconds(), Stored: w.Stats().BytesStored.Load()}
	if _, err := r.SaveSnapshot(ctx, snap); err != nil {
		return nil, err
	}
	for _, fc := range caches {
		if err := fc.Save(); err != nil {
			warn(g, "files cache not saved (the next backup reads every file again): %v", err)
		}
	}
	return snap, nil
}

// firstCause returns the error of the item that failed first in spirit:
// one that is not just "canceled because another item failed".
func firstCause(errs []error) error {
	var canceled error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if errors.Is(err, context.Canceled) {
			canceled = err
			continue
		}
		return err
	}
	return canceled
}

// pipeSource runs dump (writing to a pipe) and saves what it writes as a
// stream. The dump's own error wins over the read error it causes.
func pipeSource(w *repo.Writer, dump func(io.Writer) error) (repo.StreamResult, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := dump(pw)
		pw.CloseWithError(err)
		done <- err
	}()
	res, err := w.SaveStream(pr)
	pr.CloseWithError(errors.New("backup stopped reading"))
	if derr := <-done; derr != nil {
		var se *repo.SourceError
		if errors.As(derr, &se) {
			return res, derr
		}
		return res, &repo.SourceError{Err: derr}
	}
	return res, err
}

func backupPlanItem(ctx context.Context, w *repo.Writer, r *openedRepo, pi *sources.PlanItem, stdin io.Reader, pre *repo.PreStat) (repo.Item, *repo.FilesCache, error) {
	it := repo.Item{Name: pi.Name, Kind: repo.KindStream, Meta: map[string]string{}}
	for k, v := range pi.Meta {
		it.Meta[k] = v
	}
	var res repo.StreamResult
	var err error
	switch pi.Source {
	case sourceStdin:
		res, err = w.SaveStream(stdin)
	case sources.SourcePostgres:
		meta, merr := pi.PG.Metadata(ctx)
		if merr != nil {
			return it, nil, &repo.SourceError{Err: merr}
		}
		for k, v := range meta {
			it.Meta[k] = v
		}
		res, err = pipeSource(w, func(out io.Writer) error { return pi.PG.Dump(ctx, out) })
	case sources.SourcePostgresGlobals:
		res, err = pipeSource(w, func(out io.Writer) error { return pi.PG.DumpGlobals(ctx, out) })
	case sources.SourceRedis:
		meta, merr := pi.Redis.Metadata(ctx)
		if merr != nil {
			return it, nil, &repo.SourceError{Err: merr}
		}
		for k, v := range meta {
			it.Meta[k] = v
		}
		res, err = pipeSource(w, func(out io.Writer) error { return pi.Redis.DumpRDB(ctx, out) })
	case sources.SourceVolume:
		rc, terr := pi.Volume.Tar(ctx)
		if terr != nil {
			return it, nil, &repo.SourceError{Err: terr}
		}
		tres, terr := w.SaveTar(rc)
		rc.Close()
		if terr != nil {
			return it, nil, terr
		}
		return treeItem(w, it, tres, nil)
	case sources.SourceCommand:
		res, err = pipeSource(w, func(out io.Writer) error {
			rd, wait, err := startCommand(pi.Command)
			if err != nil {
				return err
			}
			_, cerr := io.Copy(out, rd)
			if werr := wait(); werr != nil {
				return werr
			}
			return cerr
		})
	case sources.SourceFiles:
		paths := append([]string(nil), pi.Paths...)
		sort.Strings(paths)
		fc := r.OpenFilesCache(strings.Join(paths, "\x00"))
		tres, terr := w.SaveTree(pi.Paths, fc, pre)
		if terr != nil {
			return it, nil, terr
		}
		return treeItem(w, it, tres, fc)
	default:
		return it, nil, fmt.Errorf("unknown source %q", pi.Source)
	}
	if err != nil {
		return it, nil, err
	}
	if it.Refs, err = w.SaveRefs(res.Chunks); err != nil {
		return it, nil, err
	}
	it.Size = res.Size
	it.Added = w.Claim(res.Chunks, it.Refs)
	return it, nil, nil
}

func treeItem(w *repo.Writer, it repo.Item, tres repo.TreeResult, fc *repo.FilesCache) (repo.Item, *repo.FilesCache, error) {
	var err error
	if it.Refs, err = w.SaveRefs(tres.Refs); err != nil {
		return it, nil, err
	}
	root := tres.Root
	it.Kind, it.Tree, it.Size, it.Files, it.Dirs = repo.KindTree, &root, tres.Size, tres.Files, tres.Dirs
	it.Added = w.Claim(tres.Refs, it.Refs)
	return it, fc, nil
}

func printBackupSummary(g *globalOptions, snap *repo.Snapshot, id string) error {
	sum := backupSummary{Snapshot: id, Time: snap.Time, Added: snap.Stored, Duration: snap.Duration}
	for _, it := range snap.Items {
		sum.Items = append(sum.Items, itemSummary{Name: it.Name, Kind: it.Kind, Size: it.Size, Files: it.Files})
		sum.Read += it.Size
	}
	if g.JSON {
		writeJSON(g.stdout, sum)
		return nil
	}
	for _, it := range sum.Items {
		extra := ""
		if it.Kind == repo.KindTree {
			extra = fmt.Sprintf(", %d files", it.Files)
		}
		g.printf("  %-20s %-6s %s%s\n", it.Name, it.Kind, formatBytes(it.Size), extra)
	}
	g.printf("snapshot %.8s saved: %s read, %s added, %.1fs\n", id, formatBytes(sum.Read), formatBytes(sum.Added), sum.Duration)
	return nil
}

// withItem streams a stream item into use. If reading the item failed
// (a damaged or missing blob), that error wins: it explains why use failed,
// and it carries the repository's exit code.
func withItem(ctx context.Context, r *openedRepo, it *repo.Item, use func(io.Reader) error) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := r.StreamItem(ctx, it, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	err := use(pr)
	pr.CloseWithError(errors.New("consumer stopped reading"))
	if serr := <-done; serr != nil && !errors.Is(serr, io.ErrClosedPipe) && err != nil {
		return serr
	}
	return err
}

// itemTar opens a tree item as a tar stream through a pipe.
func itemTar(ctx context.Context, r *openedRepo, it *repo.Item) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(r.WriteTar(ctx, it, pw))
	}()
	return pr
}

// stackRestore puts items of a stack snapshot back into the running stack.
type stackRestore struct {
	g     *globalOptions
	r     *openedRepo
	d     *sources.Docker
	plan  *sources.Plan
	snap  *repo.Snapshot
	items []*repo.Item
	log   []string
}

func (s *stackRestore) say(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	s.log = append(s.log, msg)
	s.g.printf("  %s\n", msg)
}

// run restores in the order that never loses data: everything that can be
// checked is checked before anything live is touched; the app is stopped
// only for the swap and started again (also on failure) if it was running.
func (s *stackRestore) run(ctx context.Context) (err error) {
	var pgSwap *sources.PGSwap
	defer func() {
		if pgSwap != nil && err != nil {
			_ = pgSwap.Abort(context.Background())
		}
	}()
	// 1. Prove what can be proven while the stack still runs.
	for _, it := range s.items {
		pi := s.plan.Item(it.Name)
		switch it.Meta["source"] {
		case sources.SourcePostgres:
			if pi == nil {
				return fmt.Errorf("item %q: no PostgreSQL container in the project now", it.Name)
			}
			err = withItem(ctx, s.r, it, func(rd io.Reader) (err error) {
				pgSwap, err = pi.PG.Prepare(ctx, rd, it.Meta)
				return err
			})
			if err != nil {
				return fmt.Errorf("item %q: %w (the live database was not touched)", it.Name, err)
			}
			s.say("%s: loaded into a scratch database and checked (%s tables)", it.Name, it.Meta["table_count"])
		case sources.SourceRedis:
			if pi == nil {
				return fmt.Errorf("item %q: no Redis container in the project now", it.Name)
			}
			err = withItem(ctx, s.r, it, func(rd io.Reader) error { return pi.Redis.VerifyRDB(ctx, rd, it.Size) })
			if err != nil {
				return fmt.Errorf("item %q: the stored RDB does not check: %w (Redis was not touched)", it.Name, err)
			}
			s.say("%s: RDB checked with redis-check-rdb", it.Name)
		case sources.SourceVolume:
			if pi == nil {
				return fmt.Errorf("item %q: no container mounting %s in the project now", it.Name, it.Meta["path"])
			}
		}
	}
	// 2. Stop the app so nothing writes while its data changes.
	appRunning := false
	if s.plan.App != "" {
		if appRunning, err = s.d.Stop(ctx, s.plan.App); err != nil {
			return err
		}
		if appRunning {
			s.say("stopped %s", s.plan.App)
			defer func() {
				if serr := s.d.Start(context.Background(), s.plan.App); serr != nil && err == nil {
					err = serr
				} else if serr == nil {
					s.say("started %s", s.plan.App)
				}
			}()
		}
	}
	// 3. Put each item back, in dependency order: roles, database, redis,
	// files.
	order := map[string]int{sources.SourcePostgresGlobals: 0, sources.SourcePostgres: 1, sources.SourceRedis: 2, sources.SourceVolume: 3, sources.SourceFiles: 4}
	sort.SliceStable(s.items, func(i, j int) bool { return order[s.items[i].Meta["source"]] < order[s.items[j].Meta["source"]] })
	for _, it := range s.items {
		pi := s.plan.Item(it.Name)
		switch it.Meta["source"] {
		case sources.SourcePostgresGlobals:
			if pi == nil {
				return fmt.Errorf("item %q: no PostgreSQL container in the project now", it.Name)
			}
			err = withItem(ctx, s.r, it, func(rd io.Reader) error { return pi.PG.RestoreGlobals(ctx, rd) })
			if err != nil {
				return fmt.Errorf("item %q: %w", it.Name, err)
			}
			s.say("%s: roles restored", it.Name)
		case sources.SourcePostgres:
			report, err := pgSwap.Commit(ctx)
			if err != nil {
				return fmt.Errorf("item %q: %w", it.Name, err)
			}
			pgSwap = nil
			s.say("%s: database %s replaced: %s", it.Name, it.Meta["database"], report)
		case sources.SourceRedis:
			err = withItem(ctx, s.r, it, func(rd io.Reader) error { return pi.Redis.Restore(ctx, rd, it.Size, it.Meta) })
			if err != nil {
				return fmt.Errorf("item %q: %w", it.Name, err)
			}
			s.say("%s: restored, %s keys as recorded", it.Name, it.Meta["keys"])
		case sources.SourceVolume:
			if err := s.restoreVolume(ctx, it, pi.Volume); err != nil {
				return fmt.Errorf("item %q: %w", it.Name, err)
			}
		case sources.SourceFiles:
			if err := s.restoreFiles(ctx, it); err != nil {
				return fmt.Errorf("item %q: %w", it.Name, err)
			}
		}
	}
	return nil
}

func (s *stackRestore) restoreVolume(ctx context.Context, it *repo.Item, v *sources.Volume) error {
	users, err := v.Users(ctx)
	if err != nil {
		return err
	}
	var restart []string
	for id, running := range users {
		if running {
			if _, err := s.d.Stop(ctx, id); err != nil {
				return err
			}
			restart = append(restart, id)
		}
	}
	defer func() {
		for _, id := range restart {
			_ = s.d.Start(context.Background(), id)
		}
	}()
	rc := itemTar(ctx, s.r, it)
	err = v.Replace(ctx, rc)
	rc.Close()
	if err != nil {
		return err
	}
	// Verify: read the volume back and compare with the snapshot.
	want, err := sources.TarSummary(itemTar(ctx, s.r, it))
	if err != nil {
		return err
	}
	back, err := v.Tar(ctx)
	if err != nil {
		return err
	}
	got, err := sources.TarSummary(back)
	back.Close()
	if err != nil {
		return err
	}
	if diff := sources.CompareSummaries(want, got); diff != "" {
		return fmt.Errorf("volume %s differs from the snapshot after restore: %s", v.Name, diff)
	}
	s.say("%s: volume %s replaced and verified (%d entries, owners and modes kept)", it.Name, v.Name, len(want))
	return nil
}

// restoreFiles writes the project's files back to where they were; a file
// that is there now is kept beside it as NAME.snap-old-TIME.
func (s *stackRestore) restoreFiles(ctx context.Context, it *repo.Item) error {
	tmp, err := os.MkdirTemp("", "snap-restore-files")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if _, err := s.r.RestoreTree(ctx, it, tmp); err != nil {
		return err
	}
	stamp := now().Format("20060102-150405")
	for _, orig := range strings.Split(it.Meta["paths"], "\n") {
		if orig == "" {
			continue
		}
		src := filepath.Join(tmp, filepath.Base(orig))
		if _, err := os.Lstat(orig); err == nil {
			if err := os.Rename(orig, orig+".snap-old-"+stamp); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(filepath.Dir(orig), 0o755); err != nil {
			return err
		}
		if err := os.Rename(src, orig); err != nil {
			return err
		}
	}
	s.say("%s: %s restored (previous versions kept as *.snap-old-%s)", it.Name, strings.ReplaceAll(it.Meta["paths"], "\n", ", "), stamp)
	return nil
}

var errNeedYes = errors.New("restore replaces live data: re-run with --yes to confirm (stdin is not a terminal)")

func confirm(g *globalOptions, yes bool) error {
	if yes {
		return nil
	}
	tty, ok := ttyFile()
	if !ok {
		return &usageError{msg: errNeedYes.Error()}
	}
	defer tty.Close()
	fmt.Fprint(tty, "Type yes to replace the live data: ")
	var answer string
	_, _ = fmt.Fscanln(tty, &answer)
	if answer != "yes" {
		return errors.New("restore cancelled")
	}
	return nil
}

func runStackRestore(ctx context.Context, g *globalOptions, o *restoreOptions, r *openedRepo, snap *repo.Snapshot, items []*repo.Item) error {
	for _, it := range items {
		if err := snap.CheckItem(it); err != nil {
			return err
		}
	}
	d, plan, err := snapshotPlan(ctx, g, snap, o.Project)
	if err != nil {
		return err
	}
	if d != nil {
		defer d.Close()
	}
	project := plan.Project
	fmt.Fprintf(g.stdout, "Restore snapshot %s (%s, %s) into project %q:\n", snap.ID.Short(), snap.Host, snap.Time.Local().Format("2006-01-02 15:04:05"), project)
	for _, it := range items {
		fmt.Fprintf(g.stdout, "  %-18s %s, %s\n", it.Name, it.Meta["source"], formatBytes(it.Size))
	}
	if plan.App != "" {
		fmt.Fprintf(g.stdout, "  %s is stopped while its data is replaced and started again\n", plan.App)
	}
	if o.DryRun {
		return nil
	}
	if err := confirm(g, o.Yes); err != nil {
		return err
	}
	sr := &stackRestore{g: g, r: r, d: d, plan: plan, snap: snap, items: items}
	if err := sr.run(ctx); err != nil {
		return err
	}
	g.printf("restore of %s complete and verified\n", snap.ID.Short())
	return nil
}

// snapshotPlan finds, in today's Docker, where a stack snapshot's items go:
// the profile it was taken with, or the Compose project it recorded.
func snapshotPlan(ctx context.Context, g *globalOptions, snap *repo.Snapshot, project string) (*sources.Docker, *sources.Plan, error) {
	for _, it := range snap.Items {
		if name := it.Meta["profile"]; name != "" && project == "" {
			return profilePlan(ctx, g, name, "")
		}
		if project == "" {
			project = it.Meta["project"]
		}
	}
	if project == "" {
		return nil, nil, usagef("snapshot %s records no Docker Compose project or profile: use --project NAME or --target DIR", snap.ID.Short())
	}
	return discover(ctx, project)
}
