package segment

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv4 message types used by the stack (RFC 792).
const (
	ICMPv4TypeEchoReply    = 0
	ICMPv4TypeDestUnreach  = 3
	ICMPv4TypeSourceQuench = 4
	ICMPv4TypeRedirect     = 5
	ICMPv4TypeEcho         = 8
	ICMPv4TypeTimeExceeded = 11
	ICMPv4TypeParamProblem = 12
	ICMPv4HeaderLen        = 8
	icmpQuotedTransport    = 8 // RFC 792: the original IP header plus 64 bits of its data
	icmpChecksumOffset     = 2
	icmpEchoIDOffset       = 4
	icmpEchoSeqOffset      = 6
	icmpNextHopMTUOffset   = 6
)

// Destination-unreachable codes (RFC 792, RFC 1122 3.2.2.1, RFC 1191).
const (
	ICMPv4NetUnreachable   = 0
	ICMPv4HostUnreachable  = 1
	ICMPv4ProtoUnreachable = 2
	ICMPv4PortUnreachable  = 3
	ICMPv4FragNeeded       = 4
	ICMPv4SourceRouteFail  = 5
)

// ICMPv4 is a view of an ICMPv4 message (RFC 792): the IPv4 payload. Until
// Validate has returned nil accessors may panic on a short slice; after it
// they never panic.
type ICMPv4 []byte

// Type returns the message type.
func (m ICMPv4) Type() uint8 { return m[0] }

// Code returns the message code.
func (m ICMPv4) Code() uint8 { return m[1] }

// Checksum returns the checksum field.
func (m ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(m[icmpChecksumOffset:]) }

// ID returns the identifier of an echo or echo reply.
func (m ICMPv4) ID() uint16 { return binary.BigEndian.Uint16(m[icmpEchoIDOffset:]) }

// Seq returns the sequence number of an echo or echo reply.
func (m ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(m[icmpEchoSeqOffset:]) }

// NextHopMTU returns the next-hop MTU of a fragmentation-needed message
// (RFC 1191 4); 0 from a router that predates RFC 1191.
func (m ICMPv4) NextHopMTU() uint16 { return binary.BigEndian.Uint16(m[icmpNextHopMTUOffset:]) }

// Body returns the bytes after the 8-byte ICMP header, aliasing m.
func (m ICMPv4) Body() []byte { return m[ICMPv4HeaderLen:] }

// Validate checks the length (ErrShort) and the checksum over the whole
// message (ErrICMPChecksum; RFC 1122 3.2.2: silently discard on a bad
// checksum).
func (m ICMPv4) Validate() error {
	if len(m) < ICMPv4HeaderLen {
		return ErrShort
	}
	if Checksum(m, 0) != 0 {
		return ErrICMPChecksum
	}
	return nil
}

// IsError reports whether the type is one of the error messages that quote
// the offending datagram (destination unreachable, source quench, redirect,
// time exceeded, parameter problem).
func (m ICMPv4) IsError() bool {
	switch m.Type() {
	case ICMPv4TypeDestUnreach, ICMPv4TypeSourceQuench, ICMPv4TypeRedirect, ICMPv4TypeTimeExceeded, ICMPv4TypeParamProblem:
		return true
	}
	return false
}

// Quoted is the part of an offending datagram that an ICMP error message
// carries: its IP header and the first 8 bytes of its transport header
// (RFC 792; RFC 1122 3.2.2 requires at least that much). ICMPv4.Quoted and
// ICMPv6.Quoted both return it.
type Quoted struct {
	Src, Dst  netip.Addr // the offending datagram's addresses: Src is us
	Protocol  uint8
	Header    []byte // the quoted IPv4 header with options, or IPv6 header with extension headers
	Transport []byte // at least 8 bytes: the start of the transport header
}

// TCPPorts decodes the quoted TCP source port, destination port and
// sequence number; enough to find the connection and check that the
// sequence number is one we have sent (RFC 5927 4.1). Meaningful only when
// q.Protocol is ProtocolTCP. Never panics on a Quoted from Quoted().
func (q *Quoted) TCPPorts() (srcPort, dstPort uint16, seq Seq) {
	t := q.Transport[:8]
	return binary.BigEndian.Uint16(t[0:]), binary.BigEndian.Uint16(t[2:]), Seq(binary.BigEndian.Uint32(t[4:]))
}

// Quoted decodes the datagram quoted by an error message, so the stack can
// pass a destination unreachable (or other error) to the connection it
// concerns (RFC 1122 4.2.3.9). m must have passed Validate. The quoted header
// is checked for version (ErrVersion), header length (ErrIHL) and room for
// 8 transport bytes (ErrShort); its checksum and total length are not
// checked, since the quoted copy may be truncated. A non-error type returns
// ErrICMPType.
func (m ICMPv4) Quoted() (Quoted, error) {
	if len(m) < ICMPv4HeaderLen {
		return Quoted{}, ErrShort
	}
	if !m.IsError() {
		return Quoted{}, ErrICMPType
	}
	b := m[ICMPv4HeaderLen:]
	if len(b) < IPv4MinHeaderLen {
		return Quoted{}, ErrShort
	}
	ip := IPv4(b)
	if ip.Version() != 4 {
		return Quoted{}, ErrVersion
	}
	hl := ip.HeaderLen()
	if hl < IPv4MinHeaderLen {
		return Quoted{}, ErrIHL
	}
	if len(b) < hl+icmpQuotedTransport {
		return Quoted{}, ErrShort
	}
	return Quoted{
		Src:       ip.Src(),
		Dst:       ip.Dst(),
		Protocol:  ip.Protocol(),
		Header:    b[:hl:hl],
		Transport: b[hl:],
	}, nil
}

// ParseIPv4ICMP validates pkt as an IPv4 packet carrying ICMP and returns
// both views. Errors: those of IPv4.Validate, ErrProtocol, and those of
// ICMPv4.Validate.
func ParseIPv4ICMP(pkt []byte) (IPv4, ICMPv4, error) {
	ip := IPv4(pkt)
	if err := ip.Validate(); err != nil {
		return nil, nil, err
	}
	if ip.Protocol() != ProtocolICMP {
		return nil, nil, ErrProtocol
	}
	m := ICMPv4(ip.Payload())
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	return ip, m, nil
}

// ICMPv4EchoReply answers the echo request in req (a whole IPv4 packet) by
// writing the echo reply into dst and returns its length (RFC 792; RFC 1122
// 3.2.2.6: a host MUST answer echo requests, with the same identifier,
// sequence number and data). dst may be req itself (in place) or another
// buffer; it needs 20 + the ICMP message length bytes. The reply has a fresh
// 20-byte header: source and destination swapped, TOS kept, TTL DefaultTTL,
// the request's IP ID; its ICMP checksum is fixed up incrementally (RFC 1624).
// IP options of the request (record route, timestamp) are not echoed,
// deviating from the SHOULD of RFC 1122 3.2.2.6.
//
// Whether to answer at all (the request is for one of our addresses, not a
// broadcast, RFC 1122 3.2.2.6) is the caller's decision. Errors: those of
// ParseIPv4ICMP, ErrICMPType if req is not an echo request,
// ErrBufferTooSmall. Never allocates.
func ICMPv4EchoReply(dst, req []byte) (int, error) {
	ip, m, err := ParseIPv4ICMP(req)
	if err != nil {
		return 0, err
	}
	if m.Type() != ICMPv4TypeEcho {
		return 0, ErrICMPType
	}
	n := IPv4MinHeaderLen + len(m)
	if len(dst) < n {
		return 0, ErrBufferTooSmall
	}
	h := IPv4Header{TOS: ip.TOS(), ID: ip.ID(), TTL: DefaultTTL, Protocol: ProtocolICMP, Src: ip.Dst(), Dst: ip.Src()}
	code := m.Code()
	csum := UpdateChecksum16(m.Checksum(), uint16(ICMPv4TypeEcho)<<8|uint16(code), uint16(ICMPv4TypeEchoReply)<<8|uint16(code))
	// Move the message first (it may shift left over the request's IP
	// options when dst is req), then write the header in front of it.
	r := dst[IPv4MinHeaderLen:n]
	copy(r, m)
	r[0] = ICMPv4TypeEchoReply
	binary.BigEndian.PutUint16(r[icmpChecksumOffset:], csum)
	PutIPv4Header(dst, &h, len(r))
	return n, nil
}
