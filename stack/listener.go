package stack

import (
	"net"
	"net/netip"
	"os"
	"strconv"
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

// Listen announces on the stack's address. address is ":port",
// "0.0.0.0:port" or "<stack address>:port"; port 0 picks a free port (see
// Listener.Addr).
func (s *Stack) Listen(address string) (net.Listener, error) {
	l, err := s.ListenTCP(address)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// ListenTCP is Listen returning the concrete *Listener.
func (s *Stack) ListenTCP(address string) (*Listener, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: "tcp", Source: nil, Addr: nil, Err: err}
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opErr(err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, opErr(err)
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return nil, opErr(err)
		}
		if a = a.Unmap(); !a.IsUnspecified() && a != s.addr {
			return nil, opErr(ErrNotOurAddr)
		}
	}
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
	if _, ok := s.listeners[uint16(port)]; ok {
		return nil, opErr(ErrAddrInUse)
	}
	l := &Listener{
		s:       s,
		port:    uint16(port),
		addr:    &net.TCPAddr{IP: s.addr.AsSlice(), Port: int(port)},
		acceptq: make(chan *Conn, s.opts.Backlog),
		done:    make(chan struct{}),
	}
	l.dl.clock = s.clock
	s.listeners[l.port] = l
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
		if _, ok := s.listeners[uint16(p)]; !ok && !used[uint16(p)] {
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
	if s.listeners[l.port] == l {
		delete(s.listeners, l.port)
	}
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
