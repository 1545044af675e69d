package stack

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/tunstack/tunstack/stack/ipfrag"
	"github.com/tunstack/tunstack/stack/tcp"
)

// Stats are stack-wide counters since New. All fields count events except
// Conns, TimeWait and Listeners, which are current values.
type Stats struct {
	PacketsIn   uint64 // packets read from the link, valid or not
	SegmentsIn  uint64 // valid TCP segments addressed to the stack
	SegmentsOut uint64 // TCP segments written to the link (RSTs included)
	RSTsSent    uint64 // RST segments sent, by connections and for segments that reached nothing
	// Retransmissions is the sum of the engine's retransmission counters of
	// live connections and of the connections already gone.
	Retransmissions uint64
	// Recovery sums the engine's loss-recovery counters the same way.
	Recovery RecoveryStats

	Conns           uint64 // connections in the demux table now (half-open included)
	Listeners       uint64 // open listeners now
	ActiveOpens     uint64 // Dials started (RFC 1213 tcpActiveOpens)
	PassiveOpens    uint64 // connections created by listeners (SYN or cookie)
	TimeWait        uint64 // TIME-WAIT records now
	TimeWaitDropped uint64 // TIME-WAIT records evicted because the table was full
	TimeWaitExpired uint64 // TIME-WAIT records that ran their 2*MSL out
	TimeWaitReused  uint64 // TIME-WAIT records replaced by a new connection (RFC 6191)
	TimeWaitReset   uint64 // TIME-WAIT records ended by the peer's RST to our ACK of an old-looking SYN

	ListenOverflows uint64 // handshakes dropped because an accept queue was full

	SynCookiesSent      uint64 // SYN-ACKs carrying a cookie (SYN queue full)
	SynCookiesValidated uint64 // ACKs whose cookie checked out: connection created
	SynCookiesFailed    uint64 // ACKs to a listener with no valid cookie (answered with RST)

	ICMPIn           uint64 // valid ICMP messages received
	ICMPEchoAnswered uint64 // ICMP echo replies sent
	ICMPUnreachable  uint64 // ICMP/ICMPv6 errors a connection acted on (unreachable, path MTU, ...)
	ICMPErrorsSent   uint64 // ICMP errors sent (ICMPv6 parameter problem, reassembly time exceeded)
	ICMPRateLimited  uint64 // ICMP errors not sent because of the rate limit (RFC 4443 2.4(f))
	FragmentedOut    uint64 // packets sent in fragments (echo replies larger than the MTU)

	// Fragments counts IP reassembly (ipfrag.Stats): fragments taken in,
	// datagrams reassembled, and why others were discarded.
	Fragments ipfrag.Stats

	LinkWriteErrors uint64 // Link.Write failures (the packet is lost)

	// Offloads (OffloadLink): GSOWrites counts large segments handed to
	// the link to cut (each also counts as its pieces in SegmentsOut);
	// SuperSegmentsIn counts TCP segments received longer than the MSS
	// (the link's receive offload merged them); AcksCoalesced counts pure
	// ACKs superseded by a later one within a burst of input.
	GSOWrites       uint64
	SuperSegmentsIn uint64
	AcksCoalesced   uint64

	// Reading ahead (ReadAheadLink, readahead.go): ReadAhead counts packets
	// moved from the link into the stack's arena before their turn came;
	// ReadAheadFull counts looks for more that stopped because the arena was
	// full (the link's own queue then held the rest, and may have dropped);
	// ReadAheadPeak is the most packets the arena held at once.
	ReadAhead, ReadAheadFull, ReadAheadPeak uint64

	// UDP counts UDP datagrams (udp.go).
	UDP UDPStats

	// Dropped counts packets dropped on input, by reason.
	Dropped DropStats

	// Forward counts transparent TCP requests (SetTCPForwarder).
	Forward ForwardStats
}

// RecoveryStats counts how the connections repaired losses (sums of
// tcp.Info fields): fast recoveries, driven by duplicate ACKs or SACK
// (RFC 6582, RFC 6675, RFC 8985), against retransmission timeouts (RFC
// 6298), the expensive way.
type RecoveryStats struct {
	FastRecoveries  uint64 // fast recoveries entered (tcp.Info.FastRetransmits)
	RTOExpiries     uint64 // retransmission timeouts
	TLPProbes       uint64 // tail loss probes sent (RFC 8985 7)
	RACKLosses      uint64 // segments RACK deemed lost (RFC 8985 6)
	SpuriousRetrans uint64 // retransmissions the peer reported as duplicates (D-SACK, RFC 2883)
}

func (r *RecoveryStats) add(i *tcp.Info) {
	r.FastRecoveries += i.FastRetransmits
	r.RTOExpiries += i.RTOExpiries
	r.TLPProbes += i.TLPProbes
	r.RACKLosses += i.RACKLosses
	r.SpuriousRetrans += i.SpuriousRetrans
}

// DropStats counts dropped input packets by reason.
type DropStats struct {
	Short          uint64 // shorter than an IP header
	Version        uint64 // IP version is neither 4 nor 6
	IPHeader       uint64 // bad IHL or total length
	IPChecksum     uint64 // bad IPv4 header checksum
	IPv6Header     uint64 // bad IPv6 header or extension headers (RFC 8200 4), unrecognised options
	Fragment       uint64 // fragments held back or discarded by reassembly (see Stats.Fragments)
	NotOurs        uint64 // destination address is not the stack's nor transparent (IPv6 multicast included)
	Protocol       uint64 // neither TCP, UDP nor ICMP/ICMPv6 (or an unrecognised IPv6 next header)
	TCPHeader      uint64 // TCP header too short or bad data offset
	TCPChecksum    uint64 // bad TCP checksum
	TCPOption      uint64 // malformed TCP option
	ICMP           uint64 // malformed or unhandled ICMP
	UDPHeader      uint64 // UDP datagram too short, bad length field, or port 0 as its destination
	UDPChecksum    uint64 // bad UDP checksum, or none over IPv6 (RFC 8200 8.1)
	InvalidSegment uint64 // segment that reached nothing and gets no RST (e.g. a RST, RFC 9293 3.10.7.1), or a datagram from an invalid source (RFC 1122 3.2.1.3)
	Closing        uint64 // arrived while the stack or its listener was closing
}

// Total returns the sum of all drop reasons.
func (d DropStats) Total() uint64 {
	return d.Short + d.Version + d.IPHeader + d.IPChecksum + d.IPv6Header + d.Fragment + d.NotOurs + d.Protocol +
		d.TCPHeader + d.TCPChecksum + d.TCPOption + d.ICMP + d.UDPHeader + d.UDPChecksum + d.InvalidSegment + d.Closing
}

// counters is the live, atomically updated form of Stats.
type counters struct {
	packetsIn, segmentsIn, segmentsOut, rstsSent, retransGone atomic.Uint64
	activeOpens, passiveOpens                                 atomic.Uint64
	timeWaitDropped, timeWaitExpired, timeWaitReused          atomic.Uint64
	timeWaitReset                                             atomic.Uint64
	listenOverflows                                           atomic.Uint64
	cookiesSent, cookiesValidated, cookiesFailed              atomic.Uint64
	icmpIn, icmpEcho, icmpUnreach                             atomic.Uint64
	icmpErrors, icmpRateLimited, fragmentsOut                 atomic.Uint64
	linkWriteErrors                                           atomic.Uint64
	gsoWrites, superIn, acksCoalesced                         atomic.Uint64
	readAhead, readAheadFull, readAheadPeak                   atomic.Uint64

	dShort, dVersion, dIPHeader, dIPChecksum, dFragment, dNotOurs, dProtocol atomic.Uint64
	dTCPHeader, dTCPChecksum, dTCPOption, dICMP, dInvalid, dClosing          atomic.Uint64
	dIPv6Header                                                              atomic.Uint64

	goneMu       sync.Mutex
	recoveryGone RecoveryStats // of the connections that left the table
}

// connGone adds the counters of a connection leaving the table to the
// totals of the connections gone.
func (c *counters) connGone(i *tcp.Info) {
	c.retransGone.Add(i.Retransmits)
	c.goneMu.Lock()
	c.recoveryGone.add(i)
	c.goneMu.Unlock()
}

// Stats returns a snapshot of the stack-wide counters. It visits every live
// connection (to add up retransmissions), so it costs O(connections).
func (s *Stack) Stats() Stats {
	c := &s.ctr
	st := Stats{
		PacketsIn: c.packetsIn.Load(), SegmentsIn: c.segmentsIn.Load(), SegmentsOut: c.segmentsOut.Load(),
		RSTsSent: c.rstsSent.Load(), ActiveOpens: c.activeOpens.Load(), PassiveOpens: c.passiveOpens.Load(),
		TimeWaitDropped: c.timeWaitDropped.Load(), TimeWaitExpired: c.timeWaitExpired.Load(),
		TimeWaitReused: c.timeWaitReused.Load(), TimeWaitReset: c.timeWaitReset.Load(), ListenOverflows: c.listenOverflows.Load(),
		SynCookiesSent: c.cookiesSent.Load(), SynCookiesValidated: c.cookiesValidated.Load(),
		SynCookiesFailed: c.cookiesFailed.Load(), ICMPIn: c.icmpIn.Load(), ICMPEchoAnswered: c.icmpEcho.Load(),
		ICMPUnreachable: c.icmpUnreach.Load(), LinkWriteErrors: c.linkWriteErrors.Load(),
		ICMPErrorsSent: c.icmpErrors.Load(), ICMPRateLimited: c.icmpRateLimited.Load(), FragmentedOut: c.fragmentsOut.Load(),
		GSOWrites: c.gsoWrites.Load(), SuperSegmentsIn: c.superIn.Load(), AcksCoalesced: c.acksCoalesced.Load(),
		ReadAhead: c.readAhead.Load(), ReadAheadFull: c.readAheadFull.Load(), ReadAheadPeak: c.readAheadPeak.Load(),
		Dropped: DropStats{
			Short: c.dShort.Load(), Version: c.dVersion.Load(), IPHeader: c.dIPHeader.Load(),
			IPChecksum: c.dIPChecksum.Load(), Fragment: c.dFragment.Load(), NotOurs: c.dNotOurs.Load(),
			Protocol: c.dProtocol.Load(), TCPHeader: c.dTCPHeader.Load(), TCPChecksum: c.dTCPChecksum.Load(),
			TCPOption: c.dTCPOption.Load(), ICMP: c.dICMP.Load(), InvalidSegment: c.dInvalid.Load(),
			Closing: c.dClosing.Load(), IPv6Header: c.dIPv6Header.Load(),
		},
	}
	st.Forward = s.fwd.stats()
	s.udp.stats(&st)
	s.fragStatsMu.Lock()
	st.Fragments = s.fragStats
	s.fragStatsMu.Unlock()
	conns := s.snapshotConns()
	var retrans uint64
	c.goneMu.Lock()
	st.Recovery = c.recoveryGone
	c.goneMu.Unlock()
	for _, cn := range conns {
		i := cn.Info()
		retrans += i.Retransmits
		st.Recovery.add(&i.Info)
	}
	st.Retransmissions = c.retransGone.Load() + retrans
	s.mu.Lock()
	st.Conns = uint64(len(s.conns))
	st.Listeners = uint64(s.nListeners)
	st.TimeWait = uint64(s.tw.len())
	s.mu.Unlock()
	return st
}

// ConnInfo is a snapshot of one connection: the engine's view (state,
// 4-tuple, SRTT/RTTVAR/RTO, cwnd/ssthresh, windows, byte and segment
// counters, retransmissions) plus the addresses in net form.
type ConnInfo struct {
	tcp.Info
	LocalAddr, RemoteAddr *net.TCPAddr
	// AckHeld says a pure ACK is held back by ACK coalescing, to be
	// written when the input burst ends (see connSink.Output).
	AckHeld bool
}

// Conns returns a snapshot of every connection in the demux table (half-open
// and closing ones included; TIME-WAIT records are counted in Stats).
func (s *Stack) Conns() []ConnInfo {
	conns := s.snapshotConns()
	out := make([]ConnInfo, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.Info())
	}
	return out
}

// snapshotConns copies the connection pointers out of the demux table so
// they can be visited without holding the demux lock (lock order: Conn.mu
// before Stack.mu).
func (s *Stack) snapshotConns() []*Conn {
	s.mu.Lock()
	out := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	s.mu.Unlock()
	return out
}
