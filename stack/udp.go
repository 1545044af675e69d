package stack

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mrand "math/rand/v2"
)

// UDP (RFC 768). A UDPConn is a socket on one port of the stack: bound
// (ListenUDP, a net.PacketConn) or connected to one peer (DialUDP, also a
// net.Conn), as *net.UDPConn is. Arriving datagrams are demultiplexed by
// destination port and family on the input goroutine and copied into the
// socket's receive queue, a ring of pooled buffers bounded in datagrams
// (UDPQueueLen) and bytes (SetReadBuffer, default DefaultUDPReadBuffer,
// counting the pooled buffer each datagram holds, as Linux counts truesize);
// a datagram that does not fit is dropped and counted
// (Stats.UDP.RcvbufErrors), as Linux does when SO_RCVBUF is full. Sending
// never blocks: a datagram is built in a pooled buffer, written to the
// link (in fragments if it exceeds the MTU) and the buffer returned.
//
// A datagram to one of the stack's addresses and a port with no socket
// (or a connected socket whose peer is not the sender) gets an ICMP port
// unreachable (RFC 1122 4.1.3.1), within the stack's ICMP error rate
// limit. An ICMP error quoting a datagram of a connected socket is
// reported by the socket's next Read or Write (ECONNREFUSED for port
// unreachable), as Linux reports it; unconnected sockets ignore ICMP
// errors, as Linux does without IP_RECVERR.
//
// Lock order: UDPConn.mu and udpState.mu are never held together.

// Defaults for UDP sockets.
const (
	// DefaultUDPReadBuffer bounds the memory queued on a socket not yet
	// read: Linux's net.core.rmem_default (212992). A datagram counts
	// the buffer it is held in: about the MTU for one that fits it (some
	// 138 such datagrams), 16 or 64 KiB for larger ones.
	DefaultUDPReadBuffer = 212992
	// UDPQueueLen bounds the datagrams queued on a socket not yet read.
	UDPQueueLen = 512
	// maxUDPPayload4 and maxUDPPayload6 are the largest payloads a
	// datagram can carry: 65535 less the IPv4 and UDP headers; 65535 less
	// the UDP header for IPv6 (the payload length field counts no IPv6
	// header, RFC 8200 3).
	maxUDPPayload4 = 65535 - 20 - 8
	maxUDPPayload6 = 65535 - 8
	// udpMidBuf is the middle buffer class, between the MTU-sized output
	// buffers and 64 KiB: a jumbo frame's datagram, or a reassembled one
	// of a few fragments, without taking 64 KiB of a receive buffer.
	udpMidBuf = 16 << 10
)

// udpState is the stack's UDP state.
type udpState struct {
	mu    sync.RWMutex
	socks map[listenKey]*UDPConn // by local port and family; a dual-stack socket twice
	n     int                    // open sockets

	handler atomic.Pointer[UDPHandler] // transparent mode (udp_transparent.go)

	mid   sync.Pool     // udpMidBuf-byte buffers for datagrams beyond the MTU
	big   sync.Pool     // 64 KiB buffers for larger ones
	ipID  atomic.Uint32 // IPv4 identification of outgoing datagrams (RFC 6864 4.1)
	id6   atomic.Uint32 // IPv6 fragment identification of outgoing datagrams
	emit  func([]byte) error
	ready sync.Once

	inDatagrams, outDatagrams, noPorts, rcvbufErrors atomic.Uint64
	transparent, handlerPanics                       atomic.Uint64
	dHeader, dChecksum                               atomic.Uint64
}

// UDPStats counts UDP datagrams, as Linux's Udp: line in /proc/net/snmp.
type UDPStats struct {
	InDatagrams   uint64 // delivered to a socket's receive queue
	OutDatagrams  uint64 // sent by sockets and WriteUDPFrom
	NoPorts       uint64 // to a stack address and port with no socket to take them (ICMP port unreachable sent, rate permitting)
	RcvbufErrors  uint64 // dropped because the socket's receive queue was full
	Transparent   uint64 // handed to the transparent-mode handler (SetUDPHandler)
	HandlerPanics uint64 // handler calls that panicked (recovered)
	Sockets       uint64 // open sockets now
}

// stats fills st's UDP counters.
func (u *udpState) stats(st *Stats) {
	st.UDP = UDPStats{
		InDatagrams: u.inDatagrams.Load(), OutDatagrams: u.outDatagrams.Load(), NoPorts: u.noPorts.Load(),
		RcvbufErrors: u.rcvbufErrors.Load(), Transparent: u.transparent.Load(), HandlerPanics: u.handlerPanics.Load(),
	}
	u.mu.RLock()
	st.UDP.Sockets = uint64(u.n)
	u.mu.RUnlock()
	st.Dropped.UDPHeader = u.dHeader.Load()
	st.Dropped.UDPChecksum = u.dChecksum.Load()
}

// init prepares the send path, on first use.
func (s *Stack) udpInit() {
	u := &s.udp
	u.ready.Do(func() {
		u.mid.New = func() any { b := make([]byte, udpMidBuf); return &b }
		u.big.New = func() any { b := make([]byte, 65536+64); return &b }
		u.emit = s.writeFragment
		u.ipID.Store(mrand.Uint32())
		u.id6.Store(mrand.Uint32()) // RFC 7739: an unpredictable start
	})
}

// UDPConn is a UDP socket of a Stack. It implements net.PacketConn and,
// when connected (DialUDP), net.Conn; all methods are safe for concurrent
// use. Errors are *net.OpError as package net returns them.
type UDPConn struct {
	s      *Stack
	port   uint16
	fams   families
	laddr  *net.UDPAddr
	remote netip.AddrPort // the peer of a connected socket, else invalid
	raddr  *net.UDPAddr
	rdl    deadline
	wdl    deadline
	done   chan struct{} // closed by Close
	wake   chan struct{} // a token when the queue or soErr changes

	mu     sync.Mutex
	q      []udpDatagram // ring of queued datagrams
	head   int
	count  int
	bytes  int   // payload bytes queued
	rcvbuf int   // bound on bytes
	soErr  error // an ICMP error for a connected socket, reported once
	closed bool
}

var (
	_ net.PacketConn = (*UDPConn)(nil)
	_ net.Conn       = (*UDPConn)(nil)
)

// udpDatagram is one queued datagram: its payload in a pooled buffer.
type udpDatagram struct {
	bp   *[]byte
	n    int
	from netip.AddrPort
}

// ListenUDP opens a UDP socket, as net.ListenPacket(network, address):
// network "udp" (both families on the unspecified address or no host),
// "udp4" or "udp6"; address "host:port" where host is empty, unspecified
// or one of the stack's addresses. Port 0 picks a free ephemeral port. A
// port taken for that family is ErrAddrInUse (EADDRINUSE).
func (s *Stack) ListenUDP(network, address string) (*UDPConn, error) {
	fams, port, err := s.bindSpec(network, address, "udp")
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	c, err := s.bindUDP(fams, port, netip.AddrPort{})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return c, nil
}

// DialUDP returns a UDP socket connected to address ("ip:port", no name
// resolution), as net.Dial("udp", address): bound to the stack's address
// of the destination's family and a free ephemeral port; it receives only
// the peer's datagrams. network is "udp", "udp4" or "udp6". ctx is
// checked once: no packet is exchanged.
func (s *Stack) DialUDP(ctx context.Context, network, address string) (*UDPConn, error) {
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: network, Err: err} }
	ap, _, err := s.dialSpec(network, address, "udp")
	if err != nil {
		return nil, opErr(err)
	}
	if ap.Addr().IsUnspecified() {
		return nil, opErr(&net.AddrError{Err: "unspecified destination", Addr: address})
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(err)
	}
	c, err := s.bindUDP(famOf(ap.Addr()), 0, ap)
	if err != nil {
		return nil, opErr(err)
	}
	return c, nil
}

// bindUDP creates a socket on port (0: an ephemeral one) for fams,
// connected to remote if it is valid.
func (s *Stack) bindUDP(fams families, port uint16, remote netip.AddrPort) (*UDPConn, error) {
	select {
	case <-s.done:
		return nil, net.ErrClosed
	default:
	}
	s.udpInit()
	u := &s.udp
	u.mu.Lock()
	defer u.mu.Unlock()
	if port == 0 {
		p, ok := u.freePortLocked(fams)
		if !ok {
			return nil, ErrNoPorts
		}
		port = p
	}
	for _, f := range [...]families{fam4, fam6} {
		if fams&f != 0 && u.socks[listenKey{port, f}] != nil {
			return nil, ErrAddrInUse
		}
	}
	c := &UDPConn{s: s, port: port, fams: fams, remote: remote, rcvbuf: DefaultUDPReadBuffer,
		done: make(chan struct{}), wake: make(chan struct{}, 1), q: make([]udpDatagram, UDPQueueLen)}
	c.rdl.clock, c.wdl.clock = s.clock, s.clock
	c.laddr = &net.UDPAddr{IP: s.bindIP(fams), Port: int(port)}
	if remote.IsValid() {
		c.raddr = net.UDPAddrFromAddrPort(remote)
	}
	if u.socks == nil {
		u.socks = make(map[listenKey]*UDPConn)
	}
	for _, f := range [...]families{fam4, fam6} {
		if fams&f != 0 {
			u.socks[listenKey{port, f}] = c
		}
	}
	u.n++
	return c, nil
}

// freePortLocked picks a free ephemeral port for fams: RFC 6056 3.3.1
// (Algorithm 1, "Simple Port Randomization"), a random start and a linear
// search, as Linux does for UDP (udp_lib_get_port). The double-hash
// picker TCP uses (ports.go) exists to keep 4-tuples apart across
// TIME-WAIT; UDP has no TIME-WAIT, and a UDP port is exclusive whoever
// the peer is.
func (u *udpState) freePortLocked(fams families) (uint16, bool) {
	next := mrand.Uint32N(ephemeralN)
	for i := 0; i < ephemeralN; i++ {
		p := uint16(ephemeralLo + (next+uint32(i))%ephemeralN)
		if (fams&fam4 == 0 || u.socks[listenKey{p, fam4}] == nil) && (fams&fam6 == 0 || u.socks[listenKey{p, fam6}] == nil) {
			return p, true
		}
	}
	return 0, false
}

// lookup returns the socket on port for local's family, or nil. Input
// path; takes udpState.mu for reading.
func (u *udpState) lookup(port uint16, local netip.Addr) *UDPConn {
	u.mu.RLock()
	c := u.socks[listenKey{port, famOf(local)}]
	u.mu.RUnlock()
	return c
}

// Close closes the socket: blocked calls return net.ErrClosed, queued
// datagrams are discarded and the port is free again.
func (c *UDPConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	c.dropQueueLocked()
	c.mu.Unlock()
	u := &c.s.udp
	u.mu.Lock()
	for _, f := range [...]families{fam4, fam6} {
		if k := (listenKey{c.port, f}); u.socks[k] == c {
			delete(u.socks, k)
		}
	}
	u.n--
	u.mu.Unlock()
	close(c.done)
	c.rdl.stop()
	c.wdl.stop()
	return nil
}

// LocalAddr returns the socket's address, a *net.UDPAddr: the stack's
// address of its family, or [::] for a socket of both families.
func (c *UDPConn) LocalAddr() net.Addr {
	if c.remote.IsValid() {
		a, _ := c.s.addrFor(c.remote.Addr())
		return &net.UDPAddr{IP: a.AsSlice(), Port: int(c.port)}
	}
	return c.laddr
}

// RemoteAddr returns the peer of a connected socket, a *net.UDPAddr, or
// nil for an unconnected one (as *net.UDPConn).
func (c *UDPConn) RemoteAddr() net.Addr {
	if c.raddr == nil {
		return nil
	}
	return c.raddr
}

// SetDeadline sets the read and write deadlines (see SetReadDeadline).
func (c *UDPConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of Read and ReadFrom calls, blocked
// ones included: past it they fail with os.ErrDeadlineExceeded; the zero
// time clears it. It is read on the stack's Clock.
func (c *UDPConn) SetReadDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", net.ErrClosed)
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline of Write and WriteTo calls. Writes
// never block, so it only makes them fail once it has passed.
func (c *UDPConn) SetWriteDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", net.ErrClosed)
	}
	c.wdl.set(t)
	return nil
}

// SetReadBuffer bounds the memory queued for reading (SO_RCVBUF, default
// DefaultUDPReadBuffer), each datagram counted as the pooled buffer it
// takes (about the MTU, 16 KiB or 64 KiB). One datagram is always taken
// into an empty queue, whatever its size.
func (c *UDPConn) SetReadBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opError("set", syscall.EINVAL)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opError("set", net.ErrClosed)
	}
	c.rcvbuf = bytes
	return nil
}

func (c *UDPConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// opError wraps err as package net does.
func (c *UDPConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
