package segment

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 header layout (RFC 791 3.1).
const (
	IPv4MinHeaderLen = 20
	IPv4MaxHeaderLen = 60
	IPv4MaxTotalLen  = 65535

	ipv4VersionIHL = 0
	ipv4TOS        = 1
	ipv4TotalLen   = 2
	ipv4ID         = 4
	ipv4FlagsFrag  = 6
	ipv4TTL        = 8
	ipv4Protocol   = 9
	ipv4Checksum   = 10
	ipv4Src        = 12
	ipv4Dst        = 16

	ipv4FlagDF      = 0x4000
	ipv4FlagMF      = 0x2000
	ipv4FragOffMask = 0x1fff
)

// IP protocol numbers used by this package.
const (
	ProtocolICMP = 1
	ProtocolTCP  = 6
	ProtocolUDP  = 17
)

// DefaultTTL is the TTL of packets this package builds when the caller has no
// opinion: 64, the value Linux uses (RFC 1700's suggested default; RFC 1122
// 3.2.1.7 only requires it to be configurable).
const DefaultTTL = 64

// IPVersion returns the IP version nibble of pkt, or 0 for an empty packet.
// The runtime switches on it before choosing a parser, which is where IPv6
// will slot in.
func IPVersion(pkt []byte) int {
	if len(pkt) == 0 {
		return 0
	}
	return int(pkt[0] >> 4)
}

// IPv4 is a view of an IPv4 packet (header and payload). Accessors read the
// header at fixed offsets and do not copy. Until Validate has returned nil
// they may panic on a short slice; after it they never panic.
type IPv4 []byte

// Version returns the version field (4 for a valid packet).
func (ip IPv4) Version() uint8 { return ip[ipv4VersionIHL] >> 4 }

// IHL returns the header length field in 32-bit words.
func (ip IPv4) IHL() uint8 { return ip[ipv4VersionIHL] & 0x0f }

// HeaderLen returns the header length in bytes, options included.
func (ip IPv4) HeaderLen() int { return int(ip.IHL()) * 4 }

// TOS returns the type-of-service byte (DSCP and ECN, RFC 2474, RFC 3168).
func (ip IPv4) TOS() uint8 { return ip[ipv4TOS] }

// TotalLen returns the total length field: header plus payload.
func (ip IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(ip[ipv4TotalLen:]) }

// ID returns the identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[ipv4ID:]) }

// Flags returns the three flag bits (reserved, DF, MF) in the low bits.
func (ip IPv4) Flags() uint8 { return ip[ipv4FlagsFrag] >> 5 }

// DontFragment reports the DF flag.
func (ip IPv4) DontFragment() bool {
	return binary.BigEndian.Uint16(ip[ipv4FlagsFrag:])&ipv4FlagDF != 0
}

// MoreFragments reports the MF flag.
func (ip IPv4) MoreFragments() bool {
	return binary.BigEndian.Uint16(ip[ipv4FlagsFrag:])&ipv4FlagMF != 0
}

// FragOffset returns the fragment offset in 8-byte units.
func (ip IPv4) FragOffset() uint16 {
	return binary.BigEndian.Uint16(ip[ipv4FlagsFrag:]) & ipv4FragOffMask
}

// TTL returns the time-to-live field.
func (ip IPv4) TTL() uint8 { return ip[ipv4TTL] }

// Protocol returns the payload protocol number (ProtocolTCP, ...).
func (ip IPv4) Protocol() uint8 { return ip[ipv4Protocol] }

// Checksum returns the header checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[ipv4Checksum:]) }

// Src returns the source address.
func (ip IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(ip[ipv4Src : ipv4Src+4])) }

// Dst returns the destination address.
func (ip IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(ip[ipv4Dst : ipv4Dst+4])) }

// Options returns the header options (possibly empty), aliasing ip.
func (ip IPv4) Options() []byte { return ip[IPv4MinHeaderLen:ip.HeaderLen()] }

// Payload returns the payload, bounded by TotalLen (bytes past it, e.g. link
// padding, are ignored), aliasing ip.
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLen():ip.TotalLen()] }

// Validate checks everything the accessors rely on and everything a receiver
// must check before using the packet (RFC 1122 3.2.1): length, version,
// header length, total length, header checksum, and that it is not a
// fragment. It returns one of ErrShort, ErrVersion, ErrIHL, ErrTotalLength,
// ErrChecksum, ErrFragment, or nil, in that order of precedence. After nil,
// no accessor of ip panics.
//
// Fragments are rejected, not reassembled: the stack sets DF on everything it
// sends and relies on path MTU discovery, as TUN peers rarely fragment.
func (ip IPv4) Validate() error {
	if len(ip) < IPv4MinHeaderLen {
		return ErrShort
	}
	if ip.Version() != 4 {
		return ErrVersion
	}
	hl := ip.HeaderLen()
	if hl < IPv4MinHeaderLen || hl > len(ip) {
		return ErrIHL
	}
	tl := int(ip.TotalLen())
	if tl < hl || tl > len(ip) {
		return ErrTotalLength
	}
	// RFC 1122 3.2.1.2: a host MUST verify the header checksum and silently
	// discard a datagram whose checksum is bad.
	if Checksum(ip[:hl], 0) != 0 {
		return ErrChecksum
	}
	if binary.BigEndian.Uint16(ip[ipv4FlagsFrag:])&(ipv4FlagMF|ipv4FragOffMask) != 0 {
		return ErrFragment
	}
	return nil
}

// IPv4Header holds the fields a sender chooses for an option-less IPv4
// header; PutIPv4Header derives the rest.
type IPv4Header struct {
	TOS      uint8
	ID       uint16
	DF       bool
	TTL      uint8
	Protocol uint8
	Src, Dst netip.Addr // IPv4 or IPv4-mapped IPv6
}

// PutIPv4Header writes a 20-byte IPv4 header (no options) for a payload of
// payloadLen bytes into b[:20], checksum included, and returns 20. b must
// hold at least 20 bytes, the addresses must be IPv4 and 20+payloadLen must
// not exceed 65535; violating this is a programming error and panics (the
// Build functions check these for the caller and return errors instead).
func PutIPv4Header(b []byte, h *IPv4Header, payloadLen int) int {
	_ = b[IPv4MinHeaderLen-1]
	b[ipv4VersionIHL] = 4<<4 | IPv4MinHeaderLen/4
	b[ipv4TOS] = h.TOS
	binary.BigEndian.PutUint16(b[ipv4TotalLen:], uint16(IPv4MinHeaderLen+payloadLen))
	binary.BigEndian.PutUint16(b[ipv4ID:], h.ID)
	var ff uint16
	if h.DF {
		ff = ipv4FlagDF
	}
	binary.BigEndian.PutUint16(b[ipv4FlagsFrag:], ff)
	b[ipv4TTL] = h.TTL
	b[ipv4Protocol] = h.Protocol
	b[ipv4Checksum], b[ipv4Checksum+1] = 0, 0
	src, dst := h.Src.As4(), h.Dst.As4()
	copy(b[ipv4Src:], src[:])
	copy(b[ipv4Dst:], dst[:])
	binary.BigEndian.PutUint16(b[ipv4Checksum:], Checksum(b[:IPv4MinHeaderLen], 0))
	return IPv4MinHeaderLen
}

// is4 reports whether a can be written into an IPv4 header.
func is4(a netip.Addr) bool { return a.Is4() || a.Is4In6() }
