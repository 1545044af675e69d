package segment

import (
	"net/netip"
	"testing"
)

// dataSegment is a full-size data segment with timestamps: 1460 bytes of
// payload would overflow a 1500 MTU with 12 bytes of options, but it is the
// figure the issue asks for, so the benchmark packet is 1512 bytes.
func dataSegment(payload int) Segment {
	p := make([]byte, payload)
	for i := range p {
		p[i] = byte(i * 7)
	}
	return Segment{
		Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.18.0.1"),
		SrcPort: 19, DstPort: 40000, Seq: 0xfffff000, Ack: 12345, Flags: FlagACK | FlagPSH, Window: 502,
		Options: Options{HasTimestamp: true, TSVal: 1000, TSEcr: 2000},
		Payload: p,
	}
}

// packet1500 is a 1500-byte IPv4/TCP packet (timestamps, 1448 bytes of
// payload), as a kernel peer sends at MTU 1500.
func packet1500(tb testing.TB) []byte {
	seg := dataSegment(1448)
	buf := make([]byte, 1500)
	n, err := BuildIPv4TCP(buf, &seg, 1, 64)
	if err != nil || n != 1500 {
		tb.Fatalf("build: %d %v", n, err)
	}
	return buf
}

func TestParseAllocs(t *testing.T) {
	pkt := packet1500(t)
	var seg Segment
	if a := testing.AllocsPerRun(100, func() {
		if err := ParseIPv4TCP(pkt, &seg); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("ParseIPv4TCP: %v allocs", a)
	}
	// Error paths allocate nothing either.
	bad := append([]byte(nil), pkt...)
	bad[100] ^= 1
	if a := testing.AllocsPerRun(100, func() {
		if err := ParseIPv4TCP(bad, &seg); err != ErrTCPChecksum {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("ParseIPv4TCP error path: %v allocs", a)
	}
	opts := mustHex("0101080a0000032000003070010105120102100001021400fffffff000000010")
	var o Options
	if a := testing.AllocsPerRun(100, func() { _ = ParseOptions(opts, &o) }); a != 0 {
		t.Fatalf("ParseOptions: %v allocs", a)
	}
	if a := testing.AllocsPerRun(100, func() { _ = ParseTCP(seg.Src, seg.Dst, pkt[20:], &seg) }); a != 0 {
		t.Fatalf("ParseTCP: %v allocs", a)
	}
}

func TestBuildAllocs(t *testing.T) {
	seg := dataSegment(1460)
	buf := make([]byte, 2048)
	if a := testing.AllocsPerRun(100, func() {
		if _, err := BuildIPv4TCP(buf, &seg, 1, 64); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("BuildIPv4TCP: %v allocs", a)
	}
	syn := goldenPackets[0].seg
	if a := testing.AllocsPerRun(100, func() { _, _ = BuildIPv4TCP(buf, &syn, 1, 64) }); a != 0 {
		t.Fatalf("BuildIPv4TCP SYN: %v allocs", a)
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = BuildIPv4TCPHeaders(buf, &seg, 1460, 1, 64) }); a != 0 {
		t.Fatalf("BuildIPv4TCPHeaders: %v allocs", a)
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = BuildIPv4TCP(buf[:10], &seg, 1, 64) }); a != 0 {
		t.Fatalf("BuildIPv4TCP error path: %v allocs", a)
	}
	src, dst := netip.MustParseAddrPort("198.18.0.2:53"), netip.MustParseAddrPort("198.18.0.1:9999")
	if a := testing.AllocsPerRun(100, func() { _, _ = BuildIPv4UDP(buf, src, dst, seg.Payload[:100]) }); a != 0 {
		t.Fatalf("BuildIPv4UDP: %v allocs", a)
	}
}

func BenchmarkParseIPv4TCP(b *testing.B) {
	pkt := packet1500(b)
	var seg Segment
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseIPv4TCP(pkt, &seg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildIPv4TCP(b *testing.B) {
	seg := dataSegment(1460)
	buf := make([]byte, 2048)
	b.SetBytes(int64(IPv4TCPHeaderLen(&seg) + len(seg.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildIPv4TCP(buf, &seg, 1, 64); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildIPv4TCPHeaders is the headroom send path: the payload is
// already in place, only headers and checksums are written.
func BenchmarkBuildIPv4TCPHeaders(b *testing.B) {
	seg := dataSegment(1460)
	buf := make([]byte, 2048)
	copy(buf[IPv4TCPHeaderLen(&seg):], seg.Payload)
	b.SetBytes(int64(IPv4TCPHeaderLen(&seg) + len(seg.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildIPv4TCPHeaders(buf, &seg, 1460, 1, 64); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := packet1500(b)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var s uint16
	for b.Loop() {
		s += Checksum(buf, 0)
	}
	_ = s
}

func BenchmarkChecksumNaive1500(b *testing.B) {
	buf := packet1500(b)
	b.SetBytes(int64(len(buf)))
	var s uint16
	for b.Loop() {
		s += naiveChecksum(buf, 0)
	}
	_ = s
}

func BenchmarkParseOptions(b *testing.B) {
	opts := mustHex("020405b40402080a000030390000000001030307")
	var o Options
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseOptions(opts, &o); err != nil {
			b.Fatal(err)
		}
	}
}
