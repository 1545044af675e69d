package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// Golden TCP/IPv6 packets without extension headers, from the same
// independent Python script as goldenIPv6SYN, with the flow label and hop
// limit the builder needs to reproduce them.
var goldenIPv6 = []struct {
	name  string
	hex   string
	seg   Segment
	flow  uint32
	hop   uint8
	iphex string
}{
	{
		name: "SynAck",
		hex:  "600abcde00280640200100020000000000000000000000022001000200000000000000000000000100509c40fffffff001020305a012ffff342a0000020405a00402080a00000309000030390103030e",
		seg: Segment{Src: addr6Stack, Dst: addr6Kernel, SrcPort: 80, DstPort: 40000, Seq: 0xfffffff0, Ack: 0x01020305,
			Flags: FlagSYN | FlagACK, Window: 65535,
			Options: Options{HasMSS: true, MSS: 1440, SACKPermitted: true, HasTimestamp: true, TSVal: 777, TSEcr: 12345, HasWScale: true, WScale: 14}},
		flow: 0xabcde, hop: 64,
	},
	{
		name: "FinUrgOdd",
		hex:  "60000000002a06ff200100020000000000000000000000022001000200000000000000000000000100509c40fffffff101020305803901f6c60000030101080a000003100000307068656c6c6f2c2076360a",
		seg: Segment{Src: addr6Stack, Dst: addr6Kernel, SrcPort: 80, DstPort: 40000, Seq: 0xfffffff1, Ack: 0x01020305,
			Flags: FlagFIN | FlagPSH | FlagACK | FlagURG, Window: 502, Urgent: 3,
			Options: Options{HasTimestamp: true, TSVal: 784, TSEcr: 12400}, Payload: []byte("hello, v6\n")},
		flow: 0, hop: 255,
	},
}

// TestGoldenIPv6: the golden packets parse (through Parse's dispatch) to
// their segments, and the builder reproduces them byte for byte.
func TestGoldenIPv6(t *testing.T) {
	var seg Segment
	syn := mustHex(goldenIPv6SYN)
	want := Segment{Src: addr6Kernel, Dst: addr6Stack, SrcPort: 40000, DstPort: 80, Seq: 0x01020304, Flags: FlagSYN, Window: 64240}
	if err := Parse(syn, &seg); err != nil || !segEqual(&seg, &want) {
		t.Fatalf("SYN with extension headers: %v %v", err, seg.String())
	}
	buf := make([]byte, 200)
	for _, g := range goldenIPv6 {
		pkt := mustHex(g.hex)
		if err := Parse(pkt, &seg); err != nil || !segEqual(&seg, &g.seg) {
			t.Fatalf("%s: %v\n got %v %+v\nwant %v", g.name, err, seg.String(), seg.Options, g.seg.String())
		}
		if len(seg.Payload) > 0 && &seg.Payload[0] != &pkt[len(pkt)-len(seg.Payload)] {
			t.Errorf("%s: payload copied, not aliased", g.name)
		}
		n, err := BuildIPv6TCP(buf, &g.seg, g.flow, g.hop)
		if err != nil || !bytes.Equal(buf[:n], pkt) {
			t.Fatalf("%s: BuildIPv6TCP %v\n%x\nwant\n%x", g.name, err, buf[:n], pkt)
		}
		if n != IPv6TCPHeaderLen(&g.seg)+len(g.seg.Payload) {
			t.Errorf("%s: IPv6TCPHeaderLen %d", g.name, IPv6TCPHeaderLen(&g.seg))
		}
		// Headroom path: payload in place first.
		clear(buf)
		copy(buf[IPv6TCPHeaderLen(&g.seg):], g.seg.Payload)
		n, err = BuildIPv6TCPHeaders(buf, &g.seg, len(g.seg.Payload), g.flow, g.hop)
		if err != nil || !bytes.Equal(buf[:n], pkt) {
			t.Fatalf("%s: BuildIPv6TCPHeaders %v\n%x", g.name, err, buf[:n])
		}
		// Headers only: everything but the TCP checksum.
		clear(buf)
		n, err = BuildIPv6TCPHeadersOnly(buf, &g.seg, len(g.seg.Payload), g.flow, g.hop)
		hl := IPv6TCPHeaderLen(&g.seg)
		w := append([]byte(nil), pkt[:hl]...)
		w[IPv6HeaderLen+tcpChecksum], w[IPv6HeaderLen+tcpChecksum+1] = 0, 0
		if err != nil || n != hl || !bytes.Equal(buf[:n], w) {
			t.Fatalf("%s: BuildIPv6TCPHeadersOnly %d %v\n%x\nwant\n%x", g.name, n, err, buf[:n], w)
		}
	}
}

func TestParseIPv6TCPErrors(t *testing.T) {
	good := mustHex(goldenIPv6[1].hex)
	tcp := good[IPv6HeaderLen:]
	// withExt returns the golden segment behind the given headers, the
	// last of which must name TCP; the TCP checksum stays valid since the
	// pseudo-header does not cover extension headers.
	withExt := func(nh uint8, hdrs ...[]byte) []byte {
		p := v6(addr6Kernel, nh, append(hdrs, tcp)...)
		copy(p[ipv6Src:], good[ipv6Src:ipv6Src+32]) // same addresses as the golden
		return p
	}
	mod := func(b []byte, f func(b []byte)) []byte {
		c := append([]byte(nil), b...)
		f(c)
		return c
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want error
	}{
		{"golden", good, nil},
		{"dest opts", withExt(ProtocolDestOpts, ext(ProtocolTCP, 1, 4, 0, 0, 0, 0)), nil},
		{"hop-by-hop, routing", withExt(ProtocolHopByHop, ext(ProtocolRouting, 5, 2, 0, 0, 1, 0), routing(ProtocolTCP, 0, 0)), nil},
		// RFC 6946 4: an atomic fragment is processed as a whole datagram.
		{"atomic fragment", withExt(ProtocolFragment, frag(ProtocolTCP, 0, false, 1)), nil},
		{"first fragment", mod(withExt(ProtocolFragment, frag(ProtocolTCP, 0, true, 1))[:IPv6HeaderLen+8+32],
			func(b []byte) { b[ipv6PayloadLen+1] = 40 }), ErrFragment},
		{"not TCP", mod(good, func(b []byte) { b[ipv6NextHeader] = ProtocolUDP }), ErrProtocol},
		{"no next header", mod(good, func(b []byte) { b[ipv6NextHeader] = ProtocolNoNext }), ErrProtocol},
		{"unknown next header", mod(good, func(b []byte) { b[ipv6NextHeader] = 253 }), ErrIPv6NextHeader},
		{"version 4", mod(good, func(b []byte) { b[0] = 0x40 }), ErrVersion},
		{"payload beyond", good[:len(good)-1], ErrPayloadLength},
		{"bad checksum", mod(good, func(b []byte) { b[len(b)-1] ^= 1 }), ErrTCPChecksum},
		// The pseudo-header covers both addresses and the length.
		{"other source", mod(good, func(b []byte) { b[ipv6Src+15] ^= 1 }), ErrTCPChecksum},
		{"other destination", mod(good, func(b []byte) { b[ipv6Dst] ^= 0x80 }), ErrTCPChecksum},
		{"data offset", mod(good, func(b []byte) { b[IPv6HeaderLen+tcpOffset] = 0x40 }), ErrDataOffset},
		{"TCP short", mod(good[:IPv6HeaderLen+10], func(b []byte) { b[ipv6PayloadLen+1] = 10 }), ErrShort},
	} {
		var seg Segment
		err := ParseIPv6TCP(tc.pkt, &seg)
		if err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			continue
		}
		if err == nil && !segEqual(&seg, &goldenIPv6[1].seg) {
			t.Errorf("%s: %v", tc.name, seg.String())
		}
		if err2 := Parse(tc.pkt, &seg); err2 != err && tc.name != "version 4" {
			t.Errorf("%s: Parse %v, ParseIPv6TCP %v", tc.name, err2, err)
		}
	}
}

func TestBuildIPv6TCPErrors(t *testing.T) {
	seg := goldenIPv6[1].seg
	buf := make([]byte, 70000)
	for _, tc := range []struct {
		name     string
		src, dst netip.Addr
		payload  int
		buf      int
		want     error
	}{
		{"ok", addr6Stack, addr6Kernel, 10, 200, nil},
		{"IPv4 source", addrStack, addr6Kernel, 10, 200, ErrAddress},
		{"IPv4 destination", addr6Stack, addrKernel, 10, 200, ErrAddress},
		{"IPv4-mapped", netip.MustParseAddr("::ffff:198.18.0.2"), addr6Kernel, 10, 200, ErrAddress},
		{"invalid address", netip.Addr{}, addr6Kernel, 10, 200, ErrAddress},
		{"largest payload", addr6Stack, addr6Kernel, 65535 - 32, 70000, nil},
		{"payload too large", addr6Stack, addr6Kernel, 65535 - 31, 70000, ErrPayloadTooLarge},
		{"buffer short by one", addr6Stack, addr6Kernel, 10, 40 + 32 + 9, ErrBufferTooSmall},
		{"buffer exact", addr6Stack, addr6Kernel, 10, 40 + 32 + 10, nil},
	} {
		s := seg
		s.Src, s.Dst = tc.src, tc.dst
		s.Payload = make([]byte, tc.payload)
		n, err := BuildIPv6TCP(buf[:tc.buf], &s, 0, 64)
		if err != tc.want {
			t.Errorf("%s: BuildIPv6TCP %v, want %v", tc.name, err, tc.want)
			continue
		}
		if _, err := BuildIPv6TCPHeaders(buf[:tc.buf], &s, tc.payload, 0, 64); err != tc.want {
			t.Errorf("%s: BuildIPv6TCPHeaders %v, want %v", tc.name, err, tc.want)
		}
		if err == nil {
			var back Segment
			if err := ParseIPv6TCP(buf[:n], &back); err != nil || !segEqual(&back, &s) {
				t.Errorf("%s: reparse %v", tc.name, err)
			}
		}
	}
	s := seg
	if _, err := BuildIPv6TCPHeadersOnly(buf[:IPv6TCPHeaderLen(&s)-1], &s, 100, 0, 64); err != ErrBufferTooSmall {
		t.Errorf("headers only, short buffer: %v", err)
	}
	if _, err := BuildIPv6TCPHeadersOnly(buf[:IPv6TCPHeaderLen(&s)], &s, 100, 0, 64); err != nil {
		t.Errorf("headers only, exact buffer: %v", err)
	}
	if _, err := BuildIPv6TCPHeadersOnly(buf, &s, -1, 0, 64); err != ErrPayloadTooLarge {
		t.Errorf("headers only, negative payload: %v", err)
	}
	s.Dst = addrKernel
	if _, err := BuildIPv6TCPHeadersOnly(buf, &s, 100, 0, 64); err != ErrAddress {
		t.Errorf("headers only, IPv4: %v", err)
	}
	// And the IPv4 builders refuse IPv6 addresses.
	if _, err := BuildIPv4TCP(buf, &seg, 1, 64); err != ErrAddress {
		t.Errorf("BuildIPv4TCP with IPv6: %v", err)
	}
}

// gsoSuper6 builds the headers of an IPv6 super-segment, optionally with
// a destination options header, as a kernel hands it over with GSO_TCPV6.
func gsoSuper6(t *testing.T, payloadLen int, flags Flags, withExt bool) (hdr, payload []byte, seg Segment) {
	t.Helper()
	seg = Segment{Src: addr6Stack, Dst: addr6Kernel, SrcPort: 80, DstPort: 40000, Seq: 0xfffff000, Ack: 77,
		Flags: flags, Window: 512, Options: Options{HasTimestamp: true, TSVal: 5, TSEcr: 6}}
	payload = make([]byte, payloadLen)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	buf := make([]byte, 128)
	n, err := BuildIPv6TCPHeadersOnly(buf, &seg, payloadLen, 0x12345, DefaultHopLimit)
	if err != nil {
		t.Fatal(err)
	}
	hdr = buf[:n]
	if withExt {
		d := ext(ProtocolTCP, 0x1e, 4, 1, 2, 3, 4)
		hdr = append(append(append([]byte(nil), buf[:IPv6HeaderLen]...), d...), buf[IPv6HeaderLen:n]...)
		hdr[ipv6NextHeader] = ProtocolDestOpts
		binary.BigEndian.PutUint16(hdr[ipv6PayloadLen:], uint16(len(hdr)-IPv6HeaderLen+payloadLen))
	}
	return hdr, payload, seg
}

// TestCutIPv6TCP: as TestCutIPv4TCP, for IPv6 with and without an
// extension header: each wire segment parses with its checksum verified,
// its own payload length, the flow label kept, consecutive sequence
// numbers, CWR on the first and FIN/PSH on the last only, and the
// payloads concatenate to the original.
func TestCutIPv6TCP(t *testing.T) {
	const mss = 1428
	for _, withExt := range []bool{false, true} {
		for _, payloadLen := range []int{0, 1, mss, mss + 1, 3 * mss, 65535 - 32 - 8} {
			flags := FlagACK | FlagPSH | FlagFIN | FlagCWR
			hdr, payload, orig := gsoSuper6(t, payloadLen, flags, withExt)
			n := GSOSegments(len(payload), mss)
			var got []byte
			dst := make([]byte, 2000)
			for i := 0; i < n; i++ {
				m, err := CutIPv6TCP(dst, hdr, payload, mss, i)
				if err != nil {
					t.Fatalf("ext %v payload %d segment %d: %v", withExt, payloadLen, i, err)
				}
				var s Segment
				if err := ParseIPv6TCP(dst[:m], &s); err != nil {
					t.Fatalf("ext %v payload %d segment %d does not verify: %v", withExt, payloadLen, i, err)
				}
				ip := IPv6(dst[:m])
				if int(ip.PayloadLen()) != m-IPv6HeaderLen || ip.FlowLabel() != 0x12345 || len(s.Payload) > mss {
					t.Fatalf("segment %d: payload length %d of %d bytes, flow %#x, %d bytes of data", i, ip.PayloadLen(), m, ip.FlowLabel(), len(s.Payload))
				}
				if tcpOff := len(hdr) - TCPHeaderLen(&orig.Options); !bytes.Equal(dst[IPv6HeaderLen:tcpOff], hdr[IPv6HeaderLen:tcpOff]) {
					t.Fatalf("segment %d: extension headers changed", i)
				}
				checkGSOSegment(t, i, n, &s, &orig, len(got))
				got = append(got, s.Payload...)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("payload %d: the segments do not reassemble it", payloadLen)
			}
			if _, err := CutIPv6TCP(dst, hdr, payload, mss, n); err != ErrShort {
				t.Fatalf("segment %d of %d: %v", n, n, err)
			}
		}
	}
}

// TestCutIPv6TCPWholePacket: a whole packet given by SplitIPv6TCP with a
// partial checksum comes out complete, byte for byte.
func TestCutIPv6TCPWholePacket(t *testing.T) {
	want := mustHex(goldenIPv6[1].hex)
	pkt := append(append([]byte(nil), want...), 0xee) // link padding
	pkt[IPv6HeaderLen+tcpChecksum] ^= 0x5a
	hdr, payload, err := SplitIPv6TCP(pkt)
	if err != nil || len(hdr) != 72 || string(payload) != "hello, v6\n" {
		t.Fatalf("split: %d %q %v", len(hdr), payload, err)
	}
	dst := make([]byte, 200)
	m, err := CutIPv6TCP(dst, hdr, payload, 1440, 0)
	if err != nil || !bytes.Equal(dst[:m], want) {
		t.Fatalf("got %x, %v\nwant %x", dst[:m], err, want)
	}
}

func TestCutIPv6TCPBadInput(t *testing.T) {
	hdr, payload, _ := gsoSuper6(t, 3000, FlagACK, true)
	dst := make([]byte, 2000)
	if _, err := CutIPv6TCP(dst[:100], hdr, payload, 1428, 0); !errors.Is(err, ErrBufferTooSmall) {
		t.Errorf("short dst: %v", err)
	}
	if _, err := CutIPv6TCP(dst, hdr[:len(hdr)-4], payload, 1428, 0); !errors.Is(err, ErrDataOffset) {
		t.Errorf("truncated headers: %v", err)
	}
	for i := 0; i <= len(hdr); i++ {
		CutIPv6TCP(dst, hdr[:i], payload, 1428, 0)
		SplitIPv6TCP(hdr[:i])
	}
	bad := append([]byte(nil), hdr...)
	bad[IPv6HeaderLen] = ProtocolUDP
	if _, err := CutIPv6TCP(dst, bad, payload, 1428, 0); !errors.Is(err, ErrProtocol) {
		t.Errorf("UDP: %v", err)
	}
	bad[IPv6HeaderLen] = 200
	if _, err := CutIPv6TCP(dst, bad, payload, 1428, 0); !errors.Is(err, ErrIPv6NextHeader) {
		t.Errorf("unknown next header: %v", err)
	}
	bad[0] = 0x45
	if _, err := CutIPv6TCP(dst, bad, payload, 1428, 0); !errors.Is(err, ErrVersion) {
		t.Errorf("IPv4 header: %v", err)
	}
	if _, _, err := SplitIPv6TCP(hdr); !errors.Is(err, ErrPayloadLength) {
		t.Errorf("headers alone with a payload length counting the payload: %v", err)
	}
	fragd := v6(addr6Kernel, ProtocolFragment, frag(ProtocolTCP, 0, true, 1), hdr[IPv6HeaderLen+8:])
	if _, err := CutIPv6TCP(dst, fragd, nil, 1428, 0); !errors.Is(err, ErrFragment) {
		t.Errorf("fragment: %v", err)
	}
}

func FuzzCutIPv6TCP(f *testing.F) {
	f.Add(mustHex(goldenIPv6[1].hex)[:72], 3000, 1428, 1)
	f.Add([]byte{0x60}, 0, 0, 0)
	f.Fuzz(func(t *testing.T, hdr []byte, payloadLen, mss, i int) {
		payload := make([]byte, payloadLen&0xffff)
		dst := make([]byte, 1600)
		if n, err := CutIPv6TCP(dst, hdr, payload, mss, i); err == nil && (n > len(dst) || n < len(hdr)) {
			t.Fatalf("length %d for headers of %d bytes", n, len(hdr))
		}
		SplitIPv6TCP(hdr)
	})
}

// fixChecksums6 returns a copy of b with the upper-layer checksum (TCP or
// ICMPv6) recomputed when the extension headers walk, so the fuzzer can
// reach past the checksum checks.
func fixChecksums6(b []byte) []byte {
	c := append([]byte(nil), b...)
	var ch IPv6Chain
	if WalkIPv6(c, &ch) != nil || ch.HasFragment && !ch.Fragment.Atomic() {
		return c
	}
	p := c[ch.Offset:ch.End]
	at := -1
	switch ch.Protocol {
	case ProtocolTCP:
		at = tcpChecksum
	case ProtocolICMPv6:
		at = icmpChecksumOffset
	}
	if at < 0 || len(p) < at+2 {
		return c
	}
	p[at], p[at+1] = 0, 0
	binary.BigEndian.PutUint16(p[at:], Checksum(p, ipv6PseudoSum(c[ipv6Src:ipv6Src+16], c[ipv6Dst:ipv6Dst+16], ch.Protocol, len(p))))
	return c
}

// checkParseIPv6TCP: whatever parses rebuilds into a packet that parses to
// the same segment.
func checkParseIPv6TCP(t *testing.T, pkt []byte) {
	var seg Segment
	if ParseIPv6TCP(pkt, &seg) != nil {
		return
	}
	_ = seg.String()
	buf := make([]byte, 70000)
	ip := IPv6(pkt)
	n, err := BuildIPv6TCP(buf, &seg, ip.FlowLabel(), ip.HopLimit())
	if err != nil {
		t.Fatalf("build of parsed segment %v: %v", seg.String(), err)
	}
	var again Segment
	if err := ParseIPv6TCP(buf[:n], &again); err != nil {
		t.Fatalf("reparse: %v\n%x", err, buf[:n])
	}
	seg.Options.Unknown = 0
	if !segEqual(&seg, &again) || n != IPv6TCPHeaderLen(&seg)+len(seg.Payload) {
		t.Fatalf("round trip\n got %v\nwant %v", again.String(), seg.String())
	}
}

func FuzzParseIPv6TCP(f *testing.F) {
	f.Add(mustHex(goldenIPv6SYN))
	for _, g := range goldenIPv6 {
		f.Add(mustHex(g.hex))
	}
	f.Add(v6(addr6Stack, ProtocolFragment, frag(ProtocolTCP, 0, false, 5), tcp20))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, pkt := range [][]byte{data, fixChecksums6(data)} {
			checkWalk(t, pkt)
			checkParseIPv6TCP(t, pkt)
		}
	})
}
