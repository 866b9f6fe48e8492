package repo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"snap/cache"
	"snap/chunk"
	"snap/crypt"
	"snap/repo/backend"
	"snap/repo/compress"
	"snap/repo/format"
)

// onSeal, set only by tests (export_test.go), is told the type and
// plaintext length of every new blob as it is sealed.
var onSeal func(typ format.BlobType, plainLen int)

// Writer is one backup run's upload side: it deduplicates, compresses and
// seals blobs on a worker pool, fills packs and uploads them in the
// background, and at Flush writes the index file for the run's packs. A run
// has one random session key, wrapped to the data recipient and stored in
// every pack's key table; it is never written anywhere in the clear.
//
// Save methods are safe for concurrent use. Memory is bounded by the job
// queue, the pack buffers and the upload queue, not by the data size.
type Writer struct {
	r       *Repository
	idx     *cache.Cache
	session *crypt.Sealer
	wrapped []byte
	enc     *compress.Encoder
	hashers sync.Pool

	ctx    context.Context
	cancel context.CancelCauseFunc

	jobs    chan blobJob
	workers sync.WaitGroup
	pending sync.WaitGroup

	mu         sync.Mutex
	known      map[crypt.ID]int64 // saved or queued by this run: plaintext length, -1 once claimed
	cur        *packBuf
	packs      []format.Pack // uploaded, not yet in an index file
	indexBlobs int           // blobs of packs

	uploads  chan *packBuf
	uploader sync.WaitGroup
	packMem  chan []byte // recycled pack buffers
	bufs     sync.Pool   // recycled chunk buffers (*[]byte)

	stats WriterStats
}

// WriterStats count what a run added.
type WriterStats struct {
	BlobsNew    atomic.Int64 // blobs added
	BytesQueued atomic.Int64 // plaintext bytes of new blobs, counted when queued
	BytesNew    atomic.Int64 // plaintext bytes of new blobs
	BytesStored atomic.Int64 // bytes of new blobs as stored (compressed, sealed)
	Packs       atomic.Int64
}

type blobJob struct {
	typ     format.BlobType
	id      crypt.ID
	data    []byte
	release func()
}

type packBuf struct {
	buf   []byte
	blobs []format.Blob
}

// NewWriter starts a backup run.
func (r *Repository) NewWriter(ctx context.Context) (*Writer, error) {
	idx, err := r.Index(ctx)
	if err != nil {
		return nil, err
	}
	key := crypt.NewRandomKey()
	wrapped, err := crypt.WrapKey(key, r.cfg.Recipient)
	if err != nil {
		return nil, err
	}
	n := r.workers()
	enc, err := compress.NewEncoder(r.cfg.Level, n)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	w := &Writer{
		r: r, idx: idx, session: crypt.NewSealer(key), wrapped: wrapped, enc: enc,
		ctx: ctx, cancel: cancel,
		jobs:    make(chan blobJob, n),
		known:   map[crypt.ID]int64{},
		uploads: make(chan *packBuf, 1),
		packMem: make(chan []byte, r.connections()+2),
	}
	w.hashers.New = func() any { return r.cfg.IDKey.NewHasher() }
	for range n {
		w.workers.Add(1)
		go w.work()
	}
	for range r.connections() {
		w.uploader.Add(1)
		go w.upload()
	}
	return w, nil
}

func (r *Repository) connections() int {
	if r.opts.Connections > 0 {
		return r.opts.Connections
	}
	return 2
}

func (r *Repository) workers() int {
	if r.opts.Workers > 0 {
		return r.opts.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// Stats returns the run's counters.
func (w *Writer) Stats() *WriterStats { return &w.stats }

// ID returns the keyed id of data.
func (w *Writer) ID(data []byte) crypt.ID {
	h := w.hashers.Get().(*crypt.Hasher)
	id := h.ID(data)
	w.hashers.Put(h)
	return id
}

func (w *Writer) fail(err error) {
	w.cancel(err)
}

// Err returns the first error of the run, if any.
func (w *Writer) Err() error {
	if w.ctx.Err() != nil {
		return context.Cause(w.ctx)
	}
	return nil
}

// Known reports whether blob id is stored or queued. A blob stored only in
// packs known to be damaged is unknown: it is stored again, so damage never
// spreads into new snapshots through dedup.
func (w *Writer) Known(id crypt.ID) bool {
	w.mu.Lock()
	_, ok := w.known[id]
	w.mu.Unlock()
	return ok || w.idx.HasUndamaged(id)
}

// Save stores a blob with the given id unless it is already stored. release
// (may be nil) is called once data is no longer needed. It blocks when the
// workers are busy, which is what bounds memory.
func (w *Writer) Save(typ format.BlobType, id crypt.ID, data []byte, release func()) error {
	if err := w.Err(); err != nil {
		if release != nil {
			release()
		}
		return err
	}
	w.mu.Lock()
	_, ok := w.known[id]
	if !ok {
		ok = w.idx.HasUndamaged(id)
		if !ok {
			w.known[id] = int64(len(data))
		}
	}
	w.mu.Unlock()
	if ok {
		if release != nil {
			release()
		}
		return nil
	}
	w.pending.Add(1)
	w.stats.BytesQueued.Add(int64(len(data)))
	select {
	case w.jobs <- blobJob{typ: typ, id: id, data: data, release: release}:
		return nil
	case <-w.ctx.Done():
		w.pending.Done()
		if release != nil {
			release()
		}
		return context.Cause(w.ctx)
	}
}

// Claim returns the plaintext bytes of the blobs among ids that this run
// stored and no earlier Claim counted: what one item of a run added, with
// a blob shared by items counted once, for the item that claims it first.
func (w *Writer) Claim(ids ...[]crypt.ID) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int64
	for _, list := range ids {
		for _, id := range list {
			if v, ok := w.known[id]; ok && v >= 0 {
				n += v
				w.known[id] = -1
			}
		}
	}
	return n
}

// SaveBlob hashes and stores one blob, returning its id.
func (w *Writer) SaveBlob(typ format.BlobType, data []byte) (crypt.ID, error) {
	id := w.ID(data)
	return id, w.Save(typ, id, data, nil)
}

func (w *Writer) work() {
	defer w.workers.Done()
	var comp, sealed []byte
	for j := range w.jobs {
		if w.ctx.Err() == nil {
			comp, sealed = w.seal(j, comp, sealed)
		}
		if j.release != nil {
			j.release()
		}
		w.pending.Done()
	}
}

// seal compresses and seals one blob and appends it to the current pack.
func (w *Writer) seal(j blobJob, comp, sealed []byte) ([]byte, []byte) {
	comp = w.enc.Append(comp[:0], j.data)
	s := w.session
	if j.typ == format.TypeRefs {
		s = w.r.meta
	}
	sealed = s.Seal(sealed[:0], comp, format.BlobAD(j.typ, j.id))
	if onSeal != nil {
		onSeal(j.typ, len(j.data))
	}
	w.stats.BlobsNew.Add(1)
	w.stats.BytesNew.Add(int64(len(j.data)))
	w.stats.BytesStored.Add(int64(len(sealed)))

	w.mu.Lock()
	if w.cur == nil {
		w.cur = &packBuf{buf: w.packBuffer()}
	}
	p := w.cur
	p.blobs = append(p.blobs, format.Blob{ID: j.id, Type: j.typ, Offset: uint64(len(p.buf)), Length: uint64(len(sealed)), PlainLen: uint64(len(j.data))})
	p.buf = append(p.buf, sealed...)
	var full *packBuf
	if len(p.buf) >= w.r.cfg.PackSize {
		full, w.cur = p, nil
	}
	w.mu.Unlock()
	if full != nil {
		w.queueUpload(full)
	}
	return comp, sealed
}

// packBuffer returns a recycled pack buffer or a new one: packs are the
// largest allocations, and recycling them keeps the heap flat.
func (w *Writer) packBuffer() []byte {
	select {
	case b := <-w.packMem:
		return b[:0]
	default:
		return make([]byte, 0, w.r.cfg.PackSize+(1<<20))
	}
}

// Buffer returns a buffer for chunk data with at least n bytes of capacity;
// pass the returned release func to Save.
func (w *Writer) Buffer(n int) ([]byte, func()) {
	var b []byte
	if p, ok := w.bufs.Get().(*[]byte); ok && cap(*p) >= n {
		b = (*p)[:0]
	} else {
		b = make([]byte, 0, n)
	}
	return b, func() { w.bufs.Put(&b) }
}

func (w *Writer) queueUpload(p *packBuf) {
	select {
	case w.uploads <- p:
	case <-w.ctx.Done():
	}
}

// finishPack appends the sealed header and its length.
func (w *Writer) finishPack(p *packBuf) {
	p.buf = sealPack(w.r.meta, p.buf, [][]byte{w.wrapped}, p.blobs)
}

// sealPack appends a pack's sealed header and its length to its blobs.
func sealPack(meta *crypt.Sealer, buf []byte, keys [][]byte, blobs []format.Blob) []byte {
	dataEnd := len(buf)
	buf = meta.Seal(buf, format.MarshalPackHeader(keys, blobs), format.ADPackHeader)
	return binary.LittleEndian.AppendUint32(buf, uint32(len(buf)-dataEnd))
}

func (w *Writer) upload() {
	defer w.uploader.Done()
	for p := range w.uploads {
		if w.ctx.Err() != nil {
			continue
		}
		w.finishPack(p)
		id := crypt.Hash(p.buf)
		h := backend.Handle{Type: backend.PackFile, Name: id.String()}
		if err := w.r.be.Save(w.ctx, h, backend.NewByteReader(p.buf)); err != nil {
			w.fail(fmt.Errorf("save pack: %w", err))
			continue
		}
		w.stats.Packs.Add(1)
		w.mu.Lock()
		w.packs = append(w.packs, format.Pack{ID: id, Size: int64(len(p.buf)), Keys: [][]byte{w.wrapped}, Blobs: p.blobs})
		w.indexBlobs += len(p.blobs)
		var full []format.Pack
		if w.indexBlobs >= maxIndexBlobs {
			full, w.packs, w.indexBlobs = w.packs, nil, 0
		}
		w.mu.Unlock()
		// A large run writes its index in parts as it goes: memory stays
		// bounded, and any index file listing durable packs is valid.
		if full != nil {
			if err := w.saveIndex(full); err != nil {
				w.fail(err)
				continue
			}
		}
		select {
		case w.packMem <- p.buf:
		default:
		}
	}
}

// Flush waits for every queued blob, uploads the last pack and writes the
// index file for the run's packs. After Flush every blob saved so far is
// durable and indexed, so a snapshot may reference it. The Writer cannot be
// used afterwards.
func (w *Writer) Flush() error {
	w.pending.Wait()
	close(w.jobs)
	w.workers.Wait()
	w.mu.Lock()
	last := w.cur
	w.cur = nil
	w.mu.Unlock()
	if last != nil && len(last.blobs) > 0 {
		w.queueUpload(last)
	}
	close(w.uploads)
	w.uploader.Wait()
	w.enc.Close()
	if err := w.Err(); err != nil {
		return err
	}
	if len(w.packs) == 0 {
		return nil
	}
	return w.saveIndex(w.packs)
}

// saveIndex writes an index file for packs that are durable.
func (w *Writer) saveIndex(packs []format.Pack) error {
	if _, err := w.r.saveSealedFile(w.ctx, backend.IndexFile, format.MarshalIndex(packs), format.ADIndex); err != nil {
		return fmt.Errorf("save index: %w", err)
	}
	// This process sees the run's blobs at once; the cache file learns
	// the index file at the next open.
	w.idx.AddOverlay(packs)
	return nil
}

// Abort stops the run; nothing it wrote is referenced, so leftovers are
// harmless and prune removes them.
func (w *Writer) Abort() {
	w.fail(errors.New("backup aborted"))
	w.pending.Wait()
	close(w.jobs)
	w.workers.Wait()
	close(w.uploads)
	w.uploader.Wait()
	w.enc.Close()
}

// StreamResult is what SaveStream stored.
type StreamResult struct {
	Chunks []crypt.ID
	Size   int64
}

// SaveStream chunks rd and saves each chunk. The chunker and hash run in the
// caller's goroutine; compression and sealing run on the workers.
func (w *Writer) SaveStream(rd io.Reader) (StreamResult, error) {
	var res StreamResult
	p := w.r.cfg.Chunker
	n := w.r.workers()*2 + 2
	bufs := make(chan []byte, n)
	for range n {
		bufs <- make([]byte, 0, p.Max) // a chunk never grows it
	}
	c := chunk.New(rd, p)
	h := w.r.cfg.IDKey.NewHasher()
	for {
		var buf []byte
		select {
		case buf = <-bufs:
		case <-w.ctx.Done():
			return res, context.Cause(w.ctx)
		}
		data, err := c.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, &SourceError{Err: err}
		}
		id := h.ID(data)
		res.Chunks = append(res.Chunks, id)
		res.Size += int64(len(data))
		if err := w.Save(format.TypeData, id, data, func() { bufs <- data[:0] }); err != nil {
			return res, err
		}
	}
	return res, nil
}

// SaveRefs stores an id list as refs blobs and returns their ids in order.
func (w *Writer) SaveRefs(ids []crypt.ID) ([]crypt.ID, error) {
	var out []crypt.ID
	for _, plain := range format.SplitRefs(ids) {
		id, err := w.SaveBlob(format.TypeRefs, plain)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}
