package tcp_test

import (
	"testing"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// Negotiation (RFC 2018 2, RFC 7323 3.2), the timestamp clock (RFC 7323
// 5.4), TS.Recent (4.3), PAWS (5.3, 5.5), RTT measurement (4.1, 4.2) and
// the MSS accounting for the option bytes (RFC 9293 3.7.1, RFC 6691).

// Our SYN offers SACK-permitted and TSopt (TSecr 0) in Linux's 20-byte
// layout; a SYN-ACK that carries both makes them agreed, the effective MSS
// loses the 12 option bytes, and the handshake's RTT comes from the SYN.
func TestHandshake_RFC7323_ActiveOpenNegotiates(t *testing.T) {
	h := newHarness(t, buildOpts(nil))
	h.connect(0)
	got := h.drainOut(0)
	if len(got) != 1 {
		h.fatalf("want one SYN, got %d segments", len(got))
	}
	syn := got[0].seg
	o := &syn.Options
	if !o.SACKPermitted || !o.HasTimestamp || o.TSEcr != 0 || !o.HasMSS || !o.HasWScale {
		h.fatalf("SYN options %+v: want MSS, SACK-permitted, TS (ecr 0), WS", *o)
	}
	if n := segment.TCPOptionsLen(o); n != 20 {
		h.fatalf("SYN option bytes %d, want 20 (MSS 4, SACK-permitted+TS 12, NOP+WS 4)", n)
	}
	h.pTS = true
	h.send(10*ms, h.in("S.", seq(0), ack(1), mss(1460), sackOK(), wscale(7)))
	h.expect(10*ms, h.out(".", seq(1), ack(1), echo(pTSBase+10)))
	info := h.c.Info()
	if !info.SACKOK || !info.TimestampsOK {
		h.fatalf("negotiated SACK %v TS %v, want both", info.SACKOK, info.TimestampsOK)
	}
	if info.SndMSS != 1460-12 {
		h.fatalf("send MSS %d, want %d (RFC 6691: TSopt comes off)", info.SndMSS, 1460-12)
	}
	if info.RTTLatest != 10*ms || info.TSRecent != pTSBase+10 {
		h.fatalf("RTT %v TS.Recent %d, want 10ms and %d", info.RTTLatest, info.TSRecent, pTSBase+10)
	}
}

// A SYN-ACK without the options leaves them off: no TSopt on later
// segments, the full MSS.
func TestHandshake_RFC7323_ActiveOpenPeerDeclines(t *testing.T) {
	h := newEstablished(t)
	h.write(0, 100)
	h.expect(0, h.out("P.", data(100)))
	if info := h.c.Info(); info.SACKOK || info.TimestampsOK || info.SndMSS != 1460 {
		h.fatalf("SACK %v TS %v MSS %d; want neither and 1460", info.SACKOK, info.TimestampsOK, info.SndMSS)
	}
}

// A passive open answers with what the SYN offered, echoing its TSval.
func TestHandshake_RFC7323_PassiveOpenEchoes(t *testing.T) {
	h := newListen(t)
	h.pTS = true
	h.send(0, h.in("S", seq(0), mss(1460), sackOK()))
	h.expect(0, h.out("S.", seq(0), ack(1), mss(1460), echo(pTSBase)))
	h.send(5*ms, h.in(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
	info := h.c.Info()
	if !info.SACKOK || !info.TimestampsOK || info.RTTLatest != 5*ms {
		h.fatalf("SACK %v TS %v RTT %v; want both, 5ms", info.SACKOK, info.TimestampsOK, info.RTTLatest)
	}
	// Offered alone, each is agreed alone.
	h = newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460), sackOK()))
	h.expect(0, h.out("S.", seq(0), ack(1), mss(1460)))
	if info := h.c.Info(); !info.SACKOK || info.TimestampsOK {
		h.fatalf("SACK %v TS %v; want SACK only", info.SACKOK, info.TimestampsOK)
	}
}

// With the Config's SACK and Timestamps off nothing is offered or agreed,
// whatever the peer offers.
func TestHandshake_RFC7323_ConfigOff(t *testing.T) {
	off := withConfig(func(c *tcp.Config) { c.SACK, c.Timestamps = false, false })
	h := newListen(t, off)
	h.send(0, h.in("S", seq(0), mss(1460), sackOK(), ts(7, 0)))
	h.expect(0, h.out("S.", seq(0), ack(1), mss(1460)))
	h = newHarness(t, buildOpts([]hopt{off}))
	h.connect(0)
	if got := h.drainOut(0); len(got) != 1 || got[0].seg.Options.SACKPermitted || got[0].seg.Options.HasTimestamp {
		h.fatalf("SYN with the options configured off: %+v", got)
	}
}

// RFC 7323 5.4: TSval follows the injected clock in milliseconds, at an
// offset that is a keyed function of the 4-tuple (the same for every
// incarnation of one tuple, unrelated across tuples and keys).
func TestTimestamps_RFC7323_5_4_Clock(t *testing.T) {
	h := newEstablished(t, peerTSOpt())
	h.write(0, 10)
	h.expect(0, h.out("P.", data(10)))
	v0 := h.engTSVal
	h.send(3*ms, h.in(".", ack(11)))
	h.write(7*ms, 10)
	h.expect(7*ms, h.out("P.", data(10)))
	if d := h.engTSVal - v0; d != 7 {
		h.fatalf("TSval advanced %d in 7 ms, want 7", d)
	}
	g := tcp.NewISNGenerator([16]byte{1})
	other := testTuple
	other.RemotePort++
	if g.TSOffset(testTuple) != g.TSOffset(testTuple) || g.TSOffset(testTuple) == g.TSOffset(other) ||
		g.TSOffset(testTuple) == tcp.NewISNGenerator([16]byte{2}).TSOffset(testTuple) {
		t.Fatal("TSOffset is not a keyed function of the tuple")
	}
	if uint32(g.ISN(testTuple, t0)) == g.TSOffset(testTuple)+uint32(t0.UnixNano()/4000) {
		t.Fatal("TSOffset equals the ISN's hash")
	}
}

// RFC 7323 4.3: TS.Recent takes the TSval of a segment only if it is not
// beyond Last.ACK.sent, so an out-of-order segment's TSval is not echoed;
// the segment that fills the hole is.
func TestTimestamps_RFC7323_4_3_TSRecentAtLeftEdge(t *testing.T) {
	h := newEstablished(t, peerTSOpt(), handshakeRTT(10*ms))
	h.send(20*ms, h.in("P.", seq(101), data(100)))
	h.expect(20*ms, h.out(".", ack(1), echo(pTSBase+10)))
	h.send(30*ms, h.in("P.", seq(1), data(100)))
	h.expect(30*ms, h.out(".", ack(201), echo(pTSBase+30)))
	h.expectRead(30*ms, 200)
}

// RFC 7323 5.3 R1: a segment whose TSval is older than TS.Recent is
// dropped and answered with an ACK; after 24 days without an update
// TS.Recent is invalid and such a segment is accepted (5.5).
func TestPAWS_RFC7323_5_3_DropOldAcceptAfterIdle(t *testing.T) {
	h := newEstablished(t, peerTSOpt(), handshakeRTT(10*ms))
	h.send(20*ms, h.in("P.", seq(1), data(100)))
	h.expectWithin(20*ms, 60*ms, h.out(".", ack(101), echo(pTSBase+20)))
	// An old duplicate: new sequence numbers, old TSval.
	h.send(100*ms, h.in("P.", seq(101), data(100), ts(pTSBase+15, h.engTSVal)))
	h.expect(100*ms, h.out(".", ack(101), echo(pTSBase+20)))
	if info := h.c.Info(); info.PAWSDrops != 1 || info.RecvQueued != 100 {
		h.fatalf("PAWS drops %d, queued %d; want 1, 100", info.PAWSDrops, info.RecvQueued)
	}
	h.expectRead(100*ms, 100)
	day := 24 * 3600 * s
	h.send(25*day, h.in("P.", seq(101), data(100), ts(pTSBase+15, h.engTSVal)))
	h.expectWithin(25*day, 25*day+40*ms, h.out(".", ack(201), echo(pTSBase+15)))
	h.expectRead(25*day+40*ms, 100)
	if info := h.c.Info(); info.PAWSDrops != 1 {
		h.fatalf("PAWS drops %d after the idle period, want still 1", info.PAWSDrops)
	}
}

// RFC 7323 5.3 R1 applies to segments without RST: a RST at RCV.NXT resets
// the connection whatever its TSval.
func TestPAWS_RFC7323_5_3_RSTNotSubject(t *testing.T) {
	h := newEstablished(t, peerTSOpt(), handshakeRTT(10*ms))
	h.send(20*ms, h.in("R", seq(1), ts(pTSBase, 0)))
	h.expectState(tcp.StateClosed)
	if h.c.Err() == nil {
		h.fatalf("RST with an old TSval did not reset the connection")
	}
}

// RFC 7323 4.1/4.2 with RFC 6298: the ACK of a retransmission gives an RTT
// sample through its TSecr (Karn's rule forbids timing it otherwise), and
// that new measurement removes the RTO's backoff (RFC 6298 5, note after
// 5.7). Without timestamps the backed-off RTO would stay (backoff.go).
func TestTimestamps_RFC7323_4_RTTFromRetransmission(t *testing.T) {
	h := newEstablished(t, peerTSOpt(), handshakeRTT(10*ms))
	h.write(10*ms, 100)
	h.expect(10*ms, h.out("P.", data(100)))
	h.expect(210*ms, h.out("P.", seq(1), data(100))) // RTO 200 ms (the minimum)
	if rto := h.c.Info().RTO; rto != 400*ms {
		h.fatalf("RTO after the timeout %v, want 400ms", rto)
	}
	// The ACK echoes the retransmission's TSval (TS.Recent at the peer).
	h.send(240*ms, h.in(".", ack(101), ts(pTSBase+240, h.engTSVal)))
	info := h.c.Info()
	if info.RTTLatest != 30*ms || info.RTTAck != 30*ms {
		h.fatalf("RTT sample %v (this ACK's %v), want 30ms from TSecr", info.RTTLatest, info.RTTAck)
	}
	if info.RTO != 200*ms {
		h.fatalf("RTO %v after a TSecr sample, want the un-backed-off 200ms", info.RTO)
	}
}

// An ACK that acknowledges nothing new gives no RTT sample (RFC 7323 4.2).
func TestTimestamps_RFC7323_4_2_NoSampleFromDupAck(t *testing.T) {
	h := newEstablished(t, peerTSOpt(), handshakeRTT(10*ms))
	h.write(10*ms, 100)
	h.expect(10*ms, h.out("P.", data(100)))
	h.send(50*ms, h.in(".", ack(1), ts(pTSBase+50, h.engTSVal-5)))
	if info := h.c.Info(); info.RTTLatest != 10*ms || info.RTTAck != 0 {
		h.fatalf("RTT sample %v (this ACK's %v) from an ACK of nothing new, want the handshake's 10ms and none", info.RTTLatest, info.RTTAck)
	}
}

// RFC 9293 3.7.1 / RFC 6691: with TSopt on every segment, no segment the
// engine emits is larger than the peer's MSS plus 40 bytes of headers, on
// the plain path and cut from GSO super-segments by SendMSS (each piece
// keeping the same TSopt, segment.CutIPv4TCP).
func TestTimestamps_RFC6691_SegmentsFitMSS(t *testing.T) {
	for _, gso := range []int{0, 64000} {
		h := newEstablished(t, peerTSOpt(), peerSACKOpt(), peerWScaleOpt(7),
			withConfig(func(c *tcp.Config) { c.GSOMaxSize = gso }))
		h.write(0, 60000)
		full := 0
		for _, g := range h.drainOut(0) {
			seg := g.seg
			if !seg.Options.HasTimestamp {
				h.fatalf("segment without TSopt: %s", h.fmtOut(&seg))
			}
			var buf [70000]byte
			hl, err := segment.BuildIPv4TCPHeaders(buf[:], &seg, 0, 1, 64)
			if err != nil {
				h.fatalf("build: %v", err)
			}
			mss := int(h.c.SendMSS())
			for i := range segment.GSOSegments(len(seg.Payload), mss) {
				var pkt [1600]byte
				n, err := segment.CutIPv4TCP(pkt[:], buf[:hl], seg.Payload, mss, i)
				if err != nil {
					h.fatalf("cut piece %d: %v", i, err)
				}
				if n > 1460+40 {
					h.fatalf("packet of %d bytes, MSS 1460 allows 1500 (gso %d)", n, gso)
				}
				var p segment.Segment
				if err := segment.ParseIPv4TCP(pkt[:n], &p); err != nil || p.Options.TSVal != seg.Options.TSVal {
					h.fatalf("piece %d: %v, TSval %d want %d", i, err, p.Options.TSVal, seg.Options.TSVal)
				}
				if n == 1500 {
					full++
				}
			}
		}
		if full == 0 {
			h.fatalf("no full-sized (1500-byte) packet among the output (gso %d)", gso)
		}
	}
}

// RFC 7323 5.3 R1 with Linux's exemption for disordered ACKs (timestamps.go
// disorderedAck, a documented deviation): two duplicate ACKs overtake each
// other on the way, so the second to arrive carries the older TSval. It is
// processed, its SACK block counted, and not answered; an old duplicate ACK
// that would change the window, or is older than the replay window (one
// RTO at 1200 ticks a second), is still dropped and answered.
func TestPAWS_RFC7323_5_3_DisorderedDupAckProcessed(t *testing.T) {
	const seg = smss - 12 // MSS less the TSopt (RFC 6691)
	h := newEstablished(t, peerTSOpt(), peerSACKOpt(), handshakeRTT(10*ms))
	h.write(10*ms, 4*seg)
	if got := sentSegs(h.drainOut(10 * ms)); len(got) != 4 {
		h.fatalf("sent %v, want 4 segments", got)
	}
	block := func(k int64) mod { return sackBlock(1+(k-1)*seg, 1+k*seg) }
	ecr := h.engTSVal
	// The peer ACKed segment 2's arrival at 19 ms and segment 3's at 20
	// ms; the second ACK arrives first.
	h.send(30*ms, h.in(".", seq(1), ack(1), block(3), ts(pTSBase+20, ecr)))
	h.send(30*ms, h.in(".", seq(1), ack(1), block(2), block(3), ts(pTSBase+19, ecr)))
	for _, o := range h.drainOut(30 * ms) {
		if len(o.seg.Payload) == 0 {
			h.fatalf("answered a disordered duplicate ACK: %s", h.fmtOut(&o.seg))
		}
	}
	if in := h.c.Info(); in.PAWSDrops != 0 || in.SackedOut != 2*seg {
		h.fatalf("PAWS drops %d, SACKed %d; want 0, %d (both ACKs' blocks)", in.PAWSDrops, in.SackedOut, 2*seg)
	}
	// Not exempt: another window (the window update would take it), or a
	// TSval more than RTO (200 ms: 240 ticks at 1200 Hz) behind.
	h.send(31*ms, h.in(".", seq(1), ack(1), win(h.pWnd-1), block(2), ts(pTSBase+19, ecr)))
	h.send(32*ms, h.in(".", seq(1), ack(1), block(2), ts(pTSBase+20-241, ecr)))
	var acks int
	for _, o := range h.drainOut(32 * ms) {
		if len(o.seg.Payload) == 0 && o.seg.Ack == h.c.Info().RcvNxt {
			acks++
		}
	}
	if in := h.c.Info(); in.PAWSDrops != 2 || acks != 2 || in.SndWnd != uint32(h.pWnd) {
		h.fatalf("PAWS drops %d, ACKs sent %d, SND.WND %d; want 2, 2, %d", in.PAWSDrops, acks, in.SndWnd, h.pWnd)
	}
}
