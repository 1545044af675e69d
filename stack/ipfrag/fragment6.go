package ipfrag

import (
	"encoding/binary"

	"github.com/tunstack/tunstack/segment"
)

// fragHeaderLen is the IPv6 fragment header's length (RFC 8200 4.5).
const fragHeaderLen = 8

// FragmentIPv6 cuts the IPv6 packet pkt into fragments of at most mtu bytes
// (RFC 8200 4.5) and hands them to emit in order of offset. A packet that
// fits is handed over as it is. Each fragment is the Unfragmentable Part
// (the fixed header and the extension headers up to and including the
// routing header, else the hop-by-hop header) with its last next-header field
// set to 44, a fragment header with identification id, and data that is a
// multiple of 8 bytes except in the last fragment. buf is scratch space for
// one fragment (at least mtu bytes); emit's slice aliases it and is valid
// only during the call. emit's error stops the loop and is returned. The
// caller picks id per RFC 7739 (unpredictable, not reused soon for the same
// destination).
//
// Errors: ErrMalformed (pkt fails segment.WalkIPv6, or already has a
// fragment header), ErrMTU (mtu < 1280, or the Unfragmentable Part leaves no
// room for 8 bytes of data), ErrBufferTooSmall. Never allocates.
func FragmentIPv6(pkt []byte, mtu int, id uint32, buf []byte, emit func(frag []byte) error) error {
	var c segment.IPv6Chain
	if err := segment.WalkIPv6(pkt, &c); err != nil || c.HasFragment {
		return ErrMalformed
	}
	pkt = pkt[:c.End]
	if len(pkt) <= mtu {
		return emit(pkt)
	}
	if mtu < MinMTUIPv6 {
		return ErrMTU
	}
	if len(buf) < mtu {
		return ErrBufferTooSmall
	}
	unfrag, field := unfragmentable(pkt, c.Offset)
	room := (mtu - unfrag - fragHeaderLen) &^ 7
	if room < 8 {
		return ErrMTU
	}
	data := pkt[unfrag:]
	for pos := 0; pos < len(data); pos += room {
		n := min(room, len(data)-pos)
		f := buf[:unfrag+fragHeaderLen+n]
		copy(f, pkt[:unfrag])
		h := f[unfrag:]
		h[0] = pkt[field] // the fragment header names what the Unfragmentable Part named
		h[1] = 0
		om := uint16(pos)
		if pos+n < len(data) {
			om |= 1 // M
		}
		binary.BigEndian.PutUint16(h[2:], om)
		binary.BigEndian.PutUint32(h[4:], id)
		copy(h[fragHeaderLen:], data[pos:pos+n])
		f[field] = segment.ProtocolFragment
		binary.BigEndian.PutUint16(f[v6PayloadLen:], uint16(len(f)-segment.IPv6HeaderLen))
		if err := emit(f); err != nil {
			return err
		}
	}
	return nil
}

// unfragmentable returns the length of pkt's Unfragmentable Part and the
// offset of its last next-header field. RFC 8200 4.5: the IPv6 header "plus
// any extension headers that must be processed by nodes en route to the
// destination, that is, all headers up to and including the Routing header if
// present, else the Hop-by-Hop Options header if present, else no extension
// headers". pkt's chain has been validated by segment.WalkIPv6 up to the
// upper-layer header at upper, so this only steps over header lengths.
func unfragmentable(pkt []byte, upper int) (length, field int) {
	length, field = segment.IPv6HeaderLen, 6
	nh, off := pkt[6], segment.IPv6HeaderLen
	for off < upper {
		hl := (int(pkt[off+1]) + 1) * 8
		if nh == segment.ProtocolHopByHop || nh == segment.ProtocolRouting {
			length, field = off+hl, off
		}
		nh = pkt[off]
		off += hl
	}
	return length, field
}
