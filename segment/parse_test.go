package segment

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// segEqual compares two segments field by field, payload by content.
func segEqual(a, b *Segment) bool {
	return a.Src == b.Src && a.Dst == b.Dst && a.SrcPort == b.SrcPort && a.DstPort == b.DstPort &&
		a.Seq == b.Seq && a.Ack == b.Ack && a.Flags == b.Flags && a.Window == b.Window &&
		a.Urgent == b.Urgent && a.Options == b.Options && bytes.Equal(a.Payload, b.Payload)
}

// TestGoldenParse: each golden packet parses to the listed Segment, and the
// payload aliases the packet (no copy).
func TestGoldenParse(t *testing.T) {
	for _, g := range goldenPackets {
		pkt := mustHex(g.hex)
		var seg Segment
		if err := ParseIPv4TCP(pkt, &seg); err != nil {
			t.Errorf("%s: %v", g.name, err)
			continue
		}
		if !segEqual(&seg, &g.seg) {
			t.Errorf("%s:\n got %v %+v\nwant %v %+v", g.name, seg.String(), seg, g.seg.String(), g.seg)
		}
		if len(seg.Payload) > 0 && &seg.Payload[0] != &pkt[len(pkt)-len(seg.Payload)] {
			t.Errorf("%s: payload does not alias the packet", g.name)
		}
		// ParseTCP on the IP payload gives the same.
		var seg2 Segment
		if err := ParseTCP(g.seg.Src, g.seg.Dst, pkt[20:], &seg2); err != nil || !segEqual(&seg2, &g.seg) {
			t.Errorf("%s: ParseTCP = %v, %v", g.name, err, seg2.String())
		}
	}
}

// TestGoldenBuild: building each golden Segment reproduces the golden bytes
// exactly, with BuildIPv4TCP and with BuildIPv4TCPHeaders over a payload
// placed in the buffer first.
func TestGoldenBuild(t *testing.T) {
	for _, g := range goldenPackets {
		want := mustHex(g.hex)
		buf := bytes.Repeat([]byte{0xcc}, 1600)
		n, err := BuildIPv4TCP(buf, &g.seg, g.id, g.ttl)
		if err != nil {
			t.Errorf("%s: %v", g.name, err)
			continue
		}
		if !bytes.Equal(buf[:n], want) {
			t.Errorf("%s: built\n%x\nwant\n%x", g.name, buf[:n], want)
		}
		if buf[n] != 0xcc {
			t.Errorf("%s: wrote past the packet", g.name)
		}

		buf = bytes.Repeat([]byte{0xdd}, 1600)
		off := IPv4TCPHeaderLen(&g.seg)
		copy(buf[off:], g.seg.Payload)
		s := g.seg
		s.Payload = nil // ignored by BuildIPv4TCPHeaders
		n, err = BuildIPv4TCPHeaders(buf, &s, len(g.seg.Payload), g.id, g.ttl)
		if err != nil || !bytes.Equal(buf[:n], want) {
			t.Errorf("%s: BuildIPv4TCPHeaders = %v\n%x\nwant\n%x", g.name, err, buf[:n], want)
		}
	}
}

// TestBuildInPlacePayload: the payload may already be where the builder
// puts it (the headroom send path).
func TestBuildInPlacePayload(t *testing.T) {
	g := goldenPackets[2]
	buf := make([]byte, 200)
	off := IPv4TCPHeaderLen(&g.seg)
	copy(buf[off:], g.seg.Payload)
	s := g.seg
	s.Payload = buf[off : off+len(g.seg.Payload)]
	n, err := BuildIPv4TCP(buf, &s, g.id, g.ttl)
	if err != nil || !bytes.Equal(buf[:n], mustHex(g.hex)) {
		t.Fatalf("err %v\n%x", err, buf[:n])
	}
}

func TestBuildErrors(t *testing.T) {
	g := goldenPackets[2]
	need := len(mustHex(g.hex))
	if _, err := BuildIPv4TCP(make([]byte, need-1), &g.seg, 0, 64); err != ErrBufferTooSmall {
		t.Errorf("short buffer: %v", err)
	}
	if n, err := BuildIPv4TCP(make([]byte, need), &g.seg, 0, 64); err != nil || n != need {
		t.Errorf("exact buffer: %d %v", n, err)
	}
	if _, err := BuildIPv4TCP(nil, &g.seg, 0, 64); err != ErrBufferTooSmall {
		t.Errorf("nil buffer: %v", err)
	}
	s := g.seg
	s.Src = netip.MustParseAddr("2001:db8::1")
	if _, err := BuildIPv4TCP(make([]byte, 100), &s, 0, 64); err != ErrAddress {
		t.Errorf("IPv6 src: %v", err)
	}
	s = g.seg
	s.Dst = netip.Addr{}
	if _, err := BuildIPv4TCP(make([]byte, 100), &s, 0, 64); err != ErrAddress {
		t.Errorf("zero dst: %v", err)
	}
	s = g.seg
	s.Payload = make([]byte, 65535-40-12+1)
	if _, err := BuildIPv4TCP(make([]byte, 70000), &s, 0, 64); err != ErrPayloadTooLarge {
		t.Errorf("too large: %v", err)
	}
	s.Payload = s.Payload[:len(s.Payload)-1]
	if n, err := BuildIPv4TCP(make([]byte, 70000), &s, 0, 64); err != nil || n != 65535 {
		t.Errorf("largest: %d %v", n, err)
	}
	if _, err := BuildIPv4TCPHeaders(make([]byte, 100), &g.seg, -1, 0, 64); err != ErrPayloadTooLarge {
		t.Errorf("negative payload length: %v", err)
	}
	// IPv4-mapped addresses are accepted and written as IPv4.
	s = g.seg
	s.Src, s.Dst = netip.AddrFrom16(s.Src.As16()), netip.AddrFrom16(s.Dst.As16())
	buf := make([]byte, 100)
	if n, err := BuildIPv4TCP(buf, &s, g.id, g.ttl); err != nil || !bytes.Equal(buf[:n], mustHex(g.hex)) {
		t.Errorf("mapped addresses: %v", err)
	}
}

// fixTCPChecksum recomputes the TCP checksum of an IPv4/TCP packet whose IP
// header is 20 bytes and whose total length is right.
func fixTCPChecksum(b []byte) {
	tl := int(binary.BigEndian.Uint16(b[2:]))
	if tl > len(b) || tl < 20 {
		return
	}
	tcp := b[20:tl]
	if len(tcp) < 18 {
		return
	}
	tcp[16], tcp[17] = 0, 0
	binary.BigEndian.PutUint16(tcp[16:], Checksum(tcp, ipv4PseudoSum(b[12:16], b[16:20], b[9], len(tcp))))
}

func TestParseIPv4TCPErrors(t *testing.T) {
	base := mustHex(goldenPackets[3].hex) // SACK ACK, 72 bytes, data offset 13
	setTotal := func(b []byte, n int) []byte {
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		fixIPChecksum(b)
		return b[:n]
	}
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		want   error
	}{
		{"ok", func(b []byte) []byte { return b }, nil},
		// IP layer errors pass through.
		{"truncated IP header", func(b []byte) []byte { return b[:10] }, ErrShort},
		{"bad version", func(b []byte) []byte { b[0] = 0x55; fixIPChecksum(b); return b }, ErrVersion},
		{"IHL 3", func(b []byte) []byte { b[0] = 0x43; return b }, ErrIHL},
		{"truncated packet", func(b []byte) []byte { return b[:len(b)-1] }, ErrTotalLength},
		{"IP checksum", func(b []byte) []byte { b[10] ^= 0x80; return b }, ErrChecksum},
		{"fragment", func(b []byte) []byte { b[6] = 0x20; fixIPChecksum(b); return b }, ErrFragment},
		// Transport.
		{"UDP", func(b []byte) []byte { b[9] = ProtocolUDP; fixIPChecksum(b); return b }, ErrProtocol},
		{"ICMP", func(b []byte) []byte { b[9] = ProtocolICMP; fixIPChecksum(b); return b }, ErrProtocol},
		{"no TCP header", func(b []byte) []byte { return setTotal(b, 20) }, ErrShort},
		{"19-byte TCP header", func(b []byte) []byte { return setTotal(b, 39) }, ErrShort},
		{"data offset 4", func(b []byte) []byte { b[32] = 0x40; fixTCPChecksum(b); return b }, ErrDataOffset},
		{"data offset 0", func(b []byte) []byte { b[32] = 0x00; fixTCPChecksum(b); return b }, ErrDataOffset},
		{"data offset beyond segment", func(b []byte) []byte { b[32] = 0xf0; fixTCPChecksum(b); return b }, ErrDataOffset},
		{"options cut by total length", func(b []byte) []byte { return setTotal(b, 50) }, ErrDataOffset},
		{"TCP checksum", func(b []byte) []byte { b[36] ^= 1; return b }, ErrTCPChecksum},
		{"TCP payload bit flip", func(b []byte) []byte { b[len(b)-1] ^= 4; return b }, ErrTCPChecksum},
		{"pseudo-header: address changed", func(b []byte) []byte { b[15] ^= 1; fixIPChecksum(b); return b }, ErrTCPChecksum},
		{"zero TCP checksum is not 'none'", func(b []byte) []byte { b[36], b[37] = 0, 0; return b }, ErrTCPChecksum},
		{"option length 1", func(b []byte) []byte { b[55] = 1; fixTCPChecksum(b); return b }, ErrBadOption},
		{"option overrun", func(b []byte) []byte { b[55] = 20; fixTCPChecksum(b); return b }, ErrBadOption},
		{"link padding after total length", func(b []byte) []byte { return append(b, 1, 2, 3) }, nil},
	}
	for _, tc := range tests {
		b := tc.mutate(append([]byte(nil), base...))
		var seg Segment
		if err := ParseIPv4TCP(b, &seg); err != tc.want {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseTCPErrors(t *testing.T) {
	pkt := mustHex(goldenPackets[2].hex)
	tcp := pkt[20:]
	var seg Segment
	if err := ParseTCP(addrKernel, addrStack, tcp, &seg); err != nil {
		t.Fatal(err)
	}
	if string(seg.Payload) != "hello, world\n" {
		t.Fatalf("payload %q", seg.Payload)
	}
	if err := ParseTCP(addrStack, addrKernel, tcp, &seg); err != nil {
		t.Errorf("swapped addresses: pseudo-header sum is symmetric, so this verifies: %v", err)
	}
	if err := ParseTCP(addrKernel, netip.MustParseAddr("198.18.0.3"), tcp, &seg); err != ErrTCPChecksum {
		t.Errorf("wrong address: %v", err)
	}
	if err := ParseTCP(addrKernel, addrStack, tcp[:19], &seg); err != ErrShort {
		t.Errorf("short: %v", err)
	}
	if err := ParseTCP(addrKernel, addrStack, tcp[:31], &seg); err != ErrDataOffset {
		t.Errorf("offset beyond: %v", err)
	}
	if err := ParseTCP(addrKernel, addrStack, tcp[:len(tcp)-1], &seg); err != ErrTCPChecksum {
		t.Errorf("cut payload: %v", err)
	}
}

func TestSegmentString(t *testing.T) {
	tests := []struct {
		seg  Segment
		want string
	}{
		{goldenPackets[0].seg, "S seq=16909060 win=64240 len=0 mss=1460 sackOK ts=12345/0 ws=7"},
		{Segment{Flags: FlagSYN | FlagACK, Seq: 100, Ack: 200, Window: 65535,
			Options: Options{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7}},
			"S. seq=100 ack=200 win=65535 len=0 mss=1460 ws=7"},
		{goldenPackets[2].seg, "P. seq=16909061 ack=4294967281 win=502 len=13 ts=12400/777"},
		{goldenPackets[3].seg, ". seq=4294967281 ack=16909074 win=1024 len=0 ts=800/12400 sack=[16912384-16913408 4294967280-16]"},
		{goldenPackets[4].seg, "R seq=3735928559 win=0 len=0"},
		{goldenPackets[5].seg, "FU. seq=2147483647 ack=2147483648 win=4096 urg=2 len=3"},
		{Segment{Options: Options{Unknown: 2}}, "none seq=0 win=0 len=0 unknown=2"},
		{Segment{Options: Options{NumSACK: 9}}, "none seq=0 win=0 len=0 sack=[0-0 0-0 0-0 0-0]"},
	}
	for _, tc := range tests {
		if got := tc.seg.String(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

func TestParseDispatch(t *testing.T) {
	var seg Segment
	syn := mustHex(goldenPackets[0].hex)
	if err := Parse(syn, &seg); err != nil || !segEqual(&seg, &goldenPackets[0].seg) {
		t.Fatalf("IPv4: %v %v", err, seg.String())
	}
	v6 := append([]byte{0x60}, make([]byte, 59)...)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"IPv6 zeros: a jumbogram", v6, ErrJumbogram},
		{"IPv6 short", v6[:39], ErrShort},
		{"version 0", []byte{0x05, 0, 0}, ErrVersion},
		{"version 15", []byte{0xf5}, ErrVersion},
		{"IPv4 short", []byte{0x45}, ErrShort},
		{"IPv4 bad", syn[:50], ErrTotalLength},
	} {
		if err := Parse(tc.b, &seg); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
