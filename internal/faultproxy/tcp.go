package faultproxy

import (
	"io"
	"net"
	"sync"
	"testing"
)

// TCP is a byte pipe on 127.0.0.1 to one server that can cut its
// connections with a TCP RST: for any protocol (S3, SSH).
type TCP struct {
	Addr string // 127.0.0.1:PORT

	target string
	l      net.Listener
	mu     sync.Mutex
	conns  map[*net.TCPConn]bool // both ends of every open pipe
	refuse bool
	cutAt  int64 // cut the next pipe that carries this many bytes upstream; 0: none
	stats  TCPStats
}

// TCPStats counts what the pipe did.
type TCPStats struct {
	Accepted, Refused, Cut int
}

// StartTCP starts a pipe to target (HOST:PORT) that lives until the test
// ends.
func StartTCP(t testing.TB, target string) *TCP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &TCP{Addr: l.Addr().String(), target: target, l: l, conns: map[*net.TCPConn]bool{}}
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// Close stops accepting and cuts every pipe.
func (p *TCP) Close() {
	p.l.Close()
	p.CutAll()
}

// Refuse makes new connections fail at once (a reset), as a server that
// is down; false lets them through again.
func (p *TCP) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = on
}

// CutAfter cuts the next pipe (one, once) that has carried n bytes from
// the client: an upload reset in the middle.
func (p *TCP) CutAfter(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutAt = n
}

// CutAll resets every open pipe, both ends.
func (p *TCP) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		rst(c)
	}
	if len(p.conns) > 0 {
		p.stats.Cut++
	}
	clear(p.conns)
}

// Stats returns the counts so far.
func (p *TCP) Stats() TCPStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func rst(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

func (p *TCP) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.pipe(c.(*net.TCPConn))
	}
}

func (p *TCP) pipe(client *net.TCPConn) {
	p.mu.Lock()
	p.stats.Accepted++
	refuse := p.refuse
	if refuse {
		p.stats.Refused++
	}
	p.mu.Unlock()
	if refuse {
		rst(client)
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		rst(client)
		return
	}
	server := up.(*net.TCPConn)
	p.mu.Lock()
	p.conns[client], p.conns[server] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { // server → client
		io.Copy(client, server)
		done <- struct{}{}
	}()
	go func() { // client → server, watching for the cut
		buf := make([]byte, 32<<10)
		var sent int64
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if _, werr := server.Write(buf[:n]); werr != nil {
					break
				}
				sent += int64(n)
				p.mu.Lock()
				cut := p.cutAt > 0 && sent >= p.cutAt
				if cut {
					p.cutAt = 0
					p.stats.Cut++
				}
				p.mu.Unlock()
				if cut {
					rst(client)
					rst(server)
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	<-done
	// One direction ended: end the other too.
	client.Close()
	server.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}
