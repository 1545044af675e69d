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

// ParseIPv4UDP validates pkt as an IPv4 packet carrying UDP and returns the
// endpoints and the payload (aliasing pkt). Errors: those of IPv4.Validate,
// ErrProtocol, ErrShort, ErrUDPLength, ErrUDPChecksum (a zero checksum
// means none was sent and is accepted, RFC 768).
func ParseIPv4UDP(pkt []byte) (src, dst netip.AddrPort, payload []byte, err error) {
	ip := IPv4(pkt)
	if err := ip.Validate(); err != nil {
		return src, dst, nil, err
	}
	if ip.Protocol() != ProtocolUDP {
		return src, dst, nil, ErrProtocol
	}
	u := UDP(ip.Payload())
	if err := u.Validate(); err != nil {
		return src, dst, nil, err
	}
	l := int(u.Length())
	u = u[:l]
	if u.Checksum() != 0 {
		if Checksum(u, ipv4PseudoSum(pkt[ipv4Src:ipv4Src+4], pkt[ipv4Dst:ipv4Dst+4], ProtocolUDP, l)) != 0 {
			return src, dst, nil, ErrUDPChecksum
		}
	}
	return netip.AddrPortFrom(ip.Src(), u.SrcPort()), netip.AddrPortFrom(ip.Dst(), u.DstPort()), u[UDPHeaderLen:], nil
}

// BuildIPv4UDP writes an IPv4/UDP packet from src to dst carrying payload
// into buf and returns its length: 20-byte IPv4 header (ID 0, DF clear, TTL
// DefaultTTL) and a UDP header with the checksum computed (a computed zero is
// sent as 0xffff, RFC 768). Errors: ErrAddress, ErrPayloadTooLarge,
// ErrBufferTooSmall. payload may overlap buf.
func BuildIPv4UDP(buf []byte, src, dst netip.AddrPort, payload []byte) (int, error) {
	if !is4(src.Addr()) || !is4(dst.Addr()) {
		return 0, ErrAddress
	}
	ul := UDPHeaderLen + len(payload)
	n := IPv4MinHeaderLen + ul
	if n > IPv4MaxTotalLen {
		return 0, ErrPayloadTooLarge
	}
	if len(buf) < n {
		return 0, ErrBufferTooSmall
	}
	copy(buf[IPv4MinHeaderLen+UDPHeaderLen:n], payload)
	h := IPv4Header{TTL: DefaultTTL, Protocol: ProtocolUDP, Src: src.Addr(), Dst: dst.Addr()}
	PutIPv4Header(buf, &h, ul)
	u := buf[IPv4MinHeaderLen:n]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(ul))
	u[6], u[7] = 0, 0
	c := Checksum(u, ipv4PseudoSum(buf[ipv4Src:ipv4Src+4], buf[ipv4Dst:ipv4Dst+4], ProtocolUDP, ul))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return n, nil
}
