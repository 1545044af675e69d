package stack_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/ipfrag"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// IPv6 (RFC 8200), ICMPv6 (RFC 4443) and IP fragments at the stack level:
// two stacks over the in-memory pipe, and one stack on a scripted link.

var (
	addr6A = netip.MustParseAddr("2001:2::1")
	addr6B = netip.MustParseAddr("2001:2::2")
)

// newPair6 starts a pair whose stacks have both families: A 198.18.0.1
// and 2001:2::1, B 198.18.0.2 and 2001:2::2.
func newPair6(t testing.TB, f tun.FaultConfig) *pair {
	t.Helper()
	n := 0
	return newPair(t, nil, f, func(o *stack.Options) {
		if n == 0 {
			o.Addrs = []netip.Addr{addr6A}
		} else {
			o.Addrs = []netip.Addr{addr6B}
		}
		n++
	})
}

// transfer sends n pattern bytes from w to r and checks r gets exactly them.
func transfer(t *testing.T, w, r net.Conn, n int, seed int64) {
	t.Helper()
	data := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(data)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Write(data)
		errc <- err
	}()
	got := make([]byte, n)
	r.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("bytes differ")
	}
}

// TCP over IPv6 between two stacks, on a lossy, reordering path: every byte
// arrives once and in order, both ways, and the connection's addresses
// are IPv6.
func TestIPv6TransferLossy(t *testing.T) {
	p := newPair6(t, tun.FaultConfig{Seed: 7, Loss: 0.02, Reorder: 0.02})
	ln, err := p.b.Listen("[2001:2::2]:80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c1, err := p.a.Dial(ctx, "[2001:2::2]:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2 := <-acc
	if c2 == nil {
		t.FailNow()
	}
	defer c2.Close()
	if la := c1.LocalAddr().(*net.TCPAddr); !la.IP.Equal(addr6A.AsSlice()) {
		t.Fatalf("dialer's local address %v, want %v", la, addr6A)
	}
	if ra := c2.RemoteAddr().(*net.TCPAddr); !ra.IP.Equal(addr6A.AsSlice()) {
		t.Fatalf("accepted connection's remote address %v, want %v", ra, addr6A)
	}
	transfer(t, c1, c2, 2<<20, 1)
	transfer(t, c2, c1, 2<<20, 2)
	if ra, rb := p.a.Stats().Retransmissions, p.b.Stats().Retransmissions; ra == 0 || rb == 0 {
		t.Fatalf("retransmissions %d and %d: the path lost nothing", ra, rb)
	}
}

// Listen(":port") takes both families, as package net's "tcp" does;
// "tcp4" and "tcp6" listeners take one each and may share a port; a SYN
// of the other family to a one-family listener is refused (RST).
func TestIPv6ListenFamilies(t *testing.T) {
	p := newPair6(t, tun.FaultConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialAccept := func(ln net.Listener, addr string) error {
		acc := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			acc <- c
		}()
		c, err := p.a.Dial(ctx, addr)
		if err != nil {
			return err
		}
		c.Close()
		if a := <-acc; a != nil {
			a.Close()
		}
		return nil
	}
	dual, err := p.b.Listen(":81")
	if err != nil {
		t.Fatal(err)
	}
	if a := dual.Addr().String(); a != "[::]:81" {
		t.Errorf("dual-stack listener's address %s, want [::]:81", a)
	}
	for _, addr := range []string{"198.18.0.2:81", "[2001:2::2]:81"} {
		if err := dialAccept(dual, addr); err != nil {
			t.Fatalf("dual-stack listener, dial %s: %v", addr, err)
		}
	}
	dual.Close()

	l4, err := p.b.ListenNet("tcp4", ":82")
	if err != nil {
		t.Fatal(err)
	}
	defer l4.Close()
	if _, err := p.a.Dial(ctx, "[2001:2::2]:82"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("IPv6 dial to a tcp4 listener: %v, want refused", err)
	}
	l6, err := p.b.ListenNet("tcp6", ":82")
	if err != nil {
		t.Fatalf("tcp6 listener beside a tcp4 one: %v", err)
	}
	defer l6.Close()
	if err := dialAccept(l6, "[2001:2::2]:82"); err != nil {
		t.Fatal(err)
	}
	if err := dialAccept(l4, "198.18.0.2:82"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.b.Listen(":82"); !errors.Is(err, stack.ErrAddrInUse) {
		t.Fatalf("dual listener on a taken port: %v, want ErrAddrInUse", err)
	}
	if _, err := p.b.ListenNet("tcp6", "198.18.0.2:83"); err == nil {
		t.Fatal("tcp6 listener on an IPv4 address accepted")
	}
}

// A stack with only an IPv4 address refuses IPv6 destinations and
// addresses clearly; so does one with only IPv6 for IPv4.
func TestIPv6OneFamilyStacks(t *testing.T) {
	l := newRawLink()
	s, err := stack.New(l, stack.Options{Addrs: []netip.Addr{addr6B}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if a := s.Addr(); a != addr6B {
		t.Fatalf("Addr() = %v, want %v", a, addr6B)
	}
	ctx := context.Background()
	if _, err := s.Dial(ctx, "198.18.0.1:80"); !errors.Is(err, stack.ErrNoIPv4) {
		t.Fatalf("IPv4 dial from an IPv6-only stack: %v, want ErrNoIPv4", err)
	}
	if _, err := stack.New(newRawLink(), stack.Options{Addrs: []netip.Addr{addr6A, addr6B}}); err == nil {
		t.Fatal("two IPv6 addresses accepted")
	}
	if _, err := stack.New(newRawLink(), stack.Options{}); err == nil {
		t.Fatal("no address accepted")
	}
}

// rawStack6 is a dual-stack stack on a scripted link.
func rawStack6(t *testing.T) (*rawLink, *stack.Stack) {
	t.Helper()
	l := newRawLink()
	s, err := stack.New(l, stack.Options{Addrs: []netip.Addr{addrB, addr6B}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return l, s
}

// icmp6Packet builds an IPv6 packet carrying the ICMPv6 message msg, its
// checksum filled in.
func icmp6Packet(src, dst netip.Addr, msg []byte) []byte {
	pkt := make([]byte, segment.IPv6HeaderLen+len(msg))
	segment.PutIPv6Header(pkt, &segment.IPv6Header{NextHeader: segment.ProtocolICMPv6, HopLimit: 64, Src: src, Dst: dst}, len(msg))
	m := pkt[segment.IPv6HeaderLen:]
	copy(m, msg)
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:], segment.Checksum(m, segment.PseudoHeaderSum(src, dst, segment.ProtocolICMPv6, len(m))))
	return pkt
}

func echoRequest(typ uint8, n int) []byte {
	msg := make([]byte, 8+n)
	msg[0] = typ
	binary.BigEndian.PutUint16(msg[4:], 0x1234)
	binary.BigEndian.PutUint16(msg[6:], 7)
	for i := range n {
		msg[8+i] = byte(i * 7)
	}
	return msg
}

// RFC 4443 4.2: an echo request to our IPv6 address is answered with the
// same identifier, sequence number and data; one to a multicast group (what
// the kernel sends on a TUN: router solicitations, MLD) is not ours.
func TestIPv6EchoAndMulticast(t *testing.T) {
	l, s := rawStack6(t)
	req := echoRequest(segment.ICMPv6TypeEchoRequest, 56)
	l.inject(icmp6Packet(addr6A, addr6B, req))
	p := l.next(t, 2*time.Second)
	if p == nil {
		t.Fatal("no echo reply")
	}
	ip, m, err := segment.ParseIPv6ICMP(p)
	if err != nil || m.Type() != segment.ICMPv6TypeEchoReply || ip.Src() != addr6B || ip.Dst() != addr6A ||
		m.ID() != 0x1234 || m.Seq() != 7 || !bytes.Equal(m.Body(), req[8:]) {
		t.Fatalf("reply %x (%v)", p, err)
	}
	rs := []byte{133, 0, 0, 0, 0, 0, 0, 0} // router solicitation
	l.inject(icmp6Packet(netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::2"), rs))
	if p := l.next(t, 200*time.Millisecond); p != nil {
		t.Fatalf("answered a router solicitation: %x", p)
	}
	if st := s.Stats(); st.ICMPEchoAnswered != 1 || st.Dropped.NotOurs != 1 {
		t.Fatalf("echo answered %d, not ours %d; want 1, 1", st.ICMPEchoAnswered, st.Dropped.NotOurs)
	}
}

// RFC 8200 4 / RFC 4443 3.4: an unrecognised next header gets a Parameter
// Problem, code 1, pointing at the next-header field (6 in the fixed
// header), quoting the packet.
func TestIPv6UnknownNextHeader(t *testing.T) {
	l, s := rawStack6(t)
	pkt := make([]byte, segment.IPv6HeaderLen+8)
	segment.PutIPv6Header(pkt, &segment.IPv6Header{NextHeader: 253, HopLimit: 64, Src: addr6A, Dst: addr6B}, 8)
	l.inject(pkt)
	p := l.next(t, 2*time.Second)
	if p == nil {
		t.Fatal("no parameter problem")
	}
	ip, m, err := segment.ParseIPv6ICMP(p)
	if err != nil || m.Type() != segment.ICMPv6TypeParamProblem || m.Code() != segment.ICMPv6UnknownNextHeader ||
		m.Pointer() != 6 || ip.Dst() != addr6A || !bytes.Equal(m.Body(), pkt) {
		t.Fatalf("reply %x (%v)", p, err)
	}
	if st := s.Stats(); st.ICMPErrorsSent != 1 || st.Dropped.Protocol != 1 {
		t.Fatalf("ICMP errors sent %d, protocol drops %d; want 1, 1", st.ICMPErrorsSent, st.Dropped.Protocol)
	}
}

// RFC 1122 3.3.2 / RFC 8200 4.5: an echo request that arrives in
// fragments, in any order, is reassembled and answered; the reply, larger
// than the MTU, leaves in fragments that reassemble into it (as Linux
// answers ping -s 4000).
func TestFragmentedEcho(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := "IPv4"
		if v6 {
			name = "IPv6"
		}
		t.Run(name, func(t *testing.T) {
			l, s := rawStack6(t)
			var req, pkt []byte
			if v6 {
				req = echoRequest(segment.ICMPv6TypeEchoRequest, 4000)
				pkt = icmp6Packet(addr6A, addr6B, req)
			} else {
				req = echoRequest(segment.ICMPv4TypeEcho, 4000)
				pkt = icmpPacket(addrA, addrB, req)
			}
			var frags [][]byte
			emit := func(f []byte) error { frags = append(frags, append([]byte(nil), f...)); return nil }
			buf := make([]byte, 1500)
			var err error
			if v6 {
				err = ipfrag.FragmentIPv6(pkt, 1500, 99, buf, emit)
			} else {
				err = ipfrag.FragmentIPv4(pkt, 1500, buf, emit)
			}
			if err != nil || len(frags) != 3 {
				t.Fatalf("fragmenting the request: %d fragments, %v", len(frags), err)
			}
			for _, i := range []int{2, 0, 1} {
				l.inject(frags[i])
			}
			r := ipfrag.New(ipfrag.Config{})
			var whole []byte
			for whole == nil {
				p := l.next(t, 2*time.Second)
				if p == nil {
					t.Fatal("no (complete) reply")
				}
				if len(p) > 1500 {
					t.Fatalf("reply fragment of %d bytes over the 1500-byte MTU", len(p))
				}
				var res ipfrag.Result
				if v6 {
					res = r.InputIPv6(p, time.Now())
				} else {
					res = r.InputIPv4(p, time.Now())
				}
				switch res.Verdict {
				case ipfrag.Complete, ipfrag.NotFragment:
					whole = append([]byte(nil), res.Packet...)
					if res.Verdict == ipfrag.NotFragment {
						whole = p
					}
				case ipfrag.Dropped:
					t.Fatalf("reply fragment dropped: %v", res.Reason)
				}
			}
			var body []byte
			if v6 {
				_, m, err := segment.ParseIPv6ICMP(whole)
				if err != nil || m.Type() != segment.ICMPv6TypeEchoReply {
					t.Fatalf("reassembled reply: %v", err)
				}
				body = m.Body()
			} else {
				_, m, err := segment.ParseIPv4ICMP(whole)
				if err != nil || m.Type() != segment.ICMPv4TypeEchoReply {
					t.Fatalf("reassembled reply: %v", err)
				}
				body = m.Body()
			}
			if !bytes.Equal(body, req[8:]) {
				t.Fatal("echo data differs")
			}
			st := s.Stats()
			if st.Fragments.Reassembled != 1 || st.ICMPEchoAnswered != 1 || st.FragmentedOut != 1 {
				t.Fatalf("reassembled %d, echo answered %d, fragmented out %d; want 1 each",
					st.Fragments.Reassembled, st.ICMPEchoAnswered, st.FragmentedOut)
			}
		})
	}
}

// tcp6Packet builds an IPv6/TCP packet.
func tcp6Packet(t testing.TB, seg *segment.Segment) []byte {
	t.Helper()
	buf := make([]byte, 1600)
	n, err := segment.BuildIPv6TCP(buf, seg, 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// nextTCP6 returns the next IPv6 TCP segment the stack wrote, parsed.
func nextTCP6(t *testing.T, l *rawLink) (*segment.Segment, []byte) {
	t.Helper()
	for {
		p := l.next(t, 2*time.Second)
		if p == nil {
			t.Fatal("no segment")
		}
		var seg segment.Segment
		if err := segment.Parse(p, &seg); err != nil {
			t.Fatalf("stack sent an unparsable packet %x: %v", p, err)
		}
		if !seg.Src.Is4() {
			return &seg, p
		}
	}
}

// The handshake over IPv6 announces MSS = MTU - 60 (RFC 8200 8.3); a
// Packet Too Big quoting data in flight lowers the segment size and the
// data is sent again in the new size at once (RFC 8201 4, RFC 5927 checks:
// the quoted sequence number is in flight); a PTB below 1280 is taken as
// 1280 (RFC 8201 4); the connection's segments all carry one flow label
// (RFC 6437).
func TestIPv6HandshakeAndPacketTooBig(t *testing.T) {
	l, s := rawStack6(t)
	ln, err := s.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	syn := &segment.Segment{Src: addr6A, Dst: addr6B, SrcPort: 40000, DstPort: 80, Seq: 1000, Flags: segment.FlagSYN, Window: 65535}
	syn.Options.HasMSS, syn.Options.MSS = true, 1440
	l.inject(tcp6Packet(t, syn))
	sa, p := nextTCP6(t, l)
	if sa.Flags != segment.FlagSYN|segment.FlagACK || sa.Ack != 1001 || !sa.Options.HasMSS || sa.Options.MSS != 1440 {
		t.Fatalf("SYN-ACK %v, want MSS 1440 (1500 - 60)", sa)
	}
	label := segment.IPv6(p).FlowLabel()
	if label == 0 {
		t.Fatal("SYN-ACK has no flow label")
	}
	ack := &segment.Segment{Src: addr6A, Dst: addr6B, SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: sa.Seq + 1, Flags: segment.FlagACK, Window: 65535}
	l.inject(tcp6Packet(t, ack))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 3000)
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	first, p := nextTCP6(t, l)
	if len(first.Payload) != 1440 || segment.IPv6(p).FlowLabel() != label {
		t.Fatalf("first data segment: %d bytes, label %#x; want 1440, %#x", len(first.Payload), segment.IPv6(p).FlowLabel(), label)
	}
	for sent := len(first.Payload); sent < len(data); {
		seg, _ := nextTCP6(t, l)
		sent += len(seg.Payload)
	}
	// The path is narrower: 1000 bytes, which RFC 8201 raises to 1280.
	ptb := make([]byte, 8+len(p))
	ptb[0] = segment.ICMPv6TypePacketTooBig
	binary.BigEndian.PutUint32(ptb[4:], 1000)
	copy(ptb[8:], p)
	l.inject(icmp6Packet(netip.MustParseAddr("2001:2::99"), addr6B, ptb))
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		seg, _ := nextTCP6(t, l)
		if len(seg.Payload) == 0 {
			continue
		}
		if seg.Seq != first.Seq {
			t.Fatalf("after the PTB the stack sent seq %d, want %d again first", seg.Seq, first.Seq)
		}
		if want := 1280 - 60; len(seg.Payload) != want {
			t.Fatalf("after the PTB a segment of %d bytes, want %d (MTU 1280 - 60)", len(seg.Payload), want)
		}
		// Counted once the call that resent returns.
		if !waitFor(2*time.Second, func() bool { return s.Stats().ICMPUnreachable == 1 }) {
			t.Fatalf("ICMP errors acted on: %d, want 1", s.Stats().ICMPUnreachable)
		}
		return
	}
	t.Fatal("nothing resent after the Packet Too Big")
}

// A datagram whose first fragment arrived but which does not complete is
// dropped at its timeout (30 s for IPv4 as Linux, 60 s for IPv6, RFC 8200
// 4.5), not a moment before, and its source gets an ICMP Time Exceeded,
// code 1 ("fragment reassembly time exceeded", RFC 792, RFC 4443 3.3),
// quoting the first fragment; the memory is freed.
func TestReassemblyTimeout(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name, timeout := "IPv4", 30*time.Second
		if v6 {
			name, timeout = "IPv6", 60*time.Second
		}
		t.Run(name, func(t *testing.T) {
			clk := timers.NewManual(time.Unix(1e9, 0))
			l := newRawLink()
			s, err := stack.New(l, stack.Options{Addrs: []netip.Addr{addrB, addr6B}, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var pkt []byte
			if v6 {
				pkt = icmp6Packet(addr6A, addr6B, echoRequest(segment.ICMPv6TypeEchoRequest, 3000))
			} else {
				pkt = icmpPacket(addrA, addrB, echoRequest(segment.ICMPv4TypeEcho, 3000))
			}
			var first []byte
			buf := make([]byte, 1500)
			emit := func(f []byte) error {
				if first == nil {
					first = append([]byte(nil), f...)
				}
				return nil
			}
			if v6 {
				err = ipfrag.FragmentIPv6(pkt, 1500, 5, buf, emit)
			} else {
				err = ipfrag.FragmentIPv4(pkt, 1500, buf, emit)
			}
			if err != nil {
				t.Fatal(err)
			}
			l.inject(first) // only the first fragment
			if !waitFor(2*time.Second, func() bool { return s.Stats().Fragments.FragmentsIn == 1 }) {
				t.Fatal("fragment not taken in")
			}
			clk.Advance(timeout - time.Millisecond)
			if p := l.next(t, 100*time.Millisecond); p != nil {
				t.Fatalf("sent %x before the timeout", p)
			}
			clk.Advance(2 * time.Millisecond)
			p := l.next(t, 2*time.Second)
			if p == nil {
				t.Fatal("no Time Exceeded at the timeout")
			}
			var typ, code uint8
			var quote []byte
			if v6 {
				_, m, err := segment.ParseIPv6ICMP(p)
				if err != nil {
					t.Fatal(err)
				}
				typ, code, quote = m.Type(), m.Code(), m.Body()
				if typ != segment.ICMPv6TypeTimeExceeded {
					t.Fatalf("type %d, want Time Exceeded", typ)
				}
			} else {
				_, m, err := segment.ParseIPv4ICMP(p)
				if err != nil {
					t.Fatal(err)
				}
				typ, code, quote = m.Type(), m.Code(), m.Body()
				if typ != segment.ICMPv4TypeTimeExceeded {
					t.Fatalf("type %d, want Time Exceeded", typ)
				}
			}
			if code != 1 || !bytes.HasPrefix(first, quote[:min(len(quote), 28)]) {
				t.Fatalf("code %d, quote %x; want 1 and the first fragment", code, quote)
			}
			st := s.Stats()
			if st.Fragments.Timeouts != 1 || st.ICMPErrorsSent != 1 {
				t.Fatalf("timeouts %d, ICMP errors %d; want 1, 1", st.Fragments.Timeouts, st.ICMPErrorsSent)
			}
		})
	}
}
