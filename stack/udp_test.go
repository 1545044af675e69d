package stack_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// UDP sockets (RFC 768) between two stacks over the in-memory pipe, and on
// a scripted link.

// udpEcho serves a UDP echo on c until it is closed.
func udpEcho(c *stack.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		c.WriteToUDPAddrPort(buf[:n], from)
	}
}

func TestUDPEchoBothFamilies(t *testing.T) {
	p := newPair6(t, tun.FaultConfig{})
	srv, err := p.b.ListenUDP("udp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if got := srv.LocalAddr().String(); got != "[::]:7" {
		t.Errorf("dual-stack LocalAddr %s", got)
	}
	go udpEcho(srv)
	for _, host := range []string{"198.18.0.2", "2001:2::2"} {
		c, err := p.a.DialUDP(context.Background(), "udp", net.JoinHostPort(host, "7"))
		if err != nil {
			t.Fatal(err)
		}
		local := c.LocalAddr().(*net.UDPAddr)
		if local.Port < 32768 || local.Port > 60999 || c.RemoteAddr().String() != net.JoinHostPort(host, "7") ||
			(local.IP.To4() != nil) != (host == "198.18.0.2") {
			t.Errorf("%s: local %v remote %v", host, c.LocalAddr(), c.RemoteAddr())
		}
		// Sizes from empty to beyond the MTU (sent and received in
		// fragments, reassembled on the other side).
		for _, n := range []int{0, 1, 1200, 1472, 4000, 65507 - 20} {
			msg := bytes.Repeat([]byte{byte(n)}, n)
			for i := range msg {
				msg[i] = byte(i * 31)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(msg); err != nil {
				t.Fatalf("%s: write %d: %v", host, n, err)
			}
			buf := make([]byte, 70000)
			m, err := c.Read(buf)
			if err != nil || !bytes.Equal(buf[:m], msg) {
				t.Fatalf("%s: echo of %d bytes: got %d, %v", host, n, m, err)
			}
		}
		c.Close()
	}
	// An unconnected socket of both families on A talks to both of B's
	// addresses; the sender is B's address of each family.
	u, err := p.a.ListenUDP("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, to := range []netip.AddrPort{netip.MustParseAddrPort("198.18.0.2:7"), netip.MustParseAddrPort("[2001:2::2]:7")} {
		if _, err := u.WriteTo([]byte("ping "+to.String()), net.UDPAddrFromAddrPort(to)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, from, err := u.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "ping "+to.String() || from.String() != to.String() {
			t.Fatalf("unconnected echo via %v: %q from %v, %v", to, buf[:n], from, err)
		}
	}
	// The echo's counter moves after its write, which the client may
	// have read before.
	waitFor(5*time.Second, func() bool { return p.b.Stats().UDP.OutDatagrams == 14 })
	if st := p.b.Stats(); st.UDP.InDatagrams != 14 || st.UDP.OutDatagrams != 14 || st.UDP.Sockets != 1 {
		t.Errorf("B's UDP stats %+v, want 14 in and out, 1 socket", st.UDP)
	}
}

func TestUDPBind(t *testing.T) {
	_, s := rawStack6(t)
	a, err := s.ListenUDP("udp", ":53")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ net, addr string }{{"udp4", ":53"}, {"udp6", "[::]:53"}, {"udp", "198.18.0.2:53"}, {"udp", ":53"}} {
		if _, err := s.ListenUDP(c.net, c.addr); !errors.Is(err, syscall.EADDRINUSE) || !errors.Is(err, stack.ErrAddrInUse) {
			t.Errorf("%s %s on a taken port: %v, want EADDRINUSE", c.net, c.addr, err)
		}
	}
	a.Close()
	// One family each: a udp4 and a udp6 socket share a port.
	b4, err := s.ListenUDP("udp4", ":53")
	if err != nil {
		t.Fatal(err)
	}
	defer b4.Close()
	b6, err := s.ListenUDP("udp6", "[2001:2::2]:53")
	if err != nil {
		t.Fatal(err)
	}
	defer b6.Close()
	if b4.LocalAddr().String() != "198.18.0.2:53" || b6.LocalAddr().String() != "[2001:2::2]:53" {
		t.Errorf("local addresses %v %v", b4.LocalAddr(), b6.LocalAddr())
	}
	if _, err := b4.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("[2001:2::1]:9")); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("IPv6 destination on a udp4 socket: %v", err)
	}
	for _, c := range []struct {
		net, addr string
		want      error
	}{
		{"tcp", ":1", stack.ErrBadNetwork},
		{"udp", "198.18.0.9:1", stack.ErrNotOurAddr},
		{"udp4", "[2001:2::2]:1", stack.ErrNotOurAddr},
	} {
		if _, err := s.ListenUDP(c.net, c.addr); !errors.Is(err, c.want) {
			t.Errorf("ListenUDP(%s, %s): %v, want %v", c.net, c.addr, err, c.want)
		}
	}
	if _, err := s.DialUDP(context.Background(), "udp4", "[2001:2::1]:1"); err == nil {
		t.Error("udp4 dial to an IPv6 address accepted")
	}
	if _, err := s.DialUDP(context.Background(), "udp", "198.18.0.1:0"); err == nil {
		t.Error("dial to port 0 accepted")
	}
	c, err := s.ListenUDP("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	if p := c.LocalAddr().(*net.UDPAddr).Port; p < 32768 || p > 60999 {
		t.Errorf("ephemeral port %d", p)
	}
	c.Close()
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("198.18.0.1:9")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
}

// Deadlines as package net: a past one fails at once, a future one
// unblocks a blocked Read with a timeout, clearing it lets Read block
// again; Close and the stack's Close wake a blocked Read with
// net.ErrClosed.
func TestUDPDeadlinesAndClose(t *testing.T) {
	_, s := rawStack6(t)
	c, err := s.ListenUDP("udp", ":9")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, _, err := c.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("not a timeout: %v", err)
	}
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1), Port: 9}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past write deadline: %v", err)
	}
	c.SetWriteDeadline(time.Time{})
	start := time.Now()
	c.SetReadDeadline(start.Add(100 * time.Millisecond))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("future deadline: %v after %v", err, time.Since(start))
	}
	c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := c.Read(buf); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Read returned with the deadline cleared: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Read")
	}
	if err := c.SetReadDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetReadDeadline after Close: %v", err)
	}
	// The port is free again; a blocked Read wakes when the stack closes.
	d, err := s.ListenUDP("udp", ":9")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, err := d.Read(buf); done <- err }()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after the stack's Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stack Close did not wake Read")
	}
	if _, err := s.ListenUDP("udp", ":10"); err == nil {
		t.Error("ListenUDP on a closed stack")
	}
}

// udpPacket builds a UDP packet of either family.
func udpPacket(t testing.TB, src, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	buf := make([]byte, 48+len(payload))
	n, err := segment.BuildUDP(buf, src, dst, payload, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// waitIn waits until s has read n packets and processed them: the last
// packet counted may still be in processing, so wait for the input
// goroutine's lock too.
func waitIn(t *testing.T, s *stack.Stack, n int) {
	t.Helper()
	if !waitFor(5*time.Second, func() bool { return s.Stats().PacketsIn >= uint64(n) }) {
		t.Fatalf("stack read %d packets, want %d", s.Stats().PacketsIn, n)
	}
	stack.InputBarrier(s)
}

// A full receive queue drops further datagrams and counts them, as a full
// SO_RCVBUF does; what was queued is read in order. The byte bound
// (SetReadBuffer) counts each datagram's buffer, as Linux counts truesize.
func TestUDPQueueOverflow(t *testing.T) {
	l, s := rawStack6(t)
	c, err := s.ListenUDP("udp4", ":9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadBuffer(1 << 30) // the datagram bound first
	from := netip.MustParseAddrPort("198.18.0.1:1000")
	to := netip.MustParseAddrPort("198.18.0.2:9")
	const extra = 10
	for i := 0; i < stack.UDPQueueLen+extra; i++ {
		l.inject(udpPacket(t, from, to, []byte{byte(i), byte(i >> 8)}))
	}
	waitIn(t, s, stack.UDPQueueLen+extra)
	st := s.Stats()
	if st.UDP.RcvbufErrors != extra || st.UDP.InDatagrams != stack.UDPQueueLen {
		t.Fatalf("rcvbuf errors %d, in %d; want %d, %d", st.UDP.RcvbufErrors, st.UDP.InDatagrams, extra, stack.UDPQueueLen)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 10)
	for i := 0; i < stack.UDPQueueLen; i++ {
		n, f, err := c.ReadFromUDPAddrPort(buf)
		if err != nil || n != 2 || int(buf[0])|int(buf[1])<<8 != i || f != from {
			t.Fatalf("datagram %d: %x from %v, %v", i, buf[:n], f, err)
		}
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("queue not empty after %d reads: %v", stack.UDPQueueLen, err)
	}
	// Byte bound: with the default (212992), at most 212992/1540 = 138
	// small datagrams are held (each takes an MTU-sized buffer).
	c.SetReadBuffer(stack.DefaultUDPReadBuffer)
	for i := 0; i < 140; i++ {
		l.inject(udpPacket(t, from, to, []byte{byte(i)}))
	}
	waitIn(t, s, stack.UDPQueueLen+extra+140)
	if got := s.Stats().UDP.RcvbufErrors; got != extra+2 {
		t.Fatalf("rcvbuf errors %d after the byte bound, want %d", got, extra+2)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < 138; i++ {
		if n, err := c.Read(buf); n != 1 || err != nil || buf[0] != byte(i) {
			t.Fatalf("read %d: %x %v", i, buf[:n], err)
		}
	}
	// A datagram larger than the bound still enters an empty queue.
	c.SetReadBuffer(1)
	l.inject(udpPacket(t, from, to, make([]byte, 1400)))
	l.inject(udpPacket(t, from, to, make([]byte, 10)))
	waitIn(t, s, stack.UDPQueueLen+extra+142)
	if got := s.Stats().UDP.RcvbufErrors; got != extra+3 {
		t.Fatalf("rcvbuf errors %d, want %d", got, extra+3)
	}
	if n, err := c.Read(make([]byte, 2000)); n != 1400 || err != nil {
		t.Fatalf("large datagram into an empty queue: %d %v", n, err)
	}
	// A short buffer truncates the datagram, as package net does.
	l.inject(udpPacket(t, from, to, []byte("truncated")))
	if n, err := c.Read(buf[:5]); n != 5 || err != nil || string(buf[:5]) != "trunc" {
		t.Fatalf("truncated read: %q %v", buf[:n], err)
	}
}

// Checksums: RFC 768 (a zero checksum over IPv4 is "none": delivered);
// RFC 8200 8.1 (a zero checksum over IPv6 is invalid: dropped, counted);
// a wrong checksum is dropped in both families; so is a bad length.
func TestUDPChecksums(t *testing.T) {
	l, s := rawStack6(t)
	c, err := s.ListenUDP("udp", ":9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src4, dst4 := netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:9")
	src6, dst6 := netip.MustParseAddrPort("[2001:2::1]:1000"), netip.MustParseAddrPort("[2001:2::2]:9")
	zero := func(p []byte, off int) []byte { p[off+6], p[off+7] = 0, 0; return p }
	flip := func(p []byte) []byte { p[len(p)-1] ^= 1; return p }
	pkts := [][]byte{
		zero(udpPacket(t, src4, dst4, []byte("v4 no checksum")), 20), // delivered
		flip(udpPacket(t, src4, dst4, []byte("v4 bad"))),             // UDPChecksum
		zero(udpPacket(t, src6, dst6, []byte("v6 no checksum")), 40), // UDPChecksum
		flip(udpPacket(t, src6, dst6, []byte("v6 bad"))),             // UDPChecksum
		udpPacket(t, src6, dst6, []byte("v6 good")),                  // delivered
	}
	short := udpPacket(t, src4, dst4, []byte("v4 short"))
	short[25] = 7 // UDP length below the header
	pkts = append(pkts, short)
	for _, p := range pkts {
		l.inject(p)
	}
	waitIn(t, s, len(pkts))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	for _, want := range []string{"v4 no checksum", "v6 good"} {
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != want {
			t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
		}
	}
	st := s.Stats()
	if st.Dropped.UDPChecksum != 3 || st.Dropped.UDPHeader != 1 || st.UDP.InDatagrams != 2 {
		t.Fatalf("checksum drops %d, header drops %d, in %d; want 3, 1, 2", st.Dropped.UDPChecksum, st.Dropped.UDPHeader, st.UDP.InDatagrams)
	}
	if p := l.next(t, 100*time.Millisecond); p != nil {
		t.Fatalf("answered a bad datagram: %x", p)
	}
}

// RFC 1122 4.1.3.1 / RFC 4443 3.1: a datagram to a port with no socket
// gets ICMP port unreachable (type 3 code 3; ICMPv6 type 1 code 4)
// quoting it, at most a burst of 50 at once (the stack's ICMP rate limit,
// on a manual clock that does not refill it). A connected socket does not
// take other peers' datagrams.
func TestUDPPortUnreachable(t *testing.T) {
	clock := timers.NewManual(time.Unix(1e9, 0))
	l := newRawLink()
	s, err := stack.New(l, stack.Options{Addrs: []netip.Addr{addrB, addr6B}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d4 := udpPacket(t, netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:9"), []byte("closed"))
	l.inject(d4)
	p := l.next(t, 2*time.Second)
	ip, m, err := segment.ParseIPv4ICMP(p)
	if err != nil || m.Type() != segment.ICMPv4TypeDestUnreach || m.Code() != segment.ICMPv4PortUnreachable ||
		ip.Src() != addrB || ip.Dst() != addrA || !bytes.Equal(m.Body(), d4[:28]) {
		t.Fatalf("IPv4 port unreachable: %x (%v)", p, err)
	}
	d6 := udpPacket(t, netip.MustParseAddrPort("[2001:2::1]:1000"), netip.MustParseAddrPort("[2001:2::2]:9"), []byte("closed"))
	l.inject(d6)
	p = l.next(t, 2*time.Second)
	ip6, m6, err := segment.ParseIPv6ICMP(p)
	if err != nil || m6.Type() != segment.ICMPv6TypeDestUnreach || m6.Code() != segment.ICMPv6PortUnreachable ||
		ip6.Src() != addr6B || ip6.Dst() != addr6A || !bytes.Equal(m6.Body(), d6) {
		t.Fatalf("ICMPv6 port unreachable: %x (%v)", p, err)
	}
	// A connected socket on the port does not take a stranger's datagram.
	c, err := s.DialUDP(context.Background(), "udp4", "198.18.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
	l.inject(udpPacket(t, netip.MustParseAddrPort("198.18.0.1:54"), netip.AddrPortFrom(addrB, port), []byte("stranger")))
	if p := l.next(t, 2*time.Second); p == nil || segment.IPv4(p).Protocol() != segment.ProtocolICMP {
		t.Fatalf("stranger's datagram to a connected socket: %x, want port unreachable", p)
	}
	// The rate limit: 50 errors in a burst; 2 went out already.
	for i := 0; i < 60; i++ {
		l.inject(d4)
	}
	waitIn(t, s, 63)
	got := 3
	for l.next(t, 100*time.Millisecond) != nil {
		got++
	}
	st := s.Stats()
	if got != 50 || st.ICMPErrorsSent != 50 || st.ICMPRateLimited != 13 || st.UDP.NoPorts != 63 {
		t.Fatalf("%d errors sent (counted %d), %d rate-limited, %d no-port; want 50, 50, 13, 63",
			got, st.ICMPErrorsSent, st.ICMPRateLimited, st.UDP.NoPorts)
	}
	// A second later the bucket is full again.
	clock.Advance(time.Second)
	l.inject(d4)
	if p := l.next(t, 2*time.Second); p == nil {
		t.Fatal("no port unreachable after the bucket refilled")
	}
}

// RFC 1122 4.1.3.3: ICMP errors reach the application. Like Linux, a
// connected socket's next Read fails with ECONNREFUSED after a port
// unreachable quoting one of its datagrams (once), and an unconnected
// socket ignores ICMP errors.
func TestUDPICMPErrorToConnected(t *testing.T) {
	for _, fam := range []struct {
		name, peer string
		unreach    func(quote []byte) []byte
	}{
		{"ipv4", "198.18.0.1:53", func(q []byte) []byte {
			return icmpPacket(addrA, addrB, append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, q...))
		}},
		{"ipv6", "[2001:2::1]:53", func(q []byte) []byte {
			return icmp6Packet(addr6A, addr6B, append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, q...))
		}},
	} {
		t.Run(fam.name, func(t *testing.T) {
			l, s := rawStack6(t)
			c, err := s.DialUDP(context.Background(), "udp", fam.peer)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("query")); err != nil {
				t.Fatal(err)
			}
			sent := l.next(t, 2*time.Second)
			if sent == nil {
				t.Fatal("nothing sent")
			}
			done := make(chan error, 1)
			go func() { _, err := c.Read(make([]byte, 10)); done <- err }()
			time.Sleep(20 * time.Millisecond)
			l.inject(fam.unreach(sent))
			select {
			case err := <-done:
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Fatalf("Read: %v, want ECONNREFUSED", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the ICMP error did not wake Read")
			}
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("second Read: %v, want the error reported once", err)
			}
			if st := s.Stats(); st.ICMPUnreachable != 1 {
				t.Fatalf("ICMPUnreachable %d", st.ICMPUnreachable)
			}
			// An ICMP error for another peer's port is not ours to take.
			wrong := append([]byte(nil), sent...)
			off := len(wrong) - 5 - 8
			wrong[off+3]++ // destination port
			l.inject(fam.unreach(wrong))
			// An unconnected socket ignores them.
			u, err := s.ListenUDP("udp", ":0")
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			to, _ := netip.ParseAddrPort(fam.peer)
			u.WriteToUDPAddrPort([]byte("query"), to)
			l.inject(fam.unreach(l.next(t, 2*time.Second)))
			waitIn(t, s, 3)
			u.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := u.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("unconnected socket: %v, want nothing", err)
			}
			if st := s.Stats(); st.ICMPUnreachable != 1 || st.Dropped.ICMP != 2 {
				t.Fatalf("ICMPUnreachable %d, ICMP drops %d; want 1, 2", st.ICMPUnreachable, st.Dropped.ICMP)
			}
		})
	}
}

// Concurrent readers share one socket: every datagram is read exactly
// once.
func TestUDPConcurrentReaders(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, nil)
	srv, err := p.b.ListenUDP("udp4", ":9")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const readers, total = 4, 400
	got := make(chan int, total)
	for range readers {
		go func() {
			buf := make([]byte, 10)
			for {
				n, err := srv.Read(buf)
				if err != nil {
					return
				}
				got <- int(buf[0]) | int(buf[1])<<8
				_ = n
			}
		}()
	}
	c, err := p.a.DialUDP(context.Background(), "udp4", "198.18.0.2:9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := make(map[int]bool)
	for i := 0; i < total; i++ {
		if _, err := c.Write([]byte{byte(i), byte(i >> 8)}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // stay within the receive buffer
		}
	}
	timeout := time.After(10 * time.Second)
	for len(seen) < total {
		select {
		case v := <-got:
			if seen[v] {
				t.Fatalf("datagram %d read twice", v)
			}
			seen[v] = true
		case <-timeout:
			t.Fatalf("%d of %d datagrams read (rcvbuf drops %d)", len(seen), total, p.b.Stats().UDP.RcvbufErrors)
		}
	}
}

// Readers blocked on one socket when a burst arrives all wake, one
// datagram each.
func TestUDPBurstWakesAllReaders(t *testing.T) {
	l, s := rawStack6(t)
	c, err := s.ListenUDP("udp4", ":9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const readers = 8
	done := make(chan error, readers)
	for range readers {
		go func() {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := c.Read(make([]byte, 10))
			done <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // all blocked
	pkt := udpPacket(t, netip.MustParseAddrPort("198.18.0.1:1"), netip.MustParseAddrPort("198.18.0.2:9"), []byte("x"))
	for range readers {
		l.inject(pkt)
	}
	for i := 0; i < readers; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("reader: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d readers woke for %d datagrams", i, readers, readers)
		}
	}
}

// A stack's socket dialed to the stack's own address reaches its own
// socket through the stack's loopback, never the link, in both families.
func TestUDPLoopback(t *testing.T) {
	l, s := rawStack6(t)
	srv, err := s.ListenUDP("udp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go udpEcho(srv)
	for _, host := range []string{"198.18.0.2", "2001:2::2"} {
		c, err := s.DialUDP(context.Background(), "udp", net.JoinHostPort(host, "7"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		msg := bytes.Repeat([]byte("loop"), 1000) // beyond the MTU: looped whole
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5000)
		if n, err := c.Read(buf); err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("%s: %d bytes, %v", host, n, err)
		}
		c.Close()
	}
	if p := l.next(t, 50*time.Millisecond); p != nil {
		t.Fatalf("a looped datagram reached the link: %x", p)
	}
}
