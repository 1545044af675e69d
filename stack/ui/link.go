package ui

import (
	"encoding/binary"
	"net/netip"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
)

// Link wraps l so that every TCP segment the stack reads from it or writes
// to it is recorded. The wrapper offers the stack exactly the extensions l
// offers (stack.OffloadLink, stack.IPv6OffloadLink, stack.PollGater), passed
// straight through, so the stack behaves as it would on l itself; a
// super-segment is recorded once and shown as the wire segments it stands
// for. A segment
// is recorded just before Write hands it to the link, and just after Read
// got it, so that the order of the records is the order on the wire.
//
// Wrap the link the stack runs on, above any fault injection: what is
// recorded is what the stack sent and received.
func (r *Recorder) Link(l stack.Link) stack.Link {
	base := recLink{Link: l, r: r, mtu: l.MTU()}
	if ol, ok := l.(stack.OffloadLink); ok {
		gr, _ := l.(gsoReader)
		return &recOffloadLink{recLink: base, ol: ol, gr: gr}
	}
	return &base
}

// gsoReader is a device that says what segment size a super-segment it
// read stands for (tun.Device: the virtio-net gso_size).
type gsoReader interface {
	ReadPacketGSO(p []byte, idle func()) (n int, csumOK bool, gsoSize int, err error)
}

// tryGSOReader is gsoReader's counterpart for reading ahead (tun.Device).
type tryGSOReader interface {
	TryReadPacketGSO(p []byte) (n int, csumOK bool, gsoSize int, ok bool, err error)
}

// recLink is the wrapper of a link without offloads.
type recLink struct {
	stack.Link
	r   *Recorder
	mtu int
}

func (l *recLink) Read(p []byte) (int, error) {
	n, err := l.Link.Read(p)
	if n > 0 && err == nil {
		l.r.packet(p[:n], false, 0, l.mtu)
	}
	return n, err
}

// Write records the packet before handing it to the link: a TUN device
// delivers it to the kernel inside the write, and the kernel's answer can
// be read (and recorded) before the write returns, which would put the
// answer first on the ladder. A packet the link then refuses is recorded
// all the same (the stack counts it in Stats.LinkWriteErrors and treats it
// as lost on the wire).
func (l *recLink) Write(p []byte) (int, error) {
	l.r.packet(p, true, 0, l.mtu)
	return l.Link.Write(p)
}

// recOffloadLink is the wrapper of a link with offloads.
type recOffloadLink struct {
	recLink
	ol stack.OffloadLink
	gr gsoReader // nil: the device does not report segment sizes
}

// ReadPacket passes idle through, so that held ACKs are flushed exactly as
// they would be without the recorder.
func (l *recOffloadLink) ReadPacket(p []byte, idle func()) (int, bool, error) {
	n, csumOK, _, err := l.ReadPacketGSO(p, idle)
	return n, csumOK, err
}

// ReadPacketGSO is ReadPacket with the device's segment size (0 when it
// does not say), so that an observer wrapped around this one (tunstack's
// --pcap) still learns it.
func (l *recOffloadLink) ReadPacketGSO(p []byte, idle func()) (n int, csumOK bool, gso int, err error) {
	if l.gr != nil {
		n, csumOK, gso, err = l.gr.ReadPacketGSO(p, idle)
	} else {
		n, csumOK, err = l.ol.ReadPacket(p, idle)
	}
	if n > 0 && err == nil {
		l.r.packet(p[:n], false, gso, l.mtu)
	}
	return n, csumOK, gso, err
}

// TryReadPacket reads ahead exactly when the link does (stack.ReadAheadLink;
// a link without it never has a packet waiting), recording what it reads.
func (l *recOffloadLink) TryReadPacket(p []byte) (n int, csumOK, ok bool, err error) {
	n, csumOK, _, ok, err = l.TryReadPacketGSO(p)
	return n, csumOK, ok, err
}

// TryReadPacketGSO is TryReadPacket with the device's segment size, as
// ReadPacketGSO is ReadPacket's.
func (l *recOffloadLink) TryReadPacketGSO(p []byte) (n int, csumOK bool, gso int, ok bool, err error) {
	switch t := l.ol.(type) {
	case tryGSOReader:
		n, csumOK, gso, ok, err = t.TryReadPacketGSO(p)
	case stack.ReadAheadLink:
		n, csumOK, ok, err = t.TryReadPacket(p)
	default:
		return 0, false, 0, false, nil
	}
	if ok && n > 0 && err == nil {
		l.r.packet(p[:n], false, gso, l.mtu)
	}
	return n, csumOK, gso, ok, err
}

func (l *recOffloadLink) GSOMaxSize() int { return l.ol.GSOMaxSize() }

// WriteGSO records the segment and hands it to the link, as Write does: hdr
// is exactly the IP and TCP headers, payload is cut at mss.
func (l *recOffloadLink) WriteGSO(hdr, payload []byte, mss int) (int, error) {
	var h recHdr
	if parseTCP(hdr, &h, true) { // before the link, which may overwrite hdr
		h.e.n = uint32(len(payload))
		l.r.record(&h.hdr, true, segment.GSOSegments(len(payload), mss), mss)
	}
	return l.ol.WriteGSO(hdr, payload, mss)
}

// GSOIPv6 answers as the link does (false when it does not say).
func (l *recOffloadLink) GSOIPv6() bool {
	g, ok := l.ol.(stack.IPv6OffloadLink)
	return ok && g.GSOIPv6()
}

// SetPollGate hands the stack's busy-poll gate to the link, if it polls.
func (l *recOffloadLink) SetPollGate(gate func() bool) {
	if g, ok := l.ol.(stack.PollGater); ok {
		g.SetPollGate(gate)
	}
}

// recHdr is a parsed packet: the recorded fields and the header length.
type recHdr struct {
	hdr
	hdrLen int // IP and TCP headers
}

// packet records the TCP segment in pkt, if it is one. A packet longer than
// the MTU, or one the device says stands for segments of gso bytes, is a
// super-segment: it stands for wire segments of gso bytes (or the
// largest the MTU allows with these headers when the device does not say).
func (r *Recorder) packet(pkt []byte, out bool, gso, mtu int) {
	var h recHdr
	if !parseTCP(pkt, &h, false) {
		return
	}
	pieces := 1
	if gso > 0 || len(pkt) > mtu {
		if gso <= 0 {
			gso = mtu - h.hdrLen
		}
		pieces = segment.GSOSegments(int(h.e.n), gso)
	}
	r.record(&h.hdr, out, pieces, gso)
}

// parseTCP fills h from a TCP packet, IPv4 or IPv6, without allocating and
// without checking checksums (the stack validates; the recorder only
// looks). Any byte string is safe. With hdrOnly, pkt is exactly the headers
// of a packet whose payload is elsewhere (WriteGSO): the IP length fields
// are not compared with len(pkt). IP fragments are not recorded: the stack
// sees the reassembled segment only.
func parseTCP(pkt []byte, h *recHdr, hdrOnly bool) bool {
	var t []byte
	var base int
	switch segment.IPVersion(pkt) {
	case 4:
		if len(pkt) < segment.IPv4MinHeaderLen || pkt[9] != segment.ProtocolTCP {
			return false
		}
		ihl := int(pkt[0]&0x0f) * 4
		end := int(binary.BigEndian.Uint16(pkt[2:4]))
		if hdrOnly {
			end = len(pkt)
		}
		// RFC 791: fragment offset or more-fragments set.
		if ihl < segment.IPv4MinHeaderLen || end > len(pkt) || end < ihl+segment.TCPMinHeaderLen ||
			binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 {
			return false
		}
		t, base = pkt[ihl:end], ihl
		h.src = netip.AddrFrom4([4]byte(pkt[12:16]))
		h.dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	case 6:
		if hdrOnly {
			// The stack writes no extension headers (RFC 8200 4).
			if len(pkt) < segment.IPv6HeaderLen+segment.TCPMinHeaderLen || pkt[6] != segment.ProtocolTCP {
				return false
			}
			t, base = pkt[segment.IPv6HeaderLen:], segment.IPv6HeaderLen
		} else {
			var c segment.IPv6Chain
			if segment.WalkIPv6(pkt, &c) != nil || c.Protocol != segment.ProtocolTCP ||
				c.HasFragment && !c.Fragment.Atomic() || c.End-c.Offset < segment.TCPMinHeaderLen {
				return false
			}
			t, base = pkt[c.Offset:c.End], c.Offset
		}
		ip := segment.IPv6(pkt)
		h.src, h.dst = ip.Src(), ip.Dst()
	default:
		return false
	}
	off := int(t[12]>>4) * 4
	if off < segment.TCPMinHeaderLen || off > len(t) {
		return false
	}
	h.hdrLen = base + off
	h.srcPort = binary.BigEndian.Uint16(t[0:2])
	h.dstPort = binary.BigEndian.Uint16(t[2:4])
	e := &h.e
	e.seq = binary.BigEndian.Uint32(t[4:8])
	e.ack = binary.BigEndian.Uint32(t[8:12])
	e.flags = segment.Flags(t[13])
	e.win = binary.BigEndian.Uint16(t[14:16])
	e.n = uint32(len(t) - off)
	var o segment.Options
	if segment.ParseOptions(t[segment.TCPMinHeaderLen:off], &o) != nil {
		return true // malformed options are recorded as none
	}
	if o.HasTimestamp {
		e.bits |= bitTS
		e.tsval, e.tsecr = o.TSVal, o.TSEcr
	}
	if e.flags&segment.FlagSYN != 0 {
		if o.HasMSS {
			e.bits |= bitMSS
			e.mss = o.MSS
		}
		if o.HasWScale {
			e.bits |= bitWScale
			e.wscale = o.WScale
		}
		if o.SACKPermitted {
			e.bits |= bitSACKOK
		}
	}
	return true
}
