package tcp_test

// Opening a connection: LISTEN, SYN-SENT, SYN-RECEIVED (RFC 9293 3.5,
// 3.10.7.2, 3.10.7.3), SYN retransmission (RFC 6298), the MSS option
// (RFC 9293 3.7.1).

import (
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// RFC 9293 3.5, Figure 6 seen from the passive side: SYN in, SYN-ACK out,
// ACK in, ESTABLISHED; the application hears of it once.
func TestListen_RFC9293_3_5_PassiveOpen(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460), win(65535)))
	h.expect(0, h.out("S.", seq(0), ack(1), anyOpts()))
	h.expectState(tcp.StateSynReceived)
	if ev := h.events(); ev&tcp.EventConnected != 0 {
		h.fatalf("EventConnected before the handshake completed")
	}
	h.send(50*ms, h.in(".", seq(1), ack(1)))
	h.expectNothing(50 * ms)
	h.expectState(tcp.StateEstablished)
	h.expectEvent(tcp.EventConnected)
}

// RFC 9293 3.5, Figure 6 seen from the active side.
func TestSynSent_RFC9293_3_5_ActiveOpen(t *testing.T) {
	h := newHarness(t, buildOpts(nil))
	h.connect(0)
	h.expect(0, h.out("S", seq(0), anyOpts()))
	h.expectState(tcp.StateSynSent)
	h.send(100*ms, h.in("S.", seq(0), ack(1), mss(1460)))
	h.expect(100*ms, h.out(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
	h.expectEvent(tcp.EventConnected)
	// Established with nothing to say: no timer other than possibly
	// keepalive (off by default).
	h.expectNoTimer()
}

// RFC 9293 3.5, Figure 7: simultaneous open. Both sides send SYN; each
// answers the other's SYN with a SYN-ACK from SYN-RECEIVED; the SYN-ACKs
// cross and both end ESTABLISHED. Whether the crossing SYN-ACK completes the
// handshake at once (Figure 7, Linux) or draws a plain ACK first (the
// segment-processing text of 3.10.7.4) the engine must send exactly one ACK
// and be ESTABLISHED once the peer's ACK arrives.
func TestSynSent_RFC9293_3_5_SimultaneousOpen(t *testing.T) {
	h := newSynSent(t)
	h.send(10*ms, h.in("S", seq(0), mss(1460)))
	h.expect(10*ms, h.out("S.", seq(0), ack(1), anyOpts()))
	h.expectState(tcp.StateSynReceived)
	h.send(20*ms, h.in("S.", seq(0), ack(1), mss(1460)))
	h.expect(20*ms, h.out(".", seq(1), ack(1)))
	h.send(30*ms, h.in(".", seq(1), ack(1)))
	h.expectNothing(30 * ms)
	h.expectState(tcp.StateEstablished)
	h.expectEvent(tcp.EventConnected)
	// And data flows both ways.
	h.send(40*ms, h.in("P.", seq(1), ack(1), data(100)))
	h.expectRead(40*ms, 100)
}

// RFC 6298 2.1 and 5.5: the SYN is retransmitted after the initial RTO of
// 1 s, then with the timeout doubled each time; RFC 9293 3.8.3 (R2 for
// SYNs, at least 3 minutes by default unless configured) ends it with a
// timeout error.
func TestSynSent_RFC6298_SYNRetransmitBackoff(t *testing.T) {
	h := newSynSent(t)
	at := time.Duration(0)
	rto := time.Second
	for i := 0; i < 4; i++ {
		h.expectNothing(at + rto - time.Nanosecond)
		at += rto
		h.expect(at, h.out("S", seq(0), anyOpts()))
		h.expectState(tcp.StateSynSent)
		rto *= 2
	}
	// The peer answers the 4th retransmission: ESTABLISHED.
	h.send(at+50*ms, h.in("S.", seq(0), ack(1), mss(1460)))
	h.expect(at+50*ms, h.out(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
}

// RFC 9293 3.8.3 (R2 for a SYN, "at least 3 minutes" unless the
// application sets it; Config.SynRetries counts retransmissions the way
// Linux's tcp_syn_retries does): after the last retransmission and one more
// backed-off RTO without an answer the connection is CLOSED with ETIMEDOUT,
// the application is told, and no timer is left. With 3 retries: SYN at 0,
// 1, 3, 7 s, give up at 15 s exactly.
func TestSynSent_RFC9293_3_8_3_ConnectionTimeout(t *testing.T) {
	h := newSynSent(t, withConfig(func(c *tcp.Config) { c.SynRetries = 3 }))
	for _, at := range []time.Duration{1 * s, 3 * s, 7 * s} {
		h.expectNothing(at - time.Nanosecond)
		h.expect(at, h.out("S", seq(0), anyOpts()))
	}
	h.expectNothing(15*s - time.Nanosecond)
	h.expectState(tcp.StateSynSent)
	h.expectNothing(15 * s)
	h.expectState(tcp.StateClosed)
	h.expectErr(syscall.ETIMEDOUT)
	h.expectEvent(tcp.EventClosed)
	h.expectNoTimer()
}

// RFC 9293 3.8.3 (MUST-23): "R2 for a SYN segment MUST be set large enough
// to provide retransmission of the segment for at least 3 minutes"; the
// application may give up sooner (Config.SynRetries above), the default may
// not. The SYN is retransmitted at 1, 3, 7, 15, 31, 63, 123 s (RFC 6298 5.5)
// (then capped at 60 s) and the attempt is still alive at 3 minutes.
func TestSynSent_RFC9293_3_8_3_DefaultConnectionTimeoutAtLeast3Minutes(t *testing.T) {
	h := newSynSent(t)
	var got []time.Duration
	for _, o := range h.drainOut(3 * time.Minute) {
		if o.seg.Flags != segment.FlagSYN || o.seg.Seq != engISS {
			h.fatalf("unexpected %s", h.fmtOut(&o.seg))
		}
		got = append(got, o.at.Sub(t0))
	}
	// RTO doubles from 1 s and is capped at Config.RTO.Max (60 s, RFC 6298 2.5).
	want := []time.Duration{1 * s, 3 * s, 7 * s, 15 * s, 31 * s, 63 * s, 123 * s}
	for i, w := range want {
		if i >= len(got) || got[i] != w {
			h.fatalf("SYN retransmissions at %v, want %v first", got, want)
		}
	}
	if st := h.c.State(); st != tcp.StateSynSent {
		h.fatalf("state %v at 3 minutes (Err %v): the default connection timeout is shorter than RFC 9293 3.8.3 MUST-23 allows", st, h.c.Err())
	}
}

// RFC 6298 5.5 on the passive side: the SYN-ACK is retransmitted with
// backoff until the handshake ACK arrives, which then completes it.
func TestSynReceived_RFC6298_SYNACKRetransmitBackoff(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460)))
	h.expect(0, h.out("S.", seq(0), ack(1), anyOpts()))
	h.expectNothing(1*s - time.Nanosecond)
	h.expect(1*s, h.out("S.", seq(0), ack(1), anyOpts()))
	h.expectNothing(3*s - time.Nanosecond)
	h.expect(3*s, h.out("S.", seq(0), ack(1), anyOpts()))
	h.expectState(tcp.StateSynReceived)
	h.send(3*s+10*ms, h.in(".", seq(1), ack(1)))
	h.expectNothing(3*s + 10*ms)
	h.expectState(tcp.StateEstablished)
}

// RFC 9293 3.10.7.3: a retransmitted SYN arriving in SYN-RECEIVED (our
// SYN-ACK was lost) is answered with the SYN-ACK again, not a RST, and the
// state does not change.
func TestSynReceived_RFC9293_3_10_7_4_DuplicateSYN(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460)))
	h.expect(0, h.out("S.", seq(0), ack(1), anyOpts()))
	h.send(500*ms, h.in("S", seq(0), mss(1460)))
	out := h.drainOut(500 * ms)
	for _, o := range out {
		if o.seg.Flags&segment.FlagRST != 0 {
			h.fatalf("RST in answer to a retransmitted SYN: %s", h.fmtOut(&o.seg))
		}
	}
	h.expectState(tcp.StateSynReceived)
	h.send(600*ms, h.in(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
}

// RFC 9293 3.10.7.4 (SYN-RECEIVED, fifth check): an ACK in SYN-RECEIVED that
// does not acknowledge our SYN draws <SEQ=SEG.ACK><CTL=RST>.
func TestSynReceived_RFC9293_3_10_7_4_BadACKGetsReset(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460)))
	h.expect(0, h.out("S.", seq(0), ack(1), anyOpts()))
	h.send(10*ms, h.in(".", seq(1), ack(1000)))
	h.expect(10*ms, h.out("R", seq(1000)))
	h.expectState(tcp.StateSynReceived)
	h.send(20*ms, h.in(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
}

// RFC 9293 3.10.7.4 first check on SYN-RECEIVED: an RST in window in
// SYN-RECEIVED of a passive open ends the attempt (back to LISTEN, which for
// a per-connection engine means the attempt is dropped), without a reply and
// without the application ever hearing of it.
func TestSynReceived_RFC9293_3_10_7_4_ResetDropsAttempt(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460)))
	h.expect(0, h.out("S.", seq(0), ack(1), anyOpts()))
	h.send(10*ms, h.in("R", seq(1)))
	h.expectNothing(10 * ms)
	if st := h.c.State(); st != tcp.StateClosed && st != tcp.StateListen {
		h.fatalf("state %v after RST in SYN-RECEIVED, want CLOSED or LISTEN", st)
	}
	if ev := h.events(); ev&tcp.EventConnected != 0 {
		h.fatalf("EventConnected for a reset attempt")
	}
	h.expectNoTimer()
}

// RFC 9293 3.10.7.3: in SYN-SENT an acceptable ACK with RST means the peer
// refused: CLOSED, "connection refused", no reply.
func TestSynSent_RFC9293_3_10_7_3_ResetRefused(t *testing.T) {
	h := newSynSent(t)
	h.send(20*ms, h.in("R.", seq(0), ack(1)))
	h.expectNothing(20 * ms)
	h.expectState(tcp.StateClosed)
	h.expectErr(syscall.ECONNREFUSED)
	h.expectEvent(tcp.EventClosed)
	h.expectNoTimer()
}

// RFC 9293 3.10.7.3 / RFC 5961 3.2: in SYN-SENT an RST whose ACK does not
// acknowledge our SYN is dropped, and so is an RST without ACK; the SYN
// keeps being retransmitted.
func TestSynSent_RFC9293_3_10_7_3_UnacceptableResetIgnored(t *testing.T) {
	h := newSynSent(t)
	h.send(10*ms, h.in("R.", seq(0), ack(5)))
	h.expectNothing(10 * ms)
	h.send(20*ms, h.in("R.", seq(0), ack(0)))
	h.expectNothing(20 * ms)
	h.send(30*ms, h.in("R", seq(0)))
	h.expectNothing(30 * ms)
	h.expectState(tcp.StateSynSent)
	h.expect(1*s, h.out("S", seq(0), anyOpts()))
}

// RFC 9293 3.10.7.3: in SYN-SENT, an ACK that does not acknowledge our SYN
// (SEG.ACK =< ISS or SEG.ACK > SND.NXT) draws <SEQ=SEG.ACK><CTL=RST> and is
// otherwise ignored.
func TestSynSent_RFC9293_3_10_7_3_BadACKGetsReset(t *testing.T) {
	h := newSynSent(t)
	h.send(10*ms, h.in(".", seq(0), ack(77)))
	h.expect(10*ms, h.out("R", seq(77)))
	h.send(20*ms, h.in("S.", seq(0), ack(0), mss(1460)))
	h.expect(20*ms, h.out("R", seq(0)))
	h.expectState(tcp.StateSynSent)
	// The real SYN-ACK still works.
	h.send(30*ms, h.in("S.", seq(0), ack(1), mss(1460)))
	h.expect(30*ms, h.out(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
}

// RFC 9293 3.10.7.3: a segment with neither SYN nor RST in SYN-SENT is
// dropped.
func TestSynSent_RFC9293_3_10_7_3_NoSYNDropped(t *testing.T) {
	h := newSynSent(t)
	h.send(10*ms, h.in("P", seq(0), data(10)))
	h.expectNothing(10 * ms)
	h.expectState(tcp.StateSynSent)
}

// RFC 9293 3.8.3 (R2 for the SYN-ACK, Config.SynAckRetries): an unanswered
// SYN-ACK is retransmitted with backoff and the half-open attempt is then
// dropped (CLOSED, no reply, no timer) without the application hearing of
// it. With 2 retries: SYN-ACK at 0, 1, 3 s, dropped at 7 s.
func TestSynReceived_RFC9293_3_8_3_SYNACKRetriesExhausted(t *testing.T) {
	h := newListen(t, withConfig(func(c *tcp.Config) { c.SynAckRetries = 2 }))
	h.send(0, h.in("S", seq(0), mss(1460)))
	h.expect(0, h.out("S.", seq(0), ack(1), anyOpts()))
	h.expect(1*s, h.out("S.", seq(0), ack(1), anyOpts()))
	h.expect(3*s, h.out("S.", seq(0), ack(1), anyOpts()))
	h.expectNothing(7*s - 1)
	h.expectState(tcp.StateSynReceived)
	h.expectNothing(7 * s)
	h.expectState(tcp.StateClosed)
	h.expectNoTimer()
	if ev := h.events(); ev&tcp.EventConnected != 0 {
		h.fatalf("EventConnected for an attempt that never completed")
	}
}

// RFC 4987 (SYN cookies): AcceptCookie completes a passive open from the
// cookie's parameters straight to ESTABLISHED, honouring the MSS and window
// scale the cookie encodes, and processes data on the completing ACK.
func TestListen_RFC4987_AcceptCookie(t *testing.T) {
	h := newHarness(t, buildOpts(nil))
	ackSeg := h.in("P.", seq(1), ack(1), data(100), win(1000))
	h.pNxt = 101
	h.c.AcceptCookie(h.now, engISS, tcp.SynParams{IRS: peerISS, MSS: 500, WScale: 2}, ackSeg)
	h.expectState(tcp.StateEstablished)
	h.expectEvent(tcp.EventConnected)
	h.expectWithin(0, 200*ms, h.out(".", seq(1), ack(101)))
	h.expectRead(200*ms, 100)
	if info := h.c.Info(); info.SndMSS != 500 || info.SndWndShift != 2 || info.SndWnd != 4000 {
		h.fatalf("after AcceptCookie MSS %d shift %d SND.WND %d, want 500, 2, 4000", info.SndMSS, info.SndWndShift, info.SndWnd)
	}
	h.write(300*ms, 1200)
	out := h.drainOut(300 * ms)
	if n, k := h.sentData(out, 1); n != 1200 || k != 3 {
		h.fatalf("sent %d bytes in %d segments, want 1200 in 3 (MSS 500)", n, k)
	}
	// No MSS in the cookie: 536 (RFC 9293 3.7.1).
	h2 := newHarness(t, buildOpts(nil))
	h2.c.AcceptCookie(h2.now, engISS, tcp.SynParams{IRS: peerISS, MSS: 0, WScale: -1}, h2.in(".", seq(1), ack(1)))
	if info := h2.c.Info(); info.SndMSS != 536 || info.SndWndShift != 0 {
		h2.fatalf("cookie without MSS/WS: MSS %d shift %d, want 536, 0", info.SndMSS, info.SndWndShift)
	}
}

// RFC 9293 3.10.7.3: a SYN-ACK carrying data: after the handshake steps,
// "continue processing at the sixth step below where the URG bit is
// checked": the data is text like any other, delivered and acknowledged.
func TestSynSent_RFC9293_3_10_7_3_SYNACKWithData(t *testing.T) {
	h := newSynSent(t)
	h.send(10*ms, h.in("S.", seq(0), ack(1), mss(1460), data(100)))
	h.expectWithin(10*ms, 210*ms, h.out(".", seq(1), ack(101)))
	h.expectState(tcp.StateEstablished)
	h.expectRead(300*ms, 100)
}

// RFC 9293 3.10.7.4 (SYN-RECEIVED, fifth check): if the handshake's ACK is
// lost, the peer's first data segment (which carries the same ACK)
// completes the handshake and its data is delivered.
func TestSynReceived_RFC9293_3_10_7_4_DataCompletesHandshake(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460)))
	h.expect(0, h.out("S.", seq(0), ack(1), anyOpts()))
	h.send(10*ms, h.in("P.", seq(1), ack(1), data(100)))
	h.expectState(tcp.StateEstablished)
	h.expectEvent(tcp.EventConnected)
	h.expectWithin(10*ms, 210*ms, h.out(".", seq(1), ack(101)))
	h.expectRead(300*ms, 100)
}

// RFC 9293 3.10.7.4 (first check, an old duplicate): the peer did not get
// our handshake ACK and retransmits its SYN-ACK; in ESTABLISHED that
// segment is unacceptable (entirely old) and draws the ACK it needs; no
// state change, no RST.
func TestEstablished_RFC9293_3_10_7_4_RetransmittedSYNACKReACKed(t *testing.T) {
	h := newEstablished(t)
	h.send(1*s, h.in("S.", seq(0), ack(1), mss(1460)))
	h.expect(1*s, h.out(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
}

// RFC 9293 3.10.7.4 (SYN-RECEIVED, first check): an unacceptable segment
// draws <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and is otherwise ignored.
func TestSynReceived_RFC9293_3_10_7_4_UnacceptableSegmentACKed(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460)))
	h.expect(0, h.out("S.", seq(0), ack(1), anyOpts()))
	h.send(10*ms, h.in("P.", seq(1<<20), ack(1), data(10)))
	h.expect(10*ms, h.out(".", seq(1), ack(1)))
	h.expectState(tcp.StateSynReceived)
}

// RFC 9293 3.10.7.4 (SYN-RECEIVED, second check): "If this connection was
// initiated with an active OPEN (i.e., came from SYN-SENT state), then the
// connection was refused": after a simultaneous open, an RST at RCV.NXT
// ends it with ECONNREFUSED.
func TestSynReceived_RFC9293_3_10_7_4_ResetAfterSimultaneousOpenRefused(t *testing.T) {
	h := newSynSent(t)
	h.send(10*ms, h.in("S", seq(0), mss(1460)))
	h.expect(10*ms, h.out("S.", seq(0), ack(1), anyOpts()))
	h.send(20*ms, h.in("R", seq(1)))
	h.expectNothing(20 * ms)
	h.expectState(tcp.StateClosed)
	h.expectErr(syscall.ECONNREFUSED)
	h.expectNoTimer()
}

// RFC 6298 5.7: "If the timer expires awaiting the ACK of a SYN segment and
// the TCP implementation is using an RTO less than 3 seconds, the RTO MUST
// be re-initialized to 3 seconds when data transmission begins (i.e., after
// the three-way handshake completes)." The SYN is retransmitted at 1 s, the
// SYN-ACK then gives no RTT sample (Karn), so the first data segment is
// retransmitted 3 s after it was sent.
func TestSynSent_RFC6298_5_7_RTOAfterSYNTimeoutIs3s(t *testing.T) {
	h := newSynSent(t)
	h.expect(1*s, h.out("S", seq(0), anyOpts()))
	h.send(1*s+100*ms, h.in("S.", seq(0), ack(1), mss(1460)))
	h.expect(1*s+100*ms, h.out(".", seq(1), ack(1)))
	if rto := h.c.Info().RTO; rto != 3*s {
		h.fatalf("RTO %v after a SYN timeout, want 3 s", rto)
	}
	h.write(2*s, 100)
	h.expect(2*s, h.out("P.", seq(1), data(100)))
	h.expectNothing(5*s - 1)
	h.expect(5*s, h.out("P.", seq(1), data(100)))
}

// The same on the passive side: a SYN-ACK that timed out.
func TestSynReceived_RFC6298_5_7_RTOAfterSYNACKTimeoutIs3s(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460)))
	h.expect(0, h.out("S.", seq(0), ack(1), anyOpts()))
	h.expect(1*s, h.out("S.", seq(0), ack(1), anyOpts()))
	h.send(1*s+100*ms, h.in(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
	if rto := h.c.Info().RTO; rto != 3*s {
		h.fatalf("RTO %v after a SYN-ACK timeout, want 3 s", rto)
	}
}

// RFC 5681 3.1: "if the SYN or SYN/ACK is lost, the initial window used by
// a sender after a correctly transmitted SYN MUST be one segment consisting
// of at most SMSS bytes" (RFC 6928 keeps this).
func TestSynSent_RFC5681_3_1_OneSegmentWindowAfterLostSYN(t *testing.T) {
	h := newSynSent(t)
	h.expect(1*s, h.out("S", seq(0), anyOpts()))
	h.send(1*s+100*ms, h.in("S.", seq(0), ack(1), mss(1460)))
	h.expect(1*s+100*ms, h.out(".", seq(1), ack(1)))
	h.write(2*s, 10*1460)
	if n, k := h.sentData(h.drainOut(2*s), 1); k != 1 || n != 1460 {
		h.fatalf("first flight after a lost SYN: %d segments (%d bytes), want 1 of 1460", k, n)
	}
}
