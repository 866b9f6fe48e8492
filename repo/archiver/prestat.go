package archiver

import (
	"os"
	"path/filepath"
	"sync"
)

// PreStat walks paths (listing and stat'ing every directory) in the
// background, so that on a day-2 backup, which is mostly stat calls, the
// walk overlaps the index cache sync that NewWriter does. SaveTree uses what
// it found and reads anything it lacks itself.
type PreStat struct {
	done chan struct{}
	mu   sync.Mutex
	dirs map[string]dirListing
}

type dirListing struct {
	names []string
	infos []os.FileInfo
}

// StartPreStat starts the walk; errors are left for SaveTree to meet.
func StartPreStat(paths []string, workers int) *PreStat {
	p := &PreStat{done: make(chan struct{}), dirs: map[string]dirListing{}}
	go func() {
		defer close(p.done)
		var walk func(dir string, depth int)
		walk = func(dir string, depth int) {
			names, infos, err := readDir(dir, workers)
			if err != nil || depth > 512 {
				return
			}
			p.mu.Lock()
			p.dirs[dir] = dirListing{names, infos}
			p.mu.Unlock()
			for i, fi := range infos {
				if fi.IsDir() {
					walk(filepath.Join(dir, names[i]), depth+1)
				}
			}
		}
		for _, path := range paths {
			abs, err := filepath.Abs(path)
			if err != nil {
				continue
			}
			if fi, err := os.Lstat(abs); err == nil && fi.IsDir() {
				walk(abs, 0)
			}
		}
	}()
	return p
}

// take waits for the walk and hands out one directory's listing once.
func (p *PreStat) take(dir string) (dirListing, bool) {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.dirs[dir]
	delete(p.dirs, dir)
	return l, ok
}
