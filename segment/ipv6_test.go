package segment

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// goldenIPv6SYN is a TCP SYN over IPv6 with a hop-by-hop header (router
// alert, PadN) and a destination options header (an unknown skippable
// option), traffic class 0xb8, flow label 0x12345, hop limit 63. The bytes
// come from an independent Python script (struct.pack, RFC 1071 checksum
// over the RFC 8200 8.1 pseudo-header), not from this package.
const goldenIPv6SYN = "6b8123450024003f20010002000000000000000000000001200100020000000000000000000000023c0005020000010006001e04aabbccdd9c40005001020304000000005002faf0d4520000"

var (
	addr6Kernel = netip.MustParseAddr("2001:2::1")
	addr6Stack  = netip.MustParseAddr("2001:2::2")
)

func TestIPv6Accessors(t *testing.T) {
	ip := IPv6(mustHex(goldenIPv6SYN))
	if err := ip.Validate(); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("Version", ip.Version(), uint8(6))
	check("TrafficClass", ip.TrafficClass(), uint8(0xb8))
	check("FlowLabel", ip.FlowLabel(), uint32(0x12345))
	check("PayloadLen", ip.PayloadLen(), uint16(36))
	check("NextHeader", ip.NextHeader(), uint8(ProtocolHopByHop))
	check("HopLimit", ip.HopLimit(), uint8(63))
	check("Src", ip.Src(), addr6Kernel)
	check("Dst", ip.Dst(), addr6Stack)
	check("len(Payload)", len(ip.Payload()), 36)
	check("IPVersion", IPVersion(ip), 6)

	var c IPv6Chain
	if err := WalkIPv6(ip, &c); err != nil {
		t.Fatal(err)
	}
	check("Protocol", c.Protocol, uint8(ProtocolTCP))
	check("Offset", c.Offset, 56)
	check("End", c.End, 76)
	check("HasFragment", c.HasFragment, false)
	check("Problem", c.Problem, false)

	// Link padding past the payload length is ignored.
	padded := append(append([]byte(nil), ip...), 0xee, 0xee)
	if err := WalkIPv6(padded, &c); err != nil || c.End != 76 || len(IPv6(padded).Payload()) != 36 {
		t.Errorf("padded: %v End %d", err, c.End)
	}
}

func TestPutIPv6Header(t *testing.T) {
	want := mustHex(goldenIPv6SYN)[:40]
	h := IPv6Header{TrafficClass: 0xb8, FlowLabel: 0xf12345, NextHeader: ProtocolHopByHop, HopLimit: 63,
		Src: addr6Kernel, Dst: addr6Stack}
	b := bytes.Repeat([]byte{0xaa}, 40)
	if n := PutIPv6Header(b, &h, 36); n != 40 || !bytes.Equal(b, want) {
		t.Fatalf("PutIPv6Header = %d\n%x\nwant\n%x (flow label bits above 20 must be dropped)", n, b, want)
	}
}

func TestIPv6Validate(t *testing.T) {
	good := mustHex(goldenIPv6SYN)
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"39 bytes", good[:39], ErrShort},
		{"version 4", mod(func(b []byte) { b[0] = 0x4b }), ErrVersion},
		{"version 7", mod(func(b []byte) { b[0] = 0x7b }), ErrVersion},
		// RFC 2675 3: payload length 0 with hop-by-hop is a jumbogram.
		{"jumbogram", mod(func(b []byte) { b[4], b[5] = 0, 0 }), ErrJumbogram},
		{"payload beyond packet", good[:len(good)-1], ErrPayloadLength},
		{"payload length 65535", mod(func(b []byte) { b[4], b[5] = 0xff, 0xff }), ErrPayloadLength},
		{"ok", good, nil},
		// Payload length 0 without hop-by-hop: an empty payload.
		{"empty payload", mod(func(b []byte) { b[4], b[5], b[6] = 0, 0, ProtocolNoNext }), nil},
	} {
		if err := IPv6(tc.pkt).Validate(); err != tc.want {
			t.Errorf("%s: Validate = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// v6 builds an IPv6 packet (src addr6Kernel, dst dst) whose fixed header
// names nh, followed by the given headers and upper-layer bytes, each
// appended as is.
func v6(dst netip.Addr, nh uint8, parts ...[]byte) []byte {
	var rest []byte
	for _, p := range parts {
		rest = append(rest, p...)
	}
	b := make([]byte, IPv6HeaderLen, IPv6HeaderLen+len(rest))
	PutIPv6Header(b, &IPv6Header{NextHeader: nh, HopLimit: 64, Src: addr6Kernel, Dst: dst}, len(rest))
	return append(b, rest...)
}

// ext returns an options, routing or other 8n-byte extension header with
// next header nh and body (its length plus 2 must be a multiple of 8).
func ext(nh uint8, body ...byte) []byte {
	if (len(body)+2)%8 != 0 {
		panic("ext: bad body length")
	}
	return append([]byte{nh, byte((len(body)+2)/8 - 1)}, body...)
}

// frag returns a fragment header.
func frag(nh uint8, offset int, more bool, id uint32) []byte {
	b := []byte{nh, 0, 0, 0, 0, 0, 0, 0}
	fo := uint16(offset)
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(b[2:], fo)
	binary.BigEndian.PutUint32(b[4:], id)
	return b
}

// routing returns a routing header of the given type and segments left
// with one address.
func routing(nh, typ, left uint8) []byte {
	return ext(nh, append([]byte{typ, left, 0, 0, 0, 0}, addr6Stack.AsSlice()...)...)
}

var tcp20 = []byte{0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}

func TestWalkIPv6(t *testing.T) {
	mcast := netip.MustParseAddr("ff02::1")
	padN := func(n int) []byte { return append([]byte{ipv6OptPadN, byte(n)}, make([]byte, n)...) }
	opt := func(typ byte, data ...byte) []byte { return append([]byte{typ, byte(len(data))}, data...) }
	cat := func(p ...[]byte) []byte { return bytes.Join(p, nil) }
	type want struct {
		err      error
		proto    uint8
		offset   int
		problem  bool
		code     uint8
		pointer  uint32
		action   uint8
		fragment *IPv6Fragment
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want want
	}{
		{"bare TCP", v6(addr6Stack, ProtocolTCP, tcp20), want{proto: ProtocolTCP, offset: 40}},
		{"bare UDP", v6(addr6Stack, ProtocolUDP, make([]byte, 8)), want{proto: ProtocolUDP, offset: 40}},
		{"ICMPv6", v6(addr6Stack, ProtocolICMPv6, make([]byte, 8)), want{proto: ProtocolICMPv6, offset: 40}},
		// RFC 8200 4.7: No Next Header ends the walk; what follows is ignored.
		{"no next header", v6(addr6Stack, ProtocolNoNext, []byte{1, 2, 3}), want{proto: ProtocolNoNext, offset: 40}},
		{"no next header after dest opts", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolNoNext, padN(4)...)),
			want{proto: ProtocolNoNext, offset: 48}},
		// RFC 8200 4.1 recommended order.
		{"full chain", v6(addr6Stack, ProtocolHopByHop,
			ext(ProtocolDestOpts, padN(4)...), ext(ProtocolRouting, opt(0x1e, make([]byte, 12)...)...),
			routing(ProtocolFragment, 0, 0), frag(ProtocolDestOpts, 0, false, 7), ext(ProtocolTCP, padN(4)...), tcp20),
			want{proto: ProtocolTCP, offset: 40 + 8 + 16 + 24 + 8 + 8,
				fragment: &IPv6Fragment{NextHeader: ProtocolDestOpts, ID: 7, HeaderOffset: 88, PrevField: 64}}},
		// RFC 8200 4.1: any order and repetition (bar hop-by-hop).
		{"dest opts twice, routing after", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolDestOpts, padN(4)...),
			ext(ProtocolRouting, padN(4)...), routing(ProtocolUDP, 2, 0), make([]byte, 8)),
			want{proto: ProtocolUDP, offset: 40 + 8 + 8 + 24}},
		// RFC 8200 4 / 4.3: hop-by-hop only first; Linux answers code 1.
		{"hop-by-hop second", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolHopByHop, padN(4)...), ext(ProtocolTCP, padN(4)...), tcp20),
			want{err: ErrIPv6NextHeader, problem: true, code: ICMPv6UnknownNextHeader, pointer: 40}},
		// RFC 8200 4, RFC 4443 3.4: unknown next header, pointer at the field.
		{"unknown in fixed header", v6(addr6Stack, 132, make([]byte, 12)),
			want{err: ErrIPv6NextHeader, problem: true, code: 1, pointer: 6}},
		{"ESP (no IPsec)", v6(addr6Stack, 50, make([]byte, 12)),
			want{err: ErrIPv6NextHeader, problem: true, code: 1, pointer: 6}},
		{"unknown after two headers", v6(addr6Stack, ProtocolHopByHop, ext(ProtocolDestOpts, padN(4)...), ext(51, padN(4)...), make([]byte, 8)),
			want{err: ErrIPv6NextHeader, problem: true, code: 1, pointer: 48}},
		// RFC 8200 4.4: unknown routing type with segments left.
		{"routing segments left", v6(addr6Stack, ProtocolHopByHop, ext(ProtocolRouting, padN(4)...), routing(ProtocolTCP, 0, 1), tcp20),
			want{err: ErrIPv6Routing, problem: true, code: 0, pointer: 50}},
		{"routing type 4 segments left", v6(addr6Stack, ProtocolRouting, routing(ProtocolTCP, 4, 3), tcp20),
			want{err: ErrIPv6Routing, problem: true, code: 0, pointer: 42}},
		{"routing no segments left", v6(addr6Stack, ProtocolRouting, routing(ProtocolTCP, 77, 0), tcp20),
			want{proto: ProtocolTCP, offset: 64}},
		// RFC 8200 4.2: the two high-order bits of an unknown option.
		{"option 00 skipped", v6(addr6Stack, ProtocolHopByHop, ext(ProtocolTCP, cat(opt(0x3e, 1, 2), padN(0))...), tcp20),
			want{proto: ProtocolTCP, offset: 48}},
		{"router alert", v6(addr6Stack, ProtocolHopByHop, ext(ProtocolTCP, cat(opt(5, 0, 0), padN(0))...), tcp20),
			want{proto: ProtocolTCP, offset: 48}},
		{"option 01 discard", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, cat(padN(0), opt(0x7e, 1, 2))...), tcp20),
			want{err: ErrIPv6Option, action: IPv6OptionDiscard}},
		{"option 10 to unicast", v6(addr6Stack, ProtocolHopByHop, ext(ProtocolTCP, cat([]byte{0}, opt(0x9e, 1), []byte{0, 0})...), tcp20),
			want{err: ErrIPv6Option, action: IPv6OptionDiscardICMP, problem: true, code: 2, pointer: 43}},
		{"option 10 to multicast", v6(mcast, ProtocolHopByHop, ext(ProtocolTCP, cat([]byte{0}, opt(0x9e, 1), []byte{0, 0})...), tcp20),
			want{err: ErrIPv6Option, action: IPv6OptionDiscardICMP, problem: true, code: 2, pointer: 43}},
		{"option 11 to unicast", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, cat(padN(0), opt(0xc2, 1, 2))...), tcp20),
			want{err: ErrIPv6Option, action: IPv6OptionDiscardICMPUnicast, problem: true, code: 2, pointer: 44}},
		{"option 11 to multicast", v6(mcast, ProtocolDestOpts, ext(ProtocolTCP, cat(padN(0), opt(0xc2, 1, 2))...), tcp20),
			want{err: ErrIPv6Option, action: IPv6OptionDiscardICMPUnicast}},
		{"option after skipped one", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, cat(opt(0x1e, 7, 7, 7, 7, 7, 7), opt(0xbe, 0, 0, 0, 0))...), tcp20),
			want{err: ErrIPv6Option, action: IPv6OptionDiscardICMP, problem: true, code: 2, pointer: 50}},
		// Malformed or excessive: dropped silently.
		{"option overruns header", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, cat(padN(0), opt(0x1e, 1), []byte{0x1e})...)),
			want{err: ErrIPv6ExtHeader}},
		{"option length overruns", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, cat(padN(0), []byte{0x1e, 3, 0, 0})...)),
			want{err: ErrIPv6ExtHeader}},
		{"8 padding bytes", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, cat(padN(4), []byte{0, 0}, padN(4))...), tcp20),
			want{err: ErrIPv6ExtHeader}},
		{"7 padding bytes", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, cat(padN(5), opt(0x1e, 1, 2, 3, 4, 5))...), tcp20),
			want{proto: ProtocolTCP, offset: 56}},
		{"9 options", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, append(bytes.Repeat(opt(0x1e), 9), 0, 0, 0, 0)...), tcp20),
			want{err: ErrIPv6ExtHeader}},
		{"8 options", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, append(bytes.Repeat(opt(0x1e), 8), 0, 0, 0, 0, 0, 0)...), tcp20),
			want{proto: ProtocolTCP, offset: 64}},
		{"header overruns payload", v6(addr6Stack, ProtocolDestOpts, []byte{ProtocolTCP, 1, 1, 4, 0, 0, 0, 0}),
			want{err: ErrIPv6ExtHeader}},
		{"header shorter than 8", v6(addr6Stack, ProtocolDestOpts, []byte{ProtocolTCP, 0, 1, 2}),
			want{err: ErrIPv6ExtHeader}},
		{"9 extension headers", v6(addr6Stack, ProtocolDestOpts, bytes.Repeat(ext(ProtocolDestOpts, padN(4)...), 8), ext(ProtocolTCP, padN(4)...), tcp20),
			want{err: ErrIPv6ExtHeader}},
		{"8 extension headers", v6(addr6Stack, ProtocolDestOpts, bytes.Repeat(ext(ProtocolDestOpts, padN(4)...), 7), ext(ProtocolTCP, padN(4)...), tcp20),
			want{proto: ProtocolTCP, offset: 40 + 64}},
		// RFC 8200 4.5 fragments.
		{"first fragment", v6(addr6Stack, ProtocolFragment, frag(ProtocolTCP, 0, true, 0xdeadbeef), tcp20, make([]byte, 4)),
			want{proto: ProtocolTCP, offset: 48,
				fragment: &IPv6Fragment{More: true, ID: 0xdeadbeef, NextHeader: ProtocolTCP, HeaderOffset: 40, PrevField: 6}}},
		{"middle fragment stops", v6(addr6Stack, ProtocolHopByHop, ext(ProtocolFragment, padN(4)...), frag(ProtocolDestOpts, 1448, true, 9), make([]byte, 16)),
			want{proto: ProtocolDestOpts, offset: 56,
				fragment: &IPv6Fragment{Offset: 1448, More: true, ID: 9, NextHeader: ProtocolDestOpts, HeaderOffset: 48, PrevField: 40}}},
		{"last fragment, odd length", v6(addr6Stack, ProtocolFragment, frag(ProtocolTCP, 8, false, 9), make([]byte, 3)),
			want{proto: ProtocolTCP, offset: 48,
				fragment: &IPv6Fragment{Offset: 8, ID: 9, NextHeader: ProtocolTCP, HeaderOffset: 40, PrevField: 6}}},
		{"fragment length not 8n", v6(addr6Stack, ProtocolFragment, frag(ProtocolTCP, 8, true, 9), make([]byte, 12)),
			want{err: ErrFragmentLength, problem: true, code: 0, pointer: 4}},
		{"fragment beyond 65535", v6(addr6Stack, ProtocolFragment, frag(ProtocolTCP, 65528, false, 9), make([]byte, 8)),
			want{err: ErrFragmentLength, problem: true, code: 0, pointer: 42}},
		{"fragment ending at 65535", v6(addr6Stack, ProtocolFragment, frag(ProtocolTCP, 65520, false, 9), make([]byte, 7)),
			want{proto: ProtocolTCP, offset: 48,
				fragment: &IPv6Fragment{Offset: 65520, ID: 9, NextHeader: ProtocolTCP, HeaderOffset: 40, PrevField: 6}}},
		{"nested fragment header", v6(addr6Stack, ProtocolFragment, frag(ProtocolFragment, 0, true, 1), frag(ProtocolTCP, 0, true, 2), tcp20, make([]byte, 4)),
			want{err: ErrIPv6ExtHeader}},
		// RFC 7112 5: a first fragment must hold the whole chain.
		{"first fragment chain cut", v6(addr6Stack, ProtocolFragment, frag(ProtocolDestOpts, 0, true, 1), []byte{ProtocolTCP, 1, 0, 0, 0, 0, 0, 0}),
			want{err: ErrIncompleteChain, problem: true, code: 3, pointer: 0}},
		{"first fragment TCP cut", v6(addr6Stack, ProtocolFragment, frag(ProtocolTCP, 0, true, 1), tcp20[:16]),
			want{err: ErrIncompleteChain, problem: true, code: 3, pointer: 0}},
		// RFC 6946: an atomic fragment is a whole datagram.
		{"atomic fragment", v6(addr6Stack, ProtocolFragment, frag(ProtocolTCP, 0, false, 5), tcp20[:16]),
			want{proto: ProtocolTCP, offset: 48,
				fragment: &IPv6Fragment{ID: 5, NextHeader: ProtocolTCP, HeaderOffset: 40, PrevField: 6}}},
		{"jumbogram", v6(addr6Stack, ProtocolHopByHop)[:40], want{err: ErrJumbogram}},
		{"short", make([]byte, 20), want{err: ErrShort}},
	} {
		var c IPv6Chain
		c.Problem, c.Offset = true, 999 // must be reset
		err := WalkIPv6(tc.pkt, &c)
		w := tc.want
		if err != w.err {
			t.Errorf("%s: err %v, want %v", tc.name, err, w.err)
			continue
		}
		if c.Problem != w.problem || c.ProblemCode != w.code || c.Pointer != w.pointer || c.OptionAction != w.action {
			t.Errorf("%s: problem %v code %d pointer %d action %d, want %v %d %d %d", tc.name,
				c.Problem, c.ProblemCode, c.Pointer, c.OptionAction, w.problem, w.code, w.pointer, w.action)
		}
		if err != nil {
			continue
		}
		if c.Protocol != w.proto || c.Offset != w.offset || c.End != len(tc.pkt) {
			t.Errorf("%s: protocol %d offset %d end %d, want %d %d %d", tc.name, c.Protocol, c.Offset, c.End, w.proto, w.offset, len(tc.pkt))
		}
		if c.HasFragment != (w.fragment != nil) || w.fragment != nil && c.Fragment != *w.fragment {
			t.Errorf("%s: fragment %v %+v, want %+v", tc.name, c.HasFragment, c.Fragment, w.fragment)
		}
	}
}

// TestIPv6FragmentSplice: the fields a reassembler uses put the datagram
// back together: removing the fragment header and rewriting the field
// that named it gives the unfragmented packet.
func TestIPv6FragmentSplice(t *testing.T) {
	whole := v6(addr6Stack, ProtocolHopByHop, ext(ProtocolDestOpts, 0x1e, 4, 1, 2, 3, 4), ext(ProtocolTCP, 1, 4, 0, 0, 0, 0), tcp20)
	fragd := v6(addr6Stack, ProtocolHopByHop, ext(ProtocolFragment, 0x1e, 4, 1, 2, 3, 4), frag(ProtocolDestOpts, 0, false, 1),
		ext(ProtocolTCP, 1, 4, 0, 0, 0, 0), tcp20)
	var c IPv6Chain
	if err := WalkIPv6(fragd, &c); err != nil || !c.HasFragment || !c.Fragment.Atomic() {
		t.Fatalf("walk: %v %+v", err, c)
	}
	f := c.Fragment
	got := append([]byte(nil), fragd[:f.HeaderOffset]...)
	got[f.PrevField] = f.NextHeader
	got = append(got, fragd[f.DataOffset():]...)
	binary.BigEndian.PutUint16(got[ipv6PayloadLen:], uint16(len(got)-IPv6HeaderLen))
	if !bytes.Equal(got, whole) {
		t.Fatalf("spliced\n%x\nwant\n%x", got, whole)
	}
}

func TestWalkIPv6Allocs(t *testing.T) {
	pkt := mustHex(goldenIPv6SYN)
	var c IPv6Chain
	if a := testing.AllocsPerRun(100, func() {
		if err := WalkIPv6(pkt, &c); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("WalkIPv6: %v allocs", a)
	}
	bad := v6(addr6Stack, 132, make([]byte, 12))
	if a := testing.AllocsPerRun(100, func() { _ = WalkIPv6(bad, &c) }); a != 0 {
		t.Fatalf("WalkIPv6 error path: %v allocs", a)
	}
}

func BenchmarkWalkIPv6(b *testing.B) {
	pkt := mustHex(goldenIPv6SYN)
	var c IPv6Chain
	b.ReportAllocs()
	for b.Loop() {
		if err := WalkIPv6(pkt, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// checkWalk checks the walker's invariants on any packet: it never panics,
// and on success its offsets lie within the packet.
func checkWalk(t *testing.T, pkt []byte) {
	var c IPv6Chain
	err := WalkIPv6(pkt, &c)
	if err != nil {
		if c.Problem && int(c.Pointer) >= len(pkt) {
			t.Fatalf("pointer %d beyond the packet (%d bytes): %v", c.Pointer, len(pkt), err)
		}
		return
	}
	if c.Problem || c.Offset < IPv6HeaderLen || c.Offset > c.End || c.End > len(pkt) {
		t.Fatalf("walk: %+v for %d bytes", c, len(pkt))
	}
	if c.HasFragment {
		f := c.Fragment
		if f.PrevField >= f.HeaderOffset || f.DataOffset() > c.End || pkt[f.PrevField] != ProtocolFragment {
			t.Fatalf("fragment: %+v", f)
		}
	}
	_ = IPv6(pkt).Payload()
}

func FuzzWalkIPv6(f *testing.F) {
	f.Add(mustHex(goldenIPv6SYN))
	f.Add(v6(addr6Stack, ProtocolHopByHop, ext(ProtocolFragment, 0x1e, 4, 1, 2, 3, 4), frag(ProtocolDestOpts, 0, true, 1),
		ext(ProtocolTCP, 1, 4, 0, 0, 0, 0), tcp20, make([]byte, 4)))
	f.Add(v6(addr6Stack, ProtocolRouting, routing(ProtocolFragment, 0, 0), frag(ProtocolTCP, 1448, false, 1), make([]byte, 9)))
	f.Add(v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, 0xc2, 4, 0, 0, 0, 0)))
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkWalk(t, data)
	})
}
