package segment

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 header layout (RFC 8200 3).
const (
	IPv6HeaderLen = 40
	// IPv6MinMTU is the smallest link MTU IPv6 allows (RFC 8200 5), the
	// floor of path MTU discovery (RFC 8201) and the size an ICMPv6 error
	// must fit in (RFC 4443 2.4(c)).
	IPv6MinMTU = 1280
	// IPv6MaxPayloadLen is the largest payload the 16-bit payload length
	// field can describe (jumbograms, RFC 2675, are not supported).
	IPv6MaxPayloadLen = 65535

	ipv6VersionTC  = 0
	ipv6PayloadLen = 4
	ipv6NextHeader = 6
	ipv6HopLimit   = 7
	ipv6Src        = 8
	ipv6Dst        = 24

	ipv6FlowLabelMask = 0x000fffff
)

// IPv6 next-header values (IANA "Assigned Internet Protocol Numbers"; the
// extension headers of RFC 8200 4). TCP and UDP share the IPv4 numbers.
const (
	ProtocolHopByHop = 0
	ProtocolRouting  = 43
	ProtocolFragment = 44
	ProtocolICMPv6   = 58
	ProtocolNoNext   = 59
	ProtocolDestOpts = 60
)

// DefaultHopLimit is the hop limit of packets this package builds when the
// caller has no opinion: 64, Linux's default (RFC 8200 3 leaves it to the
// node; RFC 4861 6.3.2 would take it from router advertisements, which a TUN
// never carries).
const DefaultHopLimit = 64

// IPv6 is a view of an IPv6 packet (fixed header, extension headers and
// payload). Accessors read the fixed header at fixed offsets and do not copy.
// Until Validate has returned nil they may panic on a short slice; after it
// they never panic.
type IPv6 []byte

// Version returns the version field (6 for a valid packet).
func (ip IPv6) Version() uint8 { return ip[ipv6VersionTC] >> 4 }

// TrafficClass returns the traffic class byte (DSCP and ECN, RFC 8200 7,
// RFC 2474, RFC 3168).
func (ip IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(ip[ipv6VersionTC:]) >> 4)
}

// FlowLabel returns the 20-bit flow label (RFC 8200 6, RFC 6437).
func (ip IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(ip[ipv6VersionTC:]) & ipv6FlowLabelMask
}

// PayloadLen returns the payload length field: the bytes after the fixed
// header, extension headers included.
func (ip IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(ip[ipv6PayloadLen:]) }

// NextHeader returns the type of the header after the fixed header: an
// extension header or the upper-layer protocol.
func (ip IPv6) NextHeader() uint8 { return ip[ipv6NextHeader] }

// HopLimit returns the hop limit field.
func (ip IPv6) HopLimit() uint8 { return ip[ipv6HopLimit] }

// Src returns the source address.
func (ip IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(ip[ipv6Src : ipv6Src+16])) }

// Dst returns the destination address.
func (ip IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(ip[ipv6Dst : ipv6Dst+16])) }

// Payload returns everything after the fixed header, extension headers
// included, bounded by PayloadLen (bytes past it, e.g. link padding, are
// ignored), aliasing ip.
func (ip IPv6) Payload() []byte { return ip[IPv6HeaderLen : IPv6HeaderLen+int(ip.PayloadLen())] }

// Validate checks what the accessors rely on: length (ErrShort), version
// (ErrVersion), a jumbogram (ErrJumbogram) and the payload length against
// the buffer (ErrPayloadLength), in that order. After nil, no accessor of ip
// panics. Extension headers are checked by WalkIPv6, not here.
//
// A payload length of 0 with a hop-by-hop header next is how a jumbogram
// announces itself (RFC 2675 3); jumbograms need a link MTU above 65575 and
// are not supported. A payload length of 0 with any other next header is an
// empty payload (e.g. No Next Header, RFC 8200 4.7), as Linux reads it.
func (ip IPv6) Validate() error {
	if len(ip) < IPv6HeaderLen {
		return ErrShort
	}
	if ip.Version() != 6 {
		return ErrVersion
	}
	pl := int(ip.PayloadLen())
	if pl == 0 && ip.NextHeader() == ProtocolHopByHop {
		return ErrJumbogram
	}
	if IPv6HeaderLen+pl > len(ip) {
		return ErrPayloadLength
	}
	return nil
}

// IPv6Header holds the fields a sender chooses for an IPv6 fixed header;
// PutIPv6Header derives the rest.
type IPv6Header struct {
	TrafficClass uint8
	FlowLabel    uint32 // low 20 bits used (RFC 6437)
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr // IPv6, not IPv4-mapped
}

// PutIPv6Header writes the 40-byte IPv6 fixed header for a payload of
// payloadLen bytes (extension headers included) into b[:40] and returns 40.
// b must hold at least 40 bytes, payloadLen must be at most 65535 and the
// addresses IPv6; violating this is a programming error and panics or
// writes garbage (the Build functions check these and return errors).
func PutIPv6Header(b []byte, h *IPv6Header, payloadLen int) int {
	_ = b[IPv6HeaderLen-1]
	binary.BigEndian.PutUint32(b[ipv6VersionTC:], 6<<28|uint32(h.TrafficClass)<<20|h.FlowLabel&ipv6FlowLabelMask)
	binary.BigEndian.PutUint16(b[ipv6PayloadLen:], uint16(payloadLen))
	b[ipv6NextHeader] = h.NextHeader
	b[ipv6HopLimit] = h.HopLimit
	src, dst := h.Src.As16(), h.Dst.As16()
	copy(b[ipv6Src:], src[:])
	copy(b[ipv6Dst:], dst[:])
	return IPv6HeaderLen
}

// is6 reports whether a can be written into an IPv6 header: an IPv6
// address that is not IPv4-mapped (those never appear on the wire, RFC 4291
// 2.5.5.2).
func is6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }
