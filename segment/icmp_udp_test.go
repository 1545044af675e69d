package segment

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// echoRequest builds, by hand with the reference checksum, an IPv4 echo
// request from 198.18.0.1 to 198.18.0.2 with optional IP options.
func echoRequest(ipOpts []byte, id, seq uint16, data []byte) []byte {
	hl := 20 + len(ipOpts)
	icmp := append([]byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq)}, data...)
	binary.BigEndian.PutUint16(icmp[2:], naiveChecksum(icmp, 0))
	ip := []byte{0x40 | byte(hl/4), 0x02, 0, 0, 0xab, 0xcd, 0x40, 0, 64, ProtocolICMP, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	ip = append(ip, ipOpts...)
	binary.BigEndian.PutUint16(ip[2:], uint16(hl+len(icmp)))
	binary.BigEndian.PutUint16(ip[10:], naiveChecksum(ip, 0))
	return append(ip, icmp...)
}

func checkEchoReply(t *testing.T, name string, reply []byte, id, seq uint16, data []byte) {
	t.Helper()
	ip, m, err := ParseIPv4ICMP(reply)
	if err != nil {
		t.Fatalf("%s: reply does not parse: %v", name, err)
	}
	if naiveChecksum(reply[:20], 0) != 0 || naiveChecksum(m, 0) != 0 {
		t.Fatalf("%s: checksums do not verify with the reference", name)
	}
	if ip.Src() != addrStack || ip.Dst() != addrKernel || ip.HeaderLen() != 20 || ip.TTL() != DefaultTTL ||
		ip.TOS() != 0x02 || ip.ID() != 0xabcd || ip.Protocol() != ProtocolICMP {
		t.Fatalf("%s: IP header %x", name, reply[:20])
	}
	if m.Type() != ICMPv4TypeEchoReply || m.Code() != 0 || m.ID() != id || m.Seq() != seq || !bytes.Equal(m.Body(), data) {
		t.Fatalf("%s: ICMP %x", name, m)
	}
}

func TestICMPv4EchoReply(t *testing.T) {
	data := []byte("abcdefghijklmnopqrstuvwxyz0123456789!")
	req := echoRequest(nil, 0x1234, 7, data)

	ip, m, err := ParseIPv4ICMP(req)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type() != ICMPv4TypeEcho || m.ID() != 0x1234 || m.Seq() != 7 || string(m.Body()) != string(data) || ip.Protocol() != ProtocolICMP {
		t.Fatalf("request view wrong")
	}

	dst := make([]byte, 200)
	n, err := ICMPv4EchoReply(dst, req)
	if err != nil || n != len(req) {
		t.Fatalf("n %d err %v", n, err)
	}
	checkEchoReply(t, "separate buffer", dst[:n], 0x1234, 7, data)

	inPlace := append([]byte(nil), req...)
	n, err = ICMPv4EchoReply(inPlace, inPlace)
	if err != nil {
		t.Fatal(err)
	}
	checkEchoReply(t, "in place", inPlace[:n], 0x1234, 7, data)

	// IP options in the request: the reply has none and is shorter; in
	// place the message moves left over the options.
	withOpts := echoRequest([]byte{0x94, 4, 0, 0, 1, 1, 1, 0}, 0xffff, 0xffff, data[:5])
	n, err = ICMPv4EchoReply(withOpts, withOpts)
	if err != nil || n != len(withOpts)-8 {
		t.Fatalf("with options: %d %v", n, err)
	}
	checkEchoReply(t, "options in place", withOpts[:n], 0xffff, 0xffff, data[:5])

	// Empty body, odd body.
	for _, d := range [][]byte{nil, {1}, {1, 2, 3}} {
		r := echoRequest(nil, 1, 2, d)
		n, err := ICMPv4EchoReply(r, r)
		if err != nil {
			t.Fatal(err)
		}
		checkEchoReply(t, "small body", r[:n], 1, 2, d)
	}
}

func TestICMPv4EchoReplyErrors(t *testing.T) {
	req := echoRequest(nil, 1, 1, []byte("xy"))
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		dstLen int
		want   error
	}{
		{"ok", func(b []byte) []byte { return b }, 100, nil},
		{"dst too small", func(b []byte) []byte { return b }, len(req) - 1, ErrBufferTooSmall},
		{"bad IP checksum", func(b []byte) []byte { b[10]++; return b }, 100, ErrChecksum},
		{"TCP", func(b []byte) []byte { b[9] = ProtocolTCP; fixIPChecksum(b); return b }, 100, ErrProtocol},
		{"bad ICMP checksum", func(b []byte) []byte { b[len(b)-1]++; return b }, 100, ErrICMPChecksum},
		{"echo reply is not answered", func(b []byte) []byte {
			b[20] = ICMPv4TypeEchoReply
			b[22], b[23] = 0, 0
			binary.BigEndian.PutUint16(b[22:], Checksum(b[20:], 0))
			return b
		}, 100, ErrICMPType},
		{"ICMP shorter than 8", func(b []byte) []byte { b[3] = 27; fixIPChecksum(b); return b[:27] }, 100, ErrShort},
		{"fragment", func(b []byte) []byte { b[6] = 0x20; fixIPChecksum(b); return b }, 100, ErrFragment},
	}
	for _, tc := range tests {
		b := tc.mutate(append([]byte(nil), req...))
		if _, err := ICMPv4EchoReply(make([]byte, tc.dstLen), b); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// destUnreach wraps quote (the offending datagram's first bytes) in an ICMP
// destination unreachable, fragmentation needed, next-hop MTU 1400.
func destUnreach(quote []byte) ICMPv4 {
	m := append([]byte{ICMPv4TypeDestUnreach, ICMPv4FragNeeded, 0, 0, 0, 0, 0x05, 0x78}, quote...)
	binary.BigEndian.PutUint16(m[2:], naiveChecksum(m, 0))
	return m
}

func TestICMPv4Quoted(t *testing.T) {
	syn := mustHex(goldenPackets[0].hex)
	m := destUnreach(syn[:28])
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if !m.IsError() || m.NextHopMTU() != 1400 || m.Code() != ICMPv4FragNeeded {
		t.Fatalf("header fields wrong")
	}
	q, err := m.Quoted()
	if err != nil {
		t.Fatal(err)
	}
	if q.Src != addrKernel || q.Dst != addrStack || q.Protocol != ProtocolTCP || len(q.Header) != 20 || len(q.Transport) != 8 {
		t.Fatalf("quoted %+v", q)
	}
	sp, dp, seq := q.TCPPorts()
	if sp != 40000 || dp != 80 || seq != 0x01020304 {
		t.Fatalf("ports %d %d seq %d", sp, dp, seq)
	}
	// A longer quote (Linux quotes up to 576 bytes) is fine.
	if q, err := destUnreach(syn).Quoted(); err != nil || len(q.Transport) != len(syn)-20 {
		t.Fatalf("long quote: %v", err)
	}
	// A quoted header with options.
	ipo := append(ipWithOptions(), 0, 0) // 36 bytes: 28 of header, 8 beyond
	if q, err := destUnreach(ipo[:36]).Quoted(); err != nil || len(q.Header) != 28 || q.Protocol != ProtocolUDP {
		t.Fatalf("quote with options: %v %+v", err, q)
	}

	tests := []struct {
		name string
		m    ICMPv4
		want error
	}{
		{"truncated transport", destUnreach(syn[:27]), ErrShort},
		{"truncated IP", destUnreach(syn[:19]), ErrShort},
		{"nothing quoted", destUnreach(nil), ErrShort},
		{"quoted IPv6", destUnreach(withByte(syn[:28], 0, 0x65)), ErrVersion},
		{"quoted IHL 4", destUnreach(withByte(syn[:28], 0, 0x44)), ErrIHL},
		{"quoted options cut", destUnreach(ipo[:35]), ErrShort},
		{"echo is not an error", ICMPv4(echoRequest(nil, 1, 1, syn[:28])[20:]), ErrICMPType},
		{"short message", ICMPv4{3, 0, 0}, ErrShort},
	}
	for _, tc := range tests {
		if _, err := tc.m.Quoted(); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, typ := range []uint8{ICMPv4TypeDestUnreach, ICMPv4TypeSourceQuench, ICMPv4TypeRedirect, ICMPv4TypeTimeExceeded, ICMPv4TypeParamProblem} {
		if !(ICMPv4{typ, 0, 0, 0, 0, 0, 0, 0}).IsError() {
			t.Errorf("type %d not an error", typ)
		}
	}
	for _, typ := range []uint8{ICMPv4TypeEcho, ICMPv4TypeEchoReply, 13, 255} {
		if (ICMPv4{typ, 0, 0, 0, 0, 0, 0, 0}).IsError() {
			t.Errorf("type %d is an error", typ)
		}
	}
}

func TestICMPv4Validate(t *testing.T) {
	m := destUnreach(mustHex(goldenPackets[0].hex)[:28])
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := m[:7].Validate(); err != ErrShort {
		t.Errorf("7 bytes: %v", err)
	}
	if err := m[:len(m)-1].Validate(); err != ErrICMPChecksum {
		t.Errorf("cut: %v", err)
	}
	m[5] ^= 0x40
	if err := m.Validate(); err != ErrICMPChecksum {
		t.Errorf("flipped: %v", err)
	}
}

func TestUDPBuildParse(t *testing.T) {
	src := netip.MustParseAddrPort("198.18.0.2:5353")
	dst := netip.MustParseAddrPort("198.18.0.1:40001")
	for _, payload := range [][]byte{nil, []byte("x"), []byte("hello udp"), bytes.Repeat([]byte{0xa5}, 1472)} {
		buf := make([]byte, 1600)
		n, err := BuildIPv4UDP(buf, src, dst, payload)
		if err != nil || n != 28+len(payload) {
			t.Fatalf("build %d: %d %v", len(payload), n, err)
		}
		pkt := buf[:n]
		// Independent check of both checksums and the header fields.
		if naiveChecksum(pkt[:20], 0) != 0 {
			t.Fatal("IP checksum")
		}
		ps := naivePseudo(src.Addr(), dst.Addr(), ProtocolUDP, 8+len(payload))
		if naiveChecksum(pkt[20:], ps) != 0 {
			t.Fatal("UDP checksum")
		}
		u := UDP(pkt[20:])
		if u.SrcPort() != 5353 || u.DstPort() != 40001 || int(u.Length()) != 8+len(payload) || u.Checksum() == 0 ||
			!bytes.Equal(u.Payload(), payload) {
			t.Fatalf("UDP header %x", pkt[20:28])
		}
		ip := IPv4(pkt)
		if ip.Protocol() != ProtocolUDP || ip.TTL() != DefaultTTL || ip.DontFragment() {
			t.Fatalf("IP header %x", pkt[:20])
		}
		s, d, p, err := ParseIPv4UDP(pkt)
		if err != nil || s != src || d != dst || !bytes.Equal(p, payload) {
			t.Fatalf("parse: %v %v %v %q", err, s, d, p)
		}
	}
}

func TestUDPZeroChecksumSentAsOnes(t *testing.T) {
	src := netip.MustParseAddrPort("198.18.0.2:1")
	dst := netip.MustParseAddrPort("198.18.0.1:2")
	buf := make([]byte, 100)
	n, _ := BuildIPv4UDP(buf, src, dst, []byte{0, 0})
	c := binary.BigEndian.Uint16(buf[26:])
	// A payload word equal to the old checksum brings the sum to 0xffff,
	// whose complement is 0: RFC 768 says transmit that as all ones.
	n, err := BuildIPv4UDP(buf, src, dst, []byte{byte(c >> 8), byte(c)})
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint16(buf[26:]); got != 0xffff {
		t.Fatalf("checksum %#x, want 0xffff", got)
	}
	if _, _, _, err := ParseIPv4UDP(buf[:n]); err != nil {
		t.Fatal(err)
	}
}

func TestUDPErrors(t *testing.T) {
	src := netip.MustParseAddrPort("198.18.0.2:1")
	dst := netip.MustParseAddrPort("198.18.0.1:2")
	buf := make([]byte, 100)
	n, _ := BuildIPv4UDP(buf, src, dst, []byte("abcdef"))
	base := buf[:n]
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		want   error
	}{
		{"ok", func(b []byte) []byte { return b }, nil},
		{"no checksum", func(b []byte) []byte { b[26], b[27] = 0, 0; return b }, nil},
		{"bad checksum", func(b []byte) []byte { b[27] ^= 1; return b }, ErrUDPChecksum},
		{"payload flip", func(b []byte) []byte { b[30] ^= 1; return b }, ErrUDPChecksum},
		{"TCP", func(b []byte) []byte { b[9] = ProtocolTCP; fixIPChecksum(b); return b }, ErrProtocol},
		{"short", func(b []byte) []byte { b[3] = 27; fixIPChecksum(b); return b[:27] }, ErrShort},
		{"length 7", func(b []byte) []byte { b[25] = 7; return b }, ErrUDPLength},
		{"length beyond IP", func(b []byte) []byte { b[25] = 15; return b }, ErrUDPLength},
		{"bad IP (IHL changed)", func(b []byte) []byte { b[0] = 0x46; return b }, ErrChecksum},
	}
	for _, tc := range tests {
		b := tc.mutate(append([]byte(nil), base...))
		if _, _, _, err := ParseIPv4UDP(b); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A shorter UDP length than the IP payload bounds the payload (and the
	// checksum covers only that much).
	b := append([]byte(nil), base...)
	b[25] = 10
	b[26], b[27] = 0, 0
	if _, _, p, err := ParseIPv4UDP(b); err != nil || string(p) != "ab" {
		t.Errorf("short UDP length: %v %q", err, p)
	}

	if _, err := BuildIPv4UDP(make([]byte, 33), src, dst, []byte("abcdef")); err != ErrBufferTooSmall {
		t.Errorf("small buffer: %v", err)
	}
	if _, err := BuildIPv4UDP(make([]byte, 100), netip.MustParseAddrPort("[::1]:1"), dst, nil); err != ErrAddress {
		t.Errorf("v6: %v", err)
	}
	if _, err := BuildIPv4UDP(make([]byte, 70000), src, dst, make([]byte, 65535-28+1)); err != ErrPayloadTooLarge {
		t.Errorf("too large: %v", err)
	}
}
