package segment

import "testing"

// dataSegment6 is dataSegment over IPv6 (2001:2::/64, RFC 5180).
func dataSegment6(payload int) Segment {
	seg := dataSegment(payload)
	seg.Src, seg.Dst = addr6Stack, addr6Kernel
	return seg
}

// packet1500v6 is a 1500-byte TCP/IPv6 packet (timestamps, 1428 bytes of
// payload), as a kernel peer sends at MTU 1500.
func packet1500v6(tb testing.TB) []byte {
	seg := dataSegment6(1428)
	buf := make([]byte, 1500)
	n, err := BuildIPv6TCP(buf, &seg, 0x12345, 64)
	if err != nil || n != 1500 {
		tb.Fatalf("build: %d %v", n, err)
	}
	return buf
}

func TestIPv6TCPAllocs(t *testing.T) {
	pkt := packet1500v6(t)
	var seg Segment
	allocs := func(name string, f func()) {
		t.Helper()
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s: %v allocs", name, a)
		}
	}
	allocs("ParseIPv6TCP", func() {
		if err := ParseIPv6TCP(pkt, &seg); err != nil {
			t.Fatal(err)
		}
	})
	allocs("Parse", func() { _ = Parse(pkt, &seg) })
	bad := append([]byte(nil), pkt...)
	bad[100] ^= 1
	allocs("ParseIPv6TCP error", func() {
		if err := ParseIPv6TCP(bad, &seg); err != ErrTCPChecksum {
			t.Fatal(err)
		}
	})
	s := dataSegment6(1428)
	buf := make([]byte, 2048)
	allocs("BuildIPv6TCP", func() {
		if _, err := BuildIPv6TCP(buf, &s, 1, 64); err != nil {
			t.Fatal(err)
		}
	})
	allocs("BuildIPv6TCPHeaders", func() { _, _ = BuildIPv6TCPHeaders(buf, &s, 1428, 1, 64) })
	allocs("BuildIPv6TCPHeadersOnly", func() { _, _ = BuildIPv6TCPHeadersOnly(buf, &s, 1428, 1, 64) })
	allocs("BuildIPv6TCP error", func() { _, _ = BuildIPv6TCP(buf[:10], &s, 1, 64) })
	hdr, payload, err := SplitIPv6TCP(pkt)
	if err != nil {
		t.Fatal(err)
	}
	allocs("SplitIPv6TCP", func() { _, _, _ = SplitIPv6TCP(pkt) })
	allocs("CutIPv6TCP", func() {
		if _, err := CutIPv6TCP(buf, hdr, payload, 500, 1); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkParseIPv6TCP(b *testing.B) {
	pkt := packet1500v6(b)
	var seg Segment
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseIPv6TCP(pkt, &seg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildIPv6TCP(b *testing.B) {
	seg := dataSegment6(1428)
	buf := make([]byte, 2048)
	b.SetBytes(int64(IPv6TCPHeaderLen(&seg) + len(seg.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildIPv6TCP(buf, &seg, 0x12345, 64); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildIPv6TCPHeaders(b *testing.B) {
	seg := dataSegment6(1428)
	buf := make([]byte, 2048)
	copy(buf[IPv6TCPHeaderLen(&seg):], seg.Payload)
	b.SetBytes(int64(IPv6TCPHeaderLen(&seg) + len(seg.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildIPv6TCPHeaders(buf, &seg, 1428, 0x12345, 64); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkCut cuts a 64 KiB super-segment into 1428-byte wire segments,
// one per op.
func benchmarkCut(b *testing.B, pkt []byte, split func([]byte) ([]byte, []byte, error), cut func(dst, hdr, payload []byte, mss, i int) (int, error)) {
	hdr, payload, err := split(pkt)
	if err != nil {
		b.Fatal(err)
	}
	const mss = 1428
	n := GSOSegments(len(payload), mss)
	dst := make([]byte, 2048)
	b.SetBytes(int64(len(hdr) + mss))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := cut(dst, hdr, payload, mss, i); err != nil {
			b.Fatal(err)
		}
		if i++; i == n {
			i = 0
		}
	}
}

func BenchmarkCutIPv6TCP(b *testing.B) {
	seg := dataSegment6(65535 - 32)
	buf := make([]byte, 70000)
	n, err := BuildIPv6TCP(buf, &seg, 1, 64)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkCut(b, buf[:n], SplitIPv6TCP, CutIPv6TCP)
}

func BenchmarkCutIPv4TCP(b *testing.B) {
	seg := dataSegment(65535 - 52)
	buf := make([]byte, 70000)
	n, err := BuildIPv4TCP(buf, &seg, 1, 64)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkCut(b, buf[:n], SplitIPv4TCP, CutIPv4TCP)
}
