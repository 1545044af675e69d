package segment

import "errors"

// Sentinel errors. They are preallocated so that rejecting a packet on the
// per-packet path never allocates; compare with == or errors.Is. Each one is
// a distinct drop reason the runtime may count.
var (
	// ErrShort: the buffer is shorter than the fixed header it must hold.
	ErrShort = errors.New("segment: packet too short")
	// ErrVersion: the IP version nibble is not 4 (IPv6 is not supported yet).
	ErrVersion = errors.New("segment: unsupported IP version")
	// ErrIHL: the IPv4 header length field is below 5 words or the header
	// does not fit in the packet.
	ErrIHL = errors.New("segment: bad IPv4 header length")
	// ErrTotalLength: the IPv4 total length is smaller than the header or
	// larger than the packet.
	ErrTotalLength = errors.New("segment: bad IPv4 total length")
	// ErrChecksum: the IPv4 header checksum does not verify.
	ErrChecksum = errors.New("segment: bad IPv4 header checksum")
	// ErrFragment: the packet is an IPv4 fragment (MF set or a non-zero
	// offset). Fragments are not reassembled.
	ErrFragment = errors.New("segment: IPv4 fragment")
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
	// ErrAddress: an address is not IPv4 (or IPv4-mapped IPv6) where an
	// IPv4 packet is built.
	ErrAddress = errors.New("segment: address is not IPv4")
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
)
