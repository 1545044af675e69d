package stack

import (
	"net/netip"
	"syscall"

	"github.com/tunstack/tunstack/segment"
)

// IPv6 input (RFC 8200) and ICMPv6 (RFC 4443). A TUN has no link layer,
// so there is no neighbour discovery (RFC 4861) to do: the kernel routes
// to the device and the stack answers for its one IPv6 address. What the
// kernel sends on its own (router solicitations, MLD reports, to
// multicast groups) is not addressed to the stack and is dropped and
// counted as such (Stats.Dropped.NotOurs).

// input6 processes an IPv6 packet.
func (s *Stack) input6(pkt []byte, csumOK bool) {
	c := &s.ctr
	ch := &s.inChain
	err := segment.WalkIPv6(pkt, ch)
	if err != nil && !ch.Problem && !ipv6HeaderIntact(err) {
		s.countDrop(err)
		return
	}
	ip := segment.IPv6(pkt)
	src, dst := ip.Src(), ip.Dst()
	// RFC 8200 4 / RFC 4291 2.7: only our unicast address is ours; the
	// kernel's multicast (router solicitations, MLD) is not for us.
	// UDP fragments to a transparent destination are reassembled (a
	// fragment's ch.Protocol is its fragment header's next header); TCP
	// does not need it.
	if dst != s.addr6 &&
		(err != nil || (ch.HasFragment && !ch.Fragment.Atomic() && ch.Protocol != segment.ProtocolUDP) ||
			!s.transparentDst(dst, ch.Protocol)) {
		c.dNotOurs.Add(1)
		return
	}
	if invalidSource6(src, s.addr6) && !(s.inLoop && src == s.addr6) {
		c.dInvalid.Add(1)
		return
	}
	if err != nil {
		// RFC 8200 4, 4.2, 4.4, 4.5 and RFC 7112 5: a Parameter
		// Problem where the walker says the RFCs ask for one.
		s.countDrop(err)
		if ch.Problem {
			s.sendICMPv6Error(pkt, segment.ICMPv6TypeParamProblem, ch.ProblemCode, ch.Pointer)
		}
		return
	}
	if ch.HasFragment && !ch.Fragment.Atomic() {
		// RFC 8200 4.5: reassemble; an atomic fragment (RFC 6946 4)
		// is a whole datagram and goes on below.
		s.inputFragment6(pkt)
		return
	}
	switch ch.Protocol {
	case segment.ProtocolTCP:
		s.inputTCPPayload(src, dst, pkt[ch.Offset:ch.End], csumOK)
	case segment.ProtocolICMPv6:
		s.inputICMPv6(pkt, ch.Offset, ch.End)
	case segment.ProtocolUDP:
		s.inputUDP(pkt, src, dst, pkt[ch.Offset:ch.End])
	default:
		// No Next Header (RFC 8200 4.7): nothing here takes it.
		c.dProtocol.Add(1)
	}
}

// ipv6HeaderIntact reports whether a WalkIPv6 error leaves the fixed header
// valid (addresses readable), so the destination can be checked before the
// error is acted on.
func ipv6HeaderIntact(err error) bool {
	switch err {
	case segment.ErrShort, segment.ErrVersion, segment.ErrJumbogram, segment.ErrPayloadLength:
		return false
	}
	return true
}

// invalidSource6 is invalidSource for IPv6: the unspecified address (only
// in duplicate address detection, which does not happen on a TUN, RFC 4291
// 2.5.2), multicast (RFC 4291 2.7: "must not be used as source"), the
// loopback address ("must never be sent outside a single node", 2.5.3),
// IPv4-mapped addresses (RFC 4291 2.5.5.2: never on the wire, Linux drops
// them) and our own address.
func invalidSource6(src, self netip.Addr) bool {
	return src.IsUnspecified() || src.IsMulticast() || src.IsLoopback() || src.Is4In6() || src == self
}

// inputICMPv6 handles the ICMPv6 message pkt[off:end] (RFC 4443): echo
// requests get replies (4.2); Packet Too Big lowers a connection's path MTU
// (RFC 8201); destination unreachable and parameter problems quoting one of
// our segments are hard or soft errors for its connection (as
// icmpv6_err_convert in Linux decides), with the checks of RFC 5927.
func (s *Stack) inputICMPv6(pkt []byte, off, end int) {
	ip := segment.IPv6(pkt)
	m := segment.ICMPv6(pkt[off:end])
	if err := m.Validate(ip.Src(), ip.Dst()); err != nil {
		s.countDrop(err)
		return
	}
	s.ctr.icmpIn.Add(1)
	switch m.Type() {
	case segment.ICMPv6TypeEchoRequest:
		s.answerEcho(pkt, ip.Dst(), segment.ICMPv6EchoReply)
	case segment.ICMPv6TypePacketTooBig, segment.ICMPv6TypeDestUnreach, segment.ICMPv6TypeParamProblem,
		segment.ICMPv6TypeTimeExceeded:
		s.icmpv6Error(m, ip.Dst())
	default:
		// Echo replies (we send no requests), neighbour discovery and
		// MLD (no link layer), unknown informational messages (RFC 4443
		// 2.4(b): silently discarded).
		s.ctr.dICMP.Add(1)
	}
}

// icmpv6Error applies an ICMPv6 error message to the connection whose
// segment it quotes; dst is the address the error came to (the stack's,
// or a forwarded connection's).
func (s *Stack) icmpv6Error(m segment.ICMPv6, dst netip.Addr) {
	q, err := m.Quoted()
	if err == nil && q.Protocol == segment.ProtocolUDP && s.ours(dst) {
		s.udpICMPError(&q, udp6UnreachErr(m.Type(), m.Code()))
		return
	}
	c, seq := s.quotedConn(&q, err, dst)
	if c == nil {
		return
	}
	now := s.now()
	var ok bool
	switch m.Type() {
	case segment.ICMPv6TypePacketTooBig:
		// RFC 8201 4: never below the IPv6 minimum link MTU; a larger
		// MTU than we send is no news (PathMTU only lowers).
		ok = c.pathMTU(now, seq, max(int(m.MTU()), segment.IPv6MinMTU))
	case segment.ICMPv6TypeDestUnreach:
		if m.Code() == segment.ICMPv6PortUnreachable {
			ok = c.icmpHardError(now, seq, syscall.ECONNREFUSED)
		} else {
			ok = c.icmpError(now, seq, unreach6Err(m.Code()))
		}
	case segment.ICMPv6TypeParamProblem:
		// Linux takes a parameter problem about our own packet as
		// fatal (EPROTO); RFC 1122 4.2.3.9 lets hard errors abort only
		// a connection still opening (tcp.Conn.HardError).
		ok = c.icmpHardError(now, seq, syscall.EPROTO)
	default: // time exceeded: soft (RFC 1122 4.2.3.9)
		ok = c.icmpError(now, seq, syscall.EHOSTUNREACH)
	}
	if ok {
		s.ctr.icmpUnreach.Add(1)
	} else {
		s.ctr.dICMP.Add(1)
	}
}

// unreach6Err maps an ICMPv6 destination-unreachable code to the errno
// Linux reports for it (net/ipv6/icmp.c tab_unreach).
func unreach6Err(code uint8) error {
	switch code {
	case segment.ICMPv6NoRoute:
		return syscall.ENETUNREACH
	case segment.ICMPv6AdminProhibited, segment.ICMPv6SourcePolicy, segment.ICMPv6RejectRoute:
		return syscall.EACCES
	case segment.ICMPv6PortUnreachable:
		return syscall.ECONNREFUSED
	default:
		return syscall.EHOSTUNREACH
	}
}
