package segment

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// fixChecksums returns a copy of b with the IPv4 header checksum and, when
// the lengths allow, the TCP, UDP or ICMP checksum recomputed, so the fuzzer
// can reach past the checksum checks.
func fixChecksums(b []byte) []byte {
	c := append([]byte(nil), b...)
	if len(c) < 20 {
		return c
	}
	hl := int(c[0]&0xf) * 4
	if hl < 20 || hl > len(c) {
		return c
	}
	c[10], c[11] = 0, 0
	binary.BigEndian.PutUint16(c[10:], Checksum(c[:hl], 0))
	tl := int(binary.BigEndian.Uint16(c[2:]))
	if tl < hl || tl > len(c) {
		return c
	}
	p := c[hl:tl]
	switch c[9] {
	case ProtocolTCP:
		if len(p) >= 18 {
			p[16], p[17] = 0, 0
			binary.BigEndian.PutUint16(p[16:], Checksum(p, ipv4PseudoSum(c[12:16], c[16:20], ProtocolTCP, len(p))))
		}
	case ProtocolUDP:
		if len(p) >= 8 {
			if l := int(binary.BigEndian.Uint16(p[4:])); l >= 8 && l <= len(p) {
				p[6], p[7] = 0, 0
				binary.BigEndian.PutUint16(p[6:], Checksum(p[:l], ipv4PseudoSum(c[12:16], c[16:20], ProtocolUDP, l)))
			}
		}
	case ProtocolICMP:
		if len(p) >= 4 {
			p[2], p[3] = 0, 0
			binary.BigEndian.PutUint16(p[2:], Checksum(p, 0))
		}
	}
	return c
}

// touchViews calls every accessor of validated views: none may panic.
func touchViews(pkt []byte) {
	ip := IPv4(pkt)
	if ip.Validate() != nil {
		return
	}
	_, _, _, _, _, _ = ip.Version(), ip.IHL(), ip.HeaderLen(), ip.TOS(), ip.TotalLen(), ip.ID()
	_, _, _, _, _, _ = ip.Flags(), ip.DontFragment(), ip.MoreFragments(), ip.FragOffset(), ip.TTL(), ip.Protocol()
	_, _, _, _, _ = ip.Checksum(), ip.Src(), ip.Dst(), ip.Options(), ip.Payload()
	t := TCP(ip.Payload())
	if t.Validate() == nil {
		_, _, _, _, _, _ = t.SrcPort(), t.DstPort(), t.Seq(), t.Ack(), t.DataOffset(), t.HeaderLen()
		_, _, _, _, _, _ = t.Flags(), t.Window(), t.Checksum(), t.Urgent(), t.Options(), t.Payload()
	}
	m := ICMPv4(ip.Payload())
	if m.Validate() == nil {
		_, _, _, _, _, _, _ = m.Type(), m.Code(), m.Checksum(), m.ID(), m.Seq(), m.NextHopMTU(), m.Body()
		if q, err := m.Quoted(); err == nil {
			_, _, _ = q.TCPPorts()
		}
	}
	u := UDP(ip.Payload())
	if u.Validate() == nil {
		_, _, _, _, _ = u.SrcPort(), u.DstPort(), u.Length(), u.Checksum(), u.Payload()
	}
	var buf [100]byte
	_, _ = ICMPv4EchoReply(buf[:], pkt)
	_, _, _, _ = ParseIPv4UDP(pkt)
}

// checkEchoInPlace: an echo request answered in place yields a valid echo
// reply with the same identifier, sequence number and data.
func checkEchoInPlace(t *testing.T, pkt []byte) {
	_, req, err := ParseIPv4ICMP(pkt)
	if err != nil || req.Type() != ICMPv4TypeEcho {
		return
	}
	want := append([]byte(nil), req[4:]...)
	c := append([]byte(nil), pkt...)
	n, err := ICMPv4EchoReply(c, c)
	if err != nil {
		t.Fatalf("echo reply: %v", err)
	}
	_, rep, err := ParseIPv4ICMP(c[:n])
	if err != nil || rep.Type() != ICMPv4TypeEchoReply || !bytes.Equal(rep[4:], want) {
		t.Fatalf("echo reply invalid: %v %x", err, c[:n])
	}
}

func FuzzParseIPv4TCP(f *testing.F) {
	for _, g := range goldenPackets {
		f.Add(mustHex(g.hex))
	}
	f.Add(ipWithOptions())
	f.Add(echoRequest([]byte{0x94, 4, 0, 0}, 1, 2, []byte("ping")))
	f.Add([]byte{})
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, pkt := range [][]byte{data, fixChecksums(data)} {
			touchViews(pkt)
			checkEchoInPlace(t, pkt)
			var seg Segment
			if ParseIPv4TCP(pkt, &seg) != nil {
				continue
			}
			_ = seg.String()
			ip := IPv4(pkt)
			buf := make([]byte, 65536)
			n, err := BuildIPv4TCP(buf, &seg, ip.ID(), ip.TTL())
			if err != nil {
				t.Fatalf("build of parsed segment %v: %v", seg.String(), err)
			}
			var again Segment
			if err := ParseIPv4TCP(buf[:n], &again); err != nil {
				t.Fatalf("reparse: %v\n%x", err, buf[:n])
			}
			// Unknown options are counted but not rebuilt.
			seg.Options.Unknown = 0
			if !segEqual(&seg, &again) {
				t.Fatalf("round trip\n got %v\nwant %v", again.String(), seg.String())
			}
			if n != IPv4TCPHeaderLen(&seg)+len(seg.Payload) {
				t.Fatalf("length %d", n)
			}
		}
	})
}

func FuzzParseOptions(f *testing.F) {
	f.Add(mustHex("020405b40402080a000030390000000001030307"))
	f.Add(mustHex("0101080a0000032000003070010105120102100001021400fffffff000000010"))
	f.Add([]byte{30, 4, 0xaa, 0xbb, 99, 2, 2, 4, 0x02, 0x00})
	f.Add([]byte{5, 34})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		var o Options
		if ParseOptions(b, &o) != nil {
			return
		}
		if o.NumSACK < 0 || o.NumSACK > MaxSACKBlocks {
			t.Fatalf("NumSACK %d", o.NumSACK)
		}
		n := TCPOptionsLen(&o)
		if n%4 != 0 || n > TCPMaxOptionsLen {
			t.Fatalf("TCPOptionsLen %d", n)
		}
		var buf [TCPMaxOptionsLen]byte
		if w := PutOptions(buf[:], &o); w != n {
			t.Fatalf("PutOptions wrote %d, expected %d", w, n)
		}
		var back Options
		if err := ParseOptions(buf[:n], &back); err != nil {
			t.Fatalf("reparse: %v (%x)", err, buf[:n])
		}
		if len(b) <= TCPMaxOptionsLen {
			// Anything that fits in a real header round-trips exactly
			// (less the unknown count).
			o.Unknown = 0
			if back != o {
				t.Fatalf("round trip\n got %+v\nwant %+v", back, o)
			}
		}
	})
}

// TestRandomPacketsNeverPanic runs the fuzz body's checks deterministically
// over random short packets biased towards plausible headers, so that plain
// `go test` exercises the no-panic contract beyond the seed corpus.
func TestRandomPacketsNeverPanic(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	parsed := map[string]int{}
	for i := 0; i < 50000; i++ {
		b := randomPacket(r)
		for _, pkt := range [][]byte{b, fixChecksums(b)} {
			touchViews(pkt)
			checkEchoInPlace(t, pkt)
			var seg Segment
			if Parse(pkt, &seg) == nil {
				parsed["tcp"]++
			}
			if _, _, err := ParseIPv4ICMP(pkt); err == nil {
				parsed["icmp"]++
			}
			if _, _, _, err := ParseIPv4UDP(pkt); err == nil {
				parsed["udp"]++
			}
			var o Options
			_ = ParseOptions(pkt, &o)
		}
	}
	t.Logf("parsed: %v", parsed)
	// The generator must reach past validation, or this test proves little.
	for _, k := range []string{"tcp", "icmp", "udp"} {
		if parsed[k] < 500 {
			t.Errorf("only %d random %s packets parsed: generator too weak", parsed[k], k)
		}
	}
}

// randomPacket returns random bytes shaped, with some probability, like an
// IPv4 header: version 4, plausible IHL, total length and UDP length, no
// fragment, a TCP data offset that may fit.
func randomPacket(r *rand.Rand) []byte {
	n := r.IntN(120)
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	if n == 0 {
		return b
	}
	if r.IntN(4) != 0 {
		b[0] = 0x40 | byte(r.IntN(16))
		if r.IntN(2) == 0 {
			b[0] = 0x45
		}
	}
	if n >= 4 && r.IntN(8) != 0 {
		binary.BigEndian.PutUint16(b[2:], uint16(n-r.IntN(3)))
	}
	if n >= 10 {
		if r.IntN(8) != 0 {
			b[6], b[7] = b[6]&0xc0, 0
		}
		b[9] = []byte{ProtocolTCP, ProtocolUDP, ProtocolICMP, byte(r.Uint32())}[r.IntN(4)]
	}
	if b[0] == 0x45 && n >= 33 && b[9] == ProtocolTCP && r.IntN(4) != 0 {
		b[32] = byte(5+r.IntN(3)) << 4
		if r.IntN(2) == 0 {
			b[32] = 0x50
		}
	}
	if b[0] == 0x45 && n >= 28 && b[9] == ProtocolUDP && r.IntN(4) != 0 {
		binary.BigEndian.PutUint16(b[24:], uint16(n-20-r.IntN(3)))
	}
	return b
}
