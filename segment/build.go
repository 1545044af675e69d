package segment

import "encoding/binary"

// TCPHeaderLen returns the TCP header length the builders write for o: 20
// plus TCPOptionsLen(o).
func TCPHeaderLen(o *Options) int { return TCPMinHeaderLen + TCPOptionsLen(o) }

// IPv4TCPHeaderLen returns the bytes of IPv4 and TCP header the builders
// write in front of seg's payload: the payload goes at this offset.
func IPv4TCPHeaderLen(seg *Segment) int { return IPv4MinHeaderLen + TCPHeaderLen(&seg.Options) }

// BuildIPv4TCP writes seg as a complete IPv4 packet into buf: a 20-byte IPv4
// header (no options, DF set, TOS 0, the given ID and TTL), the TCP header
// with seg.Options (see TCPOptionsLen), and a copy of seg.Payload, with both
// checksums. It returns the packet length. seg.Src and seg.Dst must be IPv4
// (ErrAddress); buf must be long enough (ErrBufferTooSmall); the packet must
// fit the 16-bit total length (ErrPayloadTooLarge). seg.Payload may already
// sit at its final place in buf (offset IPv4TCPHeaderLen(seg)); it may also
// overlap buf elsewhere (copy is a memmove). Never allocates.
func BuildIPv4TCP(buf []byte, seg *Segment, ipID uint16, ttl uint8) (int, error) {
	if !is4(seg.Src) || !is4(seg.Dst) {
		return 0, ErrAddress
	}
	l, hl, err := tcpLayout(buf, seg, len(seg.Payload), IPv4MinHeaderLen, IPv4MaxTotalLen, true)
	if err != nil {
		return 0, err
	}
	copy(buf[hl:], seg.Payload)
	return writeIPv4TCP(buf, seg, len(seg.Payload), ipID, ttl, l), nil
}

// BuildIPv4TCPHeaders is BuildIPv4TCP for a payload of payloadLen bytes
// that the caller has already placed in buf at offset IPv4TCPHeaderLen(seg)
// (headroom-first send path: payload written once, headers in front of it).
// seg.Payload is ignored. It writes the headers, computes both checksums
// over the headers and the payload in place, and returns the packet length.
func BuildIPv4TCPHeaders(buf []byte, seg *Segment, payloadLen int, ipID uint16, ttl uint8) (int, error) {
	if !is4(seg.Src) || !is4(seg.Dst) {
		return 0, ErrAddress
	}
	l, _, err := tcpLayout(buf, seg, payloadLen, IPv4MinHeaderLen, IPv4MaxTotalLen, true)
	if err != nil {
		return 0, err
	}
	return writeIPv4TCP(buf, seg, payloadLen, ipID, ttl, l), nil
}

// BuildIPv4TCPHeadersOnly writes the IPv4 and TCP headers of seg for a
// payload of payloadLen bytes that is not in buf, and returns their length
// (IPv4TCPHeaderLen(seg)). The IPv4 header checksum is computed; the TCP
// checksum field is left zero, for a link that completes it (virtio-net
// checksum offload: the TUN device fills in the pseudo-header sum and the
// kernel the rest). seg.Payload is ignored. Never allocates.
func BuildIPv4TCPHeadersOnly(buf []byte, seg *Segment, payloadLen int, ipID uint16, ttl uint8) (int, error) {
	if !is4(seg.Src) || !is4(seg.Dst) {
		return 0, ErrAddress
	}
	l, hl, err := tcpLayout(buf, seg, payloadLen, IPv4MinHeaderLen, IPv4MaxTotalLen, false)
	if err != nil {
		return 0, err
	}
	putIPv4TCPHeaders(buf[:hl], seg, payloadLen, ipID, ttl, l)
	return hl, nil
}

// tcpLayout does the checks every TCP builder does for a packet with an
// ipHL-byte IP header, seg's TCP header and payloadLen bytes of payload:
// the packet fits maxLen (ErrPayloadTooLarge) and buf holds it, or only its
// headers when whole is false (ErrBufferTooSmall). It returns the option
// layout and the length of both headers, where the payload starts.
func tcpLayout(buf []byte, seg *Segment, payloadLen, ipHL, maxLen int, whole bool) (optLayout, int, error) {
	l := layoutOf(&seg.Options)
	hl := ipHL + TCPMinHeaderLen + l.length
	if payloadLen < 0 || hl+payloadLen > maxLen {
		return l, 0, ErrPayloadTooLarge
	}
	need := hl
	if whole {
		need += payloadLen
	}
	if len(buf) < need {
		return l, 0, ErrBufferTooSmall
	}
	return l, hl, nil
}

// writeIPv4TCP writes both headers in front of the payloadLen bytes already
// in place and fills in both checksums. The caller has checked everything.
func writeIPv4TCP(buf []byte, seg *Segment, payloadLen int, ipID uint16, ttl uint8, l optLayout) int {
	tcpHL := TCPMinHeaderLen + l.length
	total := IPv4MinHeaderLen + tcpHL + payloadLen
	putIPv4TCPHeaders(buf, seg, payloadLen, ipID, ttl, l)
	t := buf[IPv4MinHeaderLen:total]
	putTCPChecksum(t, ipv4PseudoSum(buf[ipv4Src:ipv4Src+4], buf[ipv4Dst:ipv4Dst+4], ProtocolTCP, len(t)))
	return total
}

// putIPv4TCPHeaders writes the IPv4 header (with its checksum) and the TCP
// header with options, TCP checksum zero, for a payload of payloadLen bytes.
// buf holds at least both headers; the caller has checked everything.
func putIPv4TCPHeaders(buf []byte, seg *Segment, payloadLen int, ipID uint16, ttl uint8, l optLayout) {
	tcpHL := TCPMinHeaderLen + l.length
	h := IPv4Header{ID: ipID, DF: true, TTL: ttl, Protocol: ProtocolTCP, Src: seg.Src, Dst: seg.Dst}
	PutIPv4Header(buf, &h, tcpHL+payloadLen)
	putTCPHeader(buf[IPv4MinHeaderLen:IPv4MinHeaderLen+tcpHL], seg, l)
}

// putTCPHeader writes seg's TCP header with options into t, exactly the
// header's length, with the checksum field zero.
func putTCPHeader(t []byte, seg *Segment, l optLayout) {
	binary.BigEndian.PutUint16(t[tcpSrcPort:], seg.SrcPort)
	binary.BigEndian.PutUint16(t[tcpDstPort:], seg.DstPort)
	binary.BigEndian.PutUint32(t[tcpSeq:], uint32(seg.Seq))
	binary.BigEndian.PutUint32(t[tcpAck:], uint32(seg.Ack))
	t[tcpOffset] = byte(len(t)/4) << 4
	t[tcpFlags] = byte(seg.Flags)
	binary.BigEndian.PutUint16(t[tcpWindow:], seg.Window)
	t[tcpChecksum], t[tcpChecksum+1] = 0, 0
	binary.BigEndian.PutUint16(t[tcpUrgent:], seg.Urgent)
	putOptions(t[TCPMinHeaderLen:], &seg.Options, l)
}

// putTCPChecksum fills in the checksum of the TCP segment t (header and
// payload, checksum field zero) given its pseudo-header sum ps.
func putTCPChecksum(t []byte, ps uint32) {
	binary.BigEndian.PutUint16(t[tcpChecksum:], Checksum(t, ps))
}
