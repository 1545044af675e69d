package segment

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv6 message types used by the stack (RFC 4443 2.1, 3, 4).
const (
	ICMPv6TypeDestUnreach  = 1
	ICMPv6TypePacketTooBig = 2
	ICMPv6TypeTimeExceeded = 3
	ICMPv6TypeParamProblem = 4
	ICMPv6TypeEchoRequest  = 128
	ICMPv6TypeEchoReply    = 129
	icmpv6TypeRedirect     = 137 // RFC 4861 4.5

	// ICMPv6HeaderLen is the type, code, checksum and the 32-bit field
	// every RFC 4443 message has (identifier and sequence number, MTU,
	// pointer, or unused).
	ICMPv6HeaderLen = 8
	// icmpv6MaxErrorLen: an error message, IPv6 header included, must not
	// exceed the minimum IPv6 MTU (RFC 4443 2.4(c)).
	icmpv6MaxErrorLen = IPv6MinMTU
	icmpv6ParamOffset = 4
	icmpv6InfoBit     = 0x80 // RFC 4443 2.1: informational types have the high bit set
)

// Destination Unreachable codes (RFC 4443 3.1).
const (
	ICMPv6NoRoute            = 0
	ICMPv6AdminProhibited    = 1
	ICMPv6BeyondScope        = 2
	ICMPv6AddressUnreachable = 3
	ICMPv6PortUnreachable    = 4
	ICMPv6SourcePolicy       = 5
	ICMPv6RejectRoute        = 6
)

// Time Exceeded codes (RFC 4443 3.3).
const (
	ICMPv6HopLimitExceeded  = 0
	ICMPv6ReassemblyTimeout = 1
)

// ICMPv6 is a view of an ICMPv6 message (RFC 4443): the upper-layer part
// of an IPv6 packet, after any extension headers. Until Validate (or
// ParseIPv6ICMP) has returned nil accessors may panic on a short slice;
// after it they never panic.
type ICMPv6 []byte

// Type returns the message type.
func (m ICMPv6) Type() uint8 { return m[0] }

// Code returns the message code.
func (m ICMPv6) Code() uint8 { return m[1] }

// Checksum returns the checksum field.
func (m ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(m[icmpChecksumOffset:]) }

// ID returns the identifier of an echo request or reply (RFC 4443 4).
func (m ICMPv6) ID() uint16 { return binary.BigEndian.Uint16(m[icmpEchoIDOffset:]) }

// Seq returns the sequence number of an echo request or reply.
func (m ICMPv6) Seq() uint16 { return binary.BigEndian.Uint16(m[icmpEchoSeqOffset:]) }

// MTU returns the MTU of a Packet Too Big message (RFC 4443 3.2). It may
// be below IPv6MinMTU; RFC 8201 4 forbids lowering a path MTU estimate
// below it, which is the caller's business.
func (m ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(m[icmpv6ParamOffset:]) }

// Pointer returns the pointer of a Parameter Problem message (RFC 4443
// 3.4): the offset in the invoking packet of the offending field.
func (m ICMPv6) Pointer() uint32 { return binary.BigEndian.Uint32(m[icmpv6ParamOffset:]) }

// Body returns the bytes after the 8-byte header (an error's quote, an
// echo's data), aliasing m.
func (m ICMPv6) Body() []byte { return m[ICMPv6HeaderLen:] }

// Validate checks the length (ErrShort) and the checksum over the IPv6
// pseudo-header of src and dst, next header 58, and the whole message
// (ErrICMPChecksum; RFC 4443 2.3 makes it mandatory, and a message that
// fails it is dropped, as Linux does).
func (m ICMPv6) Validate(src, dst netip.Addr) error {
	if len(m) < ICMPv6HeaderLen {
		return ErrShort
	}
	if Checksum(m, PseudoHeaderSum(src, dst, ProtocolICMPv6, len(m))) != 0 {
		return ErrICMPChecksum
	}
	return nil
}

// IsError reports whether the message is an error message (types 0 to
// 127, RFC 4443 2.1), which quotes the packet that caused it.
func (m ICMPv6) IsError() bool { return m.Type()&icmpv6InfoBit == 0 }

// Quoted decodes the packet an error message quotes, so the stack can hand
// the error (Destination Unreachable, Packet Too Big, ...) to the
// connection it concerns (RFC 4443 3, RFC 5927). m must have passed
// Validate. The quote may be truncated (RFC 4443 2.4(c) fills at most the
// minimum MTU): its payload length is not checked against it, its
// extension headers are walked as far as they go, and at least 8 bytes of
// the upper-layer header must be there (ErrShort), enough for
// Quoted.TCPPorts. Header is the quoted IPv6 header with its extension
// headers, Transport the rest. Errors: ErrICMPType for an informational
// message, ErrShort, ErrVersion, those of WalkIPv6 on the quoted headers
// (but not ErrPayloadLength), ErrFragment for a quoted non-first fragment,
// which carries no transport header.
func (m ICMPv6) Quoted() (Quoted, error) {
	if len(m) < ICMPv6HeaderLen {
		return Quoted{}, ErrShort
	}
	if !m.IsError() {
		return Quoted{}, ErrICMPType
	}
	b := m[ICMPv6HeaderLen:]
	if len(b) < IPv6HeaderLen {
		return Quoted{}, ErrShort
	}
	ip := IPv6(b)
	if ip.Version() != 6 {
		return Quoted{}, ErrVersion
	}
	b = b[:min(len(b), IPv6HeaderLen+int(ip.PayloadLen()))]
	var c IPv6Chain
	if err := walkIPv6(b, &c, true); err != nil {
		return Quoted{}, err
	}
	if c.HasFragment && c.Fragment.Offset != 0 {
		return Quoted{}, ErrFragment
	}
	if len(b)-c.Offset < icmpQuotedTransport {
		return Quoted{}, ErrShort
	}
	return Quoted{
		Src:       ip.Src(),
		Dst:       ip.Dst(),
		Protocol:  c.Protocol,
		Header:    b[:c.Offset:c.Offset],
		Transport: b[c.Offset:],
	}, nil
}

// ParseIPv6ICMP validates pkt as an IPv6 packet carrying ICMPv6 (after any
// extension headers) and returns both views. Errors: those of WalkIPv6,
// ErrFragment for a fragment (not an atomic one), ErrProtocol, and those
// of ICMPv6.Validate.
func ParseIPv6ICMP(pkt []byte) (IPv6, ICMPv6, error) {
	var c IPv6Chain
	if err := WalkIPv6(pkt, &c); err != nil {
		return nil, nil, err
	}
	if c.HasFragment && !c.Fragment.Atomic() {
		return nil, nil, ErrFragment
	}
	if c.Protocol != ProtocolICMPv6 {
		return nil, nil, ErrProtocol
	}
	ip, m := IPv6(pkt), ICMPv6(pkt[c.Offset:c.End])
	if err := m.Validate(ip.Src(), ip.Dst()); err != nil {
		return nil, nil, err
	}
	return ip, m, nil
}

// ICMPv6EchoReply answers the echo request in req (a whole IPv6 packet) by
// writing the echo reply into dst and returns its length (RFC 4443 4.2:
// same identifier, sequence number and data). dst may be req itself (in
// place) or another buffer; it needs 40 + the ICMPv6 message length bytes.
// The reply has a fresh 40-byte header: source and destination swapped,
// the request's traffic class (as Linux), flow label 0, hop limit
// DefaultHopLimit, no extension headers; its checksum is fixed up
// incrementally (RFC 1624; swapping the addresses leaves the pseudo-header
// sum as it was).
//
// A request to a multicast address gives ErrAddress: the reply's source
// must then be one of our unicast addresses (RFC 4443 4.2), which this
// function does not know. Whether to answer at all is the caller's
// decision. Errors: those of ParseIPv6ICMP, ErrICMPType if req is not an
// echo request, ErrAddress, ErrBufferTooSmall. Never allocates.
func ICMPv6EchoReply(dst, req []byte) (int, error) {
	ip, m, err := ParseIPv6ICMP(req)
	if err != nil {
		return 0, err
	}
	if m.Type() != ICMPv6TypeEchoRequest {
		return 0, ErrICMPType
	}
	if ip[ipv6Dst] == 0xff {
		return 0, ErrAddress
	}
	n := IPv6HeaderLen + len(m)
	if len(dst) < n {
		return 0, ErrBufferTooSmall
	}
	h := IPv6Header{TrafficClass: ip.TrafficClass(), NextHeader: ProtocolICMPv6, HopLimit: DefaultHopLimit,
		Src: ip.Dst(), Dst: ip.Src()}
	code := m.Code()
	csum := UpdateChecksum16(m.Checksum(), uint16(ICMPv6TypeEchoRequest)<<8|uint16(code), uint16(ICMPv6TypeEchoReply)<<8|uint16(code))
	// Move the message first (it shifts left over the request's extension
	// headers when dst is req), then write the header in front of it.
	r := dst[IPv6HeaderLen:n]
	copy(r, m)
	r[0] = ICMPv6TypeEchoReply
	binary.BigEndian.PutUint16(r[icmpChecksumOffset:], csum)
	PutIPv6Header(dst, &h, len(r))
	return n, nil
}

// ICMPv6ErrorAllowed reports whether RFC 4443 2.4(e) lets a node send an
// ICMPv6 error of type typ and code, with param (the pointer of a
// Parameter Problem), in reply to the packet invoking. It does not when
// invoking is shorter than an IPv6 header or not IPv6, when typ is not an
// error type, when invoking is itself an ICMPv6 error or a redirect
// (2.4(e.1), (e.2)), when its destination is multicast (2.4(e.3); except
// for Packet Too Big and for a Parameter Problem code 2 on an option whose
// action bits are 10, RFC 8200 4.2), or when its source does not identify
// a single node: unspecified or multicast (2.4(e.6)). Link-layer multicast
// and broadcast (e.4, e.5) do not exist on a TUN. Rate limiting (2.4(f))
// is the caller's. Never panics, never allocates.
func ICMPv6ErrorAllowed(invoking []byte, typ, code uint8, param uint32) bool {
	if len(invoking) < IPv6HeaderLen || IPVersion(invoking) != 6 || typ&icmpv6InfoBit != 0 {
		return false
	}
	ip := IPv6(invoking)
	if src := ip.Src(); src.IsUnspecified() || src.IsMulticast() {
		return false
	}
	if ip[ipv6Dst] == 0xff {
		optionTen := typ == ICMPv6TypeParamProblem && code == ICMPv6UnknownOption &&
			param < uint32(len(invoking)) && invoking[param]>>6 == IPv6OptionDiscardICMP
		if typ != ICMPv6TypePacketTooBig && !optionTen {
			return false
		}
	}
	// Is invoking an ICMPv6 error or redirect? Walk as much of it as is
	// there; if the walk fails, it is not one we can recognise.
	b := invoking[:min(len(invoking), IPv6HeaderLen+int(ip.PayloadLen()))]
	var c IPv6Chain
	if walkIPv6(b, &c, true) == nil && c.Protocol == ProtocolICMPv6 && !(c.HasFragment && c.Fragment.Offset != 0) {
		if c.Offset >= len(b) {
			return false // a type we cannot read: assume the worst, as Linux
		}
		if t := b[c.Offset]; t&icmpv6InfoBit == 0 || t == icmpv6TypeRedirect {
			return false
		}
	}
	return true
}

// ICMPv6Error writes into dst an ICMPv6 error message of type typ and code
// from src to the source of invoking, the packet that caused it, and
// returns its length. param is the message's 32-bit field: the MTU of a
// Packet Too Big, the pointer of a Parameter Problem, 0 (unused) for the
// others. The message quotes as much of invoking (up to its payload
// length) as fits in the minimum IPv6 MTU, 1280 bytes in all (RFC 4443
// 2.4(c)); the IPv6 header has hop limit DefaultHopLimit, traffic class
// and flow label 0. dst may be invoking itself. Errors: ErrShort and
// ErrVersion for an invoking packet that is not IPv6, ErrAddress for a src
// that is not IPv6, ErrICMPNotAllowed when ICMPv6ErrorAllowed says no
// (which covers a typ that is not an error type), ErrBufferTooSmall. Never
// allocates.
func ICMPv6Error(dst []byte, typ, code uint8, param uint32, src netip.Addr, invoking []byte) (int, error) {
	if len(invoking) < IPv6HeaderLen {
		return 0, ErrShort
	}
	if IPVersion(invoking) != 6 {
		return 0, ErrVersion
	}
	if !is6(src) {
		return 0, ErrAddress
	}
	if !ICMPv6ErrorAllowed(invoking, typ, code, param) {
		return 0, ErrICMPNotAllowed
	}
	q := len(invoking)
	if pl := IPv6HeaderLen + int(IPv6(invoking).PayloadLen()); pl < q {
		q = pl
	}
	q = min(q, icmpv6MaxErrorLen-IPv6HeaderLen-ICMPv6HeaderLen)
	n := IPv6HeaderLen + ICMPv6HeaderLen + q
	if len(dst) < n {
		return 0, ErrBufferTooSmall
	}
	h := IPv6Header{NextHeader: ProtocolICMPv6, HopLimit: DefaultHopLimit, Src: src, Dst: IPv6(invoking).Src()}
	// Quote first (memmove: dst may be invoking), then the headers.
	copy(dst[IPv6HeaderLen+ICMPv6HeaderLen:n], invoking[:q])
	PutIPv6Header(dst, &h, n-IPv6HeaderLen)
	m := dst[IPv6HeaderLen:n]
	m[0], m[1] = typ, code
	m[icmpChecksumOffset], m[icmpChecksumOffset+1] = 0, 0
	binary.BigEndian.PutUint32(m[icmpv6ParamOffset:], param)
	ps := ipv6PseudoSum(dst[ipv6Src:ipv6Src+16], dst[ipv6Dst:ipv6Dst+16], ProtocolICMPv6, len(m))
	binary.BigEndian.PutUint16(m[icmpChecksumOffset:], Checksum(m, ps))
	return n, nil
}
