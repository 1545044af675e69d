package stack

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
)

// Transparent TCP: connections to any destination in
// Options.TransparentPrefixes that no listener claims are offered to the
// program (SetTCPForwarder) before the stack answers the SYN, so that a
// proxy or VPN endpoint can reach the real destination first and then
// accept (the client sees the handshake complete only if the destination
// was reachable), refuse (RST or an ICMP error, as the destination's
// network would have answered) or drop.
//
// A SYN is a pending request until the handler answers. Pending requests
// cost no goroutine and no timer each (one list in arrival order and one
// timer for the oldest deadline), and cannot leak: one left unanswered
// for PendingTimeout is refused on the program's behalf. Their number is
// bounded per source address and in all; at either bound a new SYN is
// dropped (or reset, TCPForwarderConfig.ResetAtLimit) and counted, while
// the requests already pending go on unaffected. The client's
// retransmissions of a pending SYN are absorbed (the handler is called once
// per request), and its RST ends the request.

// Defaults for the zero fields of TCPForwarderConfig.
const (
	// DefaultForwardPendingTimeout is how long a request may stay
	// unanswered: longer than a proxy's upstream connect normally takes,
	// shorter than a client's own connect timeout (Linux: about 127 s,
	// six SYN retransmissions).
	DefaultForwardPendingTimeout = 20 * time.Second
	// DefaultForwardMaxPending bounds the pending requests in all.
	DefaultForwardMaxPending = 4096
	// DefaultForwardMaxPendingPerSource bounds those of one source address.
	DefaultForwardMaxPendingPerSource = 256
)

// TCPForwarderConfig bounds a stack's pending TCP forwarding requests.
type TCPForwarderConfig struct {
	// PendingTimeout is the deadline for the handler's answer (default
	// DefaultForwardPendingTimeout); past it the request is refused with
	// TimeoutRefusal and Accept on it fails with ErrRequestExpired.
	PendingTimeout time.Duration
	// TimeoutRefusal is how an expired request is refused (default
	// RefuseReset).
	TimeoutRefusal Refusal
	// MaxPending and MaxPendingPerSource bound the pending requests in
	// all and per client address (defaults DefaultForwardMaxPending,
	// DefaultForwardMaxPendingPerSource). A SYN beyond either bound is
	// dropped (the client retransmits it later, when a slot may be free)
	// or, with ResetAtLimit, answered with a RST (the client fails at
	// once); either way it is counted (ForwardStats.Limited,
	// SourceLimited) and the handler is not called.
	MaxPending, MaxPendingPerSource int
	ResetAtLimit                    bool
}

// Refusal says how a forwarding request is refused.
type Refusal uint8

const (
	// RefuseReset answers the SYN with a RST (RFC 9293 3.10.7.1): the
	// client's connect fails with ECONNREFUSED.
	RefuseReset Refusal = iota
	// RefuseNetUnreachable answers with an ICMP destination unreachable,
	// network unreachable (RFC 792 code 0; ICMPv6 no route, RFC 4443 3.1
	// code 0).
	RefuseNetUnreachable
	// RefuseHostUnreachable: host unreachable (RFC 792 code 1; ICMPv6
	// address unreachable, code 3). Linux fails the connect with
	// EHOSTUNREACH.
	RefuseHostUnreachable
	// RefuseProhibited: communication administratively prohibited (RFC
	// 1812 5.2.7.1, code 13; ICMPv6 code 1).
	RefuseProhibited
	// RefuseDrop sends nothing: the client retransmits its SYN, which is
	// then a new request.
	RefuseDrop
)

// String names r.
func (r Refusal) String() string {
	switch r {
	case RefuseReset:
		return "reset"
	case RefuseNetUnreachable:
		return "net-unreachable"
	case RefuseHostUnreachable:
		return "host-unreachable"
	case RefuseProhibited:
		return "prohibited"
	case RefuseDrop:
		return "drop"
	}
	return fmt.Sprintf("Refusal(%d)", uint8(r))
}

// RefusalFor maps an error from dialing the destination upstream to the
// refusal that tells the client the same: a refused connection a RST, an
// unreachable network or host the ICMP error, a permission error
// (a firewall) administratively prohibited, anything else (a timeout)
// host unreachable.
func RefusalFor(err error) Refusal {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return RefuseReset
	case errors.Is(err, syscall.ENETUNREACH):
		return RefuseNetUnreachable
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return RefuseProhibited
	}
	return RefuseHostUnreachable
}

var (
	// ErrRequestAnswered is returned by TCPRequest methods once the
	// request has been accepted, refused or dropped.
	ErrRequestAnswered = errors.New("stack: forwarding request already answered")
	// ErrRequestExpired is returned by TCPRequest.Accept after the
	// request's PendingTimeout passed (it was refused automatically).
	ErrRequestExpired = errors.New("stack: forwarding request expired unanswered")
	// ErrNoTransparentPrefixes is returned by SetTCPForwarder and
	// SetUDPHandler on a stack without Options.TransparentPrefixes: no
	// packet could reach the handler.
	ErrNoTransparentPrefixes = errors.New("stack: transparent mode (SetTCPForwarder, SetUDPHandler) needs Options.TransparentPrefixes")
)

// ForwardStats counts TCP forwarding requests (Stats.Forward). All fields
// count events except Pending.
type ForwardStats struct {
	Pending        uint64 // requests waiting for an answer now
	Requests       uint64 // SYNs handed to the handler (one per request)
	Accepted       uint64 // requests accepted (a connection made)
	Refused        uint64 // refused by the handler (RST or ICMP), panics included
	Dropped        uint64 // dropped by the handler (RefuseDrop)
	Expired        uint64 // unanswered for PendingTimeout: refused by the stack
	Panics         uint64 // handler calls that panicked (the request is refused with a RST)
	SYNRetransmits uint64 // retransmitted SYNs of pending requests, absorbed
	PeerResets     uint64 // pending requests ended by the client's RST
	Limited        uint64 // SYNs turned away: MaxPending requests pending
	SourceLimited  uint64 // SYNs turned away: MaxPendingPerSource from that address pending
}

// TCPRequest is a SYN to a transparent destination that no listener
// claims, waiting for the handler's answer: exactly one of Accept, Refuse
// (or Drop) takes effect, from any goroutine, within the PendingTimeout.
type TCPRequest struct {
	fw       *forwarder
	key      tcp.Tuple
	deadline time.Time

	// Guarded by forwarder.mu.
	syn        segment.Segment // the latest SYN, without payload
	after      *tcp.TimeWait   // the TIME-WAIT record the SYN reopens, or nil
	prev, next *TCPRequest     // the pending list, in arrival order
	state      reqState
	refusal    Refusal // to send once the handler returns (deferred)
}

type reqState uint8

const (
	reqPending reqState = iota
	reqAccepted
	reqRefused
	reqExpired
	reqPeerReset
	reqClosed
)

// Source returns the client's address and port.
func (r *TCPRequest) Source() netip.AddrPort {
	return netip.AddrPortFrom(r.key.RemoteAddr, r.key.RemotePort)
}

// Destination returns the address and port the client connects to: the
// accepted connection's LocalAddr.
func (r *TCPRequest) Destination() netip.AddrPort {
	return netip.AddrPortFrom(r.key.LocalAddr, r.key.LocalPort)
}

// Accept answers the SYN with a SYN-ACK and returns the connection, a
// *Conn whose LocalAddr is the destination and RemoteAddr the client. It
// does not wait for the handshake to complete: Writes are queued until it
// does, Reads wait for data, and if the client has gone meanwhile (its RST
// answers the SYN-ACK) they fail with ECONNRESET. Accept fails with
// ECONNRESET if the client reset the request, ErrRequestExpired after the
// PendingTimeout, ErrRequestAnswered after another answer, and
// ErrStackClosed after Close.
func (r *TCPRequest) Accept() (net.Conn, error) {
	fw := r.fw
	s := fw.s
	c := s.newConn(r.key)
	c.mu.Lock()
	s.mu.Lock()
	fw.mu.Lock()
	err := r.answerableLocked()
	if err == nil && !s.insertConnLocked(c) {
		err = s.closedErrLocked("accept")
	}
	if err != nil {
		fw.mu.Unlock()
		s.mu.Unlock()
		c.unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Source: c.laddr(), Addr: c.raddr(), Err: err}
	}
	fw.removeLocked(r, reqAccepted)
	fw.ctr.Accepted++
	syn, after := r.syn, r.after
	fw.mu.Unlock()
	s.mu.Unlock()
	now := s.now()
	iss := s.isn.ISN(r.key, now)
	if after != nil {
		// RFC 1122 4.2.2.13 / RFC 6191: beyond the old incarnation.
		iss = after.NextISS(iss)
	}
	c.tc.AcceptSYN(now, iss, &syn)
	c.afterLocked(now)
	c.unlock()
	return c, nil
}

// Refuse answers the request as how says (a RST, an ICMP error or
// nothing). ICMP errors are rate-limited with the stack's other ICMP
// errors (Stats.ICMPRateLimited). It returns ErrRequestAnswered (or
// ErrRequestExpired) if the request was already answered. It may be
// called from the TCP handler or any goroutine of the program, but not
// from the stack's other callbacks on its input goroutine (the UDP
// handler, Options.Trace): a RST or ICMP refusal is written with the
// input goroutine's buffers, which it would wait for.
func (r *TCPRequest) Refuse(how Refusal) error {
	if how > RefuseDrop {
		return fmt.Errorf("stack: unknown %v", how)
	}
	return r.fw.refuse(r, how, false)
}

// Drop is Refuse(RefuseDrop).
func (r *TCPRequest) Drop() error { return r.Refuse(RefuseDrop) }

// answerableLocked says why r can no longer be answered, or nil.
func (r *TCPRequest) answerableLocked() error {
	switch r.state {
	case reqPending:
		return nil
	case reqExpired:
		return ErrRequestExpired
	case reqPeerReset:
		return syscall.ECONNRESET
	case reqClosed:
		return net.ErrClosed
	}
	return ErrRequestAnswered
}

// forwarder holds a stack's pending requests. Lock order: Conn.mu,
// Stack.mu, forwarder.mu (innermost). Stack.inMu, when held, is taken
// before all of them; refusals that need it (they write from the input
// goroutine's buffers) are therefore never sent with forwarder.mu held.
type forwarder struct {
	s *Stack

	mu      sync.Mutex
	handler func(*TCPRequest)
	cfg     TCPForwarderConfig
	pending map[tcp.Tuple]*TCPRequest
	perSrc  map[netip.Addr]int
	head    *TCPRequest // oldest pending request (earliest deadline)
	tail    *TCPRequest
	timer   timers.Timer
	armed   bool
	armedAt time.Time
	closed  bool
	// inHandler says the input goroutine, holding Stack.inMu, is inside
	// the handler: refusals answered meanwhile (by the handler itself or
	// any goroutine) wait in deferred for it to send them.
	inHandler bool
	deferred  []*TCPRequest
	ctr       ForwardStats // Pending is len(pending)

	scratch []byte // the SYN rebuilt for an ICMP error's quote (Stack.inMu)
}

// SetTCPForwarder sets the handler for SYNs to destinations in
// Options.TransparentPrefixes that no listener claims (the stack's own
// addresses go to its listeners as before). The handler runs on the
// stack's input goroutine, once per request: it must not block (start a
// goroutine to dial upstream, then Accept or Refuse from it); a panic in
// it is recovered and the request refused with a RST (ForwardStats.Panics).
// A nil handler turns forwarding off: such SYNs get a RST again. cfg's
// zero fields take the documented defaults.
func (s *Stack) SetTCPForwarder(h func(*TCPRequest), cfg TCPForwarderConfig) error {
	if len(s.opts.TransparentPrefixes) == 0 && h != nil {
		return ErrNoTransparentPrefixes
	}
	if cfg.PendingTimeout <= 0 {
		cfg.PendingTimeout = DefaultForwardPendingTimeout
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultForwardMaxPending
	}
	if cfg.MaxPendingPerSource <= 0 {
		cfg.MaxPendingPerSource = DefaultForwardMaxPendingPerSource
	}
	if cfg.TimeoutRefusal > RefuseDrop {
		return fmt.Errorf("stack: TCPForwarderConfig.TimeoutRefusal: unknown %v", cfg.TimeoutRefusal)
	}
	fw := &s.fwd
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.s = s
	fw.handler, fw.cfg = h, cfg
	if fw.pending == nil {
		fw.pending = make(map[tcp.Tuple]*TCPRequest)
		fw.perSrc = make(map[netip.Addr]int)
	}
	return nil
}

// stats returns the forwarding counters.
func (fw *forwarder) stats() ForwardStats {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	st := fw.ctr
	st.Pending = uint64(len(fw.pending))
	return st
}

// close ends every pending request (Stack.Close): Accept on them fails.
func (fw *forwarder) close() {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.closed = true
	for fw.head != nil {
		fw.removeLocked(fw.head, reqClosed)
	}
	if fw.timer != nil {
		fw.timer.Stop()
	}
	fw.armed = false
}

// removeLocked takes r off the pending list in state st.
func (fw *forwarder) removeLocked(r *TCPRequest, st reqState) {
	r.state = st
	delete(fw.pending, r.key)
	if n := fw.perSrc[r.key.RemoteAddr] - 1; n > 0 {
		fw.perSrc[r.key.RemoteAddr] = n
	} else {
		delete(fw.perSrc, r.key.RemoteAddr)
	}
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		fw.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		fw.tail = r.prev
	}
	r.prev, r.next = nil, nil
}

// refuse ends r with how; timeout says the stack does it (expiry).
func (fw *forwarder) refuse(r *TCPRequest, how Refusal, timeout bool) error {
	fw.mu.Lock()
	if err := r.answerableLocked(); err != nil {
		fw.mu.Unlock()
		return err
	}
	switch {
	case timeout:
		fw.removeLocked(r, reqExpired)
		fw.ctr.Expired++
	case how == RefuseDrop:
		fw.removeLocked(r, reqRefused)
		fw.ctr.Dropped++
	default:
		fw.removeLocked(r, reqRefused)
		fw.ctr.Refused++
	}
	if how == RefuseDrop {
		fw.mu.Unlock()
		return nil
	}
	r.refusal = how
	if fw.inHandler {
		fw.deferred = append(fw.deferred, r)
		fw.mu.Unlock()
		return nil
	}
	fw.mu.Unlock()
	s := fw.s
	s.inMu.Lock()
	fw.sendRefusal(r)
	s.inMu.Unlock()
	return nil
}
