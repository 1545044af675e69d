package tcp_test

// Closing a connection: RFC 9293 3.6 (and 3.10.4 CLOSE, 3.10.5 ABORT),
// grouped by the state the close starts from.

import (
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// RFC 9293 3.6, Figure 12 (normal close), active side: ESTABLISHED -> FIN-WAIT-1
// -> FIN-WAIT-2 -> TIME-WAIT.
func TestEstablished_RFC9293_3_6_ActiveClose(t *testing.T) {
	h := newEstablished(t)
	h.close(10 * ms)
	h.expect(10*ms, h.out("F.", seq(1), ack(1)))
	h.expectState(tcp.StateFinWait1)
	h.send(20*ms, h.in(".", seq(1), ack(2)))
	h.expectNothing(20 * ms)
	h.expectState(tcp.StateFinWait2)
	h.send(30*ms, h.in("F.", seq(1), ack(2)))
	h.expect(30*ms, h.out(".", seq(2), ack(2)))
	h.expectState(tcp.StateTimeWait)
	h.expectEvent(tcp.EventTimeWait)
}

// RFC 9293 3.6, Figure 12, passive side: the peer's FIN is ACKed and read as
// EOF (CLOSE-WAIT), then our close sends FIN (LAST-ACK), and its ACK ends
// the connection cleanly: CLOSED, Err nil, no timer.
func TestEstablished_RFC9293_3_6_PassiveClose(t *testing.T) {
	h := newEstablished(t)
	h.send(10*ms, h.in("F.", seq(1), ack(1)))
	// RFC 9293 3.10.7.4 eighth step: "advance RCV.NXT over the FIN, and
	// send an acknowledgment for the FIN". Allowed to be delayed, within
	// the delayed-ACK bound.
	h.expectWithin(10*ms, 210*ms, h.out(".", seq(1), ack(2)))
	h.expectState(tcp.StateCloseWait)
	h.expectEvent(tcp.EventReadable)
	h.expectEOF(300 * ms)
	h.close(300 * ms)
	h.expect(300*ms, h.out("F.", seq(1), ack(2)))
	h.expectState(tcp.StateLastAck)
	h.send(350*ms, h.in(".", seq(2), ack(2)))
	h.expectNothing(350 * ms)
	h.expectState(tcp.StateClosed)
	h.expectErr(nil)
	h.expectEvent(tcp.EventClosed)
	h.expectNoTimer()
}

// RFC 9293 3.6, Figure 13 (simultaneous close): both FINs cross; FIN-WAIT-1
// -> CLOSING on the peer's FIN, CLOSING -> TIME-WAIT on the ACK of ours.
func TestFinWait1_RFC9293_3_6_SimultaneousClose(t *testing.T) {
	h := newEstablished(t)
	h.close(10 * ms)
	h.expect(10*ms, h.out("F.", seq(1), ack(1)))
	h.send(15*ms, h.in("F.", seq(1), ack(1)))
	h.expect(15*ms, h.out(".", seq(2), ack(2)))
	h.expectState(tcp.StateClosing)
	h.send(20*ms, h.in(".", seq(2), ack(2)))
	h.expectNothing(20 * ms)
	h.expectState(tcp.StateTimeWait)
}

// RFC 9293 3.10.7.4 eighth step, FIN-WAIT-1: a FIN that also acknowledges our
// FIN goes straight to TIME-WAIT.
func TestFinWait1_RFC9293_3_10_7_4_FINAckingOurFIN(t *testing.T) {
	h := newEstablished(t)
	h.close(10 * ms)
	h.expect(10*ms, h.out("F.", seq(1), ack(1)))
	h.send(20*ms, h.in("F.", seq(1), ack(2)))
	h.expect(20*ms, h.out(".", seq(2), ack(2)))
	h.expectState(tcp.StateTimeWait)
}

// RFC 9293 3.6 half-close (RFC 1122 4.2.2.13): CloseWrite sends FIN after
// the queued data; the application keeps reading in FIN-WAIT-2 and every
// byte the peer sends arrives; the peer's FIN then reads as EOF.
func TestEstablished_RFC9293_3_6_HalfCloseKeepsReading(t *testing.T) {
	h := newEstablished(t)
	h.write(10*ms, 300)
	h.closeWrite(10 * ms)
	// Data, then the FIN (possibly on the same segment).
	out := h.drainOut(10 * ms)
	var sawFIN bool
	var bytes int
	for _, o := range out {
		bytes += len(o.seg.Payload)
		if o.seg.Flags&segment.FlagFIN != 0 {
			sawFIN = true
			if o.seg.Seq.Add(uint32(len(o.seg.Payload))) != engISS.Add(301) {
				h.fatalf("FIN at %s, want after the 300 queued bytes", h.fmtOut(&o.seg))
			}
		}
	}
	if bytes != 300 || !sawFIN {
		h.fatalf("after CloseWrite sent %d bytes, FIN %v; want 300 bytes then FIN", bytes, sawFIN)
	}
	h.expectState(tcp.StateFinWait1)
	h.send(20*ms, h.in(".", seq(1), ack(302)))
	h.expectState(tcp.StateFinWait2)
	// Reading goes on.
	h.send(30*ms, h.in(".", seq(1), ack(302), data(1460)))
	h.send(31*ms, h.in("P.", seq(1461), ack(302), data(1460)))
	// RFC 5681 4.2: the second full-size segment is ACKed at once.
	h.expect(31*ms, h.out(".", seq(302), ack(2921)))
	h.expectRead(40*ms, 2920)
	h.send(50*ms, h.in("F.", seq(2921), ack(302)))
	h.expect(50*ms, h.out(".", seq(302), ack(2922)))
	h.expectEOF(60 * ms)
	h.expectState(tcp.StateTimeWait)
}

// RFC 9293 3.6: after the peer's FIN (CLOSE-WAIT) we may keep sending; the
// peer's half-close does not stop our direction.
func TestCloseWait_RFC9293_3_6_SendAfterPeerFIN(t *testing.T) {
	h := newEstablished(t)
	h.send(10*ms, h.in("F.", seq(1), ack(1)))
	h.expectWithin(10*ms, 210*ms, h.out(".", seq(1), ack(2)))
	h.expectState(tcp.StateCloseWait)
	h.write(300*ms, 1000)
	h.expect(300*ms, h.out("P.", seq(1), ack(2), data(1000)))
	h.send(350*ms, h.in(".", seq(2), ack(1001)))
	h.close(400 * ms)
	h.expect(400*ms, h.out("F.", seq(1001), ack(2)))
	h.send(450*ms, h.in(".", seq(2), ack(1002)))
	h.expectState(tcp.StateClosed)
	h.expectErr(nil)
}

// RFC 9293 3.10.5 ABORT: "send a reset segment <SEQ=SND.NXT><CTL=RST>",
// enter CLOSED, no timer, and nothing is ever sent again.
func TestEstablished_RFC9293_3_10_5_Abort(t *testing.T) {
	h := newEstablished(t)
	h.write(10*ms, 100)
	h.expect(10*ms, h.out("P.", seq(1), ack(1), data(100)))
	h.abort(20 * ms)
	out := h.drainOut(20 * ms)
	if len(out) != 1 || out[0].seg.Flags&segment.FlagRST == 0 || out[0].seg.Seq != engISS.Add(101) {
		h.fatalf("Abort sent %d segments, want one RST with seq 101", len(out))
	}
	if out[0].seg.Flags&^(segment.FlagRST|segment.FlagACK) != 0 || len(out[0].seg.Payload) != 0 {
		h.fatalf("Abort sent %s, want a bare RST", h.fmtOut(&out[0].seg))
	}
	h.expectState(tcp.StateClosed)
	h.expectNoTimer()
	// Nothing more, ever.
	h.expectNothing(10 * time.Minute)
}

// RFC 9293 3.10.4 / RFC 2525 2.17 (and Linux): closing with unread received
// data aborts with RST instead of a FIN.
func TestEstablished_RFC2525_2_17_CloseWithUnreadDataResets(t *testing.T) {
	h := newEstablished(t)
	h.send(10*ms, h.in("P.", seq(1), ack(1), data(100)))
	h.close(20 * ms)
	out := h.drainOut(20 * ms)
	var rst *segment.Segment
	for i := range out {
		if out[i].seg.Flags&segment.FlagFIN != 0 {
			h.fatalf("FIN sent although data was unread: %s", h.fmtOut(&out[i].seg))
		}
		if out[i].seg.Flags&segment.FlagRST != 0 {
			rst = &out[i].seg
		}
	}
	if rst == nil || rst.Seq != engISS.Add(1) {
		h.fatalf("close with unread data did not send RST seq 1")
	}
	h.expectState(tcp.StateClosed)
	h.expectNoTimer()
}

// RFC 9293 3.10.7.4 eighth step and 3.8.1: our FIN is retransmitted on the
// RTO with backoff until acknowledged.
func TestFinWait1_RFC9293_3_8_1_FINRetransmitted(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms))
	rto := h.c.Info().RTO
	h.close(1 * s)
	h.expect(1*s, h.out("F.", seq(1), ack(1)))
	at := 1 * s
	for i := 0; i < 3; i++ {
		h.expectNothing(at + rto - time.Nanosecond)
		at += rto
		h.expect(at, h.out("F.", seq(1), ack(1)))
		h.expectState(tcp.StateFinWait1)
		rto *= 2
	}
	h.send(at+10*ms, h.in(".", seq(1), ack(2)))
	h.expectState(tcp.StateFinWait2)
	h.expectNothing(at + 10*s)
}

// RFC 9293 3.10.7.4 (LAST-ACK): the FIN is retransmitted until acknowledged
// in LAST-ACK too.
func TestLastAck_RFC9293_3_8_1_FINRetransmitted(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms))
	h.send(1*s, h.in("F.", seq(1), ack(1)))
	h.expectWithin(1*s, 1*s+200*ms, h.out(".", seq(1), ack(2)))
	h.expectEOF(2 * s)
	rto := h.c.Info().RTO
	h.close(2 * s)
	h.expect(2*s, h.out("F.", seq(1), ack(2)))
	h.expect(2*s+rto, h.out("F.", seq(1), ack(2)))
	h.expectState(tcp.StateLastAck)
	h.send(2*s+rto+10*ms, h.in(".", seq(2), ack(2)))
	h.expectState(tcp.StateClosed)
	h.expectNoTimer()
}

// RFC 9293 3.10.4: a close while data is still queued keeps sending the data
// and puts the FIN after it; the state changes at once even when the FIN
// cannot be sent because the peer's window is zero (gVisor #13393).
func TestEstablished_RFC9293_3_10_4_CloseWithZeroWindowChangesState(t *testing.T) {
	h := newEstablished(t)
	h.write(10*ms, 1000)
	h.expect(10*ms, h.out("P.", seq(1), ack(1), data(1000)))
	h.send(20*ms, h.in(".", seq(1), ack(1001), win(0)))
	h.write(30*ms, 500)
	h.expectNothing(30 * ms)
	h.close(40 * ms)
	h.expectState(tcp.StateFinWait1)
	// Window opens: the data and then the FIN go out.
	h.send(50*ms, h.in(".", seq(1), ack(1001), win(65535)))
	out := h.drainOut(50 * ms)
	var n int
	var fin bool
	for _, o := range out {
		n += len(o.seg.Payload)
		if o.seg.Flags&segment.FlagFIN != 0 {
			fin = o.seg.Seq.Add(uint32(len(o.seg.Payload))) == engISS.Add(1501)
		}
	}
	if n != 500 || !fin {
		h.fatalf("after the window opened: %d bytes, FIN at 1501 %v; want 500 and true", n, fin)
	}
}

// RFC 9293 3.10.7.4 first check: an acceptable RST in ESTABLISHED (SEG.SEQ ==
// RCV.NXT exactly, RFC 5961 3.2) ends the connection: CLOSED, ECONNRESET,
// no reply, no timer.
func TestEstablished_RFC5961_3_2_ExactResetCloses(t *testing.T) {
	h := newEstablished(t)
	h.send(10*ms, h.in("R", seq(1)))
	h.expectNothing(10 * ms)
	h.expectState(tcp.StateClosed)
	h.expectErr(syscall.ECONNRESET)
	h.expectEvent(tcp.EventClosed)
	h.expectNoTimer()
	// The trace names the RST as the cause.
	if tr, ok := h.lastTransition(); !ok || tr.From != tcp.StateEstablished || tr.To != tcp.StateClosed ||
		tr.Seg == nil || tr.Seg.Flags != segment.FlagRST || !tr.Time.Equal(h.at(10*ms)) {
		h.fatalf("last transition %+v, want ESTABLISHED -> CLOSED caused by the RST at 10 ms", tr)
	}
}

// The same exact RST in every other synchronized state ends the connection
// (RFC 9293 3.10.7.4 second check: FIN-WAIT-1/2, CLOSE-WAIT -> CLOSED with
// "connection reset"; CLOSING, LAST-ACK -> CLOSED).
func TestSynchronized_RFC9293_3_10_7_4_ExactResetInEveryState(t *testing.T) {
	setups := map[string]func(t *testing.T) (*harness, time.Duration, int64){
		"FIN-WAIT-1": func(t *testing.T) (*harness, time.Duration, int64) {
			h := newEstablished(t)
			h.close(10 * ms)
			h.expect(10*ms, h.out("F.", seq(1), ack(1)))
			return h, 10 * ms, 1
		},
		"FIN-WAIT-2": func(t *testing.T) (*harness, time.Duration, int64) {
			h := newEstablished(t)
			h.closeWrite(10 * ms)
			h.expect(10*ms, h.out("F.", seq(1), ack(1)))
			h.send(20*ms, h.in(".", seq(1), ack(2)))
			return h, 20 * ms, 1
		},
		"CLOSE-WAIT": func(t *testing.T) (*harness, time.Duration, int64) {
			h := newEstablished(t)
			h.send(10*ms, h.in("F.", seq(1), ack(1)))
			h.drainOut(300 * ms)
			return h, 300 * ms, 2
		},
		"CLOSING": func(t *testing.T) (*harness, time.Duration, int64) {
			h := newEstablished(t)
			h.close(10 * ms)
			h.expect(10*ms, h.out("F.", seq(1), ack(1)))
			h.send(15*ms, h.in("F.", seq(1), ack(1)))
			h.expect(15*ms, h.out(".", seq(2), ack(2)))
			return h, 15 * ms, 2
		},
		"LAST-ACK": func(t *testing.T) (*harness, time.Duration, int64) {
			h := newEstablished(t)
			h.send(10*ms, h.in("F.", seq(1), ack(1)))
			h.drainOut(300 * ms)
			h.expectEOF(300 * ms)
			h.close(300 * ms)
			h.expect(300*ms, h.out("F.", seq(1), ack(2)))
			return h, 300 * ms, 2
		},
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			h, at, rcvNxt := setup(t)
			if got := h.c.State().String(); got != name {
				h.fatalf("setup reached %s, want %s", got, name)
			}
			h.send(at+time.Millisecond, h.in("R", seq(rcvNxt)))
			h.expectNothing(at + time.Millisecond)
			h.expectState(tcp.StateClosed)
			h.expectNoTimer()
		})
	}
}

// FIN-WAIT-2 after a full Close (the application reads no more): the
// connection does not wait forever for a peer that never sends its FIN
// (RFC 9293 3.10.7.4 leaves FIN-WAIT-2 unbounded; like Linux's
// tcp_fin_timeout, Config.FinWait2Timeout ends it). After CloseWrite, which
// keeps reading, it waits for as long as it takes.
func TestFinWait2_Timeout(t *testing.T) {
	h := newEstablished(t)
	h.close(10 * ms)
	h.expect(10*ms, h.out("F.", seq(1), ack(1)))
	h.send(20*ms, h.in(".", seq(1), ack(2)))
	h.expectState(tcp.StateFinWait2)
	h.expectNothing(20*ms + 60*s - 1)
	h.expectState(tcp.StateFinWait2)
	h.advance(20*ms + 60*s)
	h.expectState(tcp.StateClosed)
	h.expectNoTimer()

	h2 := newEstablished(t)
	h2.closeWrite(10 * ms)
	h2.expect(10*ms, h2.out("F.", seq(1), ack(1)))
	h2.send(20*ms, h2.in(".", seq(1), ack(2)))
	h2.expectNothing(time.Hour)
	h2.expectState(tcp.StateFinWait2)
	h2.send(time.Hour, h2.in("P.", seq(1), ack(2), data(10)))
	h2.expectRead(time.Hour+time.Second, 10)
}

// RFC 9293 3.10.7.4 (CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT, seventh
// check): text after the peer's FIN "should not occur" and is ignored; the
// segment is acknowledged with RCV.NXT still just past the FIN.
func TestCloseWait_RFC9293_3_10_7_4_DataAfterFINIgnored(t *testing.T) {
	h := newEstablished(t, noDelAck())
	h.send(10*ms, h.in("F.", seq(1), ack(1)))
	h.expect(10*ms, h.out(".", seq(1), ack(2)))
	h.send(20*ms, h.in("P.", seq(2), ack(1), data(50)))
	for _, o := range h.drainOut(20 * ms) {
		if o.seg.Ack != peerISS.Add(2) {
			h.fatalf("data after FIN moved RCV.NXT: %s", h.fmtOut(&o.seg))
		}
	}
	h.expectEOF(30 * ms)
	h.expectState(tcp.StateCloseWait)
}

// RFC 9293 3.10.4 CLOSE in SYN-SENT: "Delete the TCB": CLOSED, nothing
// sent, no timer. ABORT in SYN-SENT (3.10.5): the same, and no RST either.
func TestSynSent_RFC9293_3_10_4_CloseAndAbort(t *testing.T) {
	h := newSynSent(t)
	h.close(10 * ms)
	h.expectNothing(10 * ms)
	h.expectState(tcp.StateClosed)
	h.expectNoTimer()
	h.expectNothing(time.Minute)

	h2 := newSynSent(t)
	h2.abort(10 * ms)
	h2.expectNothing(time.Minute)
	h2.expectState(tcp.StateClosed)
	h2.expectNoTimer()
}

// RFC 9293 3.10.4 CLOSE in SYN-RECEIVED: "If no SENDs have been issued and
// there is no pending data to send, then form a FIN segment and send it,
// and enter FIN-WAIT-1 state". Reached here through a simultaneous open.
func TestSynReceived_RFC9293_3_10_4_CloseSendsFIN(t *testing.T) {
	h := newSynSent(t)
	h.send(10*ms, h.in("S", seq(0), mss(1460)))
	h.expect(10*ms, h.out("S.", seq(0), ack(1), anyOpts()))
	h.expectState(tcp.StateSynReceived)
	h.close(20 * ms)
	h.expect(20*ms, h.out("F.", seq(1), ack(1)))
	h.expectState(tcp.StateFinWait1)
	// The peer's ACK covers our SYN and FIN; then its FIN.
	h.send(30*ms, h.in(".", seq(1), ack(2)))
	h.expectState(tcp.StateFinWait2)
	h.send(40*ms, h.in("F.", seq(1), ack(2)))
	h.expect(40*ms, h.out(".", seq(2), ack(2)))
	h.expectState(tcp.StateTimeWait)
}

// RFC 9293 3.10.5 ABORT in CLOSING/LAST-ACK/TIME-WAIT: "respond with 'ok'
// and delete the TCB": no RST.
func TestLastAck_RFC9293_3_10_5_AbortSendsNoReset(t *testing.T) {
	h := newEstablished(t)
	h.send(10*ms, h.in("F.", seq(1), ack(1)))
	h.drainOut(300 * ms)
	h.expectEOF(300 * ms)
	h.close(300 * ms)
	h.expect(300*ms, h.out("F.", seq(1), ack(2)))
	h.expectState(tcp.StateLastAck)
	h.abort(400 * ms)
	h.expectNothing(400 * ms)
	h.expectState(tcp.StateClosed)
	h.expectNoTimer()
}

// RFC 9293 3.10.2 SEND in SYN-SENT: "Queue the data for transmission after
// entering ESTABLISHED state"; it goes out with or right after the
// handshake ACK.
func TestSynSent_RFC9293_3_10_2_WriteQueuedUntilEstablished(t *testing.T) {
	h := newSynSent(t)
	h.write(10*ms, 100)
	h.expectNothing(10 * ms)
	h.send(50*ms, h.in("S.", seq(0), ack(1), mss(1460)))
	out := h.drainOut(50 * ms)
	n, _ := h.sentData(out, 1)
	if n != 100 || len(out) == 0 || out[len(out)-1].seg.Ack != peerISS.Add(1) {
		h.fatalf("after the SYN-ACK: %d segments, %d bytes; want the 100 queued bytes acknowledging the SYN", len(out), n)
	}
	h.expectState(tcp.StateEstablished)
}

// A Close right after CloseWrite must not lose (or duplicate) the FIN
// (tailcat PR #83): one FIN, then the normal active close.
func TestEstablished_RFC9293_3_10_4_CloseAfterCloseWrite(t *testing.T) {
	h := newEstablished(t)
	h.write(10*ms, 100)
	h.closeWrite(10 * ms)
	h.close(10 * ms)
	out := h.drainOut(10 * ms)
	fins := 0
	for _, o := range out {
		if o.seg.Flags&segment.FlagFIN != 0 {
			fins++
			if o.seg.Seq.Add(uint32(len(o.seg.Payload))) != engISS.Add(101) {
				h.fatalf("FIN %s not after the data", h.fmtOut(&o.seg))
			}
		}
	}
	if fins != 1 {
		h.fatalf("%d FINs, want 1", fins)
	}
	h.expectState(tcp.StateFinWait1)
	h.send(20*ms, h.in(".", seq(1), ack(102)))
	h.send(30*ms, h.in("F.", seq(1), ack(102)))
	h.expect(30*ms, h.out(".", seq(102), ack(2)))
	h.expectState(tcp.StateTimeWait)
}

// After a reset the application's Read and Write report ECONNRESET (not
// io.EOF, not silence); after CloseWrite, Write reports EPIPE.
func TestEstablished_RFC9293_3_10_7_4_ErrorsAfterResetAndShutdown(t *testing.T) {
	h := newEstablished(t)
	h.send(10*ms, h.in("P.", seq(1), data(10)))
	h.send(20*ms, h.in("R", seq(11)))
	h.expectState(tcp.StateClosed)
	buf := make([]byte, 100)
	if n, err := h.c.Read(h.now, buf); err != syscall.ECONNRESET {
		h.fatalf("Read after RST = %d, %v; want ECONNRESET", n, err)
	}
	if n, err := h.c.Write(h.now, buf); err != syscall.ECONNRESET || n != 0 {
		h.fatalf("Write after RST = %d, %v; want 0, ECONNRESET", n, err)
	}

	h2 := newEstablished(t)
	h2.closeWrite(10 * ms)
	if n, err := h2.c.Write(h2.now, buf); err != syscall.EPIPE || n != 0 {
		h2.fatalf("Write after CloseWrite = %d, %v; want 0, EPIPE", n, err)
	}
}

// RFC 1122 4.2.2.13: "if new data is received after CLOSE is called, its TCP
// SHOULD send a RST to show that data was lost": after a full Close, data
// arriving in FIN-WAIT-2 is answered with RST and the connection ends.
func TestFinWait2_RFC1122_4_2_2_13_DataAfterCloseResets(t *testing.T) {
	h := newEstablished(t)
	h.close(10 * ms)
	h.expect(10*ms, h.out("F.", seq(1), ack(1)))
	// An ACK of data but not of the FIN would leave FIN-WAIT-1; this one
	// acknowledges the FIN.
	h.send(20*ms, h.in(".", seq(1), ack(2)))
	h.expectState(tcp.StateFinWait2)
	h.send(30*ms, h.in("P.", seq(1), ack(2), data(10)))
	out := h.drainOut(30 * ms)
	if len(out) != 1 || out[0].seg.Flags&segment.FlagRST == 0 {
		h.fatalf("data after Close answered with %d segments, want one RST", len(out))
	}
	h.expectState(tcp.StateClosed)
	h.expectNoTimer()
}

// RFC 9293 3.10.7.4 (FIN-WAIT-1, fifth check): an ACK of our data that does
// not cover the FIN keeps FIN-WAIT-1; the FIN's own ACK moves on.
func TestFinWait1_RFC9293_3_10_7_4_PartialACKStays(t *testing.T) {
	h := newEstablished(t)
	h.write(10*ms, 100)
	h.close(10 * ms)
	h.drainOut(10 * ms)
	h.send(20*ms, h.in(".", seq(1), ack(51)))
	h.expectState(tcp.StateFinWait1)
	h.send(30*ms, h.in(".", seq(1), ack(101)))
	h.expectState(tcp.StateFinWait1)
	h.send(40*ms, h.in(".", seq(1), ack(102)))
	h.expectState(tcp.StateFinWait2)
}

// RFC 9293 3.10.7.4 (CLOSE-WAIT, eighth check): a retransmitted FIN is
// acknowledged again and changes nothing.
func TestCloseWait_RFC9293_3_10_7_4_RetransmittedFINReACKed(t *testing.T) {
	h := newEstablished(t, noDelAck())
	h.send(10*ms, h.in("F.", seq(1), ack(1)))
	h.expect(10*ms, h.out(".", seq(1), ack(2)))
	h.send(500*ms, h.in("F.", seq(1), ack(1)))
	h.expect(500*ms, h.out(".", seq(1), ack(2)))
	h.expectState(tcp.StateCloseWait)
	h.expectEOF(600 * ms)
}
