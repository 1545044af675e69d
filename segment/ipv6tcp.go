package segment

import "encoding/binary"

// TCP over IPv6 (RFC 8200 8): parsing, building and cutting super-segments.

// ParseIPv6TCP validates pkt as an IPv6 packet carrying a TCP segment and
// decodes it into seg, which it overwrites. Checks, in order: the fixed
// header and the extension headers (WalkIPv6 and its errors), that the
// packet is not a fragment (ErrFragment; an atomic fragment, RFC 6946, is
// a whole datagram and is accepted), next header 6 (ErrProtocol, also for
// No Next Header), then as ParseTCP: TCP header length (ErrShort,
// ErrDataOffset), the checksum over the IPv6 pseudo-header (ErrTCPChecksum,
// RFC 8200 8.1) and the options (ErrBadOption). A caller that wants to
// answer with an ICMPv6 Parameter Problem walks the headers itself
// (WalkIPv6) to learn the pointer. seg.Payload is a sub-slice of pkt.
// Never panics, never allocates.
func ParseIPv6TCP(pkt []byte, seg *Segment) error {
	var c IPv6Chain
	if err := WalkIPv6(pkt, &c); err != nil {
		return err
	}
	if c.HasFragment && !c.Fragment.Atomic() {
		return ErrFragment
	}
	if c.Protocol != ProtocolTCP {
		return ErrProtocol
	}
	ip := IPv6(pkt)
	return ParseTCP(ip.Src(), ip.Dst(), pkt[c.Offset:c.End], seg)
}

// IPv6TCPHeaderLen returns the bytes of IPv6 and TCP header the builders
// write in front of seg's payload: the payload goes at this offset.
func IPv6TCPHeaderLen(seg *Segment) int { return IPv6HeaderLen + TCPHeaderLen(&seg.Options) }

// ipv6MaxPacketLen is the longest IPv6 packet without a jumbogram.
const ipv6MaxPacketLen = IPv6HeaderLen + IPv6MaxPayloadLen

// BuildIPv6TCP writes seg as a complete IPv6 packet into buf: a 40-byte
// IPv6 header (no extension headers, traffic class 0, the given flow label,
// RFC 6437, and hop limit), the TCP header with seg.Options (see
// TCPOptionsLen) and a copy of seg.Payload, with the TCP checksum over the
// IPv6 pseudo-header (RFC 8200 8.1). It returns the packet length. seg.Src
// and seg.Dst must be IPv6 and not IPv4-mapped (ErrAddress); buf must be
// long enough (ErrBufferTooSmall); the payload length must fit 16 bits
// (ErrPayloadTooLarge). seg.Payload may already sit at its final place in
// buf (offset IPv6TCPHeaderLen(seg)) or overlap buf elsewhere. Never
// allocates.
func BuildIPv6TCP(buf []byte, seg *Segment, flowLabel uint32, hopLimit uint8) (int, error) {
	if !is6(seg.Src) || !is6(seg.Dst) {
		return 0, ErrAddress
	}
	l, hl, err := tcpLayout(buf, seg, len(seg.Payload), IPv6HeaderLen, ipv6MaxPacketLen, true)
	if err != nil {
		return 0, err
	}
	copy(buf[hl:], seg.Payload)
	return writeIPv6TCP(buf, seg, len(seg.Payload), flowLabel, hopLimit, l), nil
}

// BuildIPv6TCPHeaders is BuildIPv6TCP for a payload of payloadLen bytes
// that the caller has already placed in buf at offset IPv6TCPHeaderLen(seg).
// seg.Payload is ignored. It writes the headers, computes the checksum over
// the headers and the payload in place, and returns the packet length.
func BuildIPv6TCPHeaders(buf []byte, seg *Segment, payloadLen int, flowLabel uint32, hopLimit uint8) (int, error) {
	if !is6(seg.Src) || !is6(seg.Dst) {
		return 0, ErrAddress
	}
	l, _, err := tcpLayout(buf, seg, payloadLen, IPv6HeaderLen, ipv6MaxPacketLen, true)
	if err != nil {
		return 0, err
	}
	return writeIPv6TCP(buf, seg, payloadLen, flowLabel, hopLimit, l), nil
}

// BuildIPv6TCPHeadersOnly writes the IPv6 and TCP headers of seg for a
// payload of payloadLen bytes that is not in buf, and returns their length
// (IPv6TCPHeaderLen(seg)). The TCP checksum field is left zero, for a link
// that completes it (virtio-net checksum offload). seg.Payload is ignored.
// Never allocates.
func BuildIPv6TCPHeadersOnly(buf []byte, seg *Segment, payloadLen int, flowLabel uint32, hopLimit uint8) (int, error) {
	if !is6(seg.Src) || !is6(seg.Dst) {
		return 0, ErrAddress
	}
	l, hl, err := tcpLayout(buf, seg, payloadLen, IPv6HeaderLen, ipv6MaxPacketLen, false)
	if err != nil {
		return 0, err
	}
	putIPv6TCPHeaders(buf[:hl], seg, payloadLen, flowLabel, hopLimit, l)
	return hl, nil
}

// writeIPv6TCP writes both headers in front of the payloadLen bytes already
// in place and fills in the TCP checksum. The caller has checked everything.
func writeIPv6TCP(buf []byte, seg *Segment, payloadLen int, flowLabel uint32, hopLimit uint8, l optLayout) int {
	total := IPv6HeaderLen + TCPMinHeaderLen + l.length + payloadLen
	putIPv6TCPHeaders(buf, seg, payloadLen, flowLabel, hopLimit, l)
	t := buf[IPv6HeaderLen:total]
	putTCPChecksum(t, ipv6PseudoSum(buf[ipv6Src:ipv6Src+16], buf[ipv6Dst:ipv6Dst+16], ProtocolTCP, len(t)))
	return total
}

// putIPv6TCPHeaders writes the IPv6 header and the TCP header with options,
// TCP checksum zero, for a payload of payloadLen bytes.
func putIPv6TCPHeaders(buf []byte, seg *Segment, payloadLen int, flowLabel uint32, hopLimit uint8, l optLayout) {
	tcpHL := TCPMinHeaderLen + l.length
	h := IPv6Header{FlowLabel: flowLabel, NextHeader: ProtocolTCP, HopLimit: hopLimit, Src: seg.Src, Dst: seg.Dst}
	PutIPv6Header(buf, &h, tcpHL+payloadLen)
	putTCPHeader(buf[IPv6HeaderLen:IPv6HeaderLen+tcpHL], seg, l)
}

// CutIPv6TCP is CutIPv4TCP for IPv6 (virtio-net GSO_TCPV6): it writes wire
// segment i of the super-segment made of hdr, exactly its IPv6 header (any
// extension headers included) and TCP header, and payload, cut at mss
// payload bytes, into dst and returns its length. As Linux's
// ipv6_gso_segment and tcp_gso_segment: every segment carries a copy of
// the headers with its own payload length, the sequence number goes up by
// mss per segment, CWR stays on the first segment only, FIN and PSH on the
// last only, and the TCP checksum is complete. IPv6 has no ID to
// increment; the flow label is kept. Bad headers give ErrVersion, the
// errors of WalkIPv6, ErrFragment, ErrProtocol or ErrDataOffset, a short
// dst ErrBufferTooSmall, an i out of range ErrShort. Never allocates.
func CutIPv6TCP(dst, hdr, payload []byte, mss, i int) (int, error) {
	tcpOff, tcpHL, err := ipv6TCPHeaderLens(hdr)
	if err != nil {
		return 0, err
	}
	if tcpOff+tcpHL != len(hdr) {
		return 0, ErrDataOffset
	}
	total, count, err := gsoCopy(dst, hdr, payload, mss, i, ipv6MaxPacketLen)
	if err != nil {
		return 0, err
	}
	binary.BigEndian.PutUint16(dst[ipv6PayloadLen:], uint16(total-IPv6HeaderLen))
	t := dst[tcpOff:total]
	cutTCP(t, mss, i, count, ipv6PseudoSum(dst[ipv6Src:ipv6Src+16], dst[ipv6Dst:ipv6Dst+16], ProtocolTCP, len(t)))
	return total, nil
}

// SplitIPv6TCP returns the headers (IPv6, extension headers, TCP) and the
// payload of pkt, an IPv6 packet carrying TCP (its payload length decides
// where the payload ends), for CutIPv6TCP. It checks the layout only, not
// the checksum. Errors: those of IPv6.Validate and of CutIPv6TCP's headers.
func SplitIPv6TCP(pkt []byte) (hdr, payload []byte, err error) {
	ip := IPv6(pkt)
	if err := ip.Validate(); err != nil {
		return nil, nil, err
	}
	end := IPv6HeaderLen + int(ip.PayloadLen())
	tcpOff, tcpHL, err := ipv6TCPHeaderLens(pkt[:end])
	if err != nil {
		return nil, nil, err
	}
	return pkt[:tcpOff+tcpHL], pkt[tcpOff+tcpHL : end], nil
}

// ipv6TCPHeaderLens returns the offset and length of the TCP header in b,
// which must hold the IPv6 header, its extension headers and the TCP
// header (b may end there: the payload length field is not used).
func ipv6TCPHeaderLens(b []byte) (tcpOff, tcpHL int, err error) {
	if len(b) < IPv6HeaderLen {
		return 0, 0, ErrShort
	}
	if b[ipv6VersionTC]>>4 != 6 {
		return 0, 0, ErrVersion
	}
	var c IPv6Chain
	if err := walkIPv6(b, &c, false); err != nil {
		return 0, 0, err
	}
	if c.HasFragment && !c.Fragment.Atomic() {
		return 0, 0, ErrFragment
	}
	if c.Protocol != ProtocolTCP {
		return 0, 0, ErrProtocol
	}
	if c.Offset+TCPMinHeaderLen > len(b) {
		return 0, 0, ErrDataOffset
	}
	tcpHL = int(b[c.Offset+tcpOffset]>>4) * 4
	if tcpHL < TCPMinHeaderLen || c.Offset+tcpHL > len(b) {
		return 0, 0, ErrDataOffset
	}
	return c.Offset, tcpHL, nil
}
