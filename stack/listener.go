package stack

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Listener accepts connections on one port of a Stack. It implements
// net.Listener and is safe for concurrent use.
//
// It has two bounded queues: the accept queue (Options.Backlog) of
// established connections not yet returned by Accept, and the half-open
// (SYN) queue (Options.SynBacklog). When the accept queue is full, new SYNs
// and handshake-completing ACKs are dropped (the peers retransmit); when the
// SYN queue is full, SYNs are answered with SYN cookies (RFC 4987 3.6), so
// that a SYN flood cannot lock legitimate clients out.
type Listener struct {
	s       *Stack
	port    uint16
	fams    families // the address families it accepts
	addr    *net.TCPAddr
	acceptq chan *Conn
	done    chan struct{}
	once    sync.Once
	dl      deadline // SetDeadline: Accept's deadline

	// Guarded by Stack.mu.
	synq   int  // half-open connections (SYN-RECEIVED), reserved slots included
	closed bool // no longer in the listener table
}

var _ net.Listener = (*Listener)(nil)

// families is a set of address families.
type families uint8

const (
	fam4 families = 1 << iota
	fam6
)

// famOf returns a's family.
func famOf(a netip.Addr) families {
	if a.Is4() {
		return fam4
	}
	return fam6
}

// listenKey is the listener table's key: a port of one family. A listener
// of both families ("tcp" on the unspecified address) is entered twice.
type listenKey struct {
	port uint16
	fam  families
}

// listenerFor returns the listener for port on local's family, or nil.
// Stack.mu held.
func (s *Stack) listenerFor(port uint16, local netip.Addr) *Listener {
	return s.listeners[listenKey{port, famOf(local)}]
}

// listeningLocked reports whether a listener takes port on local's family.
func (s *Stack) listeningLocked(port uint16, local netip.Addr) bool {
	return s.listenerFor(port, local) != nil
}

// Listen announces on the stack's addresses, as net.Listen("tcp", address)
// does: address is ":port", "0.0.0.0:port" or "[::]:port" (both families,
// the stack's IPv4 and IPv6 addresses), or "<stack address>:port" (that
// address only); port 0 picks a free port (see Listener.Addr).
func (s *Stack) Listen(address string) (net.Listener, error) {
	l, err := s.ListenTCP(address)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// ListenTCP is Listen returning the concrete *Listener.
func (s *Stack) ListenTCP(address string) (*Listener, error) {
	return s.ListenNet("tcp", address)
}

// ListenNet is ListenTCP with a network, as net.Listen: "tcp" (both
// families), "tcp4" or "tcp6" (one family, as IPV6_V6ONLY; a "tcp4" and a
// "tcp6" listener may share a port).
func (s *Stack) ListenNet(network, address string) (*Listener, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Source: nil, Addr: nil, Err: err}
	}
	fams, p, err := s.bindSpec(network, address, "tcp")
	if err != nil {
		return nil, opErr(err)
	}
	port := uint64(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, s.closedErrLocked("listen")
	}
	if port == 0 {
		p, ok := s.freeListenPortLocked()
		if !ok {
			return nil, opErr(ErrNoPorts)
		}
		port = uint64(p)
	}
	for _, f := range [...]families{fam4, fam6} {
		if fams&f != 0 && s.listeners[listenKey{uint16(port), f}] != nil {
			return nil, opErr(ErrAddrInUse)
		}
	}
	l := &Listener{
		s:       s,
		port:    uint16(port),
		fams:    fams,
		addr:    &net.TCPAddr{IP: s.bindIP(fams), Port: int(port)},
		acceptq: make(chan *Conn, s.opts.Backlog),
		done:    make(chan struct{}),
	}
	l.dl.clock = s.clock
	for _, f := range [...]families{fam4, fam6} {
		if fams&f != 0 {
			s.listeners[listenKey{l.port, f}] = l
		}
	}
	s.nListeners++
	return l, nil
}

// freeListenPortLocked finds an ephemeral port with no listener and no
// connection using it locally.
func (s *Stack) freeListenPortLocked() (uint16, bool) {
	used := make(map[uint16]bool)
	for t := range s.conns {
		used[t.LocalPort] = true
	}
	for p := ephemeralLo; p <= ephemeralHi; p++ {
		if s.listeners[listenKey{uint16(p), fam4}] == nil && s.listeners[listenKey{uint16(p), fam6}] == nil && !used[uint16(p)] {
			return uint16(p), true
		}
	}
	return 0, false
}

// Accept waits for and returns the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptTCP is Accept returning the concrete *Conn.
//
// It fails with net.ErrClosed after Close, with os.ErrDeadlineExceeded (a
// timeout) once the deadline set by SetDeadline passes, and with the
// stack's error (Stack.Err) when the link fails under the stack.
func (l *Listener) AcceptTCP() (*Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: err}
	}
	for {
		select {
		case <-l.done:
			return nil, opErr(net.ErrClosed)
		default:
		}
		if l.dl.isExpired() {
			return nil, opErr(os.ErrDeadlineExceeded)
		}
		select {
		case c := <-l.acceptq:
			return c, nil
		case <-l.done:
			return nil, opErr(net.ErrClosed)
		case <-l.dl.wait():
		case <-l.s.linkDone:
			if err := l.s.Err(); err != nil {
				return nil, opErr(err)
			}
			return nil, opErr(net.ErrClosed)
		}
	}
}

// SetDeadline sets the deadline for Accept calls, pending ones included,
// as (*net.TCPListener).SetDeadline: past it Accept returns an error
// wrapping os.ErrDeadlineExceeded; the zero time clears it. The time is
// read on the stack's Clock. After Close it returns net.ErrClosed.
func (l *Listener) SetDeadline(t time.Time) error {
	select {
	case <-l.done:
		return &net.OpError{Op: "set", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	default:
	}
	l.dl.set(t)
	return nil
}

// Close stops listening. Blocked Accepts return net.ErrClosed; connections
// still half-open or waiting in the accept queue are reset (as Linux does).
// Connections already accepted are not affected.
func (l *Listener) Close() error {
	first := false
	l.once.Do(func() { first = true })
	if !first {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	s := l.s
	s.mu.Lock()
	l.closed = true
	for _, f := range [...]families{fam4, fam6} {
		if k := (listenKey{l.port, f}); s.listeners[k] == l {
			delete(s.listeners, k)
		}
	}
	s.nListeners--
	var half []*Conn
	for _, c := range s.conns {
		if c.listener == l && !c.queued {
			half = append(half, c)
		}
	}
	s.mu.Unlock()
	close(l.done)
	l.dl.stop()
	for _, c := range half {
		c.abort()
	}
	for {
		select {
		case c := <-l.acceptq:
			c.abort()
			c.Close()
		default:
			return nil
		}
	}
}

// Addr returns the listener's address, a *net.TCPAddr.
func (l *Listener) Addr() net.Addr { return l.addr }
