package stack

import (
	"net/netip"
	"syscall"

	"github.com/tunstack/tunstack/segment"
)

// inputUDP handles the UDP datagram b carried by pkt from src to dst (a
// stack address, or a transparent destination). Input path, Stack.inMu
// held; no allocation.
func (s *Stack) inputUDP(pkt []byte, src, dst netip.Addr, b []byte) {
	u := &s.udp
	sp, dp, payload, err := segment.ParseUDP(src, dst, b)
	switch err {
	case nil:
	case segment.ErrUDPChecksum, segment.ErrUDPZeroChecksum:
		u.dChecksum.Add(1)
		return
	default:
		u.dHeader.Add(1)
		return
	}
	if dp == 0 {
		// Port 0 names no socket (IANA reserved); Linux drops these
		// silently too.
		u.dHeader.Add(1)
		return
	}
	from := netip.AddrPortFrom(src, sp)
	if !s.ours(dst) {
		s.udpTransparent(from, netip.AddrPortFrom(dst, dp), payload)
		return
	}
	if c := u.lookup(dp, dst); c != nil && (!c.remote.IsValid() || c.remote == from) {
		c.deliver(from, payload)
		return
	}
	// RFC 1122 4.1.3.1: "If a datagram arrives addressed to a UDP port
	// for which there is no pending LISTEN call, UDP SHOULD send an ICMP
	// Port Unreachable message." A connected socket takes only its peer's
	// datagrams (Linux's lookup matches the remote address of a connected
	// socket). dst is our unicast address here, so the RFC 1122 3.2.2
	// rule against errors about broadcast or multicast datagrams holds;
	// the senders check the rest (not about ICMP errors, not to invalid
	// sources, RFC 4443 2.4(e)) and rate-limit (RFC 4443 2.4(f)).
	u.noPorts.Add(1)
	if dst.Is4() {
		s.sendICMPv4Error(pkt, segment.ICMPv4TypeDestUnreach, segment.ICMPv4PortUnreachable)
	} else {
		s.sendICMPv6Error(pkt, segment.ICMPv6TypeDestUnreach, segment.ICMPv6PortUnreachable, 0)
	}
}

// udpICMPError passes an ICMP error quoting one of our datagrams to the
// connected socket that sent it (RFC 1122 4.1.3.3: UDP MUST pass ICMP
// error messages to the application layer). err is nil for an error
// Linux does not report to a socket without IP_RECVERR (soft errors,
// __udp4_lib_err); unconnected sockets report none, as Linux's.
func (s *Stack) udpICMPError(q *segment.Quoted, err error) {
	sp, dp, _ := q.TCPPorts() // the UDP ports sit where TCP's do
	local, _ := s.addrFor(q.Src)
	var c *UDPConn
	if err != nil && q.Src == local {
		c = s.udp.lookup(sp, q.Src)
	}
	if c == nil || c.remote != netip.AddrPortFrom(q.Dst, dp) || !c.setError(err) {
		s.ctr.dICMP.Add(1)
		return
	}
	s.ctr.icmpUnreach.Add(1)
}

// udpUnreachErr maps an ICMPv4 destination-unreachable code to the errno
// a connected UDP socket reports, or nil for the soft errors Linux keeps
// from it (icmp_err_convert's "fatal" column).
func udpUnreachErr(code uint8) error {
	switch code {
	case segment.ICMPv4ProtoUnreachable, segment.ICMPv4PortUnreachable:
		return unreachErr(code)
	case 6, 7, 8, 9, 10, 11, 12, 13: // unknown, isolated, prohibited, filtered
		return syscall.EHOSTUNREACH
	}
	return nil
}

// udp6UnreachErr is udpUnreachErr for ICMPv6 (Linux's icmpv6_err_convert):
// port unreachable, administratively prohibited (and the source-policy and
// reject-route codes) and parameter problems are reported, the rest not.
func udp6UnreachErr(typ, code uint8) error {
	switch typ {
	case segment.ICMPv6TypeDestUnreach:
		switch code {
		case segment.ICMPv6PortUnreachable, segment.ICMPv6AdminProhibited, segment.ICMPv6SourcePolicy, segment.ICMPv6RejectRoute:
			return unreach6Err(code)
		}
	case segment.ICMPv6TypeParamProblem:
		return syscall.EPROTO
	}
	return nil
}
