package segment

import "encoding/binary"

// Walking the IPv6 extension-header chain (RFC 8200 4) without allocating.

// ICMPv6 Parameter Problem codes (RFC 4443 3.4, RFC 7112 5).
const (
	ICMPv6ErroneousHeader   = 0 // erroneous header field encountered
	ICMPv6UnknownNextHeader = 1 // unrecognized Next Header type encountered
	ICMPv6UnknownOption     = 2 // unrecognized IPv6 option encountered
	ICMPv6IncompleteChain   = 3 // first fragment has an incomplete header chain
)

// Bounds on the walk, so that no chain of headers or options can make it
// long. RFC 8200 4.1 lets a node meet headers in any order and any number
// of times; RFC 8504 5.3 lets a host limit them, as Linux does.
const (
	// ipv6MaxExtHeaders caps extension headers per packet. The recommended
	// order of RFC 8200 4.1 without IPsec has at most five (hop-by-hop,
	// destination options, routing, fragment, destination options).
	ipv6MaxExtHeaders = 8
	// ipv6MaxOptions caps non-padding options per options header; 8 is
	// Linux's default (max_hbh_opts_number, max_dst_opts_number).
	ipv6MaxOptions = 8
	// ipv6MaxPadding caps consecutive padding bytes in an options header:
	// padding exists only to align the next option to 8 bytes (RFC 8200
	// 4.2), so more than 7 in a row is never needed; Linux drops it too.
	ipv6MaxPadding = 7

	ipv6ExtUnit         = 8 // Hdr Ext Len counts 8-octet units (RFC 8200 4.3)
	ipv6FragHeaderLen   = 8
	ipv6OptPad1         = 0
	ipv6OptPadN         = 1
	ipv6FragOffsetMask  = 0xfff8
	ipv6FragMore        = 0x0001
	ipv6FragOffsetField = 2 // offset of Fragment Offset in the fragment header
	ipv6RoutingType     = 2 // offset of Routing Type in the routing header
	ipv6SegmentsLeft    = 3
)

// Actions an IPv6 node takes on an option it does not recognise, from the
// two high-order bits of the option type (RFC 8200 4.2).
const (
	IPv6OptionSkip               = 0 // 00: skip the option, go on
	IPv6OptionDiscard            = 1 // 01: discard the packet silently
	IPv6OptionDiscardICMP        = 2 // 10: discard, send Parameter Problem code 2
	IPv6OptionDiscardICMPUnicast = 3 // 11: as 10, unless the destination is multicast
)

// IPv6Fragment holds the fields of a fragment header (RFC 8200 4.5) and
// where it sits, which is what a reassembler needs to splice it out: the
// unfragmentable part is pkt[:HeaderOffset] with the byte at PrevField set
// to NextHeader, the fragmentable data is pkt[DataOffset():].
type IPv6Fragment struct {
	Offset       int    // fragment offset in bytes (the 13-bit field times 8)
	More         bool   // M flag: more fragments follow
	ID           uint32 // identification
	NextHeader   uint8  // the fragment header's next header (first header of the fragmentable part)
	HeaderOffset int    // byte offset of the fragment header in the packet
	PrevField    int    // byte offset of the next-header field that names the fragment header (6: the fixed header's)
}

// DataOffset returns the byte offset of the fragment data: just after the
// fragment header.
func (f *IPv6Fragment) DataOffset() int { return f.HeaderOffset + ipv6FragHeaderLen }

// Atomic reports an atomic fragment (offset 0, M clear): a whole datagram
// that carries a fragment header, processed in isolation (RFC 6946 4).
func (f *IPv6Fragment) Atomic() bool { return f.Offset == 0 && !f.More }

// IPv6Chain is what WalkIPv6 learns from a packet's extension headers.
type IPv6Chain struct {
	// Protocol is the upper-layer protocol (ProtocolTCP, ProtocolUDP,
	// ProtocolICMPv6) or ProtocolNoNext, and Offset the byte offset of its
	// header in the packet; End is the end of the payload (40 plus the
	// payload length), so pkt[Offset:End] is the upper-layer message. For
	// a fragment with a non-zero offset, whose data is not headers, the
	// walk stops at the fragment header: Protocol is then the fragment
	// header's next header and Offset Fragment.DataOffset().
	Protocol uint8
	Offset   int
	End      int

	// HasFragment reports a fragment header, described by Fragment.
	HasFragment bool
	Fragment    IPv6Fragment

	// When WalkIPv6 fails, Problem reports that the RFCs ask for an ICMPv6
	// Parameter Problem (type 4) with ProblemCode (ICMPv6ErroneousHeader,
	// ...) and Pointer, the byte offset in the packet of the offending
	// field (RFC 4443 3.4). The caller still applies RFC 4443 2.4(e) and
	// its rate limit (ICMPv6ErrorAllowed). Without Problem, the packet is
	// dropped silently.
	Problem     bool
	ProblemCode uint8
	Pointer     uint32
	// OptionAction is the action (IPv6OptionDiscard, ...) of the
	// unrecognised option behind ErrIPv6Option.
	OptionAction uint8
}

// WalkIPv6 validates pkt's fixed header (IPv6.Validate) and walks its
// extension headers (RFC 8200 4) up to the upper-layer header, filling c.
// It knows hop-by-hop options (only first, RFC 8200 4.3), routing (4.4),
// fragment (4.5) and destination options (4.6) headers, and stops at TCP,
// UDP, ICMPv6 or No Next Header (4.7). Errors, after those of Validate:
//   - ErrIPv6NextHeader: a next header that is none of these (AH and ESP
//     included: no IPsec), or a hop-by-hop header not first; Problem with
//     code 1 pointing at the next-header field (RFC 8200 4, RFC 4443 3.4).
//   - ErrIPv6Routing: a routing header with segments left; this host
//     implements no routing type (type 0 is deprecated, RFC 5095), so
//     Problem with code 0 pointing at the routing type (RFC 8200 4.4).
//   - ErrIPv6Option: an unrecognised option whose action is not skip
//     (RFC 8200 4.2); OptionAction says which, and Problem is set for
//     action 10, and for 11 unless the destination is multicast, with code 2
//     pointing at the option type.
//   - ErrFragmentLength: a fragment whose data length is not a multiple of
//     8 while M is set (Problem, code 0, pointer 4: the payload length), or
//     that would end beyond a 65535-byte payload (Problem, code 0, pointing
//     at the fragment offset) (RFC 8200 4.5).
//   - ErrIncompleteChain: a first fragment (offset 0, M set) whose headers
//     do not reach through the upper-layer header (RFC 8200 4.5, RFC 7112
//     5): Problem, code 3, pointer 0, as Linux sends.
//   - ErrIPv6ExtHeader: a header or option that overruns the payload, more
//     than 8 extension headers, more than 8 options or 7 padding bytes in
//     a row in one options header, a second fragment header; dropped
//     silently.
//
// Never panics, never allocates; the work is bounded by the packet length.
func WalkIPv6(pkt []byte, c *IPv6Chain) error {
	*c = IPv6Chain{}
	ip := IPv6(pkt)
	if err := ip.Validate(); err != nil {
		return err
	}
	return walkIPv6(pkt[:IPv6HeaderLen+int(ip.PayloadLen())], c, false)
}

// walkIPv6 walks the chain of b, an IPv6 packet of at least 40 bytes cut at
// the end of its payload. With quoted, b is what an ICMPv6 error quotes of
// a packet, possibly truncated: the checks of fragment lengths and of a
// first fragment's chain, which need the whole packet, are skipped.
func walkIPv6(b []byte, c *IPv6Chain, quoted bool) error {
	*c = IPv6Chain{End: len(b)}
	nh := b[ipv6NextHeader]
	field := ipv6NextHeader
	off := IPv6HeaderLen
	for n := 0; ; n++ {
		switch nh {
		case ProtocolTCP, ProtocolUDP, ProtocolICMPv6, ProtocolNoNext:
			c.Protocol, c.Offset = nh, off
			if !quoted && c.firstFragment() && len(b)-off < upperLayerMinLen(nh) {
				return c.problem(ErrIncompleteChain, ICMPv6IncompleteChain, 0)
			}
			return nil
		case ProtocolHopByHop:
			if off != IPv6HeaderLen {
				// RFC 8200 4: hop-by-hop only right after the
				// fixed header; elsewhere Linux treats it as an
				// unknown next header, and so do we.
				return c.problem(ErrIPv6NextHeader, ICMPv6UnknownNextHeader, field)
			}
		case ProtocolRouting, ProtocolDestOpts, ProtocolFragment:
		default:
			return c.problem(ErrIPv6NextHeader, ICMPv6UnknownNextHeader, field)
		}
		if n == ipv6MaxExtHeaders {
			return ErrIPv6ExtHeader
		}
		if len(b)-off < ipv6ExtUnit {
			return c.truncated(quoted)
		}
		h := b[off:]
		hl := ipv6FragHeaderLen
		if nh != ProtocolFragment {
			hl = (int(h[1]) + 1) * ipv6ExtUnit
			if hl > len(h) {
				return c.truncated(quoted)
			}
		}
		switch nh {
		case ProtocolFragment:
			if stop, err := c.fragment(b, off, field, quoted); stop || err != nil {
				return err
			}
		case ProtocolRouting:
			// RFC 8200 4.4: an unrecognised routing type with
			// segments left is an error; with none left, ignored.
			if h[ipv6SegmentsLeft] != 0 {
				return c.problem(ErrIPv6Routing, ICMPv6ErroneousHeader, off+ipv6RoutingType)
			}
		default:
			if err := c.options(b, off, hl); err != nil {
				return err
			}
		}
		field = off
		nh = h[0]
		off += hl
	}
}

// fragment records the fragment header at off (named by the next-header
// field at field) and checks it (RFC 8200 4.5). stop reports a fragment
// with a non-zero offset, whose data the walk must not read as headers.
func (c *IPv6Chain) fragment(b []byte, off, field int, quoted bool) (stop bool, err error) {
	if c.HasFragment {
		// A fragment inside a fragment: the reassembled datagram
		// would itself need reassembly. Linux would do it; we drop.
		return true, ErrIPv6ExtHeader
	}
	h := b[off:]
	fo := binary.BigEndian.Uint16(h[ipv6FragOffsetField:])
	c.HasFragment = true
	c.Fragment = IPv6Fragment{
		Offset:       int(fo & ipv6FragOffsetMask),
		More:         fo&ipv6FragMore != 0,
		ID:           binary.BigEndian.Uint32(h[4:]),
		NextHeader:   h[0],
		HeaderOffset: off,
		PrevField:    field,
	}
	f := &c.Fragment
	data := len(b) - f.DataOffset()
	if quoted {
		data = 0
	}
	if !quoted && f.More && data%8 != 0 {
		return true, c.problem(ErrFragmentLength, ICMPv6ErroneousHeader, ipv6PayloadLen)
	}
	if off-IPv6HeaderLen+f.Offset+data > IPv6MaxPayloadLen {
		return true, c.problem(ErrFragmentLength, ICMPv6ErroneousHeader, off+ipv6FragOffsetField)
	}
	if f.Offset != 0 {
		c.Protocol, c.Offset = f.NextHeader, f.DataOffset()
		return true, nil
	}
	return false, nil
}

// options walks the TLV options of the hop-by-hop or destination options
// header at b[off:off+hl] (RFC 8200 4.2).
func (c *IPv6Chain) options(b []byte, off, hl int) error {
	pad, count := 0, 0
	for i := off + 2; i < off+hl; {
		t := b[i]
		if t == ipv6OptPad1 {
			pad++
			i++
			if pad > ipv6MaxPadding {
				return ErrIPv6ExtHeader
			}
			continue
		}
		if i+2 > off+hl || i+2+int(b[i+1]) > off+hl {
			return ErrIPv6ExtHeader
		}
		l := 2 + int(b[i+1])
		if t == ipv6OptPadN {
			pad += l
			if pad > ipv6MaxPadding {
				return ErrIPv6ExtHeader
			}
			i += l
			continue
		}
		pad = 0
		count++
		if count > ipv6MaxOptions {
			return ErrIPv6ExtHeader
		}
		// No option is implemented here (router alert and the tunnel
		// encapsulation limit have action 00, a jumbo payload option is
		// unsupported), so every other option is "unrecognised" and its
		// action bits decide.
		switch a := t >> 6; a {
		case IPv6OptionSkip:
		case IPv6OptionDiscard:
			c.OptionAction = a
			return ErrIPv6Option
		default:
			c.OptionAction = a
			if a == IPv6OptionDiscardICMPUnicast && b[ipv6Dst] == 0xff {
				return ErrIPv6Option
			}
			return c.problem(ErrIPv6Option, ICMPv6UnknownOption, i)
		}
		i += l
	}
	return nil
}

// firstFragment reports a walk past the header of a first fragment that is
// not the whole datagram.
func (c *IPv6Chain) firstFragment() bool {
	return c.HasFragment && c.Fragment.Offset == 0 && c.Fragment.More
}

// truncated is the error for a header that overruns the payload: in a
// first fragment the RFC 7112 error, anywhere else (and in a quote) a
// silent drop.
func (c *IPv6Chain) truncated(quoted bool) error {
	if !quoted && c.firstFragment() {
		return c.problem(ErrIncompleteChain, ICMPv6IncompleteChain, 0)
	}
	return ErrIPv6ExtHeader
}

// problem records a Parameter Problem the caller should send and returns
// err.
func (c *IPv6Chain) problem(err error, code uint8, pointer int) error {
	c.Problem, c.ProblemCode, c.Pointer = true, code, uint32(pointer)
	return err
}

// upperLayerMinLen is how much of an upper-layer header a first fragment
// must hold for its chain to count as complete (RFC 7112 5 asks for the
// upper-layer header; the lengths are Linux's, ipv6_frag_thdr_truncated).
func upperLayerMinLen(proto uint8) int {
	switch proto {
	case ProtocolTCP:
		return TCPMinHeaderLen
	case ProtocolUDP:
		return UDPHeaderLen
	case ProtocolICMPv6:
		return 8
	}
	return 0
}

// WalkIPv6Headers is WalkIPv6 for b holding only the headers of a packet
// whose payload lies elsewhere, as a link that writes a super-segment's
// headers and payload apart (virtio-net GSO) has them: the payload length
// field is not checked against b, and the chain must end within b (c.End
// is len(b)). It checks the length (ErrShort) and version (ErrVersion) of
// the fixed header, then walks the extension headers with WalkIPv6's
// checks and errors. Never panics, never allocates.
func WalkIPv6Headers(b []byte, c *IPv6Chain) error {
	*c = IPv6Chain{}
	if len(b) < IPv6HeaderLen {
		return ErrShort
	}
	if IPv6(b).Version() != 6 {
		return ErrVersion
	}
	return walkIPv6(b, c, false)
}
