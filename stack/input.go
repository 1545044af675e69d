package stack

import (
	"net/netip"
	"syscall"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// input processes one packet read from the link. It runs on the input
// goroutine only and does not allocate in steady state.
//
// csumOK says the link vouched for the TCP checksum (OffloadLink).
func (s *Stack) input(pkt []byte, csumOK bool) {
	c := &s.ctr
	c.packetsIn.Add(1)
	switch segment.IPVersion(pkt) {
	case 4:
		s.input4(pkt, csumOK)
	case 6:
		s.input6(pkt, csumOK)
	default:
		if len(pkt) == 0 {
			c.dShort.Add(1)
		} else {
			c.dVersion.Add(1)
		}
	}
}

// input4 processes an IPv4 packet.
func (s *Stack) input4(pkt []byte, csumOK bool) {
	c := &s.ctr
	ip := segment.IPv4(pkt)
	if err := ip.Validate(); err != nil {
		// UDP fragments to a transparent destination are reassembled
		// too (TCP does not need it).
		if err == segment.ErrFragment && len(pkt) >= segment.IPv4MinHeaderLen && (ip.Dst() == s.addr4 ||
			ip.Protocol() == segment.ProtocolUDP && s.transparentDst(ip.Dst(), segment.ProtocolUDP)) {
			s.inputFragment4(pkt)
			return
		}
		s.countDrop(err)
		return
	}
	src, dst := ip.Src(), ip.Dst()
	// RFC 1122 3.2.1.3: a host silently discards a datagram not addressed
	// to it (a TUN delivers only what was routed to us, but a misconfigured
	// route is no reason to answer for someone else).
	if dst != s.addr4 && !s.transparentDst(dst, ip.Protocol()) {
		c.dNotOurs.Add(1)
		return
	}
	// RFC 1122 3.2.1.3: a datagram from an invalid source (broadcast,
	// multicast, class E, 0/8, loopback, ourselves) is silently discarded.
	if invalidSource(src, s.addr4) && !(s.inLoop && src == s.addr4) {
		c.dInvalid.Add(1)
		return
	}
	switch ip.Protocol() {
	case segment.ProtocolTCP:
		s.inputTCPPayload(src, dst, ip.Payload(), csumOK)
	case segment.ProtocolICMP:
		s.inputICMP(pkt, ip)
	case segment.ProtocolUDP:
		s.inputUDP(pkt, src, dst, ip.Payload())
	default:
		c.dProtocol.Add(1)
	}
}

// inputTCPPayload parses the TCP segment tcp carried between src and dst
// and demultiplexes it.
func (s *Stack) inputTCPPayload(src, dst netip.Addr, tcp []byte, csumOK bool) {
	seg := &s.inSeg
	parse := segment.ParseTCP
	if csumOK {
		parse = segment.ParseTCPTrusted
	}
	if err := parse(src, dst, tcp, seg); err != nil {
		s.countDrop(err)
		return
	}
	s.ctr.segmentsIn.Add(1)
	if len(seg.Payload) > int(s.cfgFor(dst).MSS) {
		s.ctr.superIn.Add(1)
	}
	s.inputTCP(seg)
}

// countDrop counts a parse error by reason.
func (s *Stack) countDrop(err error) {
	c := &s.ctr
	switch err {
	case segment.ErrShort:
		c.dShort.Add(1)
	case segment.ErrVersion:
		c.dVersion.Add(1)
	case segment.ErrIHL, segment.ErrTotalLength:
		c.dIPHeader.Add(1)
	case segment.ErrChecksum:
		c.dIPChecksum.Add(1)
	case segment.ErrFragment:
		c.dFragment.Add(1)
	case segment.ErrProtocol:
		c.dProtocol.Add(1)
	case segment.ErrDataOffset:
		c.dTCPHeader.Add(1)
	case segment.ErrTCPChecksum:
		c.dTCPChecksum.Add(1)
	case segment.ErrBadOption:
		c.dTCPOption.Add(1)
	case segment.ErrICMPChecksum, segment.ErrICMPType:
		c.dICMP.Add(1)
	case segment.ErrJumbogram, segment.ErrPayloadLength, segment.ErrIPv6ExtHeader, segment.ErrIPv6Routing,
		segment.ErrIPv6Option, segment.ErrFragmentLength, segment.ErrIncompleteChain:
		c.dIPv6Header.Add(1)
	case segment.ErrIPv6NextHeader:
		c.dProtocol.Add(1)
	default:
		c.dTCPHeader.Add(1)
	}
}

// inputTCP demultiplexes a valid segment: connection, TIME-WAIT record,
// listener, or nothing (RST, RFC 9293 3.10.7.1).
func (s *Stack) inputTCP(seg *segment.Segment) {
	// RFC 1122 4.2.3.10: a segment from a broadcast or multicast source
	// must be ignored (input already dropped those with invalidSource, RFC
	// 1122 3.2.1.3), and port 0 is not a valid endpoint.
	if seg.SrcPort == 0 || seg.DstPort == 0 {
		s.ctr.dInvalid.Add(1)
		return
	}
	key := tcp.Tuple{LocalAddr: seg.Dst, LocalPort: seg.DstPort, RemoteAddr: seg.Src, RemotePort: seg.SrcPort}
	// Two rounds at most: a connection found in the table may leave it
	// (TIME-WAIT, CLOSED) between the lookup and taking its lock; then the
	// lookup is repeated and finds its successor.
	for round := 0; round < 2; round++ {
		s.mu.Lock()
		if c := s.conns[key]; c != nil {
			s.mu.Unlock()
			if c.inputSegment(seg) {
				return
			}
			continue
		}
		now := s.now()
		var after *tcp.TimeWait // a TIME-WAIT record this SYN reopens
		if s.tw.has(key) {
			reopen, tw := s.tw.handleLocked(now, key, seg)
			if !reopen {
				s.mu.Unlock()
				s.twReply.flush(&s.rawSink)
				return
			}
			after = tw
			// RFC 9293 3.10.7.4 / RFC 6191: an acceptable new SYN ends
			// TIME-WAIT and opens a new incarnation; the listener below
			// takes it.
		}
		var l *Listener
		if s.ours(seg.Dst) {
			l = s.listenerFor(seg.DstPort, seg.Dst)
		} else if !s.closed {
			// A transparent destination (Options.TransparentPrefixes):
			// listeners take only the stack's own addresses.
			s.forwardLocked(now, key, seg, after) // unlocks s.mu
			return
		}
		if l == nil || s.closed {
			s.mu.Unlock()
			s.reset(seg)
			return
		}
		s.listenerInputLocked(now, l, key, seg, after) // unlocks s.mu
		return
	}
	s.ctr.dInvalid.Add(1)
}

// reset answers seg, which reached nothing, with a RST (RFC 9293 3.10.7.1),
// never for a RST.
func (s *Stack) reset(seg *segment.Segment) {
	var out segment.Segment
	if !tcp.ResetFor(seg, &out) {
		s.ctr.dInvalid.Add(1)
		return
	}
	s.rawSink.Output(&out)
}

// listenerInputLocked handles a segment for listener l that matched no
// connection. Called with s.mu held; returns with it released.
//
// after is the TIME-WAIT record a SYN reopens, or nil: the new ISS must
// then lie beyond the old connection's sequence space (RFC 1122 4.2.2.13).
func (s *Stack) listenerInputLocked(now time.Time, l *Listener, key tcp.Tuple, seg *segment.Segment, after *tcp.TimeWait) {
	f := seg.Flags
	switch {
	case f&segment.FlagRST != 0:
		// RFC 9293 3.10.7.2 (LISTEN): "An incoming RST should be ignored."
		s.mu.Unlock()
		s.ctr.dInvalid.Add(1)
		return
	case f&segment.FlagACK != 0:
		// RFC 9293 3.10.7.2: an ACK in LISTEN gets a RST — unless it
		// completes a SYN-cookie handshake (RFC 4987 3.6).
		if f&segment.FlagSYN == 0 {
			if p, iss, ok := s.jar.check(now, &key, seg); ok {
				if len(l.acceptq) >= cap(l.acceptq) {
					// Accept queue full: drop the ACK; the client's data or
					// a retransmission will bring the cookie back (Linux does
					// the same).
					s.mu.Unlock()
					s.ctr.listenOverflows.Add(1)
					return
				}
				s.mu.Unlock()
				s.ctr.cookiesValidated.Add(1)
				s.openPassive(now, l, key, seg, iss, &p, nil)
				return
			}
			s.ctr.cookiesFailed.Add(1)
		}
		s.mu.Unlock()
		s.reset(seg)
		return
	case f&segment.FlagSYN == 0:
		// RFC 9293 3.10.7.2: other control or text without SYN: drop.
		s.mu.Unlock()
		s.ctr.dInvalid.Add(1)
		return
	}
	// A SYN. RFC 9293 3.10.7.2 (LISTEN, third check).
	if len(l.acceptq) >= cap(l.acceptq) {
		// The accept queue is full: drop the SYN, as Linux does; the
		// client retransmits it.
		s.mu.Unlock()
		s.ctr.listenOverflows.Add(1)
		return
	}
	if l.synq >= s.opts.SynBacklog {
		// Half-open queue full: answer statelessly (RFC 4987 3.6).
		s.mu.Unlock()
		s.sendCookie(now, key, seg)
		return
	}
	l.synq++ // reserved; released by removeConnLocked or on establishment
	s.mu.Unlock()
	s.openPassive(now, l, key, seg, 0, nil, after)
}

// openPassive creates a connection for listener l: from a SYN (p == nil)
// or from a validated cookie ACK.
func (s *Stack) openPassive(now time.Time, l *Listener, key tcp.Tuple, seg *segment.Segment, iss segment.Seq, p *tcp.SynParams, after *tcp.TimeWait) {
	c := s.newConn(key)
	c.mu.Lock()
	s.mu.Lock()
	if l.closed || !s.insertConnLocked(c) {
		if p == nil {
			l.synq--
		}
		s.mu.Unlock()
		c.unlock()
		s.ctr.dClosing.Add(1)
		return
	}
	c.listener = l
	if p != nil {
		l.synq++ // counted as half-open until established below
	}
	s.mu.Unlock()
	s.ctr.passiveOpens.Add(1)
	if p == nil {
		iss = s.isn.ISN(key, now)
		if after != nil {
			iss = after.NextISS(iss)
		}
		c.tc.AcceptSYN(now, iss, seg)
	} else {
		c.tc.AcceptCookie(now, iss, *p, seg)
	}
	c.afterLocked(now)
	c.unlock()
}

// sendCookie answers a SYN with a SYN-ACK whose ISS is a cookie, keeping no
// state (RFC 4987 3.6). The segment is the one the engine would send
// (tcp.SynAckFor), so that AcceptCookie's assumptions about our MSS and
// window scale hold.
func (s *Stack) sendCookie(now time.Time, key tcp.Tuple, syn *segment.Segment) {
	var out segment.Segment
	tcp.SynAckFor(s.cfgFor(key.LocalAddr), now, s.jar.make(now, &key, syn), syn, &out)
	s.ctr.cookiesSent.Add(1)
	s.rawSink.Output(&out)
}

// inputICMP handles an ICMP message: echo requests get replies (RFC 1122
// 3.2.2.6); a destination unreachable for a connection lowers its path MTU
// (fragmentation needed, RFC 1191), is a hard error (protocol or port
// unreachable) or a soft error (the other codes, RFC 1122 4.2.3.9). The
// echo reply is built in place in pkt.
func (s *Stack) inputICMP(pkt []byte, ip segment.IPv4) {
	m := segment.ICMPv4(ip.Payload())
	if err := m.Validate(); err != nil {
		s.countDrop(err)
		return
	}
	s.ctr.icmpIn.Add(1)
	switch m.Type() {
	case segment.ICMPv4TypeEcho:
		s.answerEcho(pkt, ip.Dst(), segment.ICMPv4EchoReply)
	case segment.ICMPv4TypeDestUnreach:
		q, err := m.Quoted()
		if err == nil && q.Protocol == segment.ProtocolUDP && s.ours(ip.Dst()) {
			s.udpICMPError(&q, udpUnreachErr(m.Code()))
			return
		}
		c, seq := s.quotedConn(&q, err, ip.Dst())
		if c == nil {
			return
		}
		var ok bool
		switch m.Code() {
		case segment.ICMPv4FragNeeded:
			// RFC 1191: we send with DF; the path is narrower.
			ok = c.pathMTU(s.now(), seq, fragNeededMTU(m, &q))
		case segment.ICMPv4ProtoUnreachable, segment.ICMPv4PortUnreachable:
			// RFC 1122 4.2.3.9: hard errors.
			ok = c.icmpHardError(s.now(), seq, unreachErr(m.Code()))
		default:
			ok = c.icmpError(s.now(), seq, unreachErr(m.Code()))
		}
		if ok {
			s.ctr.icmpUnreach.Add(1)
		} else {
			s.ctr.dICMP.Add(1)
		}
	default:
		s.ctr.dICMP.Add(1)
	}
}

// answerEcho answers an echo request to one of our addresses in place
// (RFC 1122 3.2.2.6, RFC 4443 4.2) with reply, the family's builder; one
// to a transparent destination is not ours to answer.
func (s *Stack) answerEcho(pkt []byte, dst netip.Addr, reply func(dst, req []byte) (int, error)) {
	if !s.ours(dst) {
		s.ctr.dNotOurs.Add(1)
		return
	}
	n, err := reply(pkt, pkt)
	if err != nil {
		s.ctr.dICMP.Add(1)
		return
	}
	if s.writeIP(pkt[:n]) {
		s.ctr.icmpEcho.Add(1)
	}
}

// quotedConn returns the connection whose segment an ICMP error quotes (q,
// and err from reading the quote), with the quoted sequence number, or nil
// (counted) if there is none. The quoted segment is ours when it was sent
// from the address the error came to (dst: the stack's, or a forwarded
// connection's).
func (s *Stack) quotedConn(q *segment.Quoted, err error, dst netip.Addr) (*Conn, segment.Seq) {
	if err != nil || q.Protocol != segment.ProtocolTCP || q.Src != dst {
		s.ctr.dICMP.Add(1)
		return nil, 0
	}
	sp, dp, seq := q.TCPPorts()
	key := tcp.Tuple{LocalAddr: q.Src, LocalPort: sp, RemoteAddr: q.Dst, RemotePort: dp}
	s.mu.Lock()
	c := s.conns[key]
	s.mu.Unlock()
	if c == nil {
		s.ctr.dICMP.Add(1)
	}
	return c, seq
}

// unreachErr maps a destination-unreachable code to the errno Linux reports
// for it (net/ipv4/icmp.c icmp_err_convert).
func unreachErr(code uint8) error {
	switch code {
	case segment.ICMPv4NetUnreachable:
		return syscall.ENETUNREACH
	case segment.ICMPv4ProtoUnreachable:
		return syscall.ENOPROTOOPT
	case segment.ICMPv4PortUnreachable:
		return syscall.ECONNREFUSED
	case segment.ICMPv4FragNeeded:
		return syscall.EMSGSIZE
	default:
		return syscall.EHOSTUNREACH
	}
}
