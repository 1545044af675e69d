package tun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

var (
	host6  = netip.MustParseAddr("2001:2::1")
	stack6 = netip.MustParseAddr("2001:2::2")
)

// tcp6PktHdr returns a fully checksummed IPv6/TCP packet with n payload
// bytes (timestamps option on when ts) and, built apart, its headers with
// the TCP checksum left to the link (segment.BuildIPv6TCPHeadersOnly).
func tcp6PktHdr(t testing.TB, n int, ts bool) (pkt, hdr []byte) {
	t.Helper()
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	seg := segment.Segment{
		Src: stack6, Dst: host6, SrcPort: 19, DstPort: 40000, Seq: 0xfffff000, Ack: 77,
		Flags: segment.FlagACK | segment.FlagPSH, Window: 512, Payload: payload,
	}
	seg.Options.HasTimestamp, seg.Options.TSVal, seg.Options.TSEcr = ts, 1, 2
	buf := make([]byte, 65575)
	k, err := segment.BuildIPv6TCP(buf, &seg, 0x12345, 64)
	if err != nil {
		t.Fatal(err)
	}
	hdr = make([]byte, 100)
	h, err := segment.BuildIPv6TCPHeadersOnly(hdr, &seg, n, 0x12345, 64)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:k], hdr[:h]
}

// withDestOpts inserts an 8-byte destination options header (one PadN
// option) between the IPv6 header of pkt and its TCP header.
func withDestOpts(pkt []byte) []byte {
	out := append(append([]byte(nil), pkt[:40]...), segment.ProtocolTCP, 0, 1, 4, 0, 0, 0, 0)
	out = append(out, pkt[40:]...)
	out[6] = segment.ProtocolDestOpts
	binary.BigEndian.PutUint16(out[4:], binary.BigEndian.Uint16(pkt[4:])+8)
	return out
}

// TestGSOHeaderChecksumIPv6 is TestGSOHeaderChecksum for IPv6: gsoHeader
// describes the headers (csum_start at the TCP header, behind extension
// headers too; GSO_TCPV6 only when the payload needs cutting) and puts the
// IPv6 pseudo-header sum in the checksum field; completing it as the
// kernel does gives the builder's checksum, which the parser verifies.
func TestGSOHeaderChecksumIPv6(t *testing.T) {
	for _, tc := range []struct {
		n        int
		ts, dopt bool
	}{{0, false, false}, {1, false, false}, {1440, false, false}, {1441, true, false}, {10001, false, false},
		{65515, false, false}, {65503, true, false}, {3000, true, true}, {1, false, true}} {
		full, hdr := tcp6PktHdr(t, tc.n, tc.ts)
		tcpOff := 40
		if tc.dopt {
			// The TCP bytes and the pseudo-header are unchanged: the
			// builder's checksum still holds.
			full, hdr, tcpOff = withDestOpts(full), withDestOpts(hdr), 48
		}
		sum := binary.BigEndian.Uint16(full[tcpOff+16:])
		var h virtioNetHdr
		if err := gsoHeader(&h, hdr, tc.n, 1428); err != nil {
			t.Fatalf("%+v: gsoHeader refused an IPv6/TCP packet: %v", tc, err)
		}
		if h.flags != vnetFlagNeedsCsum || int(h.csumStart) != tcpOff || h.csumOffset != 16 || int(h.hdrLen) != len(hdr) {
			t.Fatalf("%+v: header %+v for %d bytes of headers", tc, h, len(hdr))
		}
		if tc.n > 1428 && (h.gsoType != vnetGSOTCPv6 || h.gsoSize != 1428) {
			t.Fatalf("%+v: gso type %d size %d, want TCPv6 1428", tc, h.gsoType, h.gsoSize)
		}
		if tc.n <= 1428 && h.gsoType != vnetGSONone {
			t.Fatalf("%+v: gso type %d for a packet that needs no cutting", tc, h.gsoType)
		}
		pkt := append(append([]byte(nil), hdr...), full[len(hdr):]...)
		if got := binary.BigEndian.Uint16(pkt[tcpOff+16:]); got == sum && tc.n > 0 {
			t.Fatalf("%+v: checksum field unchanged (%#04x), want the pseudo-header sum", tc, got)
		}
		if !completeChecksum(pkt, int(h.csumStart), int(h.csumOffset)) {
			t.Fatal("completeChecksum refused")
		}
		if got := binary.BigEndian.Uint16(pkt[tcpOff+16:]); got != sum {
			t.Fatalf("%+v: completed checksum %#04x, builder's %#04x", tc, got, sum)
		}
		var s segment.Segment
		if err := segment.ParseIPv6TCP(pkt, &s); err != nil || len(s.Payload) != tc.n {
			t.Fatalf("%+v: completed packet does not parse: %v (%d payload bytes)", tc, err, len(s.Payload))
		}
		if off, hl, ok := tcpLayout(pkt); !ok || off != tcpOff || off+hl != len(hdr) {
			t.Fatalf("%+v: tcpLayout %d %d %v", tc, off, hl, ok)
		}
	}
}

func TestGSOHeaderRejectsIPv6(t *testing.T) {
	_, good := tcp6PktHdr(t, 100, false)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string][]byte{
		"udp":       mod(func(b []byte) []byte { b[6] = segment.ProtocolUDP; return b }),
		"version 5": mod(func(b []byte) []byte { b[0] = 0x50; return b }),
		"short":     good[:59],
		"ip only":   good[:40],
		"offset":    mod(func(b []byte) []byte { b[40+12] = 0xf0; return b }), // 60-byte TCP header in 20 bytes
		"esp":       mod(func(b []byte) []byte { b[6] = 50; return b }),
		"paylen":    mod(func(b []byte) []byte { b[5]++; return b }),
		"trailing":  append(append([]byte(nil), good...), 0, 0, 0, 0),
		"fragment": mod(func(b []byte) []byte {
			// An atomic fragment header (RFC 6946): the kernel's GSO
			// cannot cut past it, so it is refused.
			out := append(append(b[:40:40], segment.ProtocolTCP, 0, 0, 0, 0, 0, 0, 1), b[40:]...)
			out[6] = segment.ProtocolFragment
			binary.BigEndian.PutUint16(out[4:], binary.BigEndian.Uint16(b[4:])+8)
			return out
		}),
	}
	for name, hdr := range cases {
		before := append([]byte(nil), hdr...)
		var h virtioNetHdr
		if err := gsoHeader(&h, hdr, 100, 1428); !errors.Is(err, errGSOHeaders) {
			t.Errorf("%s: gsoHeader = %v, want errGSOHeaders", name, err)
		}
		if !bytes.Equal(hdr, before) {
			t.Errorf("%s: refused headers were modified", name)
		}
	}
	var h virtioNetHdr
	for _, mss := range []int{0, -1, 65536} {
		if gsoHeader(&h, append([]byte(nil), good...), 100, mss) == nil {
			t.Errorf("mss %d accepted", mss)
		}
	}
	if gsoHeader(&h, append([]byte(nil), good...), 101, 1428) == nil || gsoHeader(&h, nil, 0, 1428) == nil {
		t.Error("a payload length disagreeing with the IPv6 payload length, or no headers, was accepted")
	}
}

// TestGSOHeaderZeroAllocs: describing a super-segment of either family to
// the kernel allocates nothing.
func TestGSOHeaderZeroAllocs(t *testing.T) {
	_, hdr4 := tcpPktHdr(t, 10000)
	_, hdr6 := tcp6PktHdr(t, 10000, true)
	var h virtioNetHdr
	a := testing.AllocsPerRun(100, func() {
		if gsoHeader(&h, hdr4, 10000, 1448) != nil || gsoHeader(&h, hdr6, 10000, 1428) != nil {
			panic("refused")
		}
	})
	if a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func BenchmarkGSOHeader(b *testing.B) {
	_, hdr4 := tcpPktHdr(b, 60000)
	_, hdr6 := tcp6PktHdr(b, 60000, true)
	for _, bc := range []struct {
		name string
		hdr  []byte
	}{{"IPv4", hdr4}, {"IPv6", hdr6}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var h virtioNetHdr
			for b.Loop() {
				if gsoHeader(&h, bc.hdr, 60000, 1400) != nil {
					b.Fatal("refused")
				}
			}
		})
	}
}
