package sftp

import (
	"encoding/binary"
	"io"
	"sync"
	"time"
)

// The stall bound. ssh's ServerAliveInterval notices a server or network
// that went silent, but not a server that answers ssh's keepalives while
// its SFTP side hangs (a filesystem stuck under sftp-server, a wedged
// storage box): requests would wait forever. So each connection counts the
// SFTP packets it sends and the answers it gets (every SFTP v3 request has
// exactly one), and when answers are awaited and no byte has moved either
// way for the timeout, it ends ssh. The calls then fail as a lost
// connection, which package retry tries again on a new one. An idle
// connection is never ended: nothing is awaited.

// framer follows the packets of one direction of an SFTP stream: each is
// a uint32 length and that many bytes.
type framer struct {
	hdr  [4]byte
	nhdr int    // header bytes seen of the current packet
	left uint32 // body bytes still to come of the current packet
}

// feed takes the next bytes of the stream and returns how many packets
// began and how many ended in them.
func (f *framer) feed(p []byte) (began, ended int) {
	for len(p) > 0 {
		if f.left == 0 {
			if f.nhdr == 0 {
				began++
			}
			k := copy(f.hdr[f.nhdr:], p)
			f.nhdr += k
			p = p[k:]
			if f.nhdr == len(f.hdr) {
				f.nhdr = 0
				if f.left = binary.BigEndian.Uint32(f.hdr[:]); f.left == 0 {
					ended++
				}
			}
			continue
		}
		k := uint32(min(len(p), int(min(f.left, 1<<30))))
		f.left -= k
		p = p[k:]
		if f.left == 0 {
			ended++
		}
	}
	return began, ended
}

// watch is what a connection's stall bound looks at.
type watch struct {
	now func() time.Time

	mu        sync.Mutex
	out, in   framer
	sent, got int       // requests begun, answers whole
	last      time.Time // the last byte moved, or the first request after an idle spell
}

// sending records p about to go to the server.
func (w *watch) sending(p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	began, _ := w.out.feed(p)
	if began > 0 && w.sent == w.got {
		w.last = w.now() // the wait starts now, not when the connection went idle
	}
	w.sent += began
}

// moved records that n bytes went either way (n > 0), and the answers
// that ended in the bytes received.
func (w *watch) moved(received []byte, n int) {
	if n <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if received != nil {
		_, ended := w.in.feed(received)
		w.got += ended
	}
	w.last = w.now()
}

// stalled reports whether answers are awaited and nothing moved for
// timeout, at now.
func (w *watch) stalled(now time.Time, timeout time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent > w.got && now.Sub(w.last) >= timeout
}

// watchedWriter is ssh's stdin, seen by w.
type watchedWriter struct {
	w  io.WriteCloser
	wt *watch
}

func (x *watchedWriter) Write(p []byte) (int, error) {
	x.wt.sending(p)
	n, err := x.w.Write(p)
	x.wt.moved(nil, n)
	return n, err
}

func (x *watchedWriter) Close() error { return x.w.Close() }

// watchedReader is ssh's stdout, seen by w.
type watchedReader struct {
	r  io.Reader
	wt *watch
}

func (x *watchedReader) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	x.wt.moved(p[:n], n)
	return n, err
}
