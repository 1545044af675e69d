package segment

import (
	"encoding/binary"
	"net/netip"
)

// Parse decodes one TCP packet as read from the link into seg, dispatching
// on the IP version nibble: version 4 goes to ParseIPv4TCP, version 6 to
// ParseIPv6TCP; anything else returns ErrVersion. An empty packet returns
// ErrShort. Never panics, never allocates.
func Parse(pkt []byte, seg *Segment) error {
	switch IPVersion(pkt) {
	case 4:
		return ParseIPv4TCP(pkt, seg)
	case 6:
		return ParseIPv6TCP(pkt, seg)
	case 0:
		if len(pkt) == 0 {
			return ErrShort
		}
	}
	return ErrVersion
}

// ParseIPv4TCP validates pkt as an IPv4 packet carrying a TCP segment and
// decodes it into seg, which it overwrites. Checks, in order: the IPv4 header
// (IPv4.Validate), protocol 6 (ErrProtocol), the TCP header length
// (ErrShort, ErrDataOffset), the TCP checksum over the pseudo-header
// (ErrTCPChecksum, RFC 9293 3.1 and MUST-2/MUST-3), and the options
// (ErrBadOption). seg.Payload is a sub-slice of pkt. Never panics, never
// allocates.
func ParseIPv4TCP(pkt []byte, seg *Segment) error {
	ip := IPv4(pkt)
	if err := ip.Validate(); err != nil {
		return err
	}
	if ip.Protocol() != ProtocolTCP {
		return ErrProtocol
	}
	return ParseTCP(ip.Src(), ip.Dst(), ip.Payload(), seg)
}

// ParseTCP is ParseIPv4TCP's second half, for a caller that has already
// validated the IP header itself: tcp is the IP payload (exactly, bounded by
// the IP length), src and dst the IP addresses, used for the pseudo-header
// checksum. IPv6 addresses select the IPv6 pseudo-header.
func ParseTCP(src, dst netip.Addr, tcp []byte, seg *Segment) error {
	t := TCP(tcp)
	if err := t.Validate(); err != nil {
		return err
	}
	if Checksum(t, PseudoHeaderSum(src, dst, ProtocolTCP, len(t))) != 0 {
		return ErrTCPChecksum
	}
	return decodeTCP(src, dst, t, seg)
}

// ParseTCPTrusted is ParseTCP without the checksum test, for a segment
// whose checksum the link has vouched for: a TUN device with virtio-net
// offloads hands the kernel's own segments over with a partial checksum
// (NEEDS_CSUM) that only the pseudo-header sum fills in.
func ParseTCPTrusted(src, dst netip.Addr, tcp []byte, seg *Segment) error {
	t := TCP(tcp)
	if err := t.Validate(); err != nil {
		return err
	}
	return decodeTCP(src, dst, t, seg)
}

// decodeTCP fills seg from a length-validated, checksummed TCP view.
func decodeTCP(src, dst netip.Addr, t TCP, seg *Segment) error {
	hl := t.HeaderLen()
	if err := ParseOptions(t[TCPMinHeaderLen:hl], &seg.Options); err != nil {
		return err
	}
	seg.Src, seg.Dst = src, dst
	seg.SrcPort = binary.BigEndian.Uint16(t[tcpSrcPort:])
	seg.DstPort = binary.BigEndian.Uint16(t[tcpDstPort:])
	seg.Seq = Seq(binary.BigEndian.Uint32(t[tcpSeq:]))
	seg.Ack = Seq(binary.BigEndian.Uint32(t[tcpAck:]))
	seg.Flags = Flags(t[tcpFlags])
	seg.Window = binary.BigEndian.Uint16(t[tcpWindow:])
	seg.Urgent = binary.BigEndian.Uint16(t[tcpUrgent:])
	seg.Payload = t[hl:len(t):len(t)]
	return nil
}
