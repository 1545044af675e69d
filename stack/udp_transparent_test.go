package stack_test

import (
	"bytes"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
)

// udpSeen is what a transparent handler was given.
type udpSeen struct {
	src, dst netip.AddrPort
	payload  string
}

// transparentStack is a dual-stack stack on a scripted link in
// transparent mode for prefixes, with a UDP handler that records what it
// gets, answers "re:<payload>" from the original destination, and "cone"
// from 192.0.2.99:7777 (a third party, as a full-cone NAT relays it).
func transparentStack(t *testing.T, prefixes ...string) (*rawLink, *stack.Stack, func() []udpSeen) {
	t.Helper()
	l := newRawLink()
	o := stack.Options{Addrs: []netip.Addr{addrB, addr6B}}
	for _, p := range prefixes {
		o.TransparentPrefixes = append(o.TransparentPrefixes, netip.MustParsePrefix(p))
	}
	s, err := stack.New(l, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var mu sync.Mutex
	var seen []udpSeen
	err = s.SetUDPHandler(func(src, dst netip.AddrPort, payload []byte) {
		mu.Lock()
		seen = append(seen, udpSeen{src, dst, string(payload)})
		mu.Unlock()
		if string(payload) == "panic" {
			panic("handler bug")
		}
		reply := append([]byte("re:"), payload...)
		if err := s.WriteUDPFrom(dst, src, reply); err != nil {
			t.Errorf("WriteUDPFrom(%v, %v): %v", dst, src, err)
		}
		if string(payload) == "cone" && src.Addr().Is4() {
			if err := s.WriteUDPFrom(netip.MustParseAddrPort("192.0.2.99:7777"), src, []byte("third party")); err != nil {
				t.Errorf("WriteUDPFrom a third party: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, s, func() []udpSeen {
		mu.Lock()
		defer mu.Unlock()
		return append([]udpSeen(nil), seen...)
	}
}

// expectUDP reads the next packet from l and checks it is a valid UDP
// datagram from src to dst carrying payload.
func expectUDP(t *testing.T, l *rawLink, src, dst netip.AddrPort, payload string) {
	t.Helper()
	p := l.next(t, 2*time.Second)
	if p == nil {
		t.Fatalf("no datagram %v -> %v", src, dst)
	}
	var s, d netip.AddrPort
	var pl []byte
	var err error
	if segment.IPVersion(p) == 4 {
		s, d, pl, err = segment.ParseIPv4UDP(p)
	} else {
		s, d, pl, err = segment.ParseIPv6UDP(p)
	}
	if err != nil || s != src || d != dst || string(pl) != payload {
		t.Fatalf("got %v -> %v %q (%v), want %v -> %v %q", s, d, pl, err, src, dst, payload)
	}
}

// Any-destination UDP: datagrams to addresses inside the prefixes reach
// the handler with their original destination, and replies sent from that
// destination (or from anywhere) reach the client, in both families.
func TestUDPTransparent(t *testing.T) {
	l, s, seen := transparentStack(t, "0.0.0.0/0", "2001:db8::/32")
	client4 := netip.MustParseAddrPort("198.18.0.1:40000")
	client6 := netip.MustParseAddrPort("[2001:2::1]:40000")
	dns4 := netip.MustParseAddrPort("93.184.216.34:53")
	dns6 := netip.MustParseAddrPort("[2001:db8::53]:53")
	l.inject(udpPacket(t, client4, dns4, []byte("q4")))
	expectUDP(t, l, dns4, client4, "re:q4")
	l.inject(udpPacket(t, client6, dns6, []byte("q6")))
	expectUDP(t, l, dns6, client6, "re:q6")
	// Endpoint-independent mapping: a reply from a third party.
	l.inject(udpPacket(t, client4, dns4, []byte("cone")))
	expectUDP(t, l, dns4, client4, "re:cone")
	expectUDP(t, l, netip.MustParseAddrPort("192.0.2.99:7777"), client4, "third party")
	// A large datagram arrives in fragments and is reassembled for the
	// handler; the large reply leaves in fragments.
	big := bytes.Repeat([]byte("0123456789"), 300)
	frags := fragments(t, udpPacket(t, client4, dns4, big), 1500)
	for _, f := range frags {
		l.inject(f)
	}
	var got []byte
	for range 3 {
		p := l.next(t, 2*time.Second)
		if p == nil {
			t.Fatal("fragmented reply missing")
		}
		got = append(got, p...)
	}
	if !bytes.Contains(got, []byte("re:0123456789")) {
		t.Fatal("reply fragments do not carry the reply")
	}

	// Not taken: outside the prefixes, multicast, broadcast; and TCP to
	// a transparent address without a TCP handler is not ours either.
	notOurs := [][]byte{
		udpPacket(t, client6, netip.MustParseAddrPort("[2001:db9::1]:53"), []byte("outside")),
		udpPacket(t, client4, netip.MustParseAddrPort("224.0.0.251:5353"), []byte("mdns")),
		udpPacket(t, client4, netip.MustParseAddrPort("255.255.255.255:67"), []byte("dhcp")),
		udpPacket(t, client6, netip.MustParseAddrPort("[ff02::fb]:5353"), []byte("mdns6")),
	}
	for _, p := range notOurs {
		l.inject(p)
	}
	// The stack's own address is not transparent: a closed port gets a
	// port unreachable, not the handler.
	own := udpPacket(t, client4, netip.MustParseAddrPort("198.18.0.2:53"), []byte("own"))
	l.inject(own)
	p := l.next(t, 2*time.Second)
	if _, m, err := segment.ParseIPv4ICMP(p); err != nil || m.Type() != segment.ICMPv4TypeDestUnreach {
		t.Fatalf("datagram to our closed port: %x, want port unreachable", p)
	}
	// A panicking handler is recovered and counted.
	l.inject(udpPacket(t, client4, dns4, []byte("panic")))
	waitIn(t, s, 5+len(frags)+len(notOurs))
	if p := l.next(t, 100*time.Millisecond); p != nil {
		t.Fatalf("unexpected packet %x", p)
	}
	want := []string{"q4", "q6", "cone", string(big), "panic"}
	sn := seen()
	if len(sn) != len(want) {
		t.Fatalf("handler saw %d datagrams, want %d: %v", len(sn), len(want), sn)
	}
	for i, w := range want {
		if sn[i].payload != w {
			t.Fatalf("datagram %d: %q, want %q", i, sn[i].payload, w)
		}
	}
	if sn[1].src != client6 || sn[1].dst != dns6 {
		t.Fatalf("IPv6 datagram %v -> %v", sn[1].src, sn[1].dst)
	}
	st := s.Stats()
	if st.UDP.Transparent != 5 || st.UDP.HandlerPanics != 1 || st.Dropped.NotOurs != uint64(len(notOurs)) || st.UDP.NoPorts != 1 {
		t.Fatalf("transparent %d, panics %d, not ours %d, no ports %d; want 5, 1, %d, 1",
			st.UDP.Transparent, st.UDP.HandlerPanics, st.Dropped.NotOurs, st.UDP.NoPorts, len(notOurs))
	}
	// Without a handler, transparent destinations are not ours again.
	s.SetUDPHandler(nil)
	l.inject(udpPacket(t, client4, dns4, []byte("q4")))
	waitIn(t, s, 6+len(frags)+len(notOurs))
	if p := l.next(t, 100*time.Millisecond); p != nil || s.Stats().Dropped.NotOurs != uint64(len(notOurs))+1 {
		t.Fatalf("without a handler: %x, not ours %d", p, s.Stats().Dropped.NotOurs)
	}
}

// fragments cuts an IPv4 packet into fragments of at most mtu bytes.
func fragments(t *testing.T, pkt []byte, mtu int) [][]byte {
	t.Helper()
	var out [][]byte
	hl := 20
	data := pkt[hl:]
	step := (mtu - hl) &^ 7
	for off := 0; off < len(data); off += step {
		end := min(off+step, len(data))
		f := make([]byte, hl+end-off)
		copy(f, pkt[:hl])
		copy(f[hl:], data[off:end])
		fo := off / 8
		if end < len(data) {
			fo |= 0x2000
		}
		f[6], f[7] = byte(fo>>8), byte(fo)
		f[2], f[3] = byte(len(f)>>8), byte(len(f))
		fixIPChecksum(f)
		out = append(out, f)
	}
	return out
}

func TestUDPTransparentErrors(t *testing.T) {
	_, s := rawStack6(t)
	if err := s.SetUDPHandler(func(src, dst netip.AddrPort, payload []byte) {}); !errors.Is(err, stack.ErrNoTransparentPrefixes) {
		t.Fatalf("SetUDPHandler without prefixes: %v", err)
	}
	for _, c := range []struct{ src, dst string }{
		{"198.18.0.9:1", "[2001:2::1]:1"}, // mixed families
		{"0.0.0.0:1", "198.18.0.1:1"},     // unspecified source
		{"224.0.0.1:1", "198.18.0.1:1"},   // multicast source
		{"198.18.0.9:1", "198.18.0.1:0"},  // port 0
	} {
		if err := s.WriteUDPFrom(netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst), nil); err == nil {
			t.Errorf("WriteUDPFrom(%s, %s) accepted", c.src, c.dst)
		}
	}
	if err := s.WriteUDPFrom(netip.MustParseAddrPort("198.18.0.9:1"), netip.MustParseAddrPort("198.18.0.1:1"), make([]byte, 65508)); err == nil {
		t.Error("oversized datagram accepted")
	}
}
