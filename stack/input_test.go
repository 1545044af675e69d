package stack_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
)

// fixIPChecksum recomputes the IPv4 header checksum of pkt.
func fixIPChecksum(pkt []byte) {
	hl := int(pkt[0]&0x0f) * 4
	pkt[10], pkt[11] = 0, 0
	binary.BigEndian.PutUint16(pkt[10:], segment.Checksum(pkt[:hl], 0))
}

// fixTCPChecksum recomputes the TCP checksum of an option-less-IP pkt.
func fixTCPChecksum(pkt []byte) {
	t := pkt[20:]
	t[16], t[17] = 0, 0
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	dst := netip.AddrFrom4([4]byte(pkt[16:20]))
	binary.BigEndian.PutUint16(t[16:], segment.Checksum(t, segment.PseudoHeaderSum(src, dst, 6, len(t))))
}

func synTo(port uint16) *segment.Segment {
	return &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: port, Seq: 1000, Flags: segment.FlagSYN, Window: 65535}
}

// icmpPacket builds an IPv4/ICMP packet from A to B with the given ICMP
// message (checksum filled in).
func icmpPacket(src, dst netip.Addr, msg []byte) []byte {
	msg[2], msg[3] = 0, 0
	binary.BigEndian.PutUint16(msg[2:], segment.Checksum(msg, 0))
	pkt := make([]byte, 20+len(msg))
	segment.PutIPv4Header(pkt, &segment.IPv4Header{TTL: 64, Protocol: segment.ProtocolICMP, Src: src, Dst: dst}, len(msg))
	copy(pkt[20:], msg)
	return pkt
}

// TestCountersMalformed writes malformed and unwanted packets into the
// stack's link and checks that each is dropped and counted by reason, that
// a SYN to an unused port is answered with exactly one RST, a RST with
// nothing, and an ICMP echo with a reply.
func TestCountersMalformed(t *testing.T) {
	l := newRawLink()
	s, err := stack.New(l, stack.Options{Addr: addrB})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var sent int
	inject := func(p []byte) { l.inject(p); sent++ }

	// Bad IPv4 header checksum.
	p := tcpPacket(t, synTo(1))
	p[10] ^= 0xff
	inject(p)
	// Short: less than an IPv4 header.
	inject(tcpPacket(t, synTo(1))[:10])
	// Bad version (neither 4 nor 6).
	p = tcpPacket(t, synTo(1))
	p[0] = 0x55
	inject(p)
	// Fragment (MF set), checksum valid.
	p = tcpPacket(t, synTo(1))
	p[6] |= 0x20
	fixIPChecksum(p)
	inject(p)
	// Second fragment (offset 8).
	p = tcpPacket(t, synTo(1))
	p[7] = 1
	fixIPChecksum(p)
	inject(p)
	// Bad TCP checksum.
	d := &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 1, Seq: 5, Ack: 9, Flags: segment.FlagACK, Payload: []byte("data")}
	p = tcpPacket(t, d)
	p[len(p)-1] ^= 1
	inject(p)
	// Bad TCP data offset (15 words in a 20-byte header).
	p = tcpPacket(t, synTo(1))
	p[20+12] = 0xf0
	fixTCPChecksum(p)
	inject(p)
	// Malformed option: MSS with length 1.
	o := synTo(1)
	o.Options.HasMSS, o.Options.MSS = true, 1460
	p = tcpPacket(t, o)
	p[20+21] = 1
	fixTCPChecksum(p)
	inject(p)
	// Unsupported protocol (SCTP, 132; UDP has its own tests, udp_test.go).
	u := make([]byte, 1600)
	n, err := segment.BuildIPv4UDP(u, netip.AddrPortFrom(addrA, 5), netip.AddrPortFrom(addrB, 53), []byte("q"))
	if err != nil {
		t.Fatal(err)
	}
	u[9] = 132
	fixIPChecksum(u[:n])
	inject(u[:n])
	// Not our address.
	x := synTo(1)
	x.Dst = netip.MustParseAddr("198.18.0.99")
	inject(tcpPacket(t, x))
	// A RST to an unused port: dropped, never answered.
	r := synTo(1)
	r.Flags = segment.FlagRST
	inject(tcpPacket(t, r))

	// A SYN to an unused port: answered with RST (RFC 9293 3.10.7.1).
	inject(tcpPacket(t, synTo(1)))
	// An ICMP echo request: answered.
	echo := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'}
	inject(icmpPacket(addrA, addrB, echo))

	if !waitFor(5*time.Second, func() bool { return s.Stats().PacketsIn == uint64(sent) }) {
		t.Fatalf("stack read %d packets, %d injected", s.Stats().PacketsIn, sent)
	}
	// Exactly two replies: the RST and the echo reply.
	var replies [][]byte
	for {
		p := l.next(t, 200*time.Millisecond)
		if p == nil {
			break
		}
		replies = append(replies, p)
	}
	if len(replies) != 2 {
		t.Fatalf("%d replies, want 2 (RST, echo reply)", len(replies))
	}
	var seg segment.Segment
	if err := segment.ParseIPv4TCP(replies[0], &seg); err != nil || seg.Flags&segment.FlagRST == 0 || seg.Ack != 1001 {
		t.Fatalf("first reply %v (%v), want RST ack 1001", &seg, err)
	}
	_, m, err := segment.ParseIPv4ICMP(replies[1])
	if err != nil || m.Type() != segment.ICMPv4TypeEchoReply || string(m.Body()) != "ping" {
		t.Fatalf("second reply: %v, type %d", err, m.Type())
	}

	st := s.Stats()
	want := stack.DropStats{
		Short: 1, Version: 1, IPChecksum: 1, Fragment: 2, TCPChecksum: 1, TCPHeader: 1, TCPOption: 1,
		Protocol: 1, NotOurs: 1, InvalidSegment: 1,
	}
	if st.Dropped != want {
		t.Fatalf("dropped %+v\nwant    %+v", st.Dropped, want)
	}
	if st.RSTsSent != 1 || st.ICMPEchoAnswered != 1 || st.SegmentsIn != 2 || st.SegmentsOut != 1 {
		t.Fatalf("RSTs %d, echo %d, segments in %d out %d; want 1, 1, 2, 1",
			st.RSTsSent, st.ICMPEchoAnswered, st.SegmentsIn, st.SegmentsOut)
	}
}

// TestICMPUnreachable: a destination unreachable quoting a segment of a
// connection reaches it as a soft error; one quoting a sequence number the
// connection never sent is dropped (RFC 5927 4.1).
func TestICMPUnreachable(t *testing.T) {
	l := newRawLink()
	s, err := stack.New(l, stack.Options{Addr: addrB})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Dial(ctx, "198.18.0.1:80")
		errc <- err
	}()
	syn := l.next(t, 2*time.Second)
	if syn == nil {
		t.Fatal("no SYN")
	}
	quote := func(pkt []byte, seqDelta uint32) []byte {
		q := append([]byte(nil), pkt[:28]...)
		binary.BigEndian.PutUint32(q[24:], binary.BigEndian.Uint32(q[24:])+seqDelta)
		msg := append([]byte{3, 1, 0, 0, 0, 0, 0, 0}, q...)
		return icmpPacket(addrA, addrB, msg)
	}
	l.inject(quote(syn, 12345)) // not a sequence number we sent
	l.inject(quote(syn, 0))
	if !waitFor(2*time.Second, func() bool { return s.Stats().ICMPIn == 2 }) {
		t.Fatal("ICMP not processed")
	}
	st := s.Stats()
	if st.ICMPUnreachable != 1 || st.Dropped.ICMP != 1 {
		t.Fatalf("unreachable %d, dropped %d; want 1, 1", st.ICMPUnreachable, st.Dropped.ICMP)
	}
	cancel()
	<-errc
}

// TestSynFlood: with the half-open queue full of spoofed SYNs, legitimate
// clients still connect, through SYN cookies (RFC 4987).
func TestSynFlood(t *testing.T) {
	p := newPair(t, nil, tun.FaultConfig{}, func(o *stack.Options) { o.SynBacklog = 8 })
	ln, err := p.b.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// 500 SYNs from addresses that do not exist: B's SYN-ACKs go nowhere
	// (stack A drops them as not its own), so the half-open entries stay.
	for i := 0; i < 500; i++ {
		seg := &segment.Segment{
			Src: netip.AddrFrom4([4]byte{198, 18, 7, byte(i)}), Dst: addrB,
			SrcPort: uint16(1024 + i), DstPort: 80, Seq: segment.Seq(i * 7919), Flags: segment.FlagSYN, Window: 1000,
		}
		seg.Options.HasMSS, seg.Options.MSS = true, 1460
		if _, err := p.pa.Write(tcpPacket(t, seg)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(5 * time.Millisecond) // stay under the pipe's queue limit
		}
	}
	if !waitFor(5*time.Second, func() bool { return p.b.Stats().SynCookiesSent >= 400 }) {
		t.Fatalf("cookies sent: %d", p.b.Stats().SynCookiesSent)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 5)
				n, _ := io.ReadFull(c, buf)
				c.Write(buf[:n])
				c.Close()
			}()
		}
	}()
	const clients = 20
	for i := 0; i < clients; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := p.a.Dial(ctx, "198.18.0.2:80")
		cancel()
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if i == 0 {
			// The cookie connection on B learnt A's window from the
			// handshake-completing ACK.
			lport := c.LocalAddr().(*net.TCPAddr).Port
			var found bool
			waitFor(2*time.Second, func() bool {
				for _, ci := range p.b.Conns() {
					if ci.RemoteAddr.Port == lport {
						found = true
						if ci.SndWnd == 0 {
							t.Errorf("cookie connection on B has SND.WND 0 after the handshake: %+v", ci.Info)
						}
					}
				}
				return found
			})
			if !found {
				t.Errorf("no connection on B for client port %d", lport)
			}
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("client %d read %q %v", i, buf, err)
		}
		c.Close()
	}
	st := p.b.Stats()
	t.Logf("B: cookies sent %d validated %d failed %d; half-open+conns %d", st.SynCookiesSent, st.SynCookiesValidated, st.SynCookiesFailed, st.Conns)
	if st.SynCookiesValidated < clients {
		t.Fatalf("%d cookies validated, want >= %d (clients should get in through cookies)", st.SynCookiesValidated, clients)
	}
}

// TestSynCookieForgedAck: an ACK with a made-up cookie gets a RST and no
// connection.
func TestSynCookieForgedAck(t *testing.T) {
	l, s, _ := rawListener(t, stack.Options{})
	ack := &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 4000, DstPort: 80, Seq: 100, Ack: 0x12345678, Flags: segment.FlagACK, Window: 100}
	l.inject(tcpPacket(t, ack))
	rst := l.next(t, 2*time.Second)
	var seg segment.Segment
	if rst == nil || segment.ParseIPv4TCP(rst, &seg) != nil || seg.Flags != segment.FlagRST || seg.Seq != 0x12345678 {
		t.Fatalf("want RST seq=0x12345678, got %v", &seg)
	}
	st := s.Stats()
	if st.SynCookiesFailed != 1 || st.Conns != 0 {
		t.Fatalf("cookies failed %d, conns %d", st.SynCookiesFailed, st.Conns)
	}
}
