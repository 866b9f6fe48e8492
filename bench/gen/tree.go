package main

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

type treeStats struct {
	files1, files2  int
	bytes1, bytes2  int64
	modified, added int
}

var (
	exts      = []string{"log", "log", "log", "log", "log", "txt", "txt", "md", "md", "json", "json", "json", "csv", "csv", "go", "go", "go", "py", "yaml", "yaml"}
	levels    = []string{"INFO", "INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR"}
	goidents  = []string{"ctx", "err", "buf", "n", "id", "req", "resp", "cfg", "opts", "cache"}
	fileTime  = time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)
	dirTime   = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	day2Time  = time.Date(2025, 6, 2, 3, 0, 0, 0, time.UTC)
	day2Spent = int64(20 * time.Hour)
)

// textFile appends about size bytes of text in the style its extension
// suggests, ending in a newline.
func (g *gen) textFile(b []byte, ext string, size int) []byte {
	start := len(b)
	clock := fileTime.Add(-time.Duration(g.r.Int64N(int64(400 * 24 * time.Hour)))).UnixMilli()
	if ext == "csv" {
		b = append(b, "id,name,category,amount,created,ref\n"...)
	}
	for len(b)-start < size {
		b = g.textLine(b, ext, &clock)
	}
	b = b[:start+size]
	b[len(b)-1] = '\n'
	return b
}

func (g *gen) textLine(b []byte, ext string, clock *int64) []byte {
	r := g.r
	switch ext {
	case "log":
		*clock += int64(r.IntN(4000))
		b = time.UnixMilli(*clock).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		b = append(append(b, ' '), levels[r.IntN(len(levels))]...)
		b = append(b, " ["...)
		b = append(append(b, g.word()...), "] "...)
		b = g.sentence(b, 1+r.IntN(2))
		b = append(append(b, " id="...), g.word()...)
		b = g.hex(append(b, " req="...), 12)
		b = strconv.AppendInt(append(b, " took="...), int64(r.IntN(3000)), 10)
		return append(b, "ms\n"...)
	case "csv":
		b = strconv.AppendInt(b, int64(r.IntN(1000000)), 10)
		b = append(g.words(append(b, ','), 2, ' '), ',')
		b = append(append(b, g.word()...), ',')
		b = append(g.money(b, 1000), ',')
		*clock += int64(r.IntN(100000))
		b = time.UnixMilli(*clock).UTC().AppendFormat(b, "2006-01-02")
		return append(g.hex(append(b, ','), 8), '\n')
	case "json":
		b = strconv.AppendInt(append(b, `  {"id": `...), int64(r.IntN(1000000)), 10)
		b = append(g.words(append(b, `, "name": "`...), 2, ' '), `", "tags": ["`...)
		b = append(g.words(b, 1+r.IntN(3), ','), `"], "value": `...)
		b = append(g.money(b, 100), `, "ref": "`...)
		return append(g.hex(b, 12), "\"},\n"...)
	case "go", "py":
		switch r.IntN(8) {
		case 0:
			b = append(append(b, "\nfunc "...), g.word()...)
			b = append(append(append(b, '('), goidents[r.IntN(len(goidents))]...), " int) error {\n"...)
		case 1:
			b = append(append(b, "\tif "...), goidents[r.IntN(len(goidents))]...)
			b = append(strconv.AppendInt(append(b, " > "...), int64(r.IntN(100)), 10), " {\n\t\treturn fmt.Errorf(\""...)
			b = append(g.words(b, 3, ' '), ": %w\", err)\n\t}\n"...)
		case 2:
			b = append(b, "}\n"...)
		case 3:
			b = append(g.sentence(append(b, "\t// "...), 1+r.IntN(2)), '\n')
		default:
			b = append(append(b, '\t'), goidents[r.IntN(len(goidents))]...)
			b = append(append(append(b, " := "...), g.word()...), '.')
			b = append(append(b, g.word()...), '(')
			b = append(append(b, goidents[r.IntN(len(goidents))]...), ")\n"...)
		}
		return b
	case "yaml":
		b = append(append(b, "  "...), g.word()...)
		b = append(b, "_"...)
		b = append(append(b, g.word()...), ": "...)
		if r.IntN(2) == 0 {
			return append(strconv.AppendInt(b, int64(r.IntN(10000)), 10), '\n')
		}
		return append(g.words(b, 1+r.IntN(3), '-'), '\n')
	default: // prose
		b = g.sentence(b, 1+r.IntN(4))
		if r.IntN(5) == 0 {
			return append(b, ".\n\n"...)
		}
		return append(b, ". "...)
	}
}

// modifyText edits a file the way day-to-day work does: rewrite a few lines
// in the middle, or append.
func (g *gen) modifyText(old []byte, ext string) []byte {
	clock := day2Time.UnixMilli()
	var add []byte
	for n := 200 + g.r.IntN(1800); len(add) < n; {
		add = g.textLine(add, ext, &clock)
	}
	if g.r.IntN(3) == 0 {
		return append(slices.Clip(old), add...)
	}
	p := g.r.IntN(len(old))
	q := min(len(old), p+g.r.IntN(len(old)/20+1))
	out := append(slices.Clip(old[:p]), add...)
	return append(out, old[q:]...)
}

type treeWriter struct {
	root  string
	dirs  map[string]bool
	files int
	bytes int64
}

func (w *treeWriter) write(rel string, data []byte, mtime time.Time) error {
	p := filepath.Join(w.root, rel)
	if d := filepath.Dir(p); !w.dirs[d] {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		w.dirs[d] = true
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return err
	}
	w.files++
	w.bytes += int64(len(data))
	return os.Chtimes(p, mtime, mtime)
}

// randTime is a deterministic mtime (with nanoseconds, as real files have)
// before t.
func (g *gen) randTime(t time.Time, within time.Duration) time.Time {
	return t.Add(-time.Duration(g.r.Int64N(int64(within))))
}

// genTrees writes tree1 and tree2 in one pass. tree2 is an independent copy
// (own inodes) with the same mtimes for unchanged files, so a backup tool's
// files cache can recognise them once they sit at the same path.
func genTrees(dir1, dir2 string, seed uint64, scale float64) (treeStats, error) {
	var st treeStats
	g := newGen(seed, 0x71)  // day 1 content
	gm := newGen(seed, 0x72) // day 2 edits and additions
	w1 := &treeWriter{root: dir1, dirs: map[string]bool{}}
	w2 := &treeWriter{root: dir2, dirs: map[string]bool{}}

	nFiles := max(100, int(20000*scale))
	nMod := max(5, int(300*scale))
	nAdd := max(5, int(200*scale))
	leaves := (nFiles + 99) / 100 // ~100 files per directory
	fan := max(1, int(math.Ceil(math.Cbrt(float64(leaves)))))
	leafDir := func(i int) string {
		return filepath.Join(
			fmt.Sprintf("srv-%s-%02d", vocab[i/(fan*fan)*7%len(vocab)], i/(fan*fan)),
			fmt.Sprintf("%s-%02d", vocab[(i/fan%fan)*13+100], i/fan%fan),
			fmt.Sprintf("%s-%02d", vocab[(i%fan)*17+200], i%fan))
	}

	modified := map[int]bool{}
	for _, i := range gm.r.Perm(nFiles)[:nMod] {
		modified[i] = true
	}
	// Log-normal sizes between 1 and 60 KiB, median ~11 KiB.
	size := func() int {
		s := math.Exp(math.Log(11<<10) + 0.85*g.r.NormFloat64())
		return int(min(60<<10, max(1<<10, s)))
	}
	var buf []byte
	for i := 0; i < nFiles; i++ {
		ext := exts[g.r.IntN(len(exts))]
		rel := filepath.Join(leafDir(i/100), fmt.Sprintf("%s_%05d.%s", g.word(), i, ext))
		buf = g.textFile(buf[:0], ext, size())
		mt := g.randTime(fileTime, 400*24*time.Hour)
		if err := w1.write(rel, buf, mt); err != nil {
			return st, err
		}
		if modified[i] {
			st.modified++
			if err := w2.write(rel, gm.modifyText(buf, ext), gm.randTime(day2Time.Add(time.Duration(day2Spent)), time.Duration(day2Spent))); err != nil {
				return st, err
			}
		} else if err := w2.write(rel, buf, mt); err != nil {
			return st, err
		}
	}
	addedDirs := map[string]bool{}
	newDir := filepath.Join(fmt.Sprintf("srv-%s-new", gm.word()), "inbox")
	// Creating newDir adds entries to its parent and to the root.
	addedDirs[filepath.Dir(newDir)] = true
	addedDirs["."] = true
	for j := 0; j < nAdd; j++ {
		ext := exts[gm.r.IntN(len(exts))]
		d := leafDir(gm.r.IntN(leaves))
		if j%4 == 0 { // some of day 2's files land in a new directory
			d = newDir
		}
		addedDirs[d] = true
		rel := filepath.Join(d, fmt.Sprintf("new_%s_%04d.%s", gm.word(), j, ext))
		sz := int(min(60<<10, max(1<<10, math.Exp(math.Log(11<<10)+0.85*gm.r.NormFloat64()))))
		buf = gm.textFile(buf[:0], ext, sz)
		if err := w2.write(rel, buf, gm.randTime(day2Time.Add(time.Duration(day2Spent)), time.Duration(day2Spent))); err != nil {
			return st, err
		}
		st.added++
	}

	if err := genLarge(w1, w2, seed, scale, gm); err != nil {
		return st, err
	}

	// Directory mtimes last, since writing files inside changes them.
	if err := setDirTimes(dir1, nil); err != nil {
		return st, err
	}
	if err := setDirTimes(dir2, addedDirs); err != nil {
		return st, err
	}
	st.files1, st.bytes1 = w1.files, w1.bytes
	st.files2, st.bytes2 = w2.files, w2.bytes
	return st, nil
}

// genLarge writes five 100-150 MB binaries; on day 2 one of them has a few
// 1 MB regions rewritten, like a VM image or database file.
func genLarge(w1, w2 *treeWriter, seed uint64, scale float64, gm *gen) error {
	names := []string{"vm-disk.img", "warehouse.db", "media-cache.bin", "archive.pack", "model.dat"}
	changed := gm.r.IntN(len(names))
	region := int64(1 << 20)
	if scale < 1 {
		region = max(16<<10, int64(float64(region)*scale))
	}
	buf := make([]byte, 1<<20)
	buf2 := make([]byte, 1<<20)
	for k, name := range names {
		g := newGen(seed, 0x80+uint64(k))
		size := int64(float64((100+g.r.IntN(51))<<20) * scale)
		rel := filepath.Join("data", name)
		mt := g.randTime(fileTime, 90*24*time.Hour)
		var regions []int64
		mt2 := mt
		if k == changed {
			for i := 0; i < 4; i++ {
				regions = append(regions, gm.r.Int64N(size-region))
			}
			slices.Sort(regions)
			mt2 = gm.randTime(day2Time.Add(time.Duration(day2Spent)), time.Duration(day2Spent))
		}
		err := func() error {
			for _, w := range []*treeWriter{w1, w2} {
				if err := os.MkdirAll(filepath.Join(w.root, "data"), 0o755); err != nil {
					return err
				}
			}
			f1, err := os.Create(filepath.Join(w1.root, rel))
			if err != nil {
				return err
			}
			defer f1.Close()
			f2, err := os.Create(filepath.Join(w2.root, rel))
			if err != nil {
				return err
			}
			defer f2.Close()
			for off := int64(0); off < size; off += int64(len(buf)) {
				n := int(min(int64(len(buf)), size-off))
				g.fillBinary(buf[:n], off)
				if _, err := f1.Write(buf[:n]); err != nil {
					return err
				}
				out, copied := buf[:n], false
				for _, r := range regions {
					lo, hi := max(r, off), min(r+region, off+int64(n))
					if lo < hi {
						if !copied {
							out, copied = buf2[:n], true
							copy(out, buf[:n])
						}
						gm.fillRandom(out[lo-off : hi-off])
					}
				}
				if _, err := f2.Write(out); err != nil {
					return err
				}
			}
			if err := f1.Close(); err != nil {
				return err
			}
			return f2.Close()
		}()
		if err != nil {
			return err
		}
		if err := os.Chtimes(filepath.Join(w1.root, rel), mt, mt); err != nil {
			return err
		}
		if err := os.Chtimes(filepath.Join(w2.root, rel), mt2, mt2); err != nil {
			return err
		}
		w1.files++
		w2.files++
		w1.bytes += size
		w2.bytes += size
	}
	return nil
}

func setDirTimes(root string, day2 map[string]bool) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		t := dirTime
		if rel, _ := filepath.Rel(root, p); day2[rel] {
			t = day2Time.Add(time.Duration(day2Spent))
		}
		return os.Chtimes(p, t, t)
	})
}
