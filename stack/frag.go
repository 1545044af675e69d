package stack

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/ipfrag"
	"github.com/tunstack/tunstack/timers"
)

// IP fragments. Arriving fragments addressed to the stack are reassembled
// (RFC 1122 3.3.2 makes it a MUST for IPv4; RFC 8200 4.5 for IPv6) by an
// ipfrag.Reassembler with its bounds (4 MiB in all, a quarter of it per
// source, 1024 datagrams, 64 fragments each; 30 s for IPv4 as Linux, 60 s
// for IPv6), and the datagram is processed as if it had arrived whole.
// When a datagram whose first fragment arrived times out, the source
// learns it from an ICMP Time Exceeded, code 1 (RFC 792, RFC 4443 3.3).
//
// Outgoing, TCP never fragments: its segments carry DF over IPv4 and fit
// the MSS, which the path MTU lowers (RFC 1191, RFC 8201). Only an ICMP
// echo reply to a request that arrived in fragments can exceed the MTU;
// it leaves in fragments, as Linux sends it (writeIP).
//
// The reassembler is the input goroutine's (Stack.inMu); its expiry runs
// on each fragment and, while datagrams are in progress, on a timer.

// fragState is the stack's reassembly state, guarded by Stack.inMu.
type fragState struct {
	r       *ipfrag.Reassembler
	timer   timers.Timer
	armed   bool
	id6     uint32 // the last IPv6 fragment identification used (RFC 7739: unpredictable start)
	buf     []byte // scratch for outgoing fragments
	icmp    []byte // scratch for ICMP errors
	tokens  float64
	last    time.Time
	stopped bool // the stack is closed: the timer stays off
}

// stopFrag stops the reassembly timer (Close).
func (s *Stack) stopFrag() {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	s.frag.stopped = true
	if s.frag.timer != nil {
		s.frag.timer.Stop()
	}
}

// reassembler returns the reassembler, made on first use.
func (s *Stack) reassembler() *ipfrag.Reassembler {
	f := &s.frag
	if f.r == nil {
		f.r = ipfrag.New(ipfrag.Config{TimeExceeded: s.reassemblyTimeExceeded})
		var b [4]byte
		s.fragRand(b[:])
		f.id6 = binary.BigEndian.Uint32(b[:])
	}
	return f.r
}

// inputFragment4 hands an IPv4 fragment for us to the reassembler and
// processes the datagram it completes.
func (s *Stack) inputFragment4(pkt []byte) {
	res := s.reassembler().InputIPv4(pkt, s.now())
	s.afterFragment(res, false)
}

// inputFragment6 is inputFragment4 for IPv6.
func (s *Stack) inputFragment6(pkt []byte) {
	res := s.reassembler().InputIPv6(pkt, s.now())
	if res.ParamProblem {
		s.sendICMPv6Error(pkt, segment.ICMPv6TypeParamProblem, res.ParamCode, res.ParamPointer)
	}
	s.afterFragment(res, true)
}

func (s *Stack) afterFragment(res ipfrag.Result, v6 bool) {
	s.publishFragStats()
	switch res.Verdict {
	case ipfrag.Complete:
		// A whole datagram now (not a fragment again): processed as if
		// it had arrived so, its checksum verified here.
		if v6 {
			s.input6(res.Packet, false)
		} else {
			s.input4(res.Packet, false)
		}
	case ipfrag.Held:
		s.armFragTimer()
	case ipfrag.Dropped, ipfrag.NotFragment:
		s.ctr.dFragment.Add(1)
	}
}

// armFragTimer makes sure the reassembler's next deadline is served even
// if no further packet arrives.
func (s *Stack) armFragTimer() {
	f := &s.frag
	dl, ok := f.r.NextDeadline()
	if !ok || f.armed {
		return
	}
	d := max(dl.Sub(s.now()), 0)
	if f.timer == nil {
		f.timer = s.clock.AfterFunc(d, s.fragTimer)
	} else {
		f.timer.Reset(d)
	}
	f.armed = true
}

// fragTimer expires the datagrams that timed out.
func (s *Stack) fragTimer() {
	s.inMu.Lock()
	defer s.inMu.Unlock()
	f := &s.frag
	f.armed = false
	if f.stopped {
		return
	}
	f.r.Expire(s.now())
	s.publishFragStats()
	s.armFragTimer()
}

// publishFragStats copies the reassembler's counters for Stats, which
// must not wait for the input lock (the input goroutine may be blocked in
// a link write for as long as the link likes). Under inMu.
func (s *Stack) publishFragStats() {
	st := s.frag.r.Stats()
	s.fragStatsMu.Lock()
	s.fragStats = st
	s.fragStatsMu.Unlock()
}

// reassemblyTimeExceeded sends ICMP Time Exceeded, "fragment reassembly
// time exceeded" (code 1), to the source of a datagram whose first
// fragment arrived but that did not complete in time (RFC 792; RFC 8200
// 4.5 and RFC 4443 3.3 for IPv6). Called by the reassembler under inMu.
func (s *Stack) reassemblyTimeExceeded(first []byte) {
	switch segment.IPVersion(first) {
	case 4:
		s.sendICMPv4Error(first, segment.ICMPv4TypeTimeExceeded, 1)
	case 6:
		s.sendICMPv6Error(first, segment.ICMPv6TypeTimeExceeded, segment.ICMPv6ReassemblyTimeout, 0)
	}
}

// icmpRate and icmpBurst bound the ICMP errors the stack sends (RFC 1812
// 4.3.2.8, RFC 4443 2.4(f): a token bucket), as Linux's
// net.ipv4.icmp_msgs_per_sec and icmp_msgs_burst do.
const (
	icmpRate  = 1000 // per second
	icmpBurst = 50
)

// icmpAllowed takes a token from the error bucket. Under inMu.
func (s *Stack) icmpAllowed() bool {
	f := &s.frag
	now := s.now()
	if f.last.IsZero() {
		f.tokens = icmpBurst
	} else {
		f.tokens = min(icmpBurst, f.tokens+now.Sub(f.last).Seconds()*icmpRate)
	}
	f.last = now
	if f.tokens < 1 {
		s.ctr.icmpRateLimited.Add(1)
		return false
	}
	f.tokens--
	return true
}

// sendICMPv6Error sends an ICMPv6 error about invoking (RFC 4443 2.4: not
// about an error message, nor to multicast, quoting what fits in 1280
// bytes), rate-limited. Under inMu.
func (s *Stack) sendICMPv6Error(invoking []byte, typ, code uint8, param uint32) {
	s.sendICMPv6ErrorFrom(s.addr6, invoking, typ, code, param)
}

// sendICMPv6ErrorFrom is sendICMPv6Error from address src (a transparent
// destination refusing a connection, forwarder_input.go).
func (s *Stack) sendICMPv6ErrorFrom(src netip.Addr, invoking []byte, typ, code uint8, param uint32) {
	if !src.IsValid() || !segment.ICMPv6ErrorAllowed(invoking, typ, code, param) || !s.icmpAllowed() {
		return
	}
	f := &s.frag
	if f.icmp == nil {
		f.icmp = make([]byte, segment.IPv6MinMTU)
	}
	n, err := segment.ICMPv6Error(f.icmp, typ, code, param, src, invoking)
	if err != nil {
		return
	}
	if _, err := s.link.Write(f.icmp[:n]); err != nil {
		s.ctr.linkWriteErrors.Add(1)
		return
	}
	s.ctr.icmpErrors.Add(1)
}

// icmpv4QuoteExtra is what an ICMPv4 error quotes beyond the header of the invoking datagram:
// its header and the first 64 bits of its data (RFC 792).
const icmpv4QuoteExtra = 8

// sendICMPv4Error sends an ICMPv4 error of type typ and code about
// invoking, rate-limited (RFC 1812 4.3.2.8); never about an ICMP error,
// nor to an invalid source (RFC 1122 3.2.2). Under inMu.
func (s *Stack) sendICMPv4Error(invoking []byte, typ, code uint8) {
	s.sendICMPv4ErrorFrom(s.addr4, invoking, typ, code)
}

// sendICMPv4ErrorFrom is sendICMPv4Error from address src (a transparent
// destination refusing a connection, forwarder_input.go).
func (s *Stack) sendICMPv4ErrorFrom(src netip.Addr, invoking []byte, typ, code uint8) {
	ip := segment.IPv4(invoking)
	if !src.IsValid() || len(invoking) < segment.IPv4MinHeaderLen || ip.HeaderLen() > len(invoking) ||
		invalidSource(ip.Src(), s.addr4) {
		return
	}
	hl := ip.HeaderLen()
	if ip.Protocol() == segment.ProtocolICMP && ip.FragOffset() == 0 && len(invoking) > hl &&
		segment.ICMPv4(invoking[hl:]).IsError() {
		return // RFC 1122 3.2.2: never an error about an error
	}
	if !s.icmpAllowed() {
		return
	}
	quote := invoking[:min(len(invoking), hl+icmpv4QuoteExtra)]
	f := &s.frag
	if f.icmp == nil {
		f.icmp = make([]byte, segment.IPv6MinMTU)
	}
	b := f.icmp
	h := segment.IPv4Header{Protocol: segment.ProtocolICMP, TTL: segment.DefaultTTL, Src: src, Dst: ip.Src()}
	off := segment.PutIPv4Header(b, &h, segment.ICMPv4HeaderLen+len(quote))
	m := b[off : off+segment.ICMPv4HeaderLen+len(quote)]
	clear(m[:segment.ICMPv4HeaderLen])
	m[0], m[1] = typ, code
	copy(m[segment.ICMPv4HeaderLen:], quote)
	binary.BigEndian.PutUint16(m[2:], segment.Checksum(m, 0))
	if _, err := s.link.Write(b[:off+len(m)]); err != nil {
		s.ctr.linkWriteErrors.Add(1)
		return
	}
	s.ctr.icmpErrors.Add(1)
}

// writeIP writes a packet the input path built (an ICMP echo reply),
// fragmented to the MTU if it is larger (RFC 791 2.3; RFC 8200 4.5 with a
// fragment identification that is hard to predict, RFC 7739), as Linux
// answers a large ping. It reports whether it was written.
func (s *Stack) writeIP(pkt []byte) bool {
	mtu := s.opts.MTU
	if len(pkt) <= mtu {
		if _, err := s.link.Write(pkt); err != nil {
			s.ctr.linkWriteErrors.Add(1)
			return false
		}
		return true
	}
	f := &s.frag
	s.reassembler() // the identification's random start
	if len(f.buf) < mtu {
		f.buf = make([]byte, mtu)
	}
	var err error
	if segment.IPVersion(pkt) == 4 {
		err = ipfrag.FragmentIPv4(pkt, mtu, f.buf, s.writeFragment)
	} else {
		f.id6++
		err = ipfrag.FragmentIPv6(pkt, mtu, f.id6, f.buf, s.writeFragment)
	}
	if err != nil {
		s.ctr.linkWriteErrors.Add(1)
		return false
	}
	s.ctr.fragmentsOut.Add(1)
	return true
}

// writeFragment writes one fragment (ipfrag's emit).
func (s *Stack) writeFragment(frag []byte) error {
	_, err := s.link.Write(frag)
	return err
}

// flowLabel returns the IPv6 flow label of a 4-tuple: a keyed hash, so
// that it is uniform and unpredictable across flows and constant within
// one (RFC 6437 3, RFC 7098).
func (s *Stack) flowLabel(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) uint32 {
	var b [16 + 16 + 16 + 4]byte
	copy(b[:16], s.flowKey[:])
	sa, da := src.As16(), dst.As16()
	copy(b[16:32], sa[:])
	copy(b[32:48], da[:])
	binary.BigEndian.PutUint16(b[48:], sport)
	binary.BigEndian.PutUint16(b[50:], dport)
	h := sha256.Sum256(b[:])
	l := binary.BigEndian.Uint32(h[:4]) & 0xfffff
	if l == 0 {
		l = 1 // 0 means "no label" (RFC 6437 2)
	}
	return l
}

// fragRand fills b from the flow key's hash (the stack's secret), for the
// first IPv6 fragment identification.
func (s *Stack) fragRand(b []byte) {
	h := sha256.Sum256(append(s.flowKey[:], "fragment id"...))
	copy(b, h[:])
}
