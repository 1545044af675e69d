package segment

import (
	"encoding/binary"
	"net/netip"
)

// UDPHeaderLen is the length of the UDP header (RFC 768).
const UDPHeaderLen = 8

// UDP is a view of a UDP datagram (RFC 768). Until Validate (or
// ParseIPv4UDP) has succeeded, accessors may panic on a short slice; after
// it they never panic.
type UDP []byte

// Validate checks that u holds a header (ErrShort) and that the length field
// is at least 8 and within u (ErrUDPLength). The checksum needs the IP
// addresses; ParseIPv4UDP checks it.
func (u UDP) Validate() error {
	if len(u) < UDPHeaderLen {
		return ErrShort
	}
	if l := int(u.Length()); l < UDPHeaderLen || l > len(u) {
		return ErrUDPLength
	}
	return nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:]) }

// Length returns the length field: header plus data.
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[4:]) }

// Checksum returns the checksum field (0: none was computed).
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[6:]) }

// Payload returns the data, bounded by the length field, aliasing u.
func (u UDP) Payload() []byte { return u[UDPHeaderLen:u.Length()] }

// ParseUDP validates the UDP datagram b (the IP payload, after any IPv6
// extension headers) carried from src to dst and returns its ports and
// payload (aliasing b, bounded by the length field). The family of src
// decides the checksum rule: over IPv4 a zero checksum means none was sent
// and is accepted (RFC 768); over IPv6 the checksum is mandatory and a zero
// one is ErrUDPZeroChecksum (RFC 8200 8.1: "IPv6 receivers must discard UDP
// packets containing a zero checksum"; the tunnel exception of RFC 6935 is
// not implemented, as Linux by default). Errors: ErrShort, ErrUDPLength,
// ErrUDPChecksum, ErrUDPZeroChecksum, ErrAddress (src and dst of different
// families). Never allocates, never panics.
func ParseUDP(src, dst netip.Addr, b []byte) (srcPort, dstPort uint16, payload []byte, err error) {
	v6 := is6(src)
	if v6 != is6(dst) || !src.IsValid() || !dst.IsValid() {
		return 0, 0, nil, ErrAddress
	}
	u := UDP(b)
	if err := u.Validate(); err != nil {
		return 0, 0, nil, err
	}
	l := int(u.Length())
	u = u[:l]
	switch {
	case u.Checksum() != 0:
		if Checksum(u, PseudoHeaderSum(src, dst, ProtocolUDP, l)) != 0 {
			return 0, 0, nil, ErrUDPChecksum
		}
	case v6:
		return 0, 0, nil, ErrUDPZeroChecksum
	}
	return u.SrcPort(), u.DstPort(), u[UDPHeaderLen:], nil
}

// ParseIPv4UDP validates pkt as an IPv4 packet carrying UDP and returns the
// endpoints and the payload (aliasing pkt). Errors: those of IPv4.Validate,
// ErrProtocol, and those of ParseUDP (a zero checksum means none was sent
// and is accepted, RFC 768).
func ParseIPv4UDP(pkt []byte) (src, dst netip.AddrPort, payload []byte, err error) {
	ip := IPv4(pkt)
	if err := ip.Validate(); err != nil {
		return src, dst, nil, err
	}
	if ip.Protocol() != ProtocolUDP {
		return src, dst, nil, ErrProtocol
	}
	s, d := ip.Src(), ip.Dst()
	sp, dp, payload, err := ParseUDP(s, d, ip.Payload())
	if err != nil {
		return src, dst, nil, err
	}
	return netip.AddrPortFrom(s, sp), netip.AddrPortFrom(d, dp), payload, nil
}

// ParseIPv6UDP validates pkt as an IPv6 packet carrying UDP, after any
// extension headers (WalkIPv6), and returns the endpoints and the payload
// (aliasing pkt). A fragment is ErrFragment (reassemble it first; an atomic
// fragment, RFC 6946, is a whole datagram and accepted). Errors: those of
// WalkIPv6, ErrFragment, ErrProtocol, and those of ParseUDP (a zero
// checksum is ErrUDPZeroChecksum, RFC 8200 8.1). Never allocates.
func ParseIPv6UDP(pkt []byte) (src, dst netip.AddrPort, payload []byte, err error) {
	var c IPv6Chain
	if err := WalkIPv6(pkt, &c); err != nil {
		return src, dst, nil, err
	}
	if c.HasFragment && !c.Fragment.Atomic() {
		return src, dst, nil, ErrFragment
	}
	if c.Protocol != ProtocolUDP {
		return src, dst, nil, ErrProtocol
	}
	ip := IPv6(pkt)
	s, d := ip.Src(), ip.Dst()
	sp, dp, payload, err := ParseUDP(s, d, pkt[c.Offset:c.End])
	if err != nil {
		return src, dst, nil, err
	}
	return netip.AddrPortFrom(s, sp), netip.AddrPortFrom(d, dp), payload, nil
}

// BuildIPv4UDP writes an IPv4/UDP packet from src to dst carrying payload
// into buf and returns its length: 20-byte IPv4 header (ID 0, DF clear, TTL
// DefaultTTL) and a UDP header with the checksum computed (a computed zero is
// sent as 0xffff, RFC 768). Errors: ErrAddress, ErrPayloadTooLarge,
// ErrBufferTooSmall. payload may overlap buf.
func BuildIPv4UDP(buf []byte, src, dst netip.AddrPort, payload []byte) (int, error) {
	return BuildUDP(buf, src, dst, payload, 0, 0)
}

// BuildIPv6UDP writes an IPv6/UDP packet from src to dst carrying payload
// into buf and returns its length: a 40-byte IPv6 header (traffic class
// 0, the given flow label, hop limit DefaultHopLimit, no extension
// headers) and a UDP header with the checksum, which IPv6 makes mandatory
// (RFC 8200 8.1: a computed zero is sent as 0xffff). Errors: ErrAddress,
// ErrPayloadTooLarge, ErrBufferTooSmall. payload may overlap buf.
func BuildIPv6UDP(buf []byte, src, dst netip.AddrPort, payload []byte, flowLabel uint32) (int, error) {
	return BuildUDP(buf, src, dst, payload, 0, flowLabel)
}

// UDPHeadersLen returns the length of the IP and UDP headers BuildUDP
// writes in front of the payload for a datagram from src: 28 for IPv4, 48
// for IPv6.
func UDPHeadersLen(src netip.Addr) int {
	if src.Is4() {
		return IPv4MinHeaderLen + UDPHeaderLen
	}
	return IPv6HeaderLen + UDPHeaderLen
}

// BuildUDP writes a UDP packet from src to dst carrying payload into buf,
// over IPv4 or IPv6 by the addresses' family, and returns its length. id
// is the IPv4 identification (ignored for IPv6; DF is clear, so a sender
// that may have the datagram fragmented picks one that is unique, RFC 6864
// 4.1), flowLabel the IPv6 flow label (ignored for IPv4). TTL / hop limit
// are DefaultTTL and DefaultHopLimit. The checksum is always computed; a
// computed zero is sent as 0xffff (RFC 768, RFC 8200 8.1). Errors:
// ErrAddress (mixed families, IPv4-mapped IPv6), ErrPayloadTooLarge (the
// IPv4 total length or the IPv6 payload length would exceed 65535),
// ErrBufferTooSmall. payload may overlap buf. Never allocates.
func BuildUDP(buf []byte, src, dst netip.AddrPort, payload []byte, id uint16, flowLabel uint32) (int, error) {
	sa, da := src.Addr(), dst.Addr()
	var hl, max int
	switch {
	case is4(sa) && is4(da):
		hl, max = IPv4MinHeaderLen, IPv4MaxTotalLen
	case is6(sa) && is6(da):
		hl, max = IPv6HeaderLen, IPv6HeaderLen+IPv6MaxPayloadLen
	default:
		return 0, ErrAddress
	}
	ul := UDPHeaderLen + len(payload)
	n := hl + ul
	if n > max {
		return 0, ErrPayloadTooLarge
	}
	if len(buf) < n {
		return 0, ErrBufferTooSmall
	}
	copy(buf[hl+UDPHeaderLen:n], payload)
	var ps uint32
	if hl == IPv4MinHeaderLen {
		h := IPv4Header{ID: id, TTL: DefaultTTL, Protocol: ProtocolUDP, Src: sa, Dst: da}
		PutIPv4Header(buf, &h, ul)
		ps = ipv4PseudoSum(buf[ipv4Src:ipv4Src+4], buf[ipv4Dst:ipv4Dst+4], ProtocolUDP, ul)
	} else {
		h := IPv6Header{FlowLabel: flowLabel, NextHeader: ProtocolUDP, HopLimit: DefaultHopLimit, Src: sa, Dst: da}
		PutIPv6Header(buf, &h, ul)
		ps = ipv6PseudoSum(buf[ipv6Src:ipv6Src+16], buf[ipv6Dst:ipv6Dst+16], ProtocolUDP, ul)
	}
	u := buf[hl:n]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(ul))
	u[6], u[7] = 0, 0
	c := Checksum(u, ps)
	if c == 0 {
		c = 0xffff // RFC 768: "If the computed checksum is zero, it is transmitted as all ones"
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return n, nil
}
