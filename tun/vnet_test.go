package tun

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

func TestVirtioNetHdrEncodeDecode(t *testing.T) {
	h := virtioNetHdr{flags: vnetFlagNeedsCsum, gsoType: vnetGSOTCPv4, hdrLen: 52, gsoSize: 1448, csumStart: 20, csumOffset: 16}
	var b [virtioNetHdrLen]byte
	h.encode(b[:])
	want := []byte{1, 1, 52, 0, 0xa8, 0x05, 20, 0, 16, 0} // little-endian host
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		want = []byte{1, 1, 0, 52, 0x05, 0xa8, 0, 20, 0, 16} // big-endian host
	}
	if !bytes.Equal(b[:], want) {
		t.Fatalf("encode = % x, want % x", b, want)
	}
	var g virtioNetHdr
	g.decode(b[:])
	if g != h {
		t.Fatalf("decode(encode(%+v)) = %+v", h, g)
	}
}

// tcpPkt builds a fully checksummed IPv4/TCP packet with n payload bytes.
func tcpPkt(t *testing.T, n int) []byte {
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
	return buf[:k]
}

// TestGSOHeaderChecksum: gsoHeader leaves the pseudo-header sum in the
// checksum field, and completing it as the kernel does (sum from
// csum_start, complement into csum_start+csum_offset) gives back the
// checksum segment's builder computed, for even and odd lengths.
func TestGSOHeaderChecksum(t *testing.T) {
	for _, n := range []int{0, 1, 1447, 1448, 1449, 10000, 10001, 65495} {
		pkt := tcpPkt(t, n)
		full := binary.BigEndian.Uint16(pkt[20+16:])
		var h virtioNetHdr
		if !gsoHeader(&h, pkt, 1448) {
			t.Fatalf("n=%d: gsoHeader refused an IPv4/TCP packet", n)
		}
		if h.flags != vnetFlagNeedsCsum || h.csumStart != 20 || h.csumOffset != 16 || h.hdrLen != 40 {
			t.Fatalf("n=%d: header %+v", n, h)
		}
		if n > 1448 && (h.gsoType != vnetGSOTCPv4 || h.gsoSize != 1448) {
			t.Fatalf("n=%d: gso type %d size %d, want TCPv4 1448", n, h.gsoType, h.gsoSize)
		}
		if n <= 1448 && h.gsoType != vnetGSONone {
			t.Fatalf("n=%d: gso type %d for a packet that needs no cutting", n, h.gsoType)
		}
		if got := binary.BigEndian.Uint16(pkt[36:]); got == full && n > 0 {
			t.Fatalf("n=%d: checksum field unchanged (%#04x), want the pseudo-header sum", n, got)
		}
		if !completeChecksum(pkt, int(h.csumStart), int(h.csumOffset)) {
			t.Fatal("completeChecksum refused")
		}
		if got := binary.BigEndian.Uint16(pkt[36:]); got != full {
			t.Fatalf("n=%d: completed checksum %#04x, builder's %#04x", n, got, full)
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
		if gsoHeader(&h, p, 1448) {
			t.Errorf("%s: gsoHeader accepted", name)
		}
	}
	if completeChecksum(good, 20, len(good)) {
		t.Error("completeChecksum accepted an offset past the end")
	}
}
