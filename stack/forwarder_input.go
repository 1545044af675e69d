package stack

import (
	"net/netip"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// icmpv4AdminProhibited is the destination-unreachable code
// "communication administratively prohibited" (RFC 1812 5.2.7.1).
const icmpv4AdminProhibited = 13

// transparentDst reports whether dst, not one of the stack's addresses,
// is taken in transparent mode for a packet of protocol proto: a unicast
// address inside Options.TransparentPrefixes, for TCP, or for UDP while a
// handler is set (SetUDPHandler). Broadcast, multicast and the like never
// are (RFC 1122 4.2.3.10: a SYN to them is ignored; no proxy can answer
// for a group).
func (s *Stack) transparentDst(dst netip.Addr, proto uint8) bool {
	if len(s.opts.TransparentPrefixes) == 0 {
		return false
	}
	switch proto {
	case segment.ProtocolTCP:
	case segment.ProtocolICMP, segment.ProtocolICMPv6:
		// Errors about forwarded connections (a Packet Too Big from
		// the client's side, RFC 8201); echo requests to such addresses
		// are not answered (inputICMP).
	case segment.ProtocolUDP:
		if s.udp.handler.Load() == nil {
			return false
		}
	default:
		return false
	}
	if dst.Is4() {
		if invalidSource(dst, netip.Addr{}) {
			return false
		}
	} else if dst.IsMulticast() || dst.IsUnspecified() || dst.IsLoopback() || dst.Is4In6() {
		return false
	}
	for _, p := range s.opts.TransparentPrefixes {
		if p.Contains(dst) {
			return true
		}
	}
	return false
}

// forwardLocked handles a segment to a transparent destination that
// matched no connection and no listener: a pending request's
// retransmitted SYN or RST, or a new SYN for the handler. Called by the
// input path (Stack.inMu held) with Stack.mu held; returns with it
// released.
func (s *Stack) forwardLocked(now time.Time, key tcp.Tuple, seg *segment.Segment, after *tcp.TimeWait) {
	fw := &s.fwd
	fw.mu.Lock()
	f := seg.Flags
	if r := fw.pending[key]; r != nil {
		switch {
		case f&segment.FlagRST != 0:
			// The client gave up. RFC 5961 3.2 in spirit: only a RST
			// at the SYN's sequence number (or one past it) counts, so
			// a blind one cannot end the request.
			if seg.Seq == r.syn.Seq || seg.Seq == r.syn.Seq.Add(1) {
				fw.removeLocked(r, reqPeerReset)
				fw.ctr.PeerResets++
			} else {
				s.ctr.dInvalid.Add(1)
			}
		case f&segment.FlagSYN != 0 && f&segment.FlagACK == 0:
			// A retransmission (or a new ISN from a client that
			// restarted): the SYN-ACK, if the handler accepts,
			// answers the latest.
			r.syn = *seg
			r.syn.Payload = nil
			fw.ctr.SYNRetransmits++
		default:
			// Nothing of ours to acknowledge yet.
			s.ctr.dInvalid.Add(1)
		}
		fw.mu.Unlock()
		s.mu.Unlock()
		return
	}
	switch {
	case fw.handler == nil || fw.closed || f&segment.FlagACK != 0:
		// No handler: as without transparent mode. An ACK (a SYN-ACK
		// included) reached nothing: RST (RFC 9293 3.10.7.1).
		fw.mu.Unlock()
		s.mu.Unlock()
		s.reset(seg)
		return
	case f&segment.FlagRST != 0 || f&segment.FlagSYN == 0:
		// RFC 9293 3.10.7.2 (LISTEN): a RST is ignored, other text
		// or control without SYN dropped.
		fw.mu.Unlock()
		s.mu.Unlock()
		s.ctr.dInvalid.Add(1)
		return
	}
	limited := false
	switch {
	case len(fw.pending) >= fw.cfg.MaxPending:
		fw.ctr.Limited++
		limited = true
	case fw.perSrc[key.RemoteAddr] >= fw.cfg.MaxPendingPerSource:
		fw.ctr.SourceLimited++
		limited = true
	}
	if limited {
		reset := fw.cfg.ResetAtLimit
		fw.mu.Unlock()
		s.mu.Unlock()
		if reset {
			s.reset(seg)
		}
		return
	}
	r := &TCPRequest{fw: fw, key: key, deadline: now.Add(fw.cfg.PendingTimeout), syn: *seg}
	r.syn.Payload = nil
	if after != nil {
		tw := *after // the record is gone from the table
		r.after = &tw
	}
	fw.pending[key] = r
	fw.perSrc[key.RemoteAddr]++
	if r.prev = fw.tail; r.prev != nil {
		r.prev.next = r
	} else {
		fw.head = r
	}
	fw.tail = r
	fw.armLocked(now)
	fw.ctr.Requests++
	h := fw.handler
	fw.inHandler = true
	fw.mu.Unlock()
	s.mu.Unlock()

	if fw.call(h, r) {
		fw.mu.Lock()
		fw.ctr.Panics++
		fw.mu.Unlock()
		// Counted as a refusal (deferred: inHandler is still set); an
		// answer given before the panic stands, and this one fails.
		fw.refuse(r, RefuseReset, false)
	}
	fw.mu.Lock()
	fw.inHandler = false
	fw.mu.Unlock()
	fw.flushDeferred()
}

// call runs the handler, reporting whether it panicked.
func (fw *forwarder) call(h func(*TCPRequest), r *TCPRequest) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			fw.s.logf("stack: TCP forwarding handler panicked for %v -> %v: %v", r.Source(), r.Destination(), v)
		}
	}()
	h(r)
	return false
}

// flushDeferred sends the refusals answered while the handler ran. Input
// path (Stack.inMu held), after the handler returned.
func (fw *forwarder) flushDeferred() {
	for {
		fw.mu.Lock()
		n := len(fw.deferred)
		if n == 0 {
			fw.mu.Unlock()
			return
		}
		r := fw.deferred[n-1]
		fw.deferred[n-1] = nil
		fw.deferred = fw.deferred[:n-1]
		fw.mu.Unlock()
		fw.sendRefusal(r)
	}
}

// sendRefusal writes r's refusal: a RST for the SYN, or an ICMP error from
// the destination's address quoting the SYN (rebuilt: the client matches
// the quote on addresses, ports and sequence number, RFC 5927 4).
// Stack.inMu held.
func (fw *forwarder) sendRefusal(r *TCPRequest) {
	s := fw.s
	syn := &r.syn
	if r.refusal == RefuseReset {
		var out segment.Segment
		if tcp.ResetFor(syn, &out) {
			s.rawSink.Output(&out)
		}
		return
	}
	if fw.scratch == nil {
		fw.scratch = make([]byte, segment.IPv6HeaderLen+segment.TCPMinHeaderLen+segment.TCPMaxOptionsLen)
	}
	codes := refusalCodes[r.refusal]
	var n int
	var err error
	if syn.Src.Is4() {
		n, err = segment.BuildIPv4TCP(fw.scratch, syn, 0, segment.DefaultTTL)
	} else {
		n, err = segment.BuildIPv6TCP(fw.scratch, syn, 0, segment.DefaultHopLimit)
	}
	switch {
	case err != nil:
	case syn.Src.Is4():
		s.sendICMPv4ErrorFrom(syn.Dst, fw.scratch[:n], segment.ICMPv4TypeDestUnreach, codes.v4)
	default:
		s.sendICMPv6ErrorFrom(syn.Dst, fw.scratch[:n], segment.ICMPv6TypeDestUnreach, codes.v6, 0)
	}
}

// refusalCodes are the destination-unreachable codes of the ICMP
// refusals: RFC 792 and RFC 1812 5.2.7.1 (IPv4), RFC 4443 3.1 (IPv6).
var refusalCodes = [...]struct{ v4, v6 uint8 }{
	RefuseNetUnreachable:  {segment.ICMPv4NetUnreachable, segment.ICMPv6NoRoute},
	RefuseHostUnreachable: {segment.ICMPv4HostUnreachable, segment.ICMPv6AddressUnreachable},
	RefuseProhibited:      {icmpv4AdminProhibited, segment.ICMPv6AdminProhibited},
	RefuseDrop:            {},
}

// armLocked points the timer at the oldest pending request's deadline.
func (fw *forwarder) armLocked(now time.Time) {
	if fw.head == nil || fw.closed {
		return // a stale firing finds nothing to do
	}
	dl := fw.head.deadline
	if fw.armed && dl.Equal(fw.armedAt) {
		return
	}
	d := max(dl.Sub(now), 0)
	if fw.timer == nil {
		fw.timer = fw.s.clock.AfterFunc(d, fw.expire)
	} else {
		fw.timer.Reset(d)
	}
	fw.armed, fw.armedAt = true, dl
}

// expire refuses the requests whose deadline passed (on the clock's
// goroutine), one at a time so that none is sent with the lock held.
func (fw *forwarder) expire() {
	for {
		fw.mu.Lock()
		now := fw.s.now()
		r := fw.head
		if r == nil || now.Before(r.deadline) || fw.closed {
			fw.armed = false
			fw.armLocked(now)
			fw.mu.Unlock()
			return
		}
		how := fw.cfg.TimeoutRefusal
		fw.mu.Unlock()
		fw.refuse(r, how, true)
	}
}
