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

// onSeal, set only by tests (export_test.go), is told the type, plaintext
// length and stored length of every new blob as it is sealed.
var onSeal func(typ format.BlobType, plainLen, storedLen int)

// Writer is one backup run's upload side: it names (for streams),
// deduplicates, compresses and seals blobs on a worker pool, fills packs
// and uploads them in the background, and at Flush writes the index file
// for the run's packs. A run has one random session key, wrapped to the
// data recipient and stored in every pack's key table; it is never written
// anywhere in the clear.
//
// Save methods are safe for concurrent use. Memory is bounded by the byte
// budget of queued blobs, the pack buffers and the upload queue, not by
// the data size.
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
	budget  *byteBudget // bytes of blobs queued or being sealed
	workers sync.WaitGroup
	pending sync.WaitGroup

	mu         sync.Mutex
	known      map[crypt.ID]int64 // saved or queued by this run: plaintext length, -1 once claimed
	cur        *packBuf
	packs      []format.Pack // uploaded, not yet in an index file
	indexBlobs int           // blobs of packs

	uploads    chan *packBuf
	uploader   sync.WaitGroup
	packMem    chan []byte // recycled pack buffers
	bufs       sync.Pool   // recycled chunk buffers (*[]byte)
	streamBufs sync.Pool   // recycled stream chunk buffers (*[]byte)

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
	cost    int64 // taken from the budget until the job is done

	// A stream's chunk comes unnamed: the worker hashes it, records its
	// id at seq in ids, and stores it only if it is new.
	ids *streamIDs
	seq int
}

// streamIDs collects one stream's chunk ids, in stream order, from the
// workers that name them.
type streamIDs struct {
	mu   sync.Mutex
	ids  []crypt.ID
	done sync.WaitGroup // chunks not yet named
}

func (s *streamIDs) add() int {
	s.done.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, crypt.ID{})
	return len(s.ids) - 1
}

func (s *streamIDs) set(seq int, id crypt.ID) {
	s.mu.Lock()
	s.ids[seq] = id
	s.mu.Unlock()
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
		budget:  newByteBudget(queueBudget(r.cfg.Chunker, n)),
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

// queueBudget is how many bytes of blobs may wait for or be in a worker:
// enough for about four mean chunks per worker, never under 32 MiB (with
// the pack buffers that bounds a run's memory, docs/architecture.md).
func queueBudget(p chunk.Params, workers int) int64 {
	mean := int64(p.Min) + 1<<p.AvgBits
	return max(32<<20, 4*int64(workers)*mean)
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
// (may be nil) is called once data is no longer needed. It blocks while the
// queue's byte budget is spent, which is what bounds memory.
func (w *Writer) Save(typ format.BlobType, id crypt.ID, data []byte, release func()) error {
	if err := w.Err(); err != nil {
		if release != nil {
			release()
		}
		return err
	}
	if !w.claimNew(id, len(data)) {
		if release != nil {
			release()
		}
		return nil
	}
	return w.queue(blobJob{typ: typ, id: id, data: data, release: release, cost: int64(len(data))})
}

// claimNew reports whether this run is to store blob id: it is neither in
// an undamaged pack nor saved by this run before. It then counts as saved.
func (w *Writer) claimNew(id crypt.ID, n int) bool {
	w.mu.Lock()
	_, ok := w.known[id]
	w.mu.Unlock()
	if ok || w.idx.HasUndamaged(id) {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.known[id]; ok {
		return false // another worker claimed it meanwhile
	}
	w.known[id] = int64(n)
	w.stats.BytesQueued.Add(int64(n))
	return true
}

// queue hands j to the workers once the budget has room for it.
func (w *Writer) queue(j blobJob) error {
	w.pending.Add(1)
	err := w.Err()
	if err == nil {
		err = w.budget.acquire(w.ctx, j.cost)
	}
	if err != nil {
		j.cost = 0
		w.done(j)
		return err
	}
	select {
	case w.jobs <- j:
		return nil
	case <-w.ctx.Done():
		w.done(j)
		return context.Cause(w.ctx)
	}
}

// done ends a job: its data released, its budget returned.
func (w *Writer) done(j blobJob) {
	if j.release != nil {
		j.release()
	}
	if j.cost > 0 {
		w.budget.release(j.cost)
	}
	if j.ids != nil {
		j.ids.done.Done()
	}
	w.pending.Done()
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
	h := w.r.cfg.IDKey.NewHasher()
	var comp, sealed []byte
	for j := range w.jobs {
		if w.ctx.Err() == nil {
			store := true
			if j.ids != nil {
				j.id = h.ID(j.data)
				j.ids.set(j.seq, j.id)
				store = w.claimNew(j.id, len(j.data))
			}
			if store {
				comp, sealed = w.seal(j, comp, sealed)
			}
		}
		w.done(j)
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
		onSeal(j.typ, len(j.data), len(sealed))
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

// SaveStream chunks rd and saves each chunk. Only the chunker runs in the
// caller's goroutine (cutting is sequential); the workers hash, dedup,
// compress and seal chunks in parallel, and the ids come back in stream
// order. Chunks in flight are bounded by the writer's byte budget.
func (w *Writer) SaveStream(rd io.Reader) (StreamResult, error) {
	var res StreamResult
	p := w.r.cfg.Chunker
	c := chunk.New(rd, p)
	st := &streamIDs{}
	for {
		buf := w.streamBuffer(p)
		data, err := c.Next(buf)
		if err != nil {
			w.streamBufs.Put(&buf)
			if err == io.EOF {
				break
			}
			return res, &SourceError{Err: err}
		}
		res.Size += int64(len(data))
		j := blobJob{typ: format.TypeData, data: data, cost: int64(cap(data)), ids: st, seq: st.add(),
			release: func() { w.streamBufs.Put(&data) }}
		if err := w.queue(j); err != nil {
			return res, err
		}
	}
	st.done.Wait()
	if err := w.Err(); err != nil {
		return res, err
	}
	res.Chunks = st.ids
	return res, nil
}

// streamBuffer returns a recycled chunk buffer, or a new one big enough for
// most chunks (the chunker grows it for the others).
func (w *Writer) streamBuffer(p chunk.Params) []byte {
	if b, ok := w.streamBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, min(int(p.Max), int(p.Min)+2<<p.AvgBits))
}

// SaveRefs stores a stream item's id list as refs blobs and returns their
// ids in order.
func (w *Writer) SaveRefs(ids []crypt.ID) ([]crypt.ID, error) {
	return w.saveRefs(format.SplitRefs(ids))
}

// SaveTreeRefs stores a tree item's id list as refs blobs and returns their
// ids in order.
func (w *Writer) SaveTreeRefs(ids []crypt.ID) ([]crypt.ID, error) {
	return w.saveRefs(format.SplitTreeRefs(ids))
}

func (w *Writer) saveRefs(blobs [][]byte) ([]crypt.ID, error) {
	var out []crypt.ID
	for _, plain := range blobs {
		id, err := w.SaveBlob(format.TypeRefs, plain)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}
