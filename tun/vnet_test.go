package tun

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

func TestVirtioNetHdrEncodeDecode(t *testing.T) {
	bigEndian := binary.NativeEndian.Uint16([]byte{1, 0}) != 1
	for _, tc := range []struct {
		h      virtioNetHdr
		le, be []byte // encodings on a little- and a big-endian host
	}{
		{virtioNetHdr{flags: vnetFlagNeedsCsum, gsoType: vnetGSOTCPv4, hdrLen: 52, gsoSize: 1448, csumStart: 20, csumOffset: 16},
			[]byte{1, 1, 52, 0, 0xa8, 0x05, 20, 0, 16, 0}, []byte{1, 1, 0, 52, 0x05, 0xa8, 0, 20, 0, 16}},
		{virtioNetHdr{flags: vnetFlagNeedsCsum, gsoType: vnetGSOTCPv6, hdrLen: 72, gsoSize: 1428, csumStart: 40, csumOffset: 16},
			[]byte{1, 4, 72, 0, 0x94, 0x05, 40, 0, 16, 0}, []byte{1, 4, 0, 72, 0x05, 0x94, 0, 40, 0, 16}},
	} {
		var b [virtioNetHdrLen]byte
		tc.h.encode(b[:])
		want := tc.le
		if bigEndian {
			want = tc.be
		}
		if !bytes.Equal(b[:], want) {
			t.Fatalf("encode(%+v) = % x, want % x", tc.h, b, want)
		}
		var g virtioNetHdr
		g.decode(b[:])
		if g != tc.h {
			t.Fatalf("decode(encode(%+v)) = %+v", tc.h, g)
		}
	}
}

// tcpPkt builds a fully checksummed IPv4/TCP packet with n payload bytes.
func tcpPkt(t *testing.T, n int) []byte {
	t.Helper()
	pkt, _ := tcpPktHdr(t, n)
	return pkt
}

// tcpPktHdr returns tcpPkt(n) and, built apart, its headers with the TCP
// checksum left to the link (segment.BuildIPv4TCPHeadersOnly).
func tcpPktHdr(t testing.TB, n int) (pkt, hdr []byte) {
	t.Helper()
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	seg := segment.Segment{
		Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.18.0.1"),
		SrcPort: 19, DstPort: 40000, Seq: 0xfffff000, Ack: 77, Flags: segment.FlagACK | segment.FlagPSH,
		Window: 512, Payload: payload,
	}
	buf := make([]byte, 65535)
	k, err := segment.BuildIPv4TCP(buf, &seg, 9, 64)
	if err != nil {
		t.Fatal(err)
	}
	hdr = make([]byte, 60)
	h, err := segment.BuildIPv4TCPHeadersOnly(hdr, &seg, n, 9, 64)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:k], hdr[:h]
}

// TestGSOHeaderChecksum: headers built without a TCP checksum equal the
// complete packet's except for that field; gsoHeader puts the
// pseudo-header sum there, and completing it as the kernel does (sum from
// csum_start, complement into csum_start+csum_offset) over headers and
// payload gives back the checksum segment's builder computed, for even
// and odd lengths.
func TestGSOHeaderChecksum(t *testing.T) {
	for _, n := range []int{0, 1, 1447, 1448, 1449, 10000, 10001, 65495} {
		full, hdr := tcpPktHdr(t, n)
		sum := binary.BigEndian.Uint16(full[20+16:])
		if len(hdr) != 40 || !bytes.Equal(hdr[:36], full[:36]) || !bytes.Equal(hdr[38:], full[38:40]) {
			t.Fatalf("n=%d: headers-only build differs:\n% x\n% x", n, hdr, full[:40])
		}
		var h virtioNetHdr
		if err := gsoHeader(&h, hdr, n, 1448); err != nil {
			t.Fatalf("n=%d: gsoHeader refused an IPv4/TCP packet: %v", n, err)
		}
		pkt := append(append([]byte(nil), hdr...), full[40:]...)
		if h.flags != vnetFlagNeedsCsum || h.csumStart != 20 || h.csumOffset != 16 || h.hdrLen != 40 {
			t.Fatalf("n=%d: header %+v", n, h)
		}
		if n > 1448 && (h.gsoType != vnetGSOTCPv4 || h.gsoSize != 1448) {
			t.Fatalf("n=%d: gso type %d size %d, want TCPv4 1448", n, h.gsoType, h.gsoSize)
		}
		if n <= 1448 && h.gsoType != vnetGSONone {
			t.Fatalf("n=%d: gso type %d for a packet that needs no cutting", n, h.gsoType)
		}
		if got := binary.BigEndian.Uint16(pkt[36:]); got == sum && n > 0 {
			t.Fatalf("n=%d: checksum field unchanged (%#04x), want the pseudo-header sum", n, got)
		}
		if !completeChecksum(pkt, int(h.csumStart), int(h.csumOffset)) {
			t.Fatal("completeChecksum refused")
		}
		if got := binary.BigEndian.Uint16(pkt[36:]); got != sum {
			t.Fatalf("n=%d: completed checksum %#04x, builder's %#04x", n, got, sum)
		}
		var s segment.Segment
		if err := segment.ParseIPv4TCP(pkt, &s); err != nil {
			t.Fatalf("n=%d: completed packet does not parse: %v", n, err)
		}
	}
}

func TestIPv4TCPLayoutRejects(t *testing.T) {
	good := tcpPkt(t, 10)
	if ip, th, ok := ipv4TCPLayout(good); !ok || ip != 20 || th != 20 {
		t.Fatalf("layout of a plain packet: %d %d %v", ip, th, ok)
	}
	udp := append([]byte(nil), good...)
	udp[9] = 17
	short := good[:39]
	v6 := append([]byte(nil), good...)
	v6[0] = 0x60
	badIHL := append([]byte(nil), good...)
	badIHL[0] = 0x4f // 60-byte IP header: TCP header would not fit
	badOff := append([]byte(nil), good...)
	badOff[20+12] = 0xf0 // 60-byte TCP header in a 50-byte packet
	for name, p := range map[string][]byte{"udp": udp, "short": short, "v6": v6, "ihl": badIHL, "offset": badOff, "empty": nil} {
		if _, _, ok := ipv4TCPLayout(p); ok {
			t.Errorf("%s: accepted", name)
		}
		var h virtioNetHdr
		if gsoHeader(&h, p, 0, 1448) == nil {
			t.Errorf("%s: gsoHeader accepted", name)
		}
	}
	var h virtioNetHdr
	if _, hdr := tcpPktHdr(t, 100); gsoHeader(&h, hdr, 99, 1448) == nil || gsoHeader(&h, hdr[:39], 100, 1448) == nil || gsoHeader(&h, hdr, 100, 1448) != nil {
		t.Error("gsoHeader: a payload length disagreeing with the IPv4 total length, or a cut header, was accepted (or the right one refused)")
	}
	if completeChecksum(good, 20, len(good)) {
		t.Error("completeChecksum accepted an offset past the end")
	}
}
