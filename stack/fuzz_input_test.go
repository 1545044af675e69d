package stack

import (
	"net/netip"
	"testing"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/ipfrag"
)

// FuzzInput feeds arbitrary packets to a dual-stack stack's input path
// (IPv4 and IPv6 headers, extension headers, fragments and reassembly,
// ICMP and ICMPv6, TCP demux with a listener, UDP to a socket, a closed
// port and the transparent handler): nothing may panic, and the
// reassembler stays within its memory bound. Run:
//
//	go test -run '^$' -fuzz FuzzInput -fuzztime 60s ./stack
func FuzzInput(f *testing.F) {
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	a6, b6 := netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::2")
	buf := make([]byte, 1500)
	syn := &segment.Segment{Src: a, Dst: b, SrcPort: 40000, DstPort: 80, Seq: 9, Flags: segment.FlagSYN, Window: 1000}
	n, _ := segment.BuildIPv4TCP(buf, syn, 0, 64)
	f.Add(append([]byte(nil), buf[:n]...), false)
	syn6 := *syn
	syn6.Src, syn6.Dst = a6, b6
	n, _ = segment.BuildIPv6TCP(buf, &syn6, 7, 64)
	f.Add(append([]byte(nil), buf[:n]...), true)
	echo := make([]byte, 40+8+2000)
	segment.PutIPv6Header(echo, &segment.IPv6Header{NextHeader: segment.ProtocolICMPv6, HopLimit: 64, Src: a6, Dst: b6}, 8+2000)
	echo[40] = segment.ICMPv6TypeEchoRequest
	ipfrag.FragmentIPv6(echo, 1280, 1, make([]byte, 1280), func(p []byte) error {
		f.Add(append([]byte(nil), p...), false)
		return nil
	})
	echo4 := make([]byte, 20+8+2000)
	segment.PutIPv4Header(echo4, &segment.IPv4Header{TTL: 64, Protocol: segment.ProtocolICMP, Src: a, Dst: b}, 8+2000)
	echo4[20] = segment.ICMPv4TypeEcho
	ipfrag.FragmentIPv4(echo4, 576, make([]byte, 576), func(p []byte) error {
		f.Add(append([]byte(nil), p...), false)
		return nil
	})
	s, err := New(&nullLink{done: make(chan struct{})}, Options{Addrs: []netip.Addr{b, b6}})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	ln, err := s.Listen(":80")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	// UDP: a socket on port 53 (never read: its queue fills, then drops),
	// and the transparent
	// handler (answering from the destination) for 203.0.113.0/24 and
	// 2001:db8::/32.
	s.opts.TransparentPrefixes = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	s.SetUDPHandler(func(src, dst netip.AddrPort, payload []byte) { s.WriteUDPFrom(dst, src, payload) })
	uc, err := s.ListenUDP("udp", ":53")
	if err != nil {
		f.Fatal(err)
	}
	defer uc.Close()
	for _, d := range []struct{ src, dst string }{{"198.18.0.1:5000", "198.18.0.2:53"}, {"[2001:2::1]:5000", "[2001:2::2]:53"},
		{"198.18.0.1:5000", "203.0.113.9:53"}, {"[2001:2::1]:5000", "[2001:db8::9]:53"}, {"198.18.0.1:5000", "198.18.0.2:54"}} {
		n, _ := segment.BuildUDP(buf, netip.MustParseAddrPort(d.src), netip.MustParseAddrPort(d.dst), []byte("query"), 1, 0)
		f.Add(append([]byte(nil), buf[:n]...), false)
	}
	work := make([]byte, 65536)
	f.Fuzz(func(t *testing.T, pkt []byte, csumOK bool) {
		if len(pkt) > len(work) {
			return
		}
		n := copy(work, pkt)
		s.inMu.Lock()
		s.input(work[:n], csumOK)
		if r := s.frag.r; r != nil && r.Memory() > r.Config().MaxMemory {
			t.Fatalf("reassembly memory %d over its bound %d", r.Memory(), r.Config().MaxMemory)
		}
		s.inMu.Unlock()
	})
}
