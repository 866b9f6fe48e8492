package sftp

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
)

// packets returns n SFTP-framed packets of random sizes (0 included).
func packets(r *rand.Rand, n int) []byte {
	var b []byte
	for range n {
		body := make([]byte, r.IntN(3)*r.IntN(40000))
		b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
		b = append(b, body...)
	}
	return b
}

// TestFramer: however the stream is cut into writes, each packet begins
// once and ends once, at its last byte.
func TestFramer(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		n := 1 + r.IntN(20)
		stream := packets(r, n)
		var f framer
		began, ended := 0, 0
		for len(stream) > 0 {
			k := min(len(stream), 1+r.IntN(9000))
			if r.IntN(4) == 0 {
				k = min(len(stream), 1+r.IntN(5)) // cut inside a header
			}
			b, e := f.feed(stream[:k])
			began += b
			ended += e
			stream = stream[k:]
			if began-ended > 1 || began < ended {
				t.Fatalf("case %d: began %d, ended %d mid-stream", i, began, ended)
			}
		}
		if began != n || ended != n {
			t.Fatalf("case %d: %d packets, began %d, ended %d", i, n, began, ended)
		}
	}
}

// TestWatch: stalled only while an answer is awaited and nothing moved for
// the timeout; an idle connection never is, however long it idles.
func TestWatch(t *testing.T) {
	now := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	w := &watch{now: func() time.Time { return now }}
	const timeout = time.Minute
	req := binary.BigEndian.AppendUint32(nil, 5)
	req = append(req, 1, 0, 0, 0, 7)

	now = now.Add(time.Hour) // idle
	if w.stalled(now, timeout) {
		t.Fatal("idle connection stalled")
	}
	w.sending(req[:3]) // a request begins: the wait starts now
	w.moved(nil, 3)
	if w.stalled(now.Add(timeout-time.Second), timeout) {
		t.Fatal("stalled before the timeout")
	}
	w.sending(req[3:])
	now = now.Add(30 * time.Second)
	w.moved(nil, len(req)-3)
	if w.stalled(now.Add(timeout-time.Second), timeout) || !w.stalled(now.Add(timeout), timeout) {
		t.Fatal("the last byte sent did not restart the bound")
	}
	// Half the answer arrives: progress, still awaited.
	now = now.Add(50 * time.Second)
	w.moved(req[:4], 4)
	if w.stalled(now.Add(timeout-time.Second), timeout) || !w.stalled(now.Add(timeout), timeout) {
		t.Fatal("half an answer: want the bound restarted, and still awaited")
	}
	w.moved(req[4:], len(req)-4)
	if w.stalled(now.Add(24*time.Hour), timeout) {
		t.Fatal("stalled with every answer in")
	}
}

// TestDefaults: the timeout becomes ssh's ConnectTimeout and keepalives of
// about the same total.
func TestDefaults(t *testing.T) {
	for d, want := range map[time.Duration][3]string{
		2 * time.Minute:        {"120", "30", "4"},
		10 * time.Second:       {"10", "2", "4"},
		2 * time.Second:        {"2", "1", "2"},
		300 * time.Millisecond: {"1", "1", "1"},
		90*time.Second + 1:     {"91", "22", "4"},
	} {
		got := defaults(d)
		for i, k := range []string{"ConnectTimeout=", "ServerAliveInterval=", "ServerAliveCountMax="} {
			if got[2*i+1] != k+want[i] {
				t.Errorf("timeout %v: %q, want %s%s", d, got, k, want[i])
			}
		}
	}
}
