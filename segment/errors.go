package segment

import "errors"

// Sentinel errors. They are preallocated so that rejecting a packet on the
// per-packet path never allocates; compare with == or errors.Is. Each one is
// a distinct drop reason the runtime may count.
var (
	// ErrShort: the buffer is shorter than the fixed header it must hold.
	ErrShort = errors.New("segment: packet too short")
	// ErrVersion: the IP version nibble is not the one expected (4 or 6).
	ErrVersion = errors.New("segment: unsupported IP version")
	// ErrIHL: the IPv4 header length field is below 5 words or the header
	// does not fit in the packet.
	ErrIHL = errors.New("segment: bad IPv4 header length")
	// ErrTotalLength: the IPv4 total length is smaller than the header or
	// larger than the packet.
	ErrTotalLength = errors.New("segment: bad IPv4 total length")
	// ErrChecksum: the IPv4 header checksum does not verify.
	ErrChecksum = errors.New("segment: bad IPv4 header checksum")
	// ErrFragment: the packet is a fragment (IPv4: MF set or a non-zero
	// offset; IPv6: a fragment header that is not an atomic fragment).
	// The parsers take whole datagrams; reassembly happens before them.
	ErrFragment = errors.New("segment: IP fragment")
	// ErrProtocol: the IP payload is not the protocol the parser expects.
	ErrProtocol = errors.New("segment: unexpected IP protocol")
	// ErrDataOffset: the TCP data offset is below 5 words or beyond the
	// segment.
	ErrDataOffset = errors.New("segment: bad TCP data offset")
	// ErrTCPChecksum: the TCP checksum (with the pseudo-header) does not
	// verify.
	ErrTCPChecksum = errors.New("segment: bad TCP checksum")
	// ErrBadOption: a TCP option is malformed (length 0 or 1, overruns the
	// option space, or has the wrong length for its kind).
	ErrBadOption = errors.New("segment: malformed TCP option")
	// ErrBufferTooSmall: the caller's buffer cannot hold the packet.
	ErrBufferTooSmall = errors.New("segment: buffer too small")
	// ErrAddress: an address is of the wrong family for the packet being
	// built: not IPv4 (or IPv4-mapped IPv6) for IPv4, not IPv6 (or
	// IPv4-mapped) for IPv6.
	ErrAddress = errors.New("segment: address of the wrong family")
	// ErrPayloadTooLarge: the packet would exceed the 65535-byte IPv4 total
	// length.
	ErrPayloadTooLarge = errors.New("segment: payload too large")
	// ErrICMPChecksum: the ICMP checksum does not verify.
	ErrICMPChecksum = errors.New("segment: bad ICMP checksum")
	// ErrICMPType: the ICMP message is not of the type the caller asked for.
	ErrICMPType = errors.New("segment: unexpected ICMP type")
	// ErrUDPLength: the UDP length field is below 8 or beyond the IP payload.
	ErrUDPLength = errors.New("segment: bad UDP length")
	// ErrUDPChecksum: a non-zero UDP checksum does not verify.
	ErrUDPChecksum = errors.New("segment: bad UDP checksum")
	// ErrUDPZeroChecksum: a UDP datagram over IPv6 with a zero checksum,
	// which IPv6 forbids (RFC 8200 8.1).
	ErrUDPZeroChecksum = errors.New("segment: zero UDP checksum over IPv6")
	// ErrJumbogram: an IPv6 payload length of 0 with a hop-by-hop header,
	// a jumbogram (RFC 2675), which is not supported.
	ErrJumbogram = errors.New("segment: IPv6 jumbogram")
	// ErrPayloadLength: the IPv6 payload length runs past the packet.
	ErrPayloadLength = errors.New("segment: bad IPv6 payload length")
	// ErrIPv6NextHeader: an unrecognised IPv6 next header, or a hop-by-hop
	// header that is not first (ICMPv6 Parameter Problem code 1).
	ErrIPv6NextHeader = errors.New("segment: unrecognised IPv6 next header")
	// ErrIPv6Routing: a routing header with segments left (ICMPv6
	// Parameter Problem code 0).
	ErrIPv6Routing = errors.New("segment: IPv6 routing header with segments left")
	// ErrIPv6Option: an unrecognised IPv6 option whose action bits say
	// discard (ICMPv6 Parameter Problem code 2 for some actions).
	ErrIPv6Option = errors.New("segment: unrecognised IPv6 option")
	// ErrIPv6ExtHeader: a malformed, truncated or excessive IPv6 extension
	// header chain; dropped silently.
	ErrIPv6ExtHeader = errors.New("segment: bad IPv6 extension headers")
	// ErrFragmentLength: an IPv6 fragment whose length is not a multiple of
	// 8 with more to come, or that ends past 65535 bytes (ICMPv6 Parameter
	// Problem code 0).
	ErrFragmentLength = errors.New("segment: bad IPv6 fragment length")
	// ErrIncompleteChain: an IPv6 first fragment without the whole header
	// chain (ICMPv6 Parameter Problem code 3, RFC 7112).
	ErrIncompleteChain = errors.New("segment: IPv6 first fragment with incomplete header chain")
	// ErrICMPNotAllowed: RFC 4443 2.4(e) forbids sending this ICMPv6 error
	// in reply to this packet (an ICMPv6 error, a multicast destination, a
	// source that is not a unicast address, ...).
	ErrICMPNotAllowed = errors.New("segment: ICMPv6 error not allowed for this packet")
)
