package tcp_test

// TIME-WAIT: entry, 2*MSL expiry to the tick, restart on a retransmitted
// FIN, RST ignored (RFC 1337), reopening by a new SYN (RFC 1122 4.2.2.13,
// RFC 6191), both on a Conn kept in TIME-WAIT and on the TimeWait record the
// runtime keeps instead.

import (
	"testing"
	"unsafe"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// toTimeWait closes actively and completes the close at 30 ms: the engine
// enters TIME-WAIT at 30 ms with RCV.NXT = 2, SND.NXT = 2.
func toTimeWait(t *testing.T, opts ...hopt) *harness {
	t.Helper()
	h := newEstablished(t, opts...)
	h.close(10 * ms)
	h.expect(10*ms, h.out("F.", seq(1), ack(1)))
	h.send(20*ms, h.in(".", seq(1), ack(2)))
	h.send(30*ms, h.in("F.", seq(1), ack(2)))
	h.expect(30*ms, h.out(".", seq(2), ack(2)))
	h.expectState(tcp.StateTimeWait)
	return h
}

// RFC 9293 3.10.7.4 (FIN-WAIT-2, eighth check) and 3.4.2: TIME-WAIT lasts
// 2*MSL, MSL = 2 minutes by default: the connection is still in TIME-WAIT one
// nanosecond before 240 s and CLOSED at exactly 240 s, silently, cleanly,
// with no timer left.
func TestTimeWait_RFC9293_3_4_2_Expiry2MSL(t *testing.T) {
	h := toTimeWait(t)
	h.expectEvent(tcp.EventTimeWait)
	if dl := h.c.Deadline(); !dl.Equal(h.at(30*ms + 240*s)) {
		h.fatalf("TIME-WAIT deadline %s, want %s", h.ts(dl), h.ts(h.at(30*ms+240*s)))
	}
	h.expectNothing(30*ms + 240*s - 1)
	h.expectState(tcp.StateTimeWait)
	h.expectNothing(30*ms + 240*s)
	h.expectState(tcp.StateClosed)
	h.expectErr(nil)
	h.expectEvent(tcp.EventClosed)
	h.expectNoTimer()
	if tr, ok := h.lastTransition(); !ok || tr.From != tcp.StateTimeWait || tr.To != tcp.StateClosed || !tr.Time.Equal(h.at(30*ms+240*s)) {
		h.fatalf("last transition %+v, want TIME-WAIT -> CLOSED at 240.03 s", tr)
	}
}

// MSL is configurable: MSL = 1 s gives a 2 s TIME-WAIT.
func TestTimeWait_RFC9293_3_4_2_ConfigurableMSL(t *testing.T) {
	h := toTimeWait(t, withConfig(func(c *tcp.Config) { c.MSL = 1 * s }))
	h.expectNothing(30*ms + 2*s - 1)
	h.expectState(tcp.StateTimeWait)
	h.advance(30*ms + 2*s)
	h.expectState(tcp.StateClosed)
}

// RFC 9293 3.10.7.4 (TIME-WAIT, eighth check): "The only thing that can
// arrive in this state is a retransmission of the remote FIN. Acknowledge
// it, and restart the 2 MSL timeout."
func TestTimeWait_RFC9293_3_10_7_4_RetransmittedFINRestartsTimer(t *testing.T) {
	h := toTimeWait(t)
	h.send(100*s, h.in("F.", seq(1), ack(2)))
	h.expect(100*s, h.out(".", seq(2), ack(2)))
	h.expectState(tcp.StateTimeWait)
	h.expectNothing(340*s - 1)
	h.expectState(tcp.StateTimeWait)
	h.advance(340 * s)
	h.expectState(tcp.StateClosed)
	h.expectNoTimer()
}

// RFC 1337: RSTs in TIME-WAIT are ignored (TIME-WAIT assassination),
// whatever their sequence number; the 2*MSL timer is not cut short.
func TestTimeWait_RFC1337_ResetIgnored(t *testing.T) {
	h := toTimeWait(t)
	h.send(1*s, h.in("R", seq(2)))
	h.send(2*s, h.in("R.", seq(2), ack(2)))
	h.send(3*s, h.in("R", seq(500)))
	h.expectNothing(3 * s)
	h.expectState(tcp.StateTimeWait)
	h.expectNothing(30*ms + 240*s - 1)
	h.expectState(tcp.StateTimeWait)
}

// RFC 9293 3.10.7.4 / RFC 5961 4.2: in TIME-WAIT a SYN that cannot start a
// new incarnation (sequence number not above RCV.NXT) is answered with an
// ACK and changes nothing.
func TestTimeWait_RFC5961_4_2_OldSYNChallenged(t *testing.T) {
	h := toTimeWait(t)
	h.send(1*s, h.in("S", seq(1)))
	h.expect(1*s, h.out(".", seq(2), ack(2)))
	h.expectState(tcp.StateTimeWait)
}

// A peer reopening the 4-tuple with an ISS not above RCV.NXT gets the
// ACK of RFC 5961 4.2 in SYN-SENT and answers it with a RST at exactly the
// acknowledged sequence number (RFC 9293 3.10.7.3). That RST, and only it,
// ends TIME-WAIT (a deliberate, narrower form of Linux's default, see
// TimeWait.handle), so the peer's retransmitted SYN can open; a RST at any
// other sequence number, or one not preceded by such a SYN, is still
// ignored (RFC 1337).
func TestTimeWait_RFC1337_ResetAnsweringOldSYNAckEnds(t *testing.T) {
	h := toTimeWait(t)
	h.send(1*s, h.in("S", seq(1)))
	h.expect(1*s, h.out(".", seq(2), ack(2)))
	h.send(1*s+1*ms, h.in("R", seq(3))) // not the acknowledged number
	h.expectNothing(1*s + 1*ms)
	h.expectState(tcp.StateTimeWait)
	h.send(2*s, h.in("S", seq(1)))
	h.expect(2*s, h.out(".", seq(2), ack(2)))
	h.send(2*s+1*ms, h.in(".", seq(2), ack(2))) // anything between re-arms RFC 1337
	h.send(2*s+2*ms, h.in("R", seq(2)))
	h.expectNothing(2*s + 2*ms)
	h.expectState(tcp.StateTimeWait)
	h.send(3*s, h.in("S", seq(1)))
	h.expect(3*s, h.out(".", seq(2), ack(2)))
	h.send(3*s+1*ms, h.in("R", seq(2)))
	h.expectNothing(3*s + 1*ms)
	h.expectState(tcp.StateClosed)
	h.expectErr(nil)
	h.expectNoTimer()
}

// The same on the TimeWait record the runtime keeps.
func TestTimeWait_RFC1337_RecordResetAnsweringOldSYNAck(t *testing.T) {
	h := toTimeWait(t)
	tw := h.c.TimeWait()
	rec := &recSink{h: h}
	if v := tw.HandleSegment(h.at(1*s), h.in("R", seq(2)), rec); v != tcp.TimeWaitKeep || len(rec.out) != 0 {
		t.Fatalf("RST before any SYN: verdict %v, %d segments; want keep, nothing", v, len(rec.out))
	}
	if v := tw.HandleSegment(h.at(2*s), h.in("S", seq(1)), rec); v != tcp.TimeWaitKeep || len(rec.out) != 1 || rec.out[0].seg.Ack != peerISS.Add(2) {
		t.Fatalf("old SYN: verdict %v, %d segments; want keep and one ACK of RCV.NXT", v, len(rec.out))
	}
	if v := tw.HandleSegment(h.at(2*s), h.in("R", seq(2)), rec); v != tcp.TimeWaitClosed || len(rec.out) != 1 {
		t.Fatalf("RST answering that ACK: verdict %v, %d segments; want closed, nothing more", v, len(rec.out))
	}
}

// RFC 1122 4.2.2.13 / RFC 6191: a new SYN whose sequence number is above
// the old connection's RCV.NXT may reopen the connection from TIME-WAIT;
// the Conn gives way (CLOSED, so the runtime hands the SYN to its listener)
// without answering the SYN itself.
func TestTimeWait_RFC6191_HigherSYNReopens(t *testing.T) {
	h := toTimeWait(t)
	h.send(5*s, h.in("S", seq(100000), mss(1460)))
	for _, o := range h.drainOut(5 * s) {
		if o.seg.Flags&segment.FlagRST != 0 {
			h.fatalf("RST in answer to a reopening SYN: %s", h.fmtOut(&o.seg))
		}
	}
	h.expectState(tcp.StateClosed)
	h.expectErr(nil)
	h.expectNoTimer()
}

// The TimeWait record: what the runtime keeps instead of the Conn. It is
// small, carries the 2*MSL expiry, and its HandleSegment applies the same
// rules: re-ACK and restart on a retransmitted FIN, ignore RSTs, challenge
// an old SYN, let a higher SYN reopen (with an ISS above the old sequence
// space), and report expiry.
func TestTimeWait_RFC9293_3_10_7_4_Record(t *testing.T) {
	h := toTimeWait(t)
	tw := h.c.TimeWait()
	if sz := unsafe.Sizeof(tw); sz > 128 {
		t.Errorf("TimeWait record is %d bytes, want a small record (<= 128)", sz)
	}
	if tw.Tuple != testTuple || tw.SndNxt != engISS.Add(2) || tw.RcvNxt != peerISS.Add(2) {
		t.Fatalf("record %+v does not describe the connection", tw)
	}
	if !tw.Expiry.Equal(h.at(30*ms + 240*s)) {
		t.Fatalf("record expiry %v, want 240 s after entry", tw.Expiry.Sub(t0))
	}
	rec := &recSink{h: h}
	// Retransmitted FIN at 100 s: ACK, expiry pushed to 340 s.
	if v := tw.HandleSegment(h.at(100*s), h.in("F.", seq(1), ack(2)), rec); v != tcp.TimeWaitKeep {
		t.Fatalf("verdict %v for a retransmitted FIN", v)
	}
	if len(rec.out) != 1 || rec.out[0].seg.Flags != segment.FlagACK || rec.out[0].seg.Seq != engISS.Add(2) || rec.out[0].seg.Ack != peerISS.Add(2) {
		t.Fatalf("record answered a retransmitted FIN with %d segments, want one ACK seq 2 ack 2", len(rec.out))
	}
	if o := rec.out[0].seg; o.Src != localAddr || o.Dst != remoteAddr || o.SrcPort != 80 || o.DstPort != 40000 {
		t.Fatalf("record ACK misaddressed: %v", &o)
	}
	rec.out = nil
	if !tw.Expiry.Equal(h.at(340 * s)) {
		t.Fatalf("expiry %v after the FIN, want 340 s", tw.Expiry.Sub(t0))
	}
	// RST: ignored (RFC 1337).
	if v := tw.HandleSegment(h.at(101*s), h.in("R", seq(2)), rec); v != tcp.TimeWaitKeep || len(rec.out) != 0 {
		t.Fatalf("RST: verdict %v, %d segments; want keep, nothing", v, len(rec.out))
	}
	// Old SYN: challenge ACK, keep.
	if v := tw.HandleSegment(h.at(102*s), h.in("S", seq(1)), rec); v != tcp.TimeWaitKeep || len(rec.out) != 1 || rec.out[0].seg.Flags != segment.FlagACK {
		t.Fatalf("old SYN: verdict %v, %d segments; want keep and one ACK", v, len(rec.out))
	}
	rec.out = nil
	// Higher SYN: reopen, and the new ISS lies above the old SND.NXT.
	if v := tw.HandleSegment(h.at(103*s), h.in("S", seq(5000)), rec); v != tcp.TimeWaitReopen || len(rec.out) != 0 {
		t.Fatalf("higher SYN: verdict %v, %d segments; want reopen, nothing sent", v, len(rec.out))
	}
	for _, isn := range []segment.Seq{0, engISS, engISS.Add(1), engISS.Add(2)} {
		if n := tw.NextISS(isn); !n.GreaterThan(tw.SndNxt) {
			t.Fatalf("NextISS(%d) = %d, not above SND.NXT %d", isn, n, tw.SndNxt)
		}
	}
	// Expiry, to the tick.
	if v := tw.HandleSegment(h.at(340*s-1), h.in(".", seq(2), ack(2)), rec); v != tcp.TimeWaitKeep {
		t.Fatalf("verdict %v 1 ns before expiry", v)
	}
	if v := tw.HandleSegment(h.at(340*s), h.in(".", seq(2), ack(2)), rec); v != tcp.TimeWaitExpired {
		t.Fatalf("verdict %v at expiry, want expired", v)
	}
}

// TIME-WAIT is reached through CLOSING as well, and lasts 2*MSL from entry.
func TestClosing_RFC9293_3_10_7_4_ToTimeWait(t *testing.T) {
	h := newEstablished(t)
	h.close(10 * ms)
	h.expect(10*ms, h.out("F.", seq(1), ack(1)))
	h.send(15*ms, h.in("F.", seq(1), ack(1)))
	h.expect(15*ms, h.out(".", seq(2), ack(2)))
	h.expectState(tcp.StateClosing)
	h.send(50*ms, h.in(".", seq(2), ack(2)))
	h.expectState(tcp.StateTimeWait)
	h.expectNothing(50*ms + 240*s - 1)
	h.expectState(tcp.StateTimeWait)
	h.advance(50*ms + 240*s)
	h.expectState(tcp.StateClosed)
	h.expectNoTimer()
}
