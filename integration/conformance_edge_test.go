package integration

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Conformance tests: corners of the state machine that a well-behaved
// kernel peer rarely exercises.

// confRFC9293_3_10_7_4_SynReceived (TestConformance/RFC9293_3_10_7_4_SynReceived) covers segments arriving in
// SYN-RECEIVED: a retransmitted SYN is answered (Linux resends the SYN-ACK;
// RFC 9293's acceptability test would send <SEQ=SND.NXT><ACK=RCV.NXT>); an
// unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST> and the half-open connection
// stays; a RST at RCV.NXT removes it (RFC 9293 3.10.7.4 "SYN-RECEIVED STATE
// ... return this connection to the LISTEN state"), a RST elsewhere in the
// window gets a challenge ACK (RFC 5961 3.2 applies in every state but
// SYN-SENT).
func confRFC9293_3_10_7_4_SynReceived(t *testing.T, n *rawNet) {

	t.Run("retransmitted-SYN", func(t *testing.T) {
		p := n.newPeer(t, portEcho)
		p.syn(linuxSyn)
		sa := p.expectSynAck(prompt)
		p.syn(linuxSyn)
		r := p.next(prompt)
		switch {
		case r == nil:
			t.Fatal("a retransmitted SYN in SYN-RECEIVED got no answer")
		case r.seg.Flags == segment.FlagSYN|segment.FlagACK && r.seg.Seq == sa.seg.Seq && r.seg.Ack == sa.seg.Ack:
			t.Log("answered with the SYN-ACK again (as Linux)")
		case r.seg.Flags == segment.FlagACK && r.seg.Seq == p.irs.Add(1) && r.seg.Ack == p.iss.Add(1):
			t.Log("answered with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>")
		default:
			t.Fatalf("a retransmitted SYN in SYN-RECEIVED got %v", p.show(r))
		}
		p.ack()
		p.echoRoundTrip([]byte("one connection\n"))
	})

	t.Run("bad-ACK", func(t *testing.T) {
		p := n.newPeer(t, portEcho)
		p.syn(linuxSyn)
		p.expectSynAck(prompt)
		for _, ack := range []segment.Seq{p.irs.Add(1000), p.irs, back(p.irs, 5)} {
			p.send(segment.FlagACK, p.nxt, ack, nil)
			p.expect(prompt, want{flags: segment.FlagRST, seq: ack}, "unacceptable ACK in SYN-RECEIVED (RFC 9293 3.10.7.4)")
		}
		p.ack()
		p.echoRoundTrip([]byte("survived\n"))
	})

	t.Run("RST-in-window", func(t *testing.T) {
		p := n.newPeer(t, portEcho)
		p.syn(linuxSyn)
		p.expectSynAck(prompt)
		p.send(segment.FlagRST, p.nxt.Add(10), 0, nil)
		p.expect(prompt, want{flags: segment.FlagACK, seq: p.irs.Add(1), ack: p.nxt}, "challenge ACK for a RST not at RCV.NXT in SYN-RECEIVED (RFC 5961 3.2)")
		p.ack()
		p.echoRoundTrip([]byte("survived\n"))
	})

	t.Run("RST-exact", func(t *testing.T) {
		p := n.newPeer(t, portEcho)
		p.syn(linuxSyn)
		p.expectSynAck(prompt)
		p.send(segment.FlagRST, p.nxt, 0, nil)
		p.expectNone(quiet, "after a RST at RCV.NXT in SYN-RECEIVED")
		// Gone: the completing ACK now reaches the listener.
		p.ack()
		p.expect(prompt, want{flags: segment.FlagRST, seq: p.rcvNxt}, "ACK after the half-open connection was reset (RFC 9293 3.10.7.2)")
	})
}

// confRFC3168_6_1_1_EcnSynToNonEcnHost (TestConformance/RFC3168_6_1_1_EcnSynToNonEcnHost): a SYN with ECE and CWR
// (an ECN-setup SYN) to a listener is answered with a plain SYN-ACK (no ECE:
// the stack does not do ECN), never a RST (gVisor #7075).
func confRFC3168_6_1_1_EcnSynToNonEcnHost(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portEcho)
	s := segment.Segment{Seq: p.iss, Flags: segment.FlagSYN | segment.FlagECE | segment.FlagCWR, Window: 64240}
	s.Options.HasMSS, s.Options.MSS = true, 1460
	p.sendSeg(s)
	p.nxt = p.iss.Add(1)
	r := p.next(prompt)
	if r == nil || r.seg.Flags != segment.FlagSYN|segment.FlagACK || r.seg.Ack != p.nxt {
		t.Fatalf("ECN-setup SYN answered with %v, want a SYN-ACK without ECE", r)
	}
	p.irs, p.rcvNxt = r.seg.Seq, r.seg.Seq.Add(1)
	p.ack()
	p.echoRoundTrip([]byte("no ECN here\n"))
}

// confRFC9293_3_1_BadChecksum (TestConformance/RFC9293_3_1_BadChecksum): a segment with a wrong TCP
// checksum is discarded: no ACK, no RST, no data delivered (RFC 9293 3.1,
// 3.10.7: checksum failures are silently dropped).
func confRFC9293_3_1_BadChecksum(t *testing.T, n *rawNet) {
	p := established(t, n, linuxSyn)
	corrupt := func(s segment.Segment) {
		t.Helper()
		s.Src, s.Dst, s.SrcPort, s.DstPort = hostIP, stackIP, p.port, p.sport
		buf := make([]byte, 100+len(s.Payload))
		m, err := segment.BuildIPv4TCP(buf, &s, 1, rawTTL)
		if err != nil {
			t.Fatal(err)
		}
		buf[20+16] ^= 0x5a // the TCP checksum
		n.write(t, buf[:m])
	}
	corrupt(segment.Segment{Seq: p.nxt, Ack: p.rcvNxt, Flags: segment.FlagACK | segment.FlagPSH, Window: p.wnd, Payload: []byte("BAD")})
	corrupt(segment.Segment{Seq: p.nxt, Ack: p.rcvNxt, Flags: segment.FlagRST, Window: p.wnd})
	corrupt(segment.Segment{Seq: p.nxt.Add(100), Ack: p.rcvNxt, Flags: segment.FlagACK, Window: p.wnd, Payload: []byte("ooo")})
	p.expectNone(quiet, "segments with a bad checksum")
	p.echoRoundTrip([]byte("good"))
	// And to a closed port: no RST either.
	q := n.newPeer(t, portClosed)
	corrupt2 := segment.Segment{Src: hostIP, Dst: stackIP, SrcPort: q.port, DstPort: q.sport, Seq: 1, Flags: segment.FlagSYN, Window: 1000}
	buf := make([]byte, 100)
	m, _ := segment.BuildIPv4TCP(buf, &corrupt2, 2, rawTTL)
	buf[20+17] ^= 0x01
	n.write(t, buf[:m])
	q.expectNone(quiet, "a SYN with a bad checksum to a closed port")
}

// confRFC9293_3_10_7_4_OutOfOrderFIN (TestConformance/RFC9293_3_10_7_4_OutOfOrderFIN): a FIN that arrives beyond
// a hole is held with its text and takes effect only when the hole is
// filled ("If the FIN bit is set... advance RCV.NXT over the FIN" happens
// in sequence order); the echo then returns everything and closes.
func confRFC9293_3_10_7_4_OutOfOrderFIN(t *testing.T, n *rawNet) {
	p := established(t, n, linuxSyn)
	d := pattern(2000, 13)
	base := p.nxt
	p.send(segment.FlagACK|segment.FlagFIN, base.Add(1000), p.rcvNxt, d[1000:])
	p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: base}, "duplicate ACK for the out-of-order FIN")
	p.send(segment.FlagACK, base, p.rcvNxt, d[:1000])
	p.nxt = base.Add(2001)
	got, fin := p.read(-1, true, true, 3*time.Second)
	if !bytes.Equal(got, d) || !fin {
		t.Fatalf("echo returned %d bytes (FIN %v), want the %d sent and a FIN", len(got), fin, len(d))
	}
	if p.lastAck != p.nxt {
		t.Fatalf("the stack acknowledges %d, want %d (data and FIN)", uint32(p.lastAck), uint32(p.nxt))
	}
	p.waitState("CLOSED", prompt)
}

// confRFC1122_4_2_2_13_DataAfterClose (TestConformance/RFC1122_4_2_2_13_DataAfterClose): data arriving for a
// connection the application has closed (HTTP with "Connection: close",
// now in FIN-WAIT-2) cannot be delivered: the stack answers with a RST
// ("its TCP SHOULD send a RST to show that data was lost").
func confRFC1122_4_2_2_13_DataAfterClose(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portHTTP)
	p.handshake(linuxSyn)
	p.sendData([]byte(httpClose))
	if _, fin := p.read(-1, true, true, 3*time.Second); !fin {
		t.Fatal("no FIN after the response")
	}
	p.waitState("FIN-WAIT-2", prompt)
	p.sendData([]byte("GET / HTTP/1.1\r\n\r\n"))
	r := p.next(prompt)
	// A tail loss probe (RFC 8985 7) sent before our ACK of the FIN
	// arrived may still be on its way: a copy of what we already have.
	for r != nil && !r.seg.Flags.Has(segment.FlagRST) && r.seg.Seq.Add(r.seg.Len()).LessThanEq(p.rcvNxt) {
		t.Logf("skipping a retransmission of data already received: %v", p.show(r))
		r = p.next(prompt)
	}
	if r == nil || !r.seg.Flags.Has(segment.FlagRST) || r.seg.Flags&^(segment.FlagRST|segment.FlagACK) != 0 || r.seg.Seq != p.rcvNxt {
		t.Fatalf("data after the application closed got %v, want a RST with seq=%d", r, uint32(p.rcvNxt))
	}
	p.waitState("CLOSED", prompt)
}

// confRFC1122_4_2_2_13_TimeWaitReopen (TestConformance/RFC1122_4_2_2_13_TimeWaitReopen): a new SYN for the
// 4-tuple of a connection in TIME-WAIT with a sequence number above the old
// RCV.NXT may reopen it, provided the new ISS is above the largest
// sequence number of the old incarnation (RFC 1122 4.2.2.13, RFC 6191); an
// old SYN (at or below RCV.NXT) must not.
func confRFC1122_4_2_2_13_TimeWaitReopen(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portHTTP)
	p.handshake(linuxSyn)
	p.sendData([]byte(httpClose))
	if _, fin := p.read(-1, true, true, 3*time.Second); !fin {
		t.Fatal("no FIN after the response")
	}
	p.send(segment.FlagFIN|segment.FlagACK, p.nxt, p.rcvNxt, nil)
	p.nxt = p.nxt.Add(1)
	p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt}, "ACK of our FIN")
	p.waitState("TIME-WAIT", prompt)
	oldSndNxt := p.rcvNxt

	// An old SYN: no new connection (a TIME-WAIT ACK, or nothing).
	p.send(segment.FlagSYN, back(p.nxt, 100), 0, nil)
	if r := p.next(quiet); r != nil {
		if r.seg.Flags.Has(segment.FlagSYN) {
			t.Fatalf("an old SYN reopened the TIME-WAIT connection: %v", p.show(r))
		}
		if r.seg.Flags != segment.FlagACK || r.seg.Seq != p.rcvNxt || r.seg.Ack != p.nxt {
			t.Fatalf("an old SYN in TIME-WAIT got %v, want nothing or [.] seq=%d ack=%d", p.show(r), uint32(p.rcvNxt), uint32(p.nxt))
		}
	}

	// A new SYN above RCV.NXT.
	q := &peer{t: t, n: n, port: p.port, sport: p.sport, in: p.in, iss: p.nxt.Add(100000), wnd: 65535, src: p.src, dst: p.dst}
	q.nxt = q.iss
	q.syn(linuxSyn)
	sa := q.expectSynAck(prompt)
	if !sa.seg.Seq.GreaterThan(oldSndNxt) {
		t.Fatalf("the reopened connection's ISS %d is not above the old incarnation's SND.NXT %d (RFC 1122 4.2.2.13 (1))",
			uint32(sa.seg.Seq), uint32(oldSndNxt))
	}
	q.ack()
	q.sendData([]byte(httpClose))
	resp, _ := q.read(-1, true, true, 3*time.Second)
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 200 ")) {
		t.Fatalf("second incarnation's response %q", resp)
	}
}

// TestConformance_RFC9293_3_8_6_2_2_WindowReopens: when the stack's
// receive window has closed because the application stopped reading (the
// echo service blocks while we advertise a zero window), it reopens once
// the application drains the buffer, without the peer having to probe.
func TestConformance_RFC9293_3_8_6_2_2_WindowReopens(t *testing.T) {
	inEveryModeAndIPv6(t, confRFC9293_3_8_6_2_2_WindowReopens)
}

func confRFC9293_3_8_6_2_2_WindowReopens(t *testing.T, m linkMode, fam family) {
	n := conformanceIn(t, m, fam, "--rcvbuf", "8k", "--sndbuf", "8k")
	p := n.newPeer(t, portEcho)
	p.handshake(synOpts{mss: 1460, wscale: -1, window: 65535})
	p.wnd = 0
	p.ack()
	// Fill the stack until it advertises a zero window.
	sent := 0
	deadline := time.Now().Add(5 * time.Second)
	for {
		room := int(p.rightEdge().Sub(p.nxt))
		if room > 0 {
			k := min(room, 1460)
			p.sendData(pattern(k, sent))
			sent += k
			continue
		}
		r := p.nextControl(time.Until(deadline))
		if r == nil {
			t.Fatalf("after %d bytes the stack neither acknowledged them nor closed its window (edge %d, our next %d)",
				sent, uint32(p.rightEdge()), uint32(p.nxt))
		}
		if p.lastAck == p.nxt && p.lastWnd == 0 {
			break
		}
	}
	t.Logf("the stack's window closed after %d bytes", sent)
	// Open ours: the echo flows, the service reads again, and the stack's
	// window must reopen.
	p.wnd = 65535
	got, _ := p.read(sent, false, true, 5*time.Second)
	if !bytes.Equal(got, patternChunks(sent)) {
		t.Fatalf("echo differs at %d", firstDiff(got, patternChunks(sent)))
	}
	if p.lastWnd == 0 {
		r := p.next(prompt)
		if r == nil {
			t.Fatalf("the stack's window stays closed after the application drained it (RFC 9293 3.8.6.2.2)")
		}
	}
	if p.lastWnd < 4096 {
		t.Fatalf("the stack advertises %d bytes after the application read everything, want most of its 8 KiB", p.lastWnd)
	}
	p.echoRoundTrip([]byte("flowing again\n"))
}

// patternChunks is what the fill loop above sends: pattern(k, offset) for
// consecutive chunks, which is pattern(n, 0) as a whole.
func patternChunks(n int) []byte { return pattern(n, 0) }

// confRFC9293_3_8_5_UrgentInline (TestConformance/RFC9293_3_8_5_UrgentInline): urgent data is delivered
// in-line with the rest of the stream, each byte once (RFC 9293 3.8.5,
// RFC 6093: the urgent mechanism only marks a position; applications get
// the bytes in sequence).
func confRFC9293_3_8_5_UrgentInline(t *testing.T, n *rawNet) {
	p := established(t, n, linuxSyn)
	msg := []byte("before!urgent!after")
	p.sendSeg(segment.Segment{Seq: p.nxt, Ack: p.rcvNxt, Flags: segment.FlagACK | segment.FlagPSH | segment.FlagURG, Window: p.wnd, Urgent: 14, Payload: msg})
	p.nxt = p.nxt.Add(uint32(len(msg)))
	got, _ := p.readStream(len(msg), 3*time.Second)
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo of urgent data %q, want %q", got, msg)
	}
}

// confRFC9293_3_10_7_2_ListenIgnoresSynRst (TestConformance/RFC9293_3_10_7_2_ListenIgnoresSynRst): on a listener a RST
// is checked first and ignored, so SYN|RST opens nothing (RFC 9293
// 3.10.7.2 "first check for a RST"); nor does any reply go out.
func confRFC9293_3_10_7_2_ListenIgnoresSynRst(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portEcho)
	p.send(segment.FlagSYN|segment.FlagRST, p.iss, 0, nil)
	p.expectNone(quiet, "SYN|RST to a listener")
	p.handshake(linuxSyn)
	p.echoRoundTrip([]byte("fresh\n"))
}

// confRFC9293_3_7_1_PeerMSS (TestConformance/RFC9293_3_7_1_PeerMSS): the stack's segments never exceed
// the MSS the peer announced (smaller than ours: used as is; larger: our
// own MTU limits, RFC 9293 3.7.1 Eff.snd.MSS), and its IPv4 packets carry
// DF (it relies on path MTU discovery) and a sane TTL, its IPv6 packets no
// fragment header and a sane hop limit.
func confRFC9293_3_7_1_PeerMSS(t *testing.T, n *rawNet) {
	for _, c := range []struct{ mss, limit int }{{500, 500}, {9000, 1460}, {1000, 1000}} {
		p := n.newPeer(t, portEcho)
		p.handshake(synOpts{mss: uint16(c.mss), wscale: 7, window: 64240})
		// Full 1460-byte segments: every echo write is at least as large
		// as the limit, so the limit is always exercised.
		msg := pattern(4*1460, c.mss)
		for off := 0; off < len(msg); off += 1460 {
			p.sendData(msg[off : off+1460])
		}
		var got []byte
		largest := 0
		deadline := time.Now().Add(3 * time.Second)
		for len(got) < len(msg) {
			r := p.next(time.Until(deadline))
			if r == nil {
				t.Fatalf("MSS %d: echo returned %d of %d bytes", c.mss, len(got), len(msg))
			}
			if len(r.seg.Payload) > c.limit {
				t.Fatalf("MSS %d: a %d-byte segment, want at most %d: %v", c.mss, len(r.seg.Payload), c.limit, p.show(r))
			}
			largest = max(largest, len(r.seg.Payload))
			if err := checkUnfragmentable(r.raw); err != nil {
				t.Fatal(err)
			}
			if r.seg.Seq == p.rcvNxt && len(r.seg.Payload) > 0 {
				got = append(got, r.seg.Payload...)
				p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
				p.ack()
			}
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("MSS %d: echo differs at %d", c.mss, firstDiff(got, msg))
		}
		if largest != c.limit {
			t.Errorf("MSS %d: largest segment %d bytes, want full segments of %d", c.mss, largest, c.limit)
		}
	}
}

// confRFC9293_3_6_HalfClose (TestConformance/RFC9293_3_6_HalfClose): after our FIN the connection is
// half-closed (CLOSE-WAIT on the stack's side): chargen, which never reads,
// keeps sending; a retransmission of our FIN is an old duplicate and gets
// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>; the stream stays exact.
func confRFC9293_3_6_HalfClose(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portChargen)
	p.handshake(synOpts{mss: 1460, wscale: -1, window: 8760})
	stream, _ := p.read(5000, false, true, 3*time.Second)
	p.send(segment.FlagFIN|segment.FlagACK, p.nxt, p.rcvNxt, nil)
	fin := p.nxt
	p.nxt = p.nxt.Add(1)
	// Keep reading until a segment acknowledges the FIN.
	deadline := time.Now().Add(prompt)
	for p.lastAck != p.nxt {
		r := p.next(time.Until(deadline))
		if r == nil {
			t.Fatalf("our FIN (seq %d) was not acknowledged (last ACK %d)", uint32(fin), uint32(p.lastAck))
		}
		if r.seg.Seq == p.rcvNxt && len(r.seg.Payload) > 0 {
			stream = append(stream, r.seg.Payload...)
			p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
			p.ack()
		}
	}
	p.waitState("CLOSE-WAIT", prompt)
	// Quiet the stream (zero window; its probes are skipped) and send the
	// FIN again.
	p.wnd = 0
	p.ack()
	time.Sleep(50 * time.Millisecond)
	for p.nextControl(10*time.Millisecond) != nil {
	}
	p.send(segment.FlagFIN|segment.FlagACK, fin, p.rcvNxt, nil)
	r := p.nextControl(prompt)
	if r == nil || r.seg.Flags != segment.FlagACK || r.seg.Ack != p.nxt || r.seg.Seq != p.sndMax {
		t.Fatalf("a retransmitted FIN in CLOSE-WAIT got %v, want [.] seq=%d ack=%d", r, uint32(p.sndMax), uint32(p.nxt))
	}
	// Data keeps flowing towards us.
	p.wnd = 8760
	p.ack()
	more, _ := p.read(20000, false, true, 3*time.Second)
	stream = append(stream, more...)
	if err := checkChargen(stream, 0); err != nil {
		t.Fatalf("chargen stream across the half-close: %v", err)
	}
	p.waitState("CLOSE-WAIT", prompt) // still (the service never closes)
}

// confRFC9293_3_8_6_2_1_SenderSWS (TestConformance/RFC9293_3_8_6_2_1_SenderSWS): the stack does not send a
// small segment just because a little window opened: with 200 bytes usable
// out of a 2920-byte window it waits ("at least a fraction Fs of the
// maximum window", Fs = 1/2, or a full segment, or the override timeout of
// 0.1 to 1 s, RFC 9293 3.8.6.2.1); a full window's worth goes out at once.
func confRFC9293_3_8_6_2_1_SenderSWS(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portChargen)
	p.handshake(synOpts{mss: 1460, wscale: -1, window: 2920})
	base := p.rcvNxt
	for p.rcvNxt.Sub(base) < 2920 {
		r := p.next(prompt)
		if r == nil {
			t.Fatalf("only %d bytes of the 2920-byte window", p.rcvNxt.Sub(base))
		}
		if r.seg.Seq == p.rcvNxt {
			p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
		}
	}
	p.send(segment.FlagACK, p.nxt, base.Add(200), nil)
	sent := time.Now()
	if r := p.next(90 * time.Millisecond); r != nil {
		t.Fatalf("%v after only 200 bytes of window opened (%v later): silly window syndrome (RFC 9293 3.8.6.2.1)",
			p.show(r), r.at.Sub(sent))
	}
	p.ack()
	for i := range 2 {
		r := p.next(prompt)
		want := base.Add(2920 + uint32(1460*i))
		// The 200 bytes may have gone out after the override timeout.
		if r != nil && r.seg.Seq == base.Add(2920) && len(r.seg.Payload) < 1460 && i == 0 {
			t.Logf("override timeout sent %v", p.show(r))
			return
		}
		if r == nil || r.seg.Seq != want || len(r.seg.Payload) != 1460 {
			t.Fatalf("after the window opened got %v, want seq=%d with 1460 bytes", r, uint32(want))
		}
	}
}

// confRFC9293_3_10_7_4_BoundedReassembly (TestConformance/RFC9293_3_10_7_4_BoundedReassembly): many disjoint
// out-of-order segments (more than the stack keeps, 16 ranges) each get a
// duplicate ACK; after the holes are filled and whatever the stack did not
// keep is sent again from its ACK, the echo returns every byte once, in
// order.
func confRFC9293_3_10_7_4_BoundedReassembly(t *testing.T, n *rawNet) {
	p := established(t, n, linuxSyn)
	const pieces = 24
	d := pattern(pieces*200, 17)
	base := p.nxt
	for i := range pieces {
		off := 200*i + 100
		p.send(segment.FlagACK, base.Add(uint32(off)), p.rcvNxt, d[off:off+100])
		p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: base}, fmt.Sprintf("duplicate ACK for out-of-order piece %d", i))
	}
	for i := range pieces {
		p.send(segment.FlagACK, base.Add(uint32(200*i)), p.rcvNxt, d[200*i:200*i+100])
	}
	end := base.Add(uint32(len(d)))
	var echo []byte
	deadline := time.Now().Add(5 * time.Second)
	for len(echo) < len(d) {
		if time.Now().After(deadline) {
			t.Fatalf("echo returned %d of %d bytes; the stack acknowledges %d of them", len(echo), len(d), p.lastAck.Sub(base))
		}
		r := p.next(30 * time.Millisecond)
		if r == nil {
			// Quiet: resend from the stack's ACK, like a retransmission
			// timeout would.
			if a := p.lastAck; a.LessThan(end) {
				off := int(a.Sub(base))
				p.send(segment.FlagACK, a, p.rcvNxt, d[off:min(off+1000, len(d))])
			}
			continue
		}
		if len(r.seg.Payload) > 0 {
			if r.seg.Seq.GreaterThan(p.rcvNxt) {
				t.Fatalf("echo out of order: %v, want seq=%d", p.show(r), uint32(p.rcvNxt))
			}
			// A retransmission (a tail loss probe that crossed our ACK,
			// RFC 8985 7) repeats bytes we have: keep only the new ones.
			pl := r.seg.Payload[min(int(p.rcvNxt.Sub(r.seg.Seq)), len(r.seg.Payload)):]
			echo = append(echo, pl...)
			p.rcvNxt = p.rcvNxt.Add(uint32(len(pl)))
			p.ack()
		}
	}
	if !bytes.Equal(echo, d) {
		t.Fatalf("echo differs at %d", firstDiff(echo, d))
	}
	p.nxt = end
	p.expectNoNewData(quiet)
}

// confRFC9293_3_10_7_2_SynWithData (TestConformance/RFC9293_3_10_7_2_SynWithData):
// text on a SYN to a listener: "Set RCV.NXT to SEG.SEQ+1 ... and any other
// control or text should be queued for processing later" (RFC 9293
// 3.10.7.2), so the SYN-ACK acknowledges the SYN only; the text is then
// either delivered once the connection is established (queued) or dropped
// and sent again by us (as Linux without TCP Fast Open does). Either way
// the echo returns it exactly once.
func confRFC9293_3_10_7_2_SynWithData(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portEcho)
	msg := []byte("data on the SYN\n")
	s := segment.Segment{Seq: p.iss, Flags: segment.FlagSYN, Window: 65535, Payload: msg}
	s.Options.HasMSS, s.Options.MSS = true, 1460
	p.sendSeg(s)
	p.nxt = p.iss.Add(1)
	sa := p.expectSynAck(prompt)
	if sa.seg.Ack != p.iss.Add(1) {
		t.Fatalf("SYN-ACK acknowledges %d, want the SYN only (%d)", uint32(sa.seg.Ack), uint32(p.iss.Add(1)))
	}
	p.ack()
	var got []byte
	deadline := time.Now().Add(3 * time.Second)
	resent := false
	for len(got) < len(msg) {
		r := p.next(200 * time.Millisecond)
		if r == nil {
			if time.Now().After(deadline) {
				t.Fatalf("echo returned %q of %q", got, msg)
			}
			if !resent && p.lastAck == p.iss.Add(1) {
				p.sendData(msg) // it was dropped: send it again
				resent = true
			}
			continue
		}
		if len(r.seg.Payload) > 0 && r.seg.Seq == p.rcvNxt {
			got = append(got, r.seg.Payload...)
			p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
			if !resent {
				p.nxt = p.iss.Add(1 + uint32(len(msg))) // it was queued
			}
			p.ack()
		}
	}
	if string(got) != string(msg) {
		t.Fatalf("echo %q, want %q", got, msg)
	}
	t.Logf("text on the SYN was %s", map[bool]string{false: "queued and delivered", true: "dropped and resent"}[resent])
	p.expectNoNewData(quiet)
}
