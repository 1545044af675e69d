package integration

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tunstack/tunstack/segment"
)

// Conformance tests: addressing, initial sequence numbers, and robustness
// against unusual but legal (or illegal) headers.

// rawIPv4TCP builds an IPv4/TCP packet byte by byte, with arbitrary IP
// options and TCP option bytes (both padded to 4 bytes by the caller), for
// what the segment builders deliberately cannot express.
func rawIPv4TCP(src, dst netip.Addr, sport, dport uint16, seq, ack uint32, flags segment.Flags, wnd uint16,
	ipOpts, tcpOpts, payload []byte) []byte {
	ihl := 20 + len(ipOpts)
	thl := 20 + len(tcpOpts)
	b := make([]byte, ihl+thl+len(payload))
	b[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], 0x4242)
	b[6] = 0x40 // DF
	b[8] = rawTTL
	b[9] = segment.ProtocolTCP
	s4, d4 := src.As4(), dst.As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d4[:])
	copy(b[20:], ipOpts)
	binary.BigEndian.PutUint16(b[10:], segment.Checksum(b[:ihl], 0))
	t := b[ihl:]
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12] = byte(thl/4) << 4
	t[13] = byte(flags)
	binary.BigEndian.PutUint16(t[14:], wnd)
	copy(t[20:], tcpOpts)
	copy(t[thl:], payload)
	binary.BigEndian.PutUint16(t[16:], segment.Checksum(t, segment.PseudoHeaderSum(src, dst, segment.ProtocolTCP, len(t))))
	return b
}

// confRFC1122_3_2_1_3_NotOurAddress (TestConformance/RFC1122_3_2_1_3_NotOurAddress): the stack answers only
// for its own address. A SYN or an echo request to another address routed
// into the TUN is silently discarded (RFC 1122 3.2.1.3: "A host MUST
// silently discard an incoming datagram that is not destined for the
// host"), and so is a SYN to the subnet's broadcast address (RFC 1122
// 4.2.3.10: "A TCP implementation MUST silently discard an incoming SYN
// segment that is addressed to a broadcast or multicast address").
func confRFC1122_3_2_1_3_NotOurAddress(t *testing.T, n *rawNet) {
	if err := unix.SetsockoptInt(n.sendFD, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		t.Fatalf("SO_BROADCAST: %v", err)
	}
	for _, a := range []string{"198.18.0.3", "198.18.0.255"} {
		p := n.newPeer(t, portEcho)
		p.dst = netip.MustParseAddr(a)
		p.syn(linuxSyn)
		p.send(segment.FlagACK, p.nxt, 12345, nil) // would get a RST from a stack that took it as its own
		p.expectNone(quiet, "segments to "+a)
		if c := n.sentTo(p.dst); c < 2 {
			t.Fatalf("only %d packets to %s went into the TUN: the test did not reach the stack", c, a)
		}
	}
	echo := icmpEcho(7, 1, []byte("not for you"))
	copy(echo[16:20], netip.MustParseAddr("198.18.0.3").AsSlice())
	binary.BigEndian.PutUint16(echo[10:], 0)
	binary.BigEndian.PutUint16(echo[10:], segment.Checksum(echo[:20], 0))
	n.write(t, echo)
	select {
	case r := <-n.icmp:
		t.Fatalf("an echo request to 198.18.0.3 was answered: % x", r.raw[:28])
	case <-time.After(quiet):
	}
	if c := n.sentTo(netip.MustParseAddr("198.18.0.3")); c < 3 {
		t.Fatalf("%d packets to 198.18.0.3 went into the TUN, want 3 (2 TCP, 1 ICMP)", c)
	}
	// The stack still answers for itself.
	q := n.newPeer(t, portEcho)
	q.handshake(linuxSyn)
	q.echoRoundTrip([]byte("me\n"))
}

// confRFC6528_ISN (TestConformance/RFC6528_ISN): initial sequence numbers are not
// predictable from one connection to the next: ISN = M + F(4-tuple,
// secret) (RFC 6528 3), so connections from different ports started
// within a few milliseconds get ISNs scattered over the sequence space,
// not a counter's consecutive values.
func confRFC6528_ISN(t *testing.T, n *rawNet) {
	var isns []segment.Seq
	for range 8 {
		p := n.newPeer(t, portEcho)
		p.syn(linuxSyn)
		isns = append(isns, p.expectSynAck(prompt).seg.Seq)
		p.send(segment.FlagRST, p.nxt, 0, nil)
	}
	close := 0
	for i := 1; i < len(isns); i++ {
		d := isns[i].Sub(isns[i-1])
		if d > -(1<<20) && d < 1<<20 {
			close++
		}
	}
	t.Logf("ISNs %v", isns)
	if close > 1 {
		t.Fatalf("%d of %d consecutive ISNs lie within 2^20 of each other: predictable (RFC 6528)", close, len(isns)-1)
	}
}

// confRFC9293_3_1_Options (TestConformance/RFC9293_3_1_Options): TCP options the stack does not
// implement are skipped by their length (RFC 9293 3.1, MUST-68: "MUST
// ignore without error any TCP option it does not implement, assuming that
// the option has a length field") and the known ones after them still
// count; IP options do not disturb TCP; an illegal option length (zero)
// neither crashes nor confuses the stack (RFC 9293 3.1 suggests resetting
// or dropping).
func confRFC9293_3_1_Options(t *testing.T, n *rawNet) {

	t.Run("unknown-options", func(t *testing.T) {
		p := n.newPeer(t, portEcho)
		opts := []byte{
			0xfd, 6, 0xde, 0xad, 0xbe, 0xef, // experimental, unknown
			1,       // NOP
			3, 3, 5, // window scale 5
			2, 4, 0x02, 0x00, // MSS 512
			30, 4, 0, 0, // MPTCP-ish kind 30, unknown here
			4, 2, // SACK permitted
			0, 0, // EOL, padding
		}
		n.write(t, rawIPv4TCP(hostIP, stackIP, p.port, p.sport, uint32(p.iss), 0, segment.FlagSYN, 65535, nil, opts, nil))
		p.nxt = p.iss.Add(1)
		sa := p.expectSynAck(prompt)
		if !sa.seg.Options.HasWScale || !sa.seg.Options.HasMSS {
			t.Fatalf("SYN-ACK %v: the window scale option after unknown options was not seen", &sa.seg)
		}
		p.wnd = 65535 >> 5
		p.ack()
		msg := pattern(2000, 2)
		p.sendData(msg[:1000])
		p.sendData(msg[1000:])
		var got []byte
		for len(got) < len(msg) {
			r := p.next(3 * time.Second)
			if r == nil {
				t.Fatalf("echo returned %d of %d bytes", len(got), len(msg))
			}
			if len(r.seg.Payload) > 512 {
				t.Fatalf("a %d-byte segment after MSS 512 (given after unknown options): %v", len(r.seg.Payload), p.show(r))
			}
			if r.seg.Seq == p.rcvNxt {
				got = append(got, r.seg.Payload...)
				p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
				p.ack()
			}
		}
	})

	t.Run("IP-options", func(t *testing.T) {
		p := n.newPeer(t, portEcho)
		ipOpts := []byte{1, 1, 1, 0} // NOP NOP NOP EOL
		mss := []byte{2, 4, 0x05, 0xb4}
		n.write(t, rawIPv4TCP(hostIP, stackIP, p.port, p.sport, uint32(p.iss), 0, segment.FlagSYN, 65535, ipOpts, mss, nil))
		p.nxt = p.iss.Add(1)
		p.expectSynAck(prompt)
		n.write(t, rawIPv4TCP(hostIP, stackIP, p.port, p.sport, uint32(p.nxt), uint32(p.rcvNxt), segment.FlagACK|segment.FlagPSH, 65535, ipOpts, nil, []byte("with IP options\n")))
		p.nxt = p.nxt.Add(16)
		got, _ := p.readStream(16, 3*time.Second)
		if string(got) != "with IP options\n" {
			t.Fatalf("echo %q", got)
		}
	})

	t.Run("zero-length-option", func(t *testing.T) {
		p := n.newPeer(t, portEcho)
		bad := []byte{2, 4, 0x05, 0xb4, 0xfd, 0, 1, 1} // MSS, then kind 253 with length 0
		n.write(t, rawIPv4TCP(hostIP, stackIP, p.port, p.sport, uint32(p.iss), 0, segment.FlagSYN, 65535, nil, bad, nil))
		if r := p.next(quiet); r != nil {
			ok := r.seg.Flags == segment.FlagSYN|segment.FlagACK && r.seg.Ack == p.iss.Add(1) ||
				r.seg.Flags.Has(segment.FlagRST)
			if !ok {
				t.Fatalf("a SYN with a zero-length option got %v", p.show(r))
			}
			t.Logf("answered with %v", &r.seg)
			if r.seg.Flags.Has(segment.FlagSYN) {
				p.send(segment.FlagRST, p.iss.Add(1), 0, nil)
			}
		} else {
			t.Log("dropped")
		}
		q := n.newPeer(t, portEcho)
		q.handshake(linuxSyn)
		q.echoRoundTrip([]byte("alive\n"))
	})
}

// confRFC1122_3_2_1_3_BadSourceAddress (TestConformance/RFC1122_3_2_1_3_BadSourceAddress):
// "A host MUST silently discard an incoming datagram containing an IP
// source address that is invalid by the rules of this section" (RFC 1122
// 3.2.1.3): limited broadcast, multicast (class D), class E, { 0, <host> }
// and loopback are never valid sources, nor is our own address, so a SYN from any of them gets no SYN-ACK (nor RST); RFC
// 1122 4.2.3.10 says the same of SYNs from broadcast and multicast sources
// specifically ("MUST silently discard"). (A directed broadcast such as
// 198.18.0.255 is not in the list: the stack sits on a point-to-point TUN
// and is given an address without a prefix, so it has no subnet whose
// broadcast address it could know. Nor is 0.0.0.0: the kernel fills in a
// zero source of a raw packet with its own address.)
func confRFC1122_3_2_1_3_BadSourceAddress(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portEcho)
	for _, a := range []string{"255.255.255.255", "224.0.0.1", "239.1.2.3", "240.0.0.1", "0.1.2.3", "127.0.0.1", "198.18.0.2"} {
		src := netip.MustParseAddr(a)
		s := segment.Segment{Src: src, Dst: stackIP, SrcPort: p.port, DstPort: p.sport, Seq: p.iss, Flags: segment.FlagSYN, Window: 65535}
		s.Options.HasMSS, s.Options.MSS = true, 1460
		buf := make([]byte, 64)
		m, err := segment.BuildIPv4TCP(buf, &s, 1, rawTTL)
		if err != nil {
			t.Fatal(err)
		}
		before := n.sentTo(stackIP)
		if err := unix.Sendto(n.sendFD, buf[:m], 0, &unix.SockaddrInet4{Addr: stackIP.As4()}); err != nil {
			t.Logf("the kernel refuses to send from %s (%v): not tested", a, err)
			continue
		}
		deadline := time.Now().Add(quiet)
		for n.sentTo(stackIP) == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n.sentTo(stackIP) == before {
			t.Logf("the SYN from %s did not reach the TUN: not tested", a)
			continue
		}
		select {
		case r := <-p.in:
			t.Fatalf("a SYN from the invalid source %s was answered: %v", a, &r.seg)
		case <-time.After(quiet):
		}
	}
}
