package ipfrag

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/tunstack/tunstack/segment"
)

var (
	src6  = netip.MustParseAddr("2001:2::1")
	src6b = netip.MustParseAddr("2001:2::3")
	dst6  = netip.MustParseAddr("2001:2::2")
)

// Extension headers for the tests, 8 bytes each with their next header
// filled in by datagram6: an options header holding one PadN, and a routing
// header with no segments left (ignored, RFC 8200 4.4).
var (
	extHopByHop = []byte{0, 0, 1, 4, 0, 0, 0, 0}
	extDestOpts = []byte{0, 0, 1, 4, 0, 0, 0, 0}
	extRouting  = []byte{0, 0, 4, 0, 0, 0, 0, 0}
)

type ext struct {
	typ  uint8
	body []byte
}

// datagram6 builds a whole IPv6 packet with the extension headers exts, in
// order, then an upper-layer message of protocol proto with n bytes of
// seeded random payload.
func datagram6(src netip.Addr, proto uint8, n int, seed uint64, exts ...ext) []byte {
	var hdrs []byte
	for i, e := range exts {
		h := slices.Clone(e.body)
		h[0] = proto
		if i+1 < len(exts) {
			h[0] = exts[i+1].typ
		}
		hdrs = append(hdrs, h...)
	}
	first := proto
	if len(exts) > 0 {
		first = exts[0].typ
	}
	pkt := make([]byte, segment.IPv6HeaderLen+len(hdrs)+n)
	h := segment.IPv6Header{NextHeader: first, HopLimit: 64, Src: src, Dst: dst6}
	segment.PutIPv6Header(pkt, &h, len(hdrs)+n)
	copy(pkt[segment.IPv6HeaderLen:], hdrs)
	rng := rand.New(rand.NewPCG(seed, 6))
	for i := segment.IPv6HeaderLen + len(hdrs); i < len(pkt); i++ {
		pkt[i] = byte(rng.Uint32())
	}
	return pkt
}

// frag6 cuts from whole the fragment with data bytes [off, off+n) of the
// fragmentable part (which starts at unfrag; the next-header field naming it
// is at field), with identification id.
func frag6(whole []byte, unfrag, field, off, n int, more bool, id uint32) []byte {
	f := make([]byte, unfrag+fragHeaderLen+n)
	copy(f, whole[:unfrag])
	h := f[unfrag:]
	h[0] = whole[field]
	om := uint16(off)
	if more {
		om |= 1
	}
	binary.BigEndian.PutUint16(h[2:], om)
	binary.BigEndian.PutUint32(h[4:], id)
	copy(h[fragHeaderLen:], whole[unfrag+off:unfrag+off+n])
	f[field] = segment.ProtocolFragment
	binary.BigEndian.PutUint16(f[4:], uint16(len(f)-segment.IPv6HeaderLen))
	return f
}

// split6 cuts whole (no Unfragmentable extension headers unless unfrag says
// so) into fragments of size bytes of data.
func split6(whole []byte, unfrag, field, size int, id uint32) [][]byte {
	data := len(whole) - unfrag
	var out [][]byte
	for off := 0; off < data; off += size {
		n := min(size, data-off)
		out = append(out, frag6(whole, unfrag, field, off, n, off+n < data, id))
	}
	return out
}
