package stack

import (
	"net/netip"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

// udpAllocStack is a dual-stack stack on a link that discards writes,
// with a socket on port 9 of both families and a transparent handler.
func udpAllocStack(t testing.TB) (*Stack, *UDPConn) {
	s, err := New(&nullLink{done: make(chan struct{})}, Options{
		Addrs:               []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:2::2")},
		TransparentPrefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.ListenUDP("udp", ":9")
	if err != nil {
		t.Fatal(err)
	}
	s.SetUDPHandler(func(src, dst netip.AddrPort, payload []byte) { _ = s.WriteUDPFrom(dst, src, payload) })
	return s, c
}

// TestUDPAllocs: 0 allocations per datagram on the hot paths: a datagram
// in (parse, demux, copy into the socket's queue) and read out
// (ReadFromUDPAddrPort), a datagram written (WriteToUDPAddrPort), and the
// transparent handler answering with WriteUDPFrom, in both families.
func TestUDPAllocs(t *testing.T) {
	s, c := udpAllocStack(t)
	defer s.Close()
	for _, fam := range []struct{ peer, self, far string }{
		{"198.18.0.1:1000", "198.18.0.2:9", "93.184.216.34:53"},
		{"[2001:2::1]:1000", "[2001:2::2]:9", "[2001:db8::1]:53"},
	} {
		peer, self, far := netip.MustParseAddrPort(fam.peer), netip.MustParseAddrPort(fam.self), netip.MustParseAddrPort(fam.far)
		pkt := make([]byte, 1500)
		n, _ := segment.BuildUDP(pkt, peer, self, make([]byte, 1200), 1, 0)
		tp := make([]byte, 1500)
		tn, _ := segment.BuildUDP(tp, peer, far, make([]byte, 1200), 1, 0)
		work := make([]byte, 1500)
		buf := make([]byte, 2000)
		// Warm the pools.
		for i := 0; i < 10; i++ {
			copy(work, pkt[:n])
			s.input(work[:n], false)
			c.ReadFromUDPAddrPort(buf)
		}
		if a := testing.AllocsPerRun(500, func() {
			copy(work, pkt[:n])
			s.input(work[:n], false)
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %v allocs per datagram received and read", fam.peer, a)
		}
		if a := testing.AllocsPerRun(500, func() {
			if _, err := c.WriteToUDPAddrPort(buf[:1200], peer); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %v allocs per datagram written", fam.peer, a)
		}
		if a := testing.AllocsPerRun(500, func() {
			copy(work, tp[:tn])
			s.input(work[:tn], false)
		}); a != 0 {
			t.Errorf("%s: %v allocs per transparent datagram and reply", fam.peer, a)
		}
	}
	if st := s.Stats(); st.UDP.RcvbufErrors != 0 || st.UDP.Transparent == 0 {
		t.Fatalf("stats %+v", st.UDP)
	}
}

// BenchmarkUDPInput: one 1200-byte datagram through the input path into a
// socket's queue and out through ReadFromUDPAddrPort.
func BenchmarkUDPInput(b *testing.B) {
	for _, fam := range []struct{ name, peer, self string }{
		{"ipv4", "198.18.0.1:1000", "198.18.0.2:9"}, {"ipv6", "[2001:2::1]:1000", "[2001:2::2]:9"},
	} {
		b.Run(fam.name, func(b *testing.B) {
			s, c := udpAllocStack(b)
			defer s.Close()
			pkt := make([]byte, 1500)
			n, _ := segment.BuildUDP(pkt, netip.MustParseAddrPort(fam.peer), netip.MustParseAddrPort(fam.self), make([]byte, 1200), 1, 0)
			work := make([]byte, 1500)
			buf := make([]byte, 2000)
			b.SetBytes(1200)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copy(work, pkt[:n])
				s.input(work[:n], false)
				c.ReadFromUDPAddrPort(buf)
			}
		})
	}
}

// BenchmarkUDPWrite: one 1200-byte datagram built and written.
func BenchmarkUDPWrite(b *testing.B) {
	for _, fam := range []struct{ name, peer string }{{"ipv4", "198.18.0.1:1000"}, {"ipv6", "[2001:2::1]:1000"}} {
		b.Run(fam.name, func(b *testing.B) {
			s, c := udpAllocStack(b)
			defer s.Close()
			peer := netip.MustParseAddrPort(fam.peer)
			payload := make([]byte, 1200)
			b.SetBytes(1200)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c.WriteToUDPAddrPort(payload, peer)
			}
		})
	}
}
