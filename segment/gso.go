package segment

import "encoding/binary"

// Cutting a TCP/IPv4 super-segment (one packet standing for several, as a
// link with segmentation offload takes or hands over: virtio-net GSO_TCPV4)
// into the segments that go on the wire. The cut follows Linux's
// (inet_gso_segment and tcp_gso_segment), so that a record of the wire
// segments (a pcap) shows what the kernel sends:
//   - every segment carries a copy of the headers, options included, and
//     mss payload bytes (the last one the rest);
//   - the IPv4 total length and header checksum are the segment's own, and
//     the IPv4 ID goes up by one per segment;
//   - the sequence number goes up by mss per segment;
//   - CWR stays on the first segment only, FIN and PSH on the last only;
//   - the TCP checksum is complete (RFC 9293 3.1), whatever the checksum
//     field of the super-segment held (a link with checksum offload leaves
//     a partial sum there, or nothing).

// GSOSegments returns how many wire segments a super-segment with
// payloadLen bytes of payload becomes when cut at mss: at least one (a
// segment without payload, or a payload of at most mss, stays whole).
func GSOSegments(payloadLen, mss int) int {
	if payloadLen <= mss || mss <= 0 {
		return 1
	}
	return (payloadLen + mss - 1) / mss
}

// CutIPv4TCP writes wire segment i (from 0 to GSOSegments-1) of the
// super-segment made of hdr, exactly its IPv4 and TCP headers, and
// payload, cut at mss payload bytes, into dst and returns its length.
// hdr's total length, checksums and IPv4 ID are those of the super-segment
// (the checksums need not be valid: both are recomputed). Bad headers give
// ErrIHL, ErrDataOffset or ErrProtocol, a short dst ErrBufferTooSmall, an i
// out of range ErrShort. Never allocates.
func CutIPv4TCP(dst, hdr, payload []byte, mss, i int) (int, error) {
	ipHL, tcpHL, err := ipv4TCPHeaderLens(hdr)
	if err != nil {
		return 0, err
	}
	if ipHL+tcpHL != len(hdr) {
		return 0, ErrDataOffset
	}
	total, count, err := gsoCopy(dst, hdr, payload, mss, i, IPv4MaxTotalLen)
	if err != nil {
		return 0, err
	}
	ip := dst[:ipHL]
	binary.BigEndian.PutUint16(ip[ipv4TotalLen:], uint16(total))
	id := binary.BigEndian.Uint16(hdr[ipv4ID:])
	binary.BigEndian.PutUint16(ip[ipv4ID:], id+uint16(i))
	ip[ipv4Checksum], ip[ipv4Checksum+1] = 0, 0
	binary.BigEndian.PutUint16(ip[ipv4Checksum:], Checksum(ip, 0))
	t := dst[ipHL:total]
	cutTCP(t, mss, i, count, ipv4PseudoSum(ip[ipv4Src:ipv4Src+4], ip[ipv4Dst:ipv4Dst+4], ProtocolTCP, len(t)))
	return total, nil
}

// gsoCopy copies the headers hdr and the payload of wire segment i (of
// count, cut at mss) into dst and returns the segment's length and count.
// The segment must fit maxLen (ErrPayloadTooLarge) and dst
// (ErrBufferTooSmall); an i out of range is ErrShort.
func gsoCopy(dst, hdr, payload []byte, mss, i, maxLen int) (total, count int, err error) {
	count = GSOSegments(len(payload), mss)
	if i < 0 || i >= count {
		return 0, 0, ErrShort
	}
	chunk := payload
	if count > 1 {
		chunk = payload[i*mss : min((i+1)*mss, len(payload))]
	}
	total = len(hdr) + len(chunk)
	if total > maxLen {
		return 0, 0, ErrPayloadTooLarge
	}
	if len(dst) < total {
		return 0, 0, ErrBufferTooSmall
	}
	copy(dst, hdr)
	copy(dst[len(hdr):], chunk)
	return total, count, nil
}

// cutTCP turns t, a copy of the super-segment's TCP header followed by
// the payload of wire segment i of count (cut at mss), into that segment:
// sequence number, flags (CWR on the first only, FIN and PSH on the last
// only, as tcp_gso_segment) and a complete checksum over the pseudo-header
// sum ps.
func cutTCP(t []byte, mss, i, count int, ps uint32) {
	seq := binary.BigEndian.Uint32(t[tcpSeq:])
	binary.BigEndian.PutUint32(t[tcpSeq:], seq+uint32(i*mss))
	if i > 0 {
		t[tcpFlags] &^= byte(FlagCWR)
	}
	if i < count-1 {
		t[tcpFlags] &^= byte(FlagFIN | FlagPSH)
	}
	t[tcpChecksum], t[tcpChecksum+1] = 0, 0
	putTCPChecksum(t, ps)
}

// SplitIPv4TCP returns the headers and payload of pkt, an IPv4 packet
// carrying TCP (its total length decides where the payload ends), for
// CutIPv4TCP. It checks the layout only, not the checksums.
func SplitIPv4TCP(pkt []byte) (hdr, payload []byte, err error) {
	ipHL, tcpHL, err := ipv4TCPHeaderLens(pkt)
	if err != nil {
		return nil, nil, err
	}
	total := int(binary.BigEndian.Uint16(pkt[ipv4TotalLen:]))
	if total < ipHL+tcpHL || total > len(pkt) {
		return nil, nil, ErrTotalLength
	}
	return pkt[:ipHL+tcpHL], pkt[ipHL+tcpHL : total], nil
}

// ipv4TCPHeaderLens returns the IPv4 and TCP header lengths at the start of
// b, which must hold both headers.
func ipv4TCPHeaderLens(b []byte) (ipHL, tcpHL int, err error) {
	if len(b) < IPv4MinHeaderLen {
		return 0, 0, ErrShort
	}
	if b[ipv4VersionIHL]>>4 != 4 {
		return 0, 0, ErrVersion
	}
	if b[ipv4Protocol] != ProtocolTCP {
		return 0, 0, ErrProtocol
	}
	ipHL = int(b[ipv4VersionIHL]&0x0f) * 4
	if ipHL < IPv4MinHeaderLen || ipHL+TCPMinHeaderLen > len(b) {
		return 0, 0, ErrIHL
	}
	tcpHL = int(b[ipHL+tcpOffset]>>4) * 4
	if tcpHL < TCPMinHeaderLen || ipHL+tcpHL > len(b) {
		return 0, 0, ErrDataOffset
	}
	return ipHL, tcpHL, nil
}
