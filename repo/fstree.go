package repo

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"snap/crypt"
	"snap/repo/archiver"
	"snap/repo/format"
	"snap/repo/restorer"
)

// The file walker and the tar reader live in repo/archiver, the restorer in
// repo/restorer; these names and methods keep the callers' view of repo.

// SourceError wraps a failure to read what is being backed up.
type SourceError = archiver.SourceError

// TreeResult is what SaveTree and SaveTar stored.
type TreeResult = archiver.TreeResult

// FilesCache remembers files a previous backup read (archiver.FilesCache).
type FilesCache = archiver.FilesCache

// PreStat is a background stat walk for SaveTree (archiver.PreStat).
type PreStat = archiver.PreStat

// RestoreStats count what a restore wrote.
type RestoreStats = restorer.Stats

// StartPreStat starts a background stat walk of paths.
func StartPreStat(paths []string, workers int) *PreStat {
	return archiver.StartPreStat(paths, workers)
}

// OpenFilesCache loads the files cache for a set of backup paths, kept in
// the cache directory under a name derived from key. A missing or damaged
// cache is empty, never an error.
func (r *Repository) OpenFilesCache(key string) *FilesCache {
	dir, err := r.cacheDir()
	if err != nil {
		return archiver.OpenFilesCache("")
	}
	return archiver.OpenFilesCache(filepath.Join(dir, "files-"+crypt.Hash([]byte(key)).String()[:16]))
}

// blobSaver is the Writer as the archiver's Saver.
type blobSaver struct{ *Writer }

func (s blobSaver) SaveChunks(rd io.Reader) ([]crypt.ID, int64, error) {
	res, err := s.SaveStream(rd)
	return res.Chunks, res.Size, err
}

func (w *Writer) archiverOptions() archiver.Options {
	return archiver.Options{Chunker: w.r.cfg.Chunker, Workers: w.r.workers()}
}

// SaveTree backs up paths as one tree item whose root directory holds each
// path under its base name. fc and pre may be nil.
func (w *Writer) SaveTree(paths []string, fc *FilesCache, pre *PreStat) (TreeResult, error) {
	return archiver.SaveTree(blobSaver{w}, w.archiverOptions(), paths, fc, pre)
}

// SaveTar backs up a tar stream (as Docker's CopyFromContainer returns it)
// as a tree item; names that would escape the item are an error.
func (w *Writer) SaveTar(rd io.Reader) (TreeResult, error) {
	return archiver.SaveTar(blobSaver{w}, w.archiverOptions(), rd)
}

// blobLoader is the Repository as the restorer's Loader.
type blobLoader struct{ *Repository }

func (l blobLoader) LoadOrdered(ctx context.Context, ids []crypt.ID, fn func(crypt.ID, []byte) error) error {
	return l.loadOrdered(ctx, ids, fn)
}

// WalkTree calls fn for every node under root, depth first, parents before
// children, with the node's item-relative path ('/'-separated).
func (r *Repository) WalkTree(ctx context.Context, root crypt.ID, fn func(p string, n *format.Node) error) error {
	if !r.CanRead() {
		return ErrWriteOnly
	}
	return restorer.Walk(ctx, blobLoader{r}, root, fn)
}

// RestoreTree writes a tree item under target, keeping modes, mtimes and,
// when running as root, owners. Existing files are overwritten.
func (r *Repository) RestoreTree(ctx context.Context, it *Item, target string) (*RestoreStats, error) {
	if err := it.available(); err != nil {
		return nil, err
	}
	if it.Kind != KindTree || it.Tree == nil {
		return nil, fmt.Errorf("item %q is a %s item, not a tree", it.Name, it.Kind)
	}
	if !r.CanRead() {
		return nil, ErrWriteOnly
	}
	return restorer.RestoreTree(ctx, blobLoader{r}, *it.Tree, target, r.workers())
}

// WriteTar writes a tree item as a tar stream (PAX where needed).
func (r *Repository) WriteTar(ctx context.Context, it *Item, w io.Writer) error {
	if err := it.available(); err != nil {
		return err
	}
	if it.Kind != KindTree || it.Tree == nil {
		return fmt.Errorf("item %q is not a tree", it.Name)
	}
	if !r.CanRead() {
		return ErrWriteOnly
	}
	return restorer.WriteTar(ctx, blobLoader{r}, *it.Tree, w)
}
