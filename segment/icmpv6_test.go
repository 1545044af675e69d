package segment

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// Golden ICMPv6 packets from the independent Python script (RFC 1071 sum
// over the RFC 8200 8.1 pseudo-header with next header 58).
const (
	// Echo request 2001:2::1 -> 2001:2::2, traffic class 0x10, id 0x1234,
	// seq 1, data "abcdefgh", and the reply we must send.
	goldenEchoRequest6 = "6100000000103a40200100020000000000000000000000012001000200000000000000000000000280009be1123400016162636465666768"
	goldenEchoReply6   = "6100000000103a40200100020000000000000000000000022001000200000000000000000000000181009ae1123400016162636465666768"
	// Packet Too Big (MTU 1400) from 2001:db8::1 quoting goldenIPv6[1].
	goldenPTB6 = "60000000005a3aff20010db8000000000000000000000001200100020000000000000000000000020200433b0000057860000000002a06ff200100020000000000000000000000022001000200000000000000000000000100509c40fffffff101020305803901f6c60000030101080a000003100000307068656c6c6f2c2076360a"
	// A packet with an unknown next header (253), and the Parameter
	// Problem (code 1, pointer 6) we answer it with.
	goldenInvoking6  = "600000000008fd4020010002000000000000000000000001200100020000000000000000000000020102030405060708"
	goldenParamProb6 = "6000000000383a40200100020000000000000000000000022001000200000000000000000000000104010e1700000006600000000008fd4020010002000000000000000000000001200100020000000000000000000000020102030405060708"
)

func TestICMPv6Accessors(t *testing.T) {
	ip, m, err := ParseIPv6ICMP(mustHex(goldenEchoRequest6))
	if err != nil {
		t.Fatal(err)
	}
	if ip.Src() != addr6Kernel || m.Type() != ICMPv6TypeEchoRequest || m.Code() != 0 || m.Checksum() != 0x9be1 ||
		m.ID() != 0x1234 || m.Seq() != 1 || string(m.Body()) != "abcdefgh" || m.IsError() {
		t.Fatalf("echo request: %x", m)
	}
	_, m, err = ParseIPv6ICMP(mustHex(goldenPTB6))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type() != ICMPv6TypePacketTooBig || m.MTU() != 1400 || !m.IsError() || !bytes.Equal(m.Body(), mustHex(goldenIPv6[1].hex)) {
		t.Fatalf("packet too big: %x", m)
	}
	_, m, err = ParseIPv6ICMP(mustHex(goldenParamProb6))
	if err != nil || m.Type() != ICMPv6TypeParamProblem || m.Code() != ICMPv6UnknownNextHeader || m.Pointer() != 6 {
		t.Fatalf("parameter problem: %v %x", err, m)
	}
}

func TestParseIPv6ICMPErrors(t *testing.T) {
	good := mustHex(goldenEchoRequest6)
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	msg := good[IPv6HeaderLen:]
	for _, tc := range []struct {
		name string
		pkt  []byte
		want error
	}{
		{"ok", good, nil},
		{"behind destination options", v6(addr6Stack, ProtocolDestOpts, ext(ProtocolICMPv6, 1, 4, 0, 0, 0, 0), msg), nil},
		{"atomic fragment", v6(addr6Stack, ProtocolFragment, frag(ProtocolICMPv6, 0, false, 3), msg), nil},
		{"fragment", v6(addr6Stack, ProtocolFragment, frag(ProtocolICMPv6, 0, true, 3), msg), ErrFragment},
		{"TCP", mod(func(b []byte) { b[ipv6NextHeader] = ProtocolTCP }), ErrProtocol},
		{"bad checksum", mod(func(b []byte) { b[len(b)-1] ^= 1 }), ErrICMPChecksum},
		// The pseudo-header covers the addresses (RFC 4443 2.3).
		{"other destination", mod(func(b []byte) { b[ipv6Dst+15] = 3 }), ErrICMPChecksum},
		{"short", mod(func(b []byte) { b[ipv6PayloadLen+1] = 7 })[:47], ErrShort},
		{"payload beyond", good[:len(good)-1], ErrPayloadLength},
	} {
		// v6 uses addr6Kernel -> addr6Stack like the golden, so the
		// checksum stays valid behind extension headers.
		if _, _, err := ParseIPv6ICMP(tc.pkt); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestICMPv6EchoReply(t *testing.T) {
	req, want := mustHex(goldenEchoRequest6), mustHex(goldenEchoReply6)
	dst := make([]byte, 100)
	n, err := ICMPv6EchoReply(dst, req)
	if err != nil || !bytes.Equal(dst[:n], want) {
		t.Fatalf("reply %v\n%x\nwant\n%x", err, dst[:n], want)
	}
	// In place, with extension headers to drop: the message moves left.
	msg := req[IPv6HeaderLen:]
	withExt := v6(addr6Stack, ProtocolHopByHop, ext(ProtocolDestOpts, 5, 2, 0, 0, 1, 0), ext(ProtocolICMPv6, 1, 4, 0, 0, 0, 0), msg)
	withExt[1] = req[1] // traffic class 0x10
	withExt[0] = req[0]
	n, err = ICMPv6EchoReply(withExt, withExt)
	if err != nil || !bytes.Equal(withExt[:n], want) {
		t.Fatalf("in place %v\n%x\nwant\n%x", err, withExt[:n], want)
	}
	if _, err := ICMPv6EchoReply(dst[:len(want)-1], req); err != ErrBufferTooSmall {
		t.Errorf("short buffer: %v", err)
	}
	if _, err := ICMPv6EchoReply(dst, want); err != ErrICMPType {
		t.Errorf("a reply answered: %v", err)
	}
	mc := v6(netip.MustParseAddr("ff02::1"), ProtocolICMPv6, msg)
	binary.BigEndian.PutUint16(mc[IPv6HeaderLen+2:], 0)
	binary.BigEndian.PutUint16(mc[IPv6HeaderLen+2:], Checksum(mc[IPv6HeaderLen:], PseudoHeaderSum(addr6Kernel, IPv6(mc).Dst(), ProtocolICMPv6, len(msg))))
	if _, err := ICMPv6EchoReply(dst, mc); err != ErrAddress {
		t.Errorf("multicast request: %v", err)
	}
	bad := append([]byte(nil), req...)
	bad[50] ^= 1
	if _, err := ICMPv6EchoReply(dst, bad); err != ErrICMPChecksum {
		t.Errorf("bad checksum: %v", err)
	}
}

func TestICMPv6Quoted(t *testing.T) {
	_, m, err := ParseIPv6ICMP(mustHex(goldenPTB6))
	if err != nil {
		t.Fatal(err)
	}
	q, err := m.Quoted()
	if err != nil {
		t.Fatal(err)
	}
	sp, dp, seq := q.TCPPorts()
	if q.Src != addr6Stack || q.Dst != addr6Kernel || q.Protocol != ProtocolTCP || len(q.Header) != IPv6HeaderLen ||
		sp != 80 || dp != 40000 || seq != 0xfffffff1 {
		t.Fatalf("quoted %+v ports %d %d seq %#x", q, sp, dp, seq)
	}
	tcp := mustHex(goldenIPv6[1].hex)[IPv6HeaderLen:]
	quote := func(pkt []byte) ICMPv6 {
		return ICMPv6(append([]byte{ICMPv6TypeDestUnreach, ICMPv6PortUnreachable, 0, 0, 0, 0, 0, 0}, pkt...))
	}
	// A quoted packet: the TCP packet behind the given headers, cut to n
	// bytes (its payload length still counting the whole).
	quoted := func(n int, nh uint8, hdrs ...[]byte) ICMPv6 {
		p := v6(addr6Kernel, nh, append(hdrs, tcp)...)
		copy(p[ipv6Src:], addr6Stack.AsSlice())
		copy(p[ipv6Dst:], addr6Kernel.AsSlice())
		return quote(p[:min(n, len(p))])
	}
	for _, tc := range []struct {
		name   string
		m      ICMPv6
		want   error
		header int
	}{
		{"whole", quoted(1000, ProtocolTCP), nil, 40},
		{"8 TCP bytes", quoted(48, ProtocolTCP), nil, 40},
		{"7 TCP bytes", quoted(47, ProtocolTCP), ErrShort, 0},
		{"behind extension headers", quoted(72, ProtocolHopByHop, ext(ProtocolDestOpts, 1, 4, 0, 0, 0, 0), ext(ProtocolTCP, 1, 4, 0, 0, 0, 0)), nil, 56},
		{"extension header cut", quoted(52, ProtocolHopByHop, ext(ProtocolDestOpts, 1, 4, 0, 0, 0, 0), ext(ProtocolTCP, 1, 4, 0, 0, 0, 0)), ErrIPv6ExtHeader, 0},
		{"first fragment", quoted(100, ProtocolFragment, frag(ProtocolTCP, 0, true, 1)), nil, 48},
		{"later fragment", quoted(100, ProtocolFragment, frag(ProtocolTCP, 8, true, 1)), ErrFragment, 0},
		{"no IPv6 header", quoted(39, ProtocolTCP), ErrShort, 0},
		{"IPv4 quoted", quote(mustHex(goldenPackets[0].hex)), ErrVersion, 0},
		{"informational", ICMPv6(mustHex(goldenEchoRequest6)[IPv6HeaderLen:]), ErrICMPType, 0},
		{"short", ICMPv6{1, 0, 0}, ErrShort, 0},
	} {
		q, err := tc.m.Quoted()
		if err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			continue
		}
		if err != nil {
			continue
		}
		sp, dp, seq := q.TCPPorts()
		if len(q.Header) != tc.header || q.Protocol != ProtocolTCP || q.Src != addr6Stack || sp != 80 || dp != 40000 || seq != 0xfffffff1 {
			t.Errorf("%s: header %d protocol %d src %v ports %d %d seq %#x", tc.name, len(q.Header), q.Protocol, q.Src, sp, dp, seq)
		}
	}
}

func TestICMPv6Error(t *testing.T) {
	inv, want := mustHex(goldenInvoking6), mustHex(goldenParamProb6)
	dst := make([]byte, 2000)
	n, err := ICMPv6Error(dst, ICMPv6TypeParamProblem, ICMPv6UnknownNextHeader, 6, addr6Stack, inv)
	if err != nil || !bytes.Equal(dst[:n], want) {
		t.Fatalf("%v\n%x\nwant\n%x", err, dst[:n], want)
	}
	// The walker's verdict on that packet is the same parameter problem.
	var c IPv6Chain
	if err := WalkIPv6(inv, &c); err != ErrIPv6NextHeader || !c.Problem || c.ProblemCode != 1 || c.Pointer != 6 {
		t.Fatalf("walk: %v %+v", err, c)
	}
	// In place, with link padding past the payload length (not quoted).
	inPlace := append(append([]byte(nil), inv...), 0xee, 0xee, 0xee)
	inPlace = append(inPlace, make([]byte, 100)...)[:len(inv)+3]
	n, err = ICMPv6Error(inPlace[:cap(inPlace)], ICMPv6TypeParamProblem, ICMPv6UnknownNextHeader, 6, addr6Stack, inPlace)
	if err != nil || !bytes.Equal(inPlace[:n], want) {
		t.Fatalf("in place %v\n%x", err, inPlace[:n])
	}
	// A big invoking packet is quoted up to 1280 bytes in all (RFC 4443
	// 2.4(c)).
	seg := dataSegment6(1428)
	seg.Src, seg.Dst = addr6Kernel, addr6Stack
	big := make([]byte, 1500)
	if _, err := BuildIPv6TCP(big, &seg, 0, 64); err != nil {
		t.Fatal(err)
	}
	n, err = ICMPv6Error(dst, ICMPv6TypeDestUnreach, ICMPv6PortUnreachable, 0, addr6Stack, big)
	if err != nil || n != IPv6MinMTU {
		t.Fatalf("big: %d %v", n, err)
	}
	ip, m, err := ParseIPv6ICMP(dst[:n])
	if err != nil || ip.Src() != addr6Stack || ip.Dst() != addr6Kernel || ip.HopLimit() != DefaultHopLimit ||
		!bytes.Equal(m.Body(), big[:IPv6MinMTU-48]) {
		t.Fatalf("big: %v", err)
	}
	q, err := m.Quoted()
	if sp, dp, _ := q.TCPPorts(); err != nil || sp != seg.SrcPort || dp != seg.DstPort {
		t.Fatalf("big quote: %v %d %d", err, sp, dp)
	}
	// Packet Too Big carries the MTU in its 32-bit field.
	n, err = ICMPv6Error(dst, ICMPv6TypePacketTooBig, 0, 1280, addr6Stack, big)
	if _, m, err2 := ParseIPv6ICMP(dst[:n]); err != nil || err2 != nil || m.MTU() != 1280 {
		t.Fatalf("PTB: %v %v", err, err2)
	}
	for _, tc := range []struct {
		name string
		buf  int
		src  netip.Addr
		inv  []byte
		typ  uint8
		want error
	}{
		{"short buffer", len(want) - 1, addr6Stack, inv, ICMPv6TypeParamProblem, ErrBufferTooSmall},
		{"IPv4 source", 2000, addrStack, inv, ICMPv6TypeParamProblem, ErrAddress},
		{"invoking short", 2000, addr6Stack, inv[:39], ICMPv6TypeParamProblem, ErrShort},
		{"invoking IPv4", 2000, addr6Stack, mustHex(goldenPackets[0].hex), ICMPv6TypeParamProblem, ErrVersion},
		{"informational type", 2000, addr6Stack, inv, ICMPv6TypeEchoReply, ErrICMPNotAllowed},
		{"in reply to an error", 2000, addr6Stack, want, ICMPv6TypeParamProblem, ErrICMPNotAllowed},
	} {
		if _, err := ICMPv6Error(dst[:tc.buf], tc.typ, 1, 6, tc.src, tc.inv); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestICMPv6ErrorAllowed: RFC 4443 2.4(e), clause by clause.
func TestICMPv6ErrorAllowed(t *testing.T) {
	mc := netip.MustParseAddr("ff02::1")
	tcp := v6(addr6Stack, ProtocolTCP, tcp20)
	from := func(src netip.Addr, pkt []byte) []byte {
		p := append([]byte(nil), pkt...)
		copy(p[ipv6Src:], src.AsSlice())
		return p
	}
	icmp := func(typ uint8, dst netip.Addr, hdrs ...[]byte) []byte {
		nh := uint8(ProtocolICMPv6)
		if len(hdrs) > 0 {
			nh = ProtocolDestOpts
		}
		return v6(dst, nh, append(hdrs, []byte{typ, 0, 0, 0, 0, 0, 0, 0})...)
	}
	// An option with action 10 at offset 42 of a multicast packet, and
	// one with action 11.
	opt10 := v6(mc, ProtocolHopByHop, ext(ProtocolTCP, 0x9e, 4, 0, 0, 0, 0), tcp20)
	opt11 := v6(mc, ProtocolHopByHop, ext(ProtocolTCP, 0xde, 4, 0, 0, 0, 0), tcp20)
	for _, tc := range []struct {
		name  string
		inv   []byte
		typ   uint8
		code  uint8
		param uint32
		want  bool
	}{
		{"TCP to unicast", tcp, ICMPv6TypeDestUnreach, ICMPv6PortUnreachable, 0, true},
		{"not an error type", tcp, ICMPv6TypeEchoReply, 0, 0, false},
		{"short", tcp[:39], ICMPv6TypeDestUnreach, 0, 0, false},
		{"IPv4", mustHex(goldenPackets[0].hex), ICMPv6TypeDestUnreach, 0, 0, false},
		// (e.1) an ICMPv6 error message, also behind extension headers.
		{"e.1 dest unreach", icmp(ICMPv6TypeDestUnreach, addr6Stack), ICMPv6TypeParamProblem, 0, 0, false},
		{"e.1 param problem behind dest opts", icmp(ICMPv6TypeParamProblem, addr6Stack, ext(ProtocolICMPv6, 1, 4, 0, 0, 0, 0)), ICMPv6TypeParamProblem, 0, 0, false},
		{"e.1 type 127", icmp(127, addr6Stack), ICMPv6TypeDestUnreach, 0, 0, false},
		{"e.1 type unreadable", v6(addr6Stack, ProtocolICMPv6), ICMPv6TypeParamProblem, 0, 0, false},
		{"echo request", icmp(ICMPv6TypeEchoRequest, addr6Stack), ICMPv6TypeParamProblem, 0, 0, true},
		// (e.2) a redirect.
		{"e.2 redirect", icmp(icmpv6TypeRedirect, addr6Stack), ICMPv6TypeParamProblem, 0, 0, false},
		// (e.3) a multicast destination, with its two exceptions.
		{"e.3 multicast", v6(mc, ProtocolTCP, tcp20), ICMPv6TypeDestUnreach, ICMPv6PortUnreachable, 0, false},
		{"e.3 multicast unknown next header", v6(mc, 253, tcp20), ICMPv6TypeParamProblem, ICMPv6UnknownNextHeader, 6, false},
		{"e.3 exception 1: packet too big", v6(mc, ProtocolTCP, tcp20), ICMPv6TypePacketTooBig, 0, 1280, true},
		{"e.3 exception 2: option 10", opt10, ICMPv6TypeParamProblem, ICMPv6UnknownOption, 42, true},
		{"e.3 option 11", opt11, ICMPv6TypeParamProblem, ICMPv6UnknownOption, 42, false},
		{"e.3 pointer beyond packet", opt10, ICMPv6TypeParamProblem, ICMPv6UnknownOption, 4000, false},
		{"option 11 to unicast", v6(addr6Stack, ProtocolHopByHop, ext(ProtocolTCP, 0xde, 4, 0, 0, 0, 0), tcp20), ICMPv6TypeParamProblem, ICMPv6UnknownOption, 42, true},
		// (e.6) a source that is not a single node.
		{"e.6 unspecified source", from(netip.IPv6Unspecified(), tcp), ICMPv6TypeDestUnreach, 0, 0, false},
		{"e.6 multicast source", from(mc, tcp), ICMPv6TypeDestUnreach, 0, 0, false},
	} {
		if got := ICMPv6ErrorAllowed(tc.inv, tc.typ, tc.code, tc.param); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestICMPv6Allocs(t *testing.T) {
	req := mustHex(goldenEchoRequest6)
	ptb := mustHex(goldenPTB6)
	inv := mustHex(goldenInvoking6)
	dst := make([]byte, 2000)
	for name, f := range map[string]func(){
		"ParseIPv6ICMP": func() { _, _, _ = ParseIPv6ICMP(req) },
		"EchoReply":     func() { _, _ = ICMPv6EchoReply(dst, req) },
		"Quoted": func() {
			_, m, _ := ParseIPv6ICMP(ptb)
			_, _ = m.Quoted()
		},
		"Error":   func() { _, _ = ICMPv6Error(dst, ICMPv6TypeParamProblem, 1, 6, addr6Stack, inv) },
		"Allowed": func() { _ = ICMPv6ErrorAllowed(inv, ICMPv6TypeParamProblem, 1, 6) },
	} {
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s: %v allocs", name, a)
		}
	}
}

// checkICMPv6 exercises the ICMPv6 functions on any packet: none panics,
// and what they build parses.
func checkICMPv6(t *testing.T, pkt []byte) {
	_ = ICMPv6ErrorAllowed(pkt, ICMPv6TypeParamProblem, ICMPv6UnknownOption, uint32(len(pkt)/2))
	buf := make([]byte, 1400)
	if n, err := ICMPv6Error(buf, ICMPv6TypeDestUnreach, ICMPv6PortUnreachable, 0, addr6Stack, pkt); err == nil {
		if _, m, err := ParseIPv6ICMP(buf[:n]); err != nil || n > IPv6MinMTU || !bytes.Equal(m.Body(), pkt[:n-48]) {
			t.Fatalf("error message does not parse: %v %x", err, buf[:n])
		}
	}
	ip, m, err := ParseIPv6ICMP(pkt)
	if err != nil {
		return
	}
	_, _, _, _, _, _, _ = m.Type(), m.Code(), m.Checksum(), m.ID(), m.Seq(), m.MTU(), m.Pointer()
	_, _ = m.Body(), m.IsError()
	if q, err := m.Quoted(); err == nil {
		_, _, _ = q.TCPPorts()
		if len(q.Transport) < 8 {
			t.Fatalf("quoted transport %d bytes", len(q.Transport))
		}
	}
	if m.Type() != ICMPv6TypeEchoRequest {
		return
	}
	want := append([]byte(nil), m[4:]...)
	c := append([]byte(nil), pkt...)
	n, err := ICMPv6EchoReply(c, c)
	if err == ErrAddress && ip.Dst().IsMulticast() {
		return
	}
	if err != nil {
		t.Fatalf("echo reply: %v", err)
	}
	rip, rep, err := ParseIPv6ICMP(c[:n])
	if err != nil || rep.Type() != ICMPv6TypeEchoReply || !bytes.Equal(rep[4:], want) || rip.Dst() != ip.Src() {
		t.Fatalf("echo reply invalid: %v %x", err, c[:n])
	}
}

func FuzzICMPv6(f *testing.F) {
	for _, h := range []string{goldenEchoRequest6, goldenEchoReply6, goldenPTB6, goldenInvoking6, goldenParamProb6} {
		f.Add(mustHex(h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, pkt := range [][]byte{data, fixChecksums6(data)} {
			checkICMPv6(t, pkt)
		}
	})
}

// randomIPv6Packet returns a random IPv6 packet: a random chain of
// extension headers, then TCP, an ICMPv6 echo request or error quoting a
// TCP packet, or random bytes; with some probability one byte is then
// flipped.
func randomIPv6Packet(r *rand.Rand) []byte {
	dst := addr6Stack
	if r.IntN(8) == 0 {
		dst = netip.MustParseAddr("ff02::1")
	}
	var parts [][]byte
	var nhs []uint8
	if r.IntN(4) == 0 {
		nhs = append(nhs, ProtocolHopByHop)
	}
	for k := r.IntN(3); k > 0; k-- {
		nhs = append(nhs, []uint8{ProtocolDestOpts, ProtocolRouting, ProtocolFragment}[r.IntN(3)])
	}
	upper := []uint8{ProtocolTCP, ProtocolICMPv6, ProtocolICMPv6, uint8(r.Uint32())}[r.IntN(4)]
	for i, nh := range nhs {
		next := upper
		if i+1 < len(nhs) {
			next = nhs[i+1]
		}
		switch nh {
		case ProtocolFragment:
			parts = append(parts, frag(next, 8*r.IntN(2), r.IntN(2) == 0, r.Uint32()))
		case ProtocolRouting:
			parts = append(parts, routing(next, uint8(r.IntN(5)), uint8(r.IntN(2))))
		default:
			parts = append(parts, ext(next, byte(r.IntN(256)), 4, 0, 0, 0, 0))
		}
	}
	switch upper {
	case ProtocolTCP:
		t := append(append([]byte(nil), tcp20...), randBytes(r, r.IntN(40))...)
		parts = append(parts, t)
	case ProtocolICMPv6:
		if r.IntN(2) == 0 {
			parts = append(parts, append([]byte{ICMPv6TypeEchoRequest, 0, 0, 0}, randBytes(r, 4+r.IntN(40))...))
		} else {
			q := mustHex(goldenIPv6[1].hex)
			parts = append(parts, append([]byte{uint8(1 + r.IntN(4)), 0, 0, 0, 0, 0, 5, 0}, q[:40+r.IntN(len(q)-39)]...))
		}
	default:
		parts = append(parts, randBytes(r, r.IntN(40)))
	}
	nh := upper
	if len(nhs) > 0 {
		nh = nhs[0]
	}
	p := v6(dst, nh, parts...)
	if r.IntN(3) == 0 {
		p[r.IntN(len(p))] ^= byte(1 + r.IntN(255))
	}
	return p
}

// TestRandomIPv6PacketsNeverPanic runs the IPv6 fuzz bodies over random
// packets, so that plain `go test` exercises them beyond the seed corpus.
func TestRandomIPv6PacketsNeverPanic(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	parsed := map[string]int{}
	for i := 0; i < 20000; i++ {
		b := randomIPv6Packet(r)
		for _, pkt := range [][]byte{b, fixChecksums6(b)} {
			checkWalk(t, pkt)
			checkParseIPv6TCP(t, pkt)
			checkICMPv6(t, pkt)
			var seg Segment
			if Parse(pkt, &seg) == nil {
				parsed["tcp"]++
			}
			if _, m, err := ParseIPv6ICMP(pkt); err == nil {
				parsed["icmp"]++
				if _, err := m.Quoted(); err == nil {
					parsed["quoted"]++
				}
			}
		}
	}
	t.Logf("parsed: %v", parsed)
	for _, k := range []string{"tcp", "icmp", "quoted"} {
		if parsed[k] < 500 {
			t.Errorf("only %d random %s packets parsed: generator too weak", parsed[k], k)
		}
	}
}
