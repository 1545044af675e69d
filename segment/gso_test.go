package segment

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// gsoSuper builds the headers of a super-segment as a stack hands them to
// a link with offloads (TCP checksum left zero) and its payload.
func gsoSuper(t *testing.T, payloadLen int, flags Flags, id uint16) (hdr, payload []byte, seg Segment) {
	t.Helper()
	seg = Segment{
		Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.18.0.1"),
		SrcPort: 80, DstPort: 40000, Seq: 0xfffff000, Ack: 77, Flags: flags, Window: 512,
		Options: Options{HasTimestamp: true, TSVal: 5, TSEcr: 6},
	}
	payload = make([]byte, payloadLen)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	buf := make([]byte, 128)
	n, err := BuildIPv4TCPHeadersOnly(buf, &seg, payloadLen, id, DefaultTTL)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n], payload, seg
}

// TestCutIPv4TCP: a super-segment cut at the MSS gives wire segments that
// parse with both checksums verified, carry consecutive sequence numbers
// and IPv4 IDs, keep CWR on the first and FIN/PSH on the last only, and
// whose payloads concatenate to the original.
func TestCutIPv4TCP(t *testing.T) {
	const mss = 1448
	for _, tc := range []struct {
		payload int
		want    int
	}{{0, 1}, {1, 1}, {mss, 1}, {mss + 1, 2}, {3 * mss, 3}, {65535 - 52, 46}} {
		flags := FlagACK | FlagPSH | FlagFIN | FlagCWR
		hdr, payload, orig := gsoSuper(t, tc.payload, flags, 0xfffe)
		n := GSOSegments(len(payload), mss)
		if n != tc.want {
			t.Fatalf("payload %d: %d segments, want %d", tc.payload, n, tc.want)
		}
		var got []byte
		dst := make([]byte, 2000)
		for i := 0; i < n; i++ {
			m, err := CutIPv4TCP(dst, hdr, payload, mss, i)
			if err != nil {
				t.Fatalf("payload %d segment %d: %v", tc.payload, i, err)
			}
			var s Segment
			if err := ParseIPv4TCP(dst[:m], &s); err != nil {
				t.Fatalf("payload %d segment %d does not verify: %v", tc.payload, i, err)
			}
			if len(s.Payload) > mss {
				t.Fatalf("segment %d carries %d bytes, mss %d", i, len(s.Payload), mss)
			}
			if id := IPv4(dst[:m]).ID(); id != uint16(0xfffe+i) {
				t.Fatalf("segment %d IPv4 ID %#x, want %#x", i, id, uint16(0xfffe+i))
			}
			checkGSOSegment(t, i, n, &s, &orig, len(got))
			got = append(got, s.Payload...)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("payload %d: the segments do not reassemble it", tc.payload)
		}
		if _, err := CutIPv4TCP(dst, hdr, payload, mss, n); err == nil {
			t.Fatalf("segment %d of %d accepted", n, n)
		}
	}
}

// checkGSOSegment checks wire segment i of n, s, cut from the
// super-segment orig (sent: the payload bytes of the segments before it):
// its sequence number, CWR on the first only, FIN and PSH on the last only
// (the super-segment had ACK, PSH, FIN, CWR), the rest unchanged.
func checkGSOSegment(t *testing.T, i, n int, s, orig *Segment, sent int) {
	t.Helper()
	if want := orig.Seq.Add(uint32(sent)); s.Seq != want {
		t.Fatalf("segment %d seq %d, want %d", i, s.Seq, want)
	}
	want := FlagACK
	if i == 0 {
		want |= FlagCWR
	}
	if i == n-1 {
		want |= FlagPSH | FlagFIN
	}
	if s.Flags != want {
		t.Fatalf("segment %d of %d flags %v, want %v", i, n, s.Flags, want)
	}
	if s.Ack != orig.Ack || s.Window != orig.Window || s.Options != orig.Options {
		t.Fatalf("segment %d changed ack/window/options: %v", i, s)
	}
}

// TestCutIPv4TCPWholePacket: a whole packet given by SplitIPv4TCP, with a
// partial (pseudo-header) checksum as a link with offloads hands it over,
// comes out complete.
func TestCutIPv4TCPWholePacket(t *testing.T) {
	seg := Segment{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		SrcPort: 1, DstPort: 2, Seq: 9, Flags: FlagACK, Payload: []byte("hello, wire")}
	pkt := make([]byte, 100)
	n, err := BuildIPv4TCP(pkt, &seg, 1, DefaultTTL)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), pkt[:n]...)
	pkt[IPv4MinHeaderLen+tcpChecksum] ^= 0x5a // as good as partial
	hdr, payload, err := SplitIPv4TCP(pkt[:n])
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 100)
	m, err := CutIPv4TCP(dst, hdr, payload, 1460, 0)
	if err != nil || !bytes.Equal(dst[:m], want) {
		t.Fatalf("got % x, %v\nwant % x", dst[:m], err, want)
	}
}

// TestCutIPv4TCPBadInput: malformed headers and short buffers are errors,
// never panics.
func TestCutIPv4TCPBadInput(t *testing.T) {
	hdr, payload, _ := gsoSuper(t, 3000, FlagACK, 1)
	dst := make([]byte, 2000)
	if _, err := CutIPv4TCP(dst[:100], hdr, payload, 1448, 0); !errors.Is(err, ErrBufferTooSmall) {
		t.Errorf("short dst: %v", err)
	}
	if _, err := CutIPv4TCP(dst, hdr[:len(hdr)-4], payload, 1448, 0); err == nil {
		t.Errorf("truncated headers accepted")
	}
	for i := 0; i <= len(hdr); i++ {
		CutIPv4TCP(dst, hdr[:i], payload, 1448, 0)
		SplitIPv4TCP(hdr[:i])
	}
	bad := append([]byte(nil), hdr...)
	bad[ipv4Protocol] = ProtocolUDP
	if _, err := CutIPv4TCP(dst, bad, payload, 1448, 0); !errors.Is(err, ErrProtocol) {
		t.Errorf("UDP header: %v", err)
	}
	if _, _, err := SplitIPv4TCP(hdr); !errors.Is(err, ErrTotalLength) {
		t.Errorf("headers alone with a total length counting the payload: %v", err)
	}
}

// FuzzCutIPv4TCP: any bytes as headers, any mss and index: an error or a
// segment that fits dst, never a panic.
func FuzzCutIPv4TCP(f *testing.F) {
	f.Add(mustHex("450000340001400040060000c6120002c6120001005090000000000100000001801001f4000000000101080a0000000500000006"), 3000, 1448, 1)
	f.Add([]byte{0x45, 0, 0, 20}, 0, 0, 0)
	f.Fuzz(func(t *testing.T, hdr []byte, payloadLen, mss, i int) {
		payload := make([]byte, payloadLen&0xffff)
		dst := make([]byte, 1600)
		if n, err := CutIPv4TCP(dst, hdr, payload, mss, i); err == nil && (n > len(dst) || n < len(hdr)) {
			t.Fatalf("length %d for headers of %d bytes", n, len(hdr))
		}
		SplitIPv4TCP(hdr)
	})
}
