package main

import (
	"sync"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// The link wrapper of --pcap and --trace. It taps the link boundary
// (ARCHITECTURE.md, "Observability taps the link boundary"): it shows every
// packet that crosses it to the pcap file and the tracer, and changes
// nothing about what the stack does. On a device with offloads it has the
// same OffloadLink methods as the device, passed straight through, so the
// stack keeps its super-segments, its checksum offload and its ACK
// coalescing; what it records is what the wire carries: a super-segment as
// the MSS-sized segments the kernel cuts it into (or made it from), each
// with complete checksums (segment.CutIPv4TCP, CutIPv6TCP). Without observation serve
// wraps nothing, so the data path pays nothing for it.

// link is the method set of stack.Link, declared here so this file does not
// depend on the rest of package stack.
type link interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	MTU() int
	Close() error
}

// offloadLink is the method set of stack.OffloadLink.
type offloadLink interface {
	link
	ReadPacket(p []byte, idle func()) (n int, csumOK bool, err error)
	GSOMaxSize() int
	WriteGSO(hdr, payload []byte, mss int) (int, error)
}

// gsoReader is a device that says how long the wire segments of a
// super-segment it read were (tun.Device: the virtio-net gso_size).
type gsoReader interface {
	ReadPacketGSO(p []byte, idle func()) (n int, csumOK bool, gsoSize int, err error)
}

// observe wraps l for the pcap file and the tracer (either may be nil).
// The wrapper implements offloadLink exactly when l does: a link without
// offloads must stay one, or the stack would change its behaviour.
func observe(l link, pcap *pcapFile, trace *tracer) link {
	base := observedLink{link: l, obs: &observer{pcap: pcap, trace: trace, mtu: l.MTU()}}
	if ol, ok := l.(offloadLink); ok {
		gr, _ := l.(gsoReader)
		return &observedOffloadLink{observedLink: base, ol: ol, gr: gr}
	}
	return &base
}

// observer shows wire packets to the pcap file and the tracer. Safe for
// concurrent use.
type observer struct {
	pcap  *pcapFile // nil: no capture
	trace *tracer   // nil: no trace
	mtu   int

	mu  sync.Mutex
	cut []byte // one wire segment cut from a super-segment; under mu
}

const handshakeFlags = segment.FlagSYN | segment.FlagFIN | segment.FlagRST

// see shows one packet as the wire carries it.
func (o *observer) see(pkt []byte) { o.seeAt(time.Now(), pkt) }

func (o *observer) seeAt(now time.Time, pkt []byte) {
	if o.pcap != nil {
		o.pcap.record(now, pkt)
	}
	if o.trace != nil {
		if h, ok := peekTCP(pkt); ok && h.flags&handshakeFlags != 0 {
			o.trace.packet(now, h)
		}
	}
}

// maxPacketLen is the longest packet of either family: an IPv6 header and
// the largest payload its 16-bit length describes (65575 bytes).
const maxPacketLen = segment.IPv6HeaderLen + segment.IPv6MaxPayloadLen

// seeSegments shows a TCP packet, IPv4 or IPv6, given as hdr (exactly its
// headers) and payload whose checksums the wire has but the packet may not
// (a partial checksum left to the link), cut into the wire segments of mss
// payload bytes it stands for (one when the payload fits), as the kernel
// cuts GSO_TCPV4 and GSO_TCPV6 super-segments.
func (o *observer) seeSegments(hdr, payload []byte, mss int) {
	if o.pcap == nil && tcpFlags(hdr)&handshakeFlags == 0 {
		return // the tracer shows none of its segments
	}
	cut := segment.CutIPv4TCP
	if segment.IPVersion(hdr) == 6 {
		cut = segment.CutIPv6TCP
	}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cut == nil {
		o.cut = make([]byte, maxPacketLen)
	}
	for i, n := 0, segment.GSOSegments(len(payload), mss); i < n; i++ {
		m, err := cut(o.cut, hdr, payload, mss, i)
		if err != nil {
			return // not a packet the link would send either
		}
		o.seeAt(now, o.cut[:m])
	}
}

// seeRead shows a packet read from an offload link: as it is, unless it is
// a super-segment (longer than the MTU, or gso > 0: the device says what
// segment size it stands for) or its checksum is partial (csumOK).
func (o *observer) seeRead(pkt []byte, csumOK bool, gso int) {
	if !csumOK && gso == 0 && len(pkt) <= o.mtu {
		o.see(pkt)
		return
	}
	split := segment.SplitIPv4TCP
	if segment.IPVersion(pkt) == 6 {
		split = segment.SplitIPv6TCP
	}
	hdr, payload, err := split(pkt)
	if err != nil {
		o.see(pkt)
		return
	}
	if gso <= 0 {
		// The device did not say: the largest segment the MTU allows
		// with these headers is what the kernel's TCP would send.
		gso = o.mtu - len(hdr)
	}
	o.seeSegments(hdr, payload, gso)
}

// tcpFlags returns the TCP flags of hdr, IP and TCP headers, or 0. For an
// IPv6 header followed by extension headers (which the stack never writes)
// it does not walk them and answers all of handshakeFlags, so that the
// packet is cut and looked at segment by segment.
func tcpFlags(hdr []byte) segment.Flags {
	if segment.IPVersion(hdr) == 6 {
		if len(hdr) < segment.IPv6HeaderLen+segment.TCPMinHeaderLen {
			return 0
		}
		if hdr[6] != segment.ProtocolTCP { // next header (RFC 8200 3)
			return handshakeFlags
		}
		return segment.Flags(hdr[segment.IPv6HeaderLen+13])
	}
	if len(hdr) < segment.IPv4MinHeaderLen {
		return 0
	}
	ipHL := int(hdr[0]&0x0f) * 4
	if len(hdr) < ipHL+segment.TCPMinHeaderLen {
		return 0
	}
	return segment.Flags(hdr[ipHL+13])
}

// observedLink is the wrapper of a link without offloads. The stack's one
// input goroutine calls Read; Write may be called from several goroutines.
type observedLink struct {
	link
	obs *observer
}

func (l *observedLink) Read(p []byte) (int, error) {
	n, err := l.link.Read(p)
	if n > 0 {
		l.obs.see(p[:n])
	}
	return n, err
}

func (l *observedLink) Write(p []byte) (int, error) {
	n, err := l.link.Write(p)
	if err == nil {
		l.obs.see(p)
	}
	return n, err
}

// observedOffloadLink is the wrapper of a link with offloads (a
// *tun.Device, with or without them turned on): stack.OffloadLink.
type observedOffloadLink struct {
	observedLink
	ol offloadLink
	gr gsoReader // nil: the device does not report segment sizes
}

// ReadPacket passes idle through, so that held ACKs are flushed exactly
// when they would be without observation.
func (l *observedOffloadLink) ReadPacket(p []byte, idle func()) (int, bool, error) {
	var n, gso int
	var csumOK bool
	var err error
	if l.gr != nil {
		n, csumOK, gso, err = l.gr.ReadPacketGSO(p, idle)
	} else {
		n, csumOK, err = l.ol.ReadPacket(p, idle)
	}
	if n > 0 && err == nil {
		l.obs.seeRead(p[:n], csumOK, gso)
	}
	return n, csumOK, err
}

// tryReader is stack.ReadAheadLink's extra method, and tryGSOReader its
// counterpart with the segment size (tun.Device has both).
type tryReader interface {
	TryReadPacket(p []byte) (n int, csumOK, ok bool, err error)
}
type tryGSOReader interface {
	TryReadPacketGSO(p []byte) (n int, csumOK bool, gsoSize int, ok bool, err error)
}

// TryReadPacket reads ahead exactly when the device does (a device without
// it never has a packet waiting), so observation does not change when the
// stack reads.
func (l *observedOffloadLink) TryReadPacket(p []byte) (n int, csumOK, ok bool, err error) {
	gso := 0
	switch t := l.ol.(type) {
	case tryGSOReader:
		n, csumOK, gso, ok, err = t.TryReadPacketGSO(p)
	case tryReader:
		n, csumOK, ok, err = t.TryReadPacket(p)
	default:
		return 0, false, false, nil
	}
	if ok && n > 0 && err == nil {
		l.obs.seeRead(p[:n], csumOK, gso)
	}
	return n, csumOK, ok, err
}

func (l *observedOffloadLink) GSOMaxSize() int { return l.ol.GSOMaxSize() }

// ipv6OffloadLink is the extra method of stack.IPv6OffloadLink: the link
// takes IPv6 super-segments in WriteGSO and may read them.
type ipv6OffloadLink interface{ GSOIPv6() bool }

// GSOIPv6 answers as the device does (false when it does not say), so that
// the stack hands IPv6 super-segments to an observed device exactly when
// it would to the device itself.
func (l *observedOffloadLink) GSOIPv6() bool {
	g, ok := l.ol.(ipv6OffloadLink)
	return ok && g.GSOIPv6()
}

// pollGater is stack.PollGater.
type pollGater interface{ SetPollGate(gate func() bool) }

// SetPollGate hands the stack's busy-poll gate to the device, so that the
// device polls exactly as it would unobserved (a device without busy
// polling has no gate to take).
func (l *observedOffloadLink) SetPollGate(gate func() bool) {
	if g, ok := l.ol.(pollGater); ok {
		g.SetPollGate(gate)
	}
}

// WriteGSO hands the segment to the device first and records it only once
// the device took it, as Write does.
func (l *observedOffloadLink) WriteGSO(hdr, payload []byte, mss int) (int, error) {
	n, err := l.ol.WriteGSO(hdr, payload, mss)
	if err == nil {
		l.obs.seeSegments(hdr, payload, mss)
	}
	return n, err
}
