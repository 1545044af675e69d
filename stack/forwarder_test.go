package stack_test

import (
	"errors"
	"io"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
)

// The pending-request lifecycle of transparent TCP (forwarder.go), with a
// scripted client on a raw link and the manual clock.

// TestForwardAccept: the handler is called once, before anything is sent;
// the client's retransmitted SYN is absorbed; Accept sends the SYN-ACK from
// the original destination, and the connection carries data both ways.
func TestForwardAccept(t *testing.T) {
	f := newFwdRaw(t, stack.TCPForwarderConfig{}, nil)
	f.send(t, fwdSyn(addrA, 40000, fwdDst4, 1000))
	r := f.request(t)
	if r.Source() != netip.AddrPortFrom(addrA, 40000) || r.Destination() != fwdDst4 {
		t.Fatalf("request %v -> %v", r.Source(), r.Destination())
	}
	f.nothing(t) // no SYN-ACK before the handler's answer
	f.send(t, fwdSyn(addrA, 40000, fwdDst4, 1000))
	f.noRequest(t)
	f.nothing(t)
	st := f.s.Stats().Forward
	if st.Requests != 1 || st.SYNRetransmits != 1 || st.Pending != 1 {
		t.Fatalf("stats %+v, want 1 request, 1 retransmit absorbed, 1 pending", st)
	}

	c, err := r.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.LocalAddr().String() != fwdDst4.String() || c.RemoteAddr().String() != "198.18.0.1:40000" {
		t.Fatalf("conn %v <- %v", c.LocalAddr(), c.RemoteAddr())
	}
	o := f.next(t)
	if o.tcp == nil || o.tcp.Flags != segment.FlagSYN|segment.FlagACK || o.src != fwdDst4.Addr() ||
		o.tcp.SrcPort != 443 || o.tcp.Ack != 1001 {
		t.Fatalf("want SYN-ACK from %v acking 1001, got %+v %v", fwdDst4, o, o.tcp)
	}
	iss := o.tcp.Seq
	if _, err := r.Accept(); !errors.Is(err, stack.ErrRequestAnswered) {
		t.Fatalf("second Accept: %v, want ErrRequestAnswered", err)
	}
	if err := r.Refuse(stack.RefuseReset); !errors.Is(err, stack.ErrRequestAnswered) {
		t.Fatalf("Refuse after Accept: %v", err)
	}
	// Handshake, then data each way.
	f.send(t, &segment.Segment{Src: addrA, Dst: fwdDst4.Addr(), SrcPort: 40000, DstPort: 443, Seq: 1001,
		Ack: iss.Add(1), Flags: segment.FlagACK | segment.FlagPSH, Window: 65535, Payload: []byte("hello")})
	buf := make([]byte, 16)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.ReadFull(c, buf[:5])
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	if _, err := c.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	for {
		o = f.next(t)
		if o.tcp != nil && len(o.tcp.Payload) > 0 {
			break
		}
	}
	if string(o.tcp.Payload) != "world" || o.tcp.Seq != iss.Add(1) || o.src != fwdDst4.Addr() {
		t.Fatalf("data segment %v from %v", o.tcp, o.src)
	}
	st = f.s.Stats().Forward
	if st.Accepted != 1 || st.Pending != 0 || st.Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardRefuseReset: a refusal with RST answers the SYN from the
// destination; the request is gone (a later Accept fails).
func TestForwardRefuseReset(t *testing.T) {
	f := newFwdRaw(t, stack.TCPForwarderConfig{}, nil)
	f.send(t, fwdSyn(addrA, 40001, fwdDst4, 5000))
	r := f.request(t)
	if err := r.Refuse(stack.RefuseReset); err != nil {
		t.Fatal(err)
	}
	o := f.next(t)
	if o.tcp == nil || o.tcp.Flags != segment.FlagRST|segment.FlagACK || o.tcp.Ack != 5001 || o.src != fwdDst4.Addr() || o.tcp.SrcPort != 443 {
		t.Fatalf("want RST|ACK ack 5001 from the destination, got %+v %v", o, o.tcp)
	}
	if _, err := r.Accept(); !errors.Is(err, stack.ErrRequestAnswered) {
		t.Fatalf("Accept after Refuse: %v", err)
	}
	if st := f.s.Stats().Forward; st.Refused != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardRefuseICMP: each ICMP refusal, over IPv4 and IPv6, comes from
// the destination's address with the code asked for and quotes the SYN
// (ports and sequence number: what the client's stack matches).
func TestForwardRefuseICMP(t *testing.T) {
	cases := []struct {
		how    stack.Refusal
		v4, v6 uint8
	}{
		{stack.RefuseNetUnreachable, segment.ICMPv4NetUnreachable, segment.ICMPv6NoRoute},
		{stack.RefuseHostUnreachable, segment.ICMPv4HostUnreachable, segment.ICMPv6AddressUnreachable},
		{stack.RefuseProhibited, 13, segment.ICMPv6AdminProhibited},
	}
	f := newFwdRaw(t, stack.TCPForwarderConfig{}, nil)
	for i, c := range cases {
		for _, v6 := range []bool{false, true} {
			src, dst, typ, code := addrA, fwdDst4, uint8(segment.ICMPv4TypeDestUnreach), c.v4
			if v6 {
				src, dst, typ, code = fwdClient6, fwdDst6, segment.ICMPv6TypeDestUnreach, c.v6
			}
			seq := segment.Seq(7000 + i)
			f.send(t, fwdSyn(src, uint16(41000+i), dst, seq))
			r := f.request(t)
			if err := r.Refuse(c.how); err != nil {
				t.Fatal(err)
			}
			o := f.next(t)
			if !o.icmp || o.typ != typ || o.code != code || o.src != dst.Addr() || o.dst != src {
				t.Fatalf("%v v6=%v: got %+v, want ICMP %d/%d from %v to %v", c.how, v6, o, typ, code, dst.Addr(), src)
			}
			sp, dp, qseq := o.quote.TCPPorts()
			if o.quote.Protocol != segment.ProtocolTCP || o.quote.Src != src || o.quote.Dst != dst.Addr() ||
				sp != uint16(41000+i) || dp != dst.Port() || qseq != seq {
				t.Fatalf("%v v6=%v: quote %+v ports %d %d seq %d", c.how, v6, o.quote, sp, dp, qseq)
			}
		}
	}
	if st := f.s.Stats(); st.Forward.Refused != 6 || st.ICMPErrorsSent != 6 {
		t.Fatalf("refused %d, ICMP errors sent %d, want 6 and 6", st.Forward.Refused, st.ICMPErrorsSent)
	}
}

// TestForwardDrop: a dropped request sends nothing; the client's next SYN
// is a new request.
func TestForwardDrop(t *testing.T) {
	f := newFwdRaw(t, stack.TCPForwarderConfig{}, nil)
	f.send(t, fwdSyn(addrA, 40002, fwdDst4, 100))
	r := f.request(t)
	if err := r.Drop(); err != nil {
		t.Fatal(err)
	}
	f.nothing(t)
	f.send(t, fwdSyn(addrA, 40002, fwdDst4, 100))
	r2 := f.request(t)
	if r2 == r {
		t.Fatal("the same request twice")
	}
	if st := f.s.Stats().Forward; st.Dropped != 1 || st.Requests != 2 || st.Pending != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardTimeout: a request nobody answers is refused (RST by default)
// at PendingTimeout, not before; Accept then fails with ErrRequestExpired.
func TestForwardTimeout(t *testing.T) {
	const timeout = 3 * time.Second
	f := newFwdRaw(t, stack.TCPForwarderConfig{PendingTimeout: timeout}, nil)
	f.send(t, fwdSyn(addrA, 40003, fwdDst4, 100))
	r := f.request(t)
	f.clock.Advance(timeout - time.Millisecond)
	f.nothing(t)
	f.clock.Advance(time.Millisecond)
	o := f.next(t)
	if o.tcp == nil || o.tcp.Flags&segment.FlagRST == 0 || o.tcp.Ack != 101 {
		t.Fatalf("want a RST at the deadline, got %+v", o)
	}
	if _, err := r.Accept(); !errors.Is(err, stack.ErrRequestExpired) {
		t.Fatalf("Accept after expiry: %v", err)
	}
	if st := f.s.Stats().Forward; st.Expired != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	// TimeoutRefusal picks the answer: an ICMP error here.
	g := newFwdRaw(t, stack.TCPForwarderConfig{PendingTimeout: timeout, TimeoutRefusal: stack.RefuseHostUnreachable}, nil)
	g.send(t, fwdSyn(addrA, 40004, fwdDst4, 100))
	g.request(t)
	g.clock.Advance(timeout)
	if o := g.next(t); !o.icmp || o.code != segment.ICMPv4HostUnreachable {
		t.Fatalf("want host unreachable at the deadline, got %+v", o)
	}
}

// TestForwardLimits: at MaxPendingPerSource a source's new SYNs are
// dropped (or reset with ResetAtLimit) and counted, other sources go on;
// at MaxPending everyone's are; pending requests are unaffected, and a
// freed slot takes the next SYN.
func TestForwardLimits(t *testing.T) {
	for _, reset := range []bool{false, true} {
		f := newFwdRaw(t, stack.TCPForwarderConfig{MaxPending: 3, MaxPendingPerSource: 2, ResetAtLimit: reset}, nil)
		src2 := netip.MustParseAddr("198.18.0.7")
		src3 := netip.MustParseAddr("198.18.0.9")
		f.send(t, fwdSyn(addrA, 1, fwdDst4, 10))
		f.send(t, fwdSyn(addrA, 2, fwdDst4, 10))
		r1, _ := f.request(t), f.request(t)
		f.send(t, fwdSyn(addrA, 3, fwdDst4, 10)) // source limit
		f.noRequest(t)
		checkLimited := func(port uint16) {
			t.Helper()
			if !reset {
				f.nothing(t)
				return
			}
			o := f.next(t)
			if o.tcp == nil || o.tcp.Flags&segment.FlagRST == 0 || o.tcp.DstPort != port {
				t.Fatalf("reset=%v: want a RST to port %d, got %+v", reset, port, o)
			}
		}
		checkLimited(3)
		f.send(t, fwdSyn(src2, 1, fwdDst4, 10)) // another source: taken
		f.request(t)
		f.send(t, fwdSyn(src3, 1, fwdDst4, 10)) // total limit
		f.noRequest(t)
		checkLimited(1)
		st := f.s.Stats().Forward
		if st.SourceLimited != 1 || st.Limited != 1 || st.Pending != 3 || st.Requests != 3 {
			t.Fatalf("reset=%v: stats %+v", reset, st)
		}
		// Pending ones are unaffected: r1 is accepted.
		if _, err := r1.Accept(); err != nil {
			t.Fatal(err)
		}
		if o := f.next(t); o.tcp == nil || o.tcp.Flags != segment.FlagSYN|segment.FlagACK {
			t.Fatalf("want the SYN-ACK, got %+v", o)
		}
		// Its slot is free: src3's retransmission becomes a request.
		f.send(t, fwdSyn(src3, 1, fwdDst4, 10))
		if r := f.request(t); r.Source().Addr() != src3 {
			t.Fatalf("request from %v", r.Source())
		}
	}
}

// TestForwardPanic: a panicking handler's request is refused with a RST
// and counted; the stack keeps serving requests.
func TestForwardPanic(t *testing.T) {
	calls := 0
	f := newFwdRaw(t, stack.TCPForwarderConfig{}, func(r *stack.TCPRequest) {
		calls++
		if calls == 1 {
			panic("handler bug")
		}
	})
	f.send(t, fwdSyn(addrA, 40005, fwdDst4, 100))
	o := f.next(t)
	if o.tcp == nil || o.tcp.Flags&segment.FlagRST == 0 || o.tcp.Ack != 101 {
		t.Fatalf("want a RST for the panicking request, got %+v", o)
	}
	if st := f.s.Stats().Forward; st.Panics != 1 || st.Refused != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	f.send(t, fwdSyn(addrA, 40006, fwdDst4, 100))
	if r := f.request(t); r.Source().Port() != 40006 {
		t.Fatal("wrong request after the panic")
	}
}

// TestForwardAnswerInHandler: answers given inside the handler, on the
// input goroutine, take effect (a refusal's packet is written once the
// handler returns) without deadlock.
func TestForwardAnswerInHandler(t *testing.T) {
	f := newFwdRaw(t, stack.TCPForwarderConfig{}, func(r *stack.TCPRequest) {
		switch r.Source().Port() {
		case 1:
			r.Refuse(stack.RefuseProhibited)
		case 2:
			r.Refuse(stack.RefuseReset)
		case 3:
			if _, err := r.Accept(); err != nil {
				panic(err)
			}
		}
	})
	f.send(t, fwdSyn(addrA, 1, fwdDst4, 10))
	if o := f.next(t); !o.icmp || o.code != 13 {
		t.Fatalf("want prohibited, got %+v", o)
	}
	f.send(t, fwdSyn(addrA, 2, fwdDst4, 10))
	if o := f.next(t); o.tcp == nil || o.tcp.Flags&segment.FlagRST == 0 {
		t.Fatalf("want RST, got %+v", o)
	}
	f.send(t, fwdSyn(addrA, 3, fwdDst4, 10))
	if o := f.next(t); o.tcp == nil || o.tcp.Flags != segment.FlagSYN|segment.FlagACK {
		t.Fatalf("want SYN-ACK, got %+v", o)
	}
	if st := f.s.Stats().Forward; st.Refused != 2 || st.Accepted != 1 || st.Panics != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardPeerGaveUp: the client's RST (at its SYN's sequence number)
// ends a pending request: Accept fails with ECONNRESET. A blind RST does
// not. And a client that gave up silently: Accept succeeds, the client's
// RST to the SYN-ACK resets the connection (Read fails with ECONNRESET).
func TestForwardPeerGaveUp(t *testing.T) {
	f := newFwdRaw(t, stack.TCPForwarderConfig{}, nil)
	f.send(t, fwdSyn(addrA, 40007, fwdDst4, 100))
	r := f.request(t)
	rst := &segment.Segment{Src: addrA, Dst: fwdDst4.Addr(), SrcPort: 40007, DstPort: 443, Seq: 5555, Flags: segment.FlagRST}
	f.send(t, rst) // blind: ignored
	f.sync(t)
	if st := f.s.Stats().Forward; st.Pending != 1 || st.PeerResets != 0 {
		t.Fatalf("a blind RST ended the request: %+v", st)
	}
	rst.Seq = 101
	f.send(t, rst)
	f.sync(t)
	if _, err := r.Accept(); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Accept after the client's RST: %v", err)
	}
	f.nothing(t)
	if st := f.s.Stats().Forward; st.PeerResets != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}

	f.send(t, fwdSyn(addrA, 40008, fwdDst4, 100))
	r = f.request(t)
	c, err := r.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := f.next(t)
	if o.tcp == nil || o.tcp.Flags != segment.FlagSYN|segment.FlagACK {
		t.Fatalf("want SYN-ACK, got %+v", o)
	}
	// The client's kernel no longer knows the connection: RST (RFC 9293
	// 3.10.7.1, the SYN-ACK's acknowledgment as sequence number).
	f.send(t, &segment.Segment{Src: addrA, Dst: fwdDst4.Addr(), SrcPort: 40008, DstPort: 443, Seq: o.tcp.Ack, Flags: segment.FlagRST})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read on a connection the client gave up: %v", err)
	}
}

// TestForwardOwnAddressesUnchanged: the stack's own address still reaches
// its listener (SYN-ACK), a port without one a RST, the handler is not
// called for either; a destination outside the prefixes is not ours; with
// no handler a transparent SYN gets a RST, as before.
func TestForwardOwnAddressesUnchanged(t *testing.T) {
	f := newFwdRaw(t, stack.TCPForwarderConfig{}, nil)
	ln, err := f.s.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f.send(t, fwdSyn(addrA, 40009, netip.AddrPortFrom(addrB, 80), 100))
	if o := f.next(t); o.tcp == nil || o.tcp.Flags != segment.FlagSYN|segment.FlagACK || o.src != addrB {
		t.Fatalf("want the listener's SYN-ACK, got %+v", o)
	}
	f.send(t, fwdSyn(addrA, 40010, netip.AddrPortFrom(addrB, 81), 100))
	if o := f.next(t); o.tcp == nil || o.tcp.Flags&segment.FlagRST == 0 {
		t.Fatalf("want a RST, got %+v", o)
	}
	// A transparent destination on port 80: the handler, not the listener.
	f.send(t, fwdSyn(addrA, 40011, netip.AddrPortFrom(fwdDst4.Addr(), 80), 100))
	if r := f.request(t); r.Destination().Port() != 80 {
		t.Fatal("wrong request")
	}
	before := f.s.Stats().Dropped.NotOurs
	f.send(t, fwdSyn(addrA, 40012, netip.MustParseAddrPort("203.0.113.1:80"), 100))
	f.nothing(t)
	if got := f.s.Stats().Dropped.NotOurs; got != before+1 {
		t.Fatalf("NotOurs %d, want %d", got, before+1)
	}
	f.noRequest(t)
	if err := f.s.SetTCPForwarder(nil, stack.TCPForwarderConfig{}); err != nil {
		t.Fatal(err)
	}
	f.send(t, fwdSyn(addrA, 40013, fwdDst4, 100))
	if o := f.next(t); o.tcp == nil || o.tcp.Flags&segment.FlagRST == 0 {
		t.Fatalf("no handler: want a RST, got %+v", o)
	}
}

// TestForwardOptions: bad prefixes are refused by New; SetTCPForwarder
// needs prefixes.
func TestForwardOptions(t *testing.T) {
	for _, p := range []netip.Prefix{{}, netip.MustParsePrefix("::ffff:198.19.0.0/112")} {
		if _, err := stack.New(newRawLink(), stack.Options{Addr: addrB, TransparentPrefixes: []netip.Prefix{p}}); err == nil {
			t.Errorf("prefix %v accepted", p)
		}
	}
	s, err := stack.New(newRawLink(), stack.Options{Addr: addrB})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetTCPForwarder(func(*stack.TCPRequest) {}, stack.TCPForwarderConfig{}); !errors.Is(err, stack.ErrNoTransparentPrefixes) {
		t.Fatalf("SetTCPForwarder without prefixes: %v", err)
	}
}

// TestForwardICMP: an ICMP error sent to a forwarded connection's address
// (fragmentation needed, quoting its segment) reaches the connection; an
// echo request to a transparent address is not answered (the stack pings
// for itself only).
func TestForwardICMP(t *testing.T) {
	f := newFwdRaw(t, stack.TCPForwarderConfig{}, nil)
	f.send(t, fwdSyn(addrA, 40020, fwdDst4, 1000))
	c, err := f.request(t).Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	synAck := f.next(t).tcp
	f.send(t, &segment.Segment{Src: addrA, Dst: fwdDst4.Addr(), SrcPort: 40020, DstPort: 443, Seq: 1001,
		Ack: synAck.Seq.Add(1), Flags: segment.FlagACK, Window: 65535})
	if _, err := c.Write(make([]byte, 1400)); err != nil {
		t.Fatal(err)
	}
	var data []byte
	for data == nil {
		p := f.l.next(t, 5*time.Second)
		if p == nil {
			t.Fatal("no data segment")
		}
		if o := decodeOut(t, p); o.tcp != nil && len(o.tcp.Payload) > 0 {
			data = p
		}
	}
	msg := append([]byte{segment.ICMPv4TypeDestUnreach, segment.ICMPv4FragNeeded, 0, 0, 0, 0, 0x04, 0xb0}, data[:28]...) // next-hop MTU 1200
	before := f.s.Stats()
	f.l.inject(icmpPacket(addrA, fwdDst4.Addr(), msg))
	f.sync(t)
	if got := f.s.Stats().ICMPUnreachable; got != before.ICMPUnreachable+1 {
		t.Fatalf("ICMPUnreachable %d, want %d: the connection did not take the error", got, before.ICMPUnreachable+1)
	}
	for {
		o := f.next(t)
		if o.tcp != nil && len(o.tcp.Payload) > 0 {
			if len(o.tcp.Payload) > 1200-40 {
				t.Fatalf("retransmission of %d bytes after the path MTU fell to 1200", len(o.tcp.Payload))
			}
			break
		}
	}
	echo := []byte{8, 0, 0, 0, 0x55, 0x55, 0, 1}
	f.l.inject(icmpPacket(addrA, fwdDst4.Addr(), echo))
	f.sync(t)
	for {
		select {
		case p := <-f.l.out:
			if o := decodeOut(t, p); o.icmp {
				t.Fatalf("answered a ping for a transparent address: %+v", o)
			}
			continue
		default:
		}
		break
	}
	if got := f.s.Stats().Dropped.NotOurs; got != before.Dropped.NotOurs+1 {
		t.Fatalf("NotOurs %d, want %d", got, before.Dropped.NotOurs+1)
	}
}
