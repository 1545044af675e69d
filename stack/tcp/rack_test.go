package tcp

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// RACK-TLP (RFC 8985) tests on the engine itself: a scripted peer, a
// manual clock and SACK switched on directly (flagSackOK). rkT.ack sends
// the SACK blocks on the ACK; the scoreboard marks the records and reports
// each to rackDelivered, and rackDetect runs in HandleSegment.

type rkT struct {
	t    *testing.T
	c    *Conn
	sink *uSink
	now  time.Time
	wOff int // bytes written so far
}

// newRK returns an ESTABLISHED Conn (MSS 1000, our ISS 5000, peer's 1000)
// with SACK in use and one RTT sample of rtt from the handshake.
func newRK(t *testing.T, rtt time.Duration) *rkT {
	cfg := DefaultConfig()
	// NewReno's halving: what recovery sends besides the RACK-marked
	// segments (lost() lists those too) depends on the algorithm's cwnd.
	cfg.CongestionControl = "newreno"
	k := &rkT{t: t, sink: &uSink{}, now: time.Unix(1000, 0)}
	k.c = NewConn(&cfg, Tuple{uAddrB, 80, uAddrA, 40000}, k.sink)
	syn := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 1000,
		Flags: segment.FlagSYN, Window: 65535}
	syn.Options.HasMSS, syn.Options.MSS = true, 1000
	syn.Options.HasWScale, syn.Options.WScale = true, 7
	k.c.AcceptSYN(k.now, 5000, &syn)
	k.now = k.now.Add(rtt)
	k.c.HandleSegment(k.now, k.ackSeg(5001))
	if k.c.State() != StateEstablished || k.c.rto.SRTT() != rtt {
		t.Fatalf("state %v, SRTT %v", k.c.State(), k.c.rto.SRTT())
	}
	k.c.flags |= flagSackOK
	k.sink.out = nil
	return k
}

func (k *rkT) ackSeg(ack Seq) *segment.Segment {
	return &segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: ack,
		Flags: segment.FlagACK, Window: 2048}
}

// seq is the sequence number of our stream offset off.
func seq(off int) Seq { return Seq(5001 + off) }

// write queues n bytes (sent as far as the windows allow) and returns the
// segments that went out.
func (k *rkT) write(n int) []segment.Segment {
	k.sink.out = nil
	if m, err := k.c.Write(k.now, make([]byte, n)); m != n || err != nil {
		k.t.Fatalf("Write %d: %d %v", n, m, err)
	}
	k.wOff += n
	return k.sink.out
}

// at moves the clock to d after base.
func (k *rkT) at(base time.Time, d time.Duration) { k.now = base.Add(d) }

// ack delivers an ACK of ack with SACK blocks [start, end) pairs (stream
// offsets) at the current time.
func (k *rkT) ack(ack int, blocks ...int) {
	k.sink.out = nil
	seg := k.ackSeg(seq(ack))
	for b := 0; b+1 < len(blocks) && seg.Options.NumSACK < segment.MaxSACKBlocks; b += 2 {
		seg.Options.SACK[seg.Options.NumSACK] = segment.SACKBlock{Start: seq(blocks[b]), End: seq(blocks[b+1])}
		seg.Options.NumSACK++
	}
	k.c.HandleSegment(k.now, seg)
}

// timer runs HandleTimer at the current time.
func (k *rkT) timer() {
	k.sink.out = nil
	k.c.HandleTimer(k.now)
}

// lost lists the stream offsets of the records marked lost: those still
// marked, and those the sender's recovery retransmitted at once (now).
func (k *rkT) lost() []int {
	var l []int
	for i := 0; i < k.c.txq.len(); i++ {
		r := k.c.txq.at(i)
		if r.flags&txLost != 0 || r.flags&txRetrans != 0 && r.xmitTime.Equal(k.now) {
			l = append(l, int(r.start.Sub(seq(0))))
		}
	}
	return l
}

func (k *rkT) wantLost(what string, want ...int) {
	k.t.Helper()
	got := k.lost()
	if len(got) != len(want) {
		k.t.Fatalf("%s: lost %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			k.t.Fatalf("%s: lost %v, want %v", what, got, want)
		}
	}
}

// RFC 8985 6.2 step 5: the first segment is lost once RACK.rtt +
// RACK.reo_wnd (min_RTT/4) has passed since it was sent, after a later one
// was SACKed; not a nanosecond earlier, and by the reordering timer.
func TestRACKMarksLostAfterReorderingWindow(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	t1 := k.now
	if out := k.write(4000); len(out) != 4 {
		t.Fatalf("%d segments sent, want 4", len(out))
	}
	k.at(t1, rtt)
	k.ack(0, 1000, 2000) // the second segment arrived, the first did not (yet)
	k.wantLost("at the SACK")
	want := t1.Add(rtt + rtt/4)
	if k.c.time(k.c.rack.rackAt) != want || k.c.Deadline() != want {
		t.Fatalf("reordering timer %v, deadline %v, want %v", k.c.time(k.c.rack.rackAt).Sub(t1), k.c.Deadline().Sub(t1), want.Sub(t1))
	}
	k.now = want.Add(-time.Nanosecond)
	k.timer()
	k.wantLost("1 ns before the window ends")
	k.now = want
	k.timer()
	// Only the first: the third and fourth were sent no earlier than the
	// SACKed one (same time, higher sequence numbers: RACK_sent_after).
	k.wantLost("when the window ends", 0)
	if i := k.c.Info(); i.RACKLosses != 1 || !i.RackAt.IsZero() {
		t.Fatalf("RACKLosses %d, RackAt %v", i.RACKLosses, i.RackAt)
	}
}

// Reordering within the window is not loss, and is remembered
// (RACK.reordering_seen, RFC 8985 6.2 step 3).
func TestRACKReorderingWithinWindowIsNotLoss(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	t1 := k.now
	k.write(4000)
	k.at(t1, rtt)
	k.ack(0, 1000, 2000)
	k.at(t1, rtt+rtt/4-time.Microsecond)
	k.ack(4000) // the first segment arrives late: cumulative ACK
	k.wantLost("after the late segment")
	if !k.c.rack.reorderingSeen || !k.c.time(k.c.rack.rackAt).IsZero() || k.c.Info().RACKLosses != 0 {
		t.Fatalf("reorderingSeen %v, rackAt %v, losses %d", k.c.rack.reorderingSeen, k.c.time(k.c.rack.rackAt), k.c.Info().RACKLosses)
	}
	// Having seen reordering, three SACKed segments no longer shrink the
	// window to zero: RACK still waits min_RTT/4.
	t2 := k.now
	k.write(4000)
	k.at(t2, rtt)
	k.ack(4000, 5000, 8000)
	k.wantLost("three SACKed, reordering seen")
	if want := t2.Add(rtt + rtt/4); k.c.time(k.c.rack.rackAt) != want {
		t.Fatalf("reordering timer %v after t2, want %v", k.c.time(k.c.rack.rackAt).Sub(t2), want.Sub(t2))
	}
}

// Before reordering is seen, DupThresh SACKed segments make the reordering
// window zero (RFC 8985 6.2 step 4): the hole is lost at once.
func TestRACKDupThreshWithoutReordering(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	t1 := k.now
	k.write(5000)
	k.at(t1, rtt)
	k.ack(0, 1000, 3000)
	k.wantLost("two SACKed")
	k.ack(0, 3000, 4000)
	k.wantLost("three SACKed", 0)
}

// A D-SACK widens the reordering window by min_RTT/4 once per round trip,
// up to SRTT, and the widening wears off after 16 recoveries without
// D-SACKs (RFC 8985 6.2 step 4).
func TestRACKDSACKWidensReoWnd(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	k.write(1000)
	k.at(k.now, rtt)
	k.ack(1000) // a first RACK RTT sample: min_RTT = 10 ms
	if w := k.c.reoWnd(); w != rtt/4 {
		t.Fatalf("reo_wnd %v, want %v", w, rtt/4)
	}
	k.write(2000)
	k.c.onDSACK(seq(0), seq(1000))
	k.c.onDSACK(seq(0), seq(1000)) // same round: no further growth
	if w := k.c.reoWnd(); w != 2*rtt/4 {
		t.Fatalf("reo_wnd %v after a D-SACK, want %v", w, 2*rtt/4)
	}
	k.at(k.now, rtt)
	k.ack(3000) // SND.UNA passes RACK.dsack_round
	k.c.onDSACK(seq(1000), seq(2000))
	if w := k.c.reoWnd(); w != 3*rtt/4 {
		t.Fatalf("reo_wnd %v after D-SACKs in two rounds, want %v", w, 3*rtt/4)
	}
	for r := 0; r < 5; r++ { // never beyond SRTT
		k.write(1000)
		k.at(k.now, rtt)
		k.ack(k.wOff)
		k.c.onDSACK(seq(0), seq(1000))
	}
	if w := k.c.reoWnd(); w != k.c.rto.SRTT() {
		t.Fatalf("reo_wnd %v, want SRTT %v", w, k.c.rto.SRTT())
	}
	i := k.c.Info()
	if i.ReoWndAdapts != 7 || i.SpuriousRetrans != 8 {
		t.Fatalf("ReoWndAdapts %d, SpuriousRetrans %d, want 7, 8", i.ReoWndAdapts, i.SpuriousRetrans)
	}
	for r := 0; r < 15; r++ {
		k.c.rackRecoveryExited()
	}
	if k.c.rack.reoWndMult == 1 {
		t.Fatalf("reset after 15 recoveries")
	}
	k.c.rackRecoveryExited()
	if w := k.c.reoWnd(); w != rtt/4 {
		t.Fatalf("reo_wnd %v after 16 recoveries, want %v", w, rtt/4)
	}
}

// With a widened window, the loss is marked later, exactly.
func TestRACKDSACKDelaysMarking(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	k.write(1000)
	k.at(k.now, rtt)
	k.ack(1000)
	k.c.onDSACK(seq(0), seq(1000))
	t1 := k.now
	k.write(3000)
	k.at(t1, rtt)
	k.ack(1000, 2000, 3000)
	if want := t1.Add(rtt + 2*rtt/4); k.c.time(k.c.rack.rackAt) != want {
		t.Fatalf("reordering timer %v, want %v", k.c.time(k.c.rack.rackAt).Sub(t1), want.Sub(t1))
	}
	k.at(t1, rtt+2*rtt/4-time.Nanosecond)
	k.timer()
	k.wantLost("before the widened window ends")
	k.at(t1, rtt+2*rtt/4)
	k.timer()
	k.wantLost("at its end", 1000)
}

// A retransmission that is lost again is detected the same way, from its
// new transmission time (RFC 8985 3.4): no RTO needed.
func TestRACKLostRetransmission(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	t1 := k.now
	k.write(4000)
	k.at(t1, rtt)
	k.ack(0, 1000, 2000)
	k.at(t1, rtt+rtt/4)
	k.timer()
	k.wantLost("first loss", 0)
	// The sender's recovery retransmitted the lost segment at once.
	t2 := k.now
	if len(k.sink.out) != 1 || k.sink.out[0].Seq != seq(0) {
		t.Fatalf("recovery sent %d segments, want the retransmission of the first", len(k.sink.out))
	}
	// New data goes out 1 ms later (sent directly: PRR holds it back
	// until more is delivered) and is SACKed; the retransmission is not:
	// it was lost too.
	k.at(t2, time.Millisecond)
	t3 := k.now
	k.write(1000)
	k.c.transmit(k.now, 1000, true)
	k.at(t3, rtt)
	k.ack(0, 1000, 2000, 4000, 5000)
	// The third and fourth segments, sent at t1, are long overdue, and so
	// is the retransmission (t2): in recovery with no reordering seen the
	// reordering window is zero (RFC 8985 6.2 step 4), and t2 + RACK.rtt
	// has passed. The recovery resends two of them at once (PRR).
	k.wantLost("SACK of the new data", 0, 2000, 3000)
	if k.c.Info().RACKLosses != 4 {
		t.Fatalf("RACKLosses %d, want 4", k.c.Info().RACKLosses)
	}
}

// A retransmitted segment delivered less than min_RTT after its
// retransmission gives no RTT sample (RFC 8985 6.2 step 2): the ACK is for
// the original.
func TestRACKIgnoresAmbiguousRetransmission(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	k.write(1000)
	k.at(k.now, rtt)
	k.ack(1000)
	t1 := k.now
	k.write(2000)
	k.at(t1, 9*time.Millisecond)
	k.c.sendSegment(k.now, seq(1000), 1000, false) // spurious retransmission
	k.at(t1, rtt)
	k.ack(2000) // acknowledges the original: 1 ms after the retransmission
	// RACK still describes the first segment (sent at t1 - rtt): taking
	// the retransmission would have made RACK.rtt 1 ms.
	if k.c.rack.rtt != rtt || k.c.rack.minRTT != rtt || k.c.rack.xmitTime != t1.Add(-rtt) {
		t.Fatalf("RACK.rtt %v, min_RTT %v, xmit_ts %v after t1", k.c.rack.rtt, k.c.rack.minRTT, k.c.rack.xmitTime.Sub(t1))
	}
}

// 20 us round trips: nothing rounds to milliseconds. The window is 5 us
// and the timer fires at the nanosecond it is due; only the probe timeout
// has a floor, 2*SRTT + tlpSlack (tlpPTO).
func TestRACKMicrosecondRTT(t *testing.T) {
	const rtt = 20 * time.Microsecond
	k := newRK(t, rtt)
	t1 := k.now
	k.write(3000)
	if want := t1.Add(2*rtt + tlpSlack); k.c.time(k.c.rack.tlp.at) != want {
		t.Fatalf("PTO at %v, want %v", k.c.time(k.c.rack.tlp.at).Sub(t1), want.Sub(t1))
	}
	k.at(t1, rtt)
	k.ack(0, 1000, 2000)
	want := t1.Add(rtt + rtt/4)
	if k.c.reoWnd() != 5*time.Microsecond || k.c.Deadline() != want {
		t.Fatalf("reo_wnd %v, deadline %v after t1, want 5us, %v", k.c.reoWnd(), k.c.Deadline().Sub(t1), want.Sub(t1))
	}
	k.now = want.Add(-time.Nanosecond)
	k.timer()
	k.wantLost("before")
	k.now = want
	k.timer()
	k.wantLost("at 25 us", 0)
}

// Without SACK (or with Config.RACK off) RACK does nothing.
func TestRACKOffWithoutSACK(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	k.c.flags &^= flagSackOK
	t1 := k.now
	k.write(4000)
	if !k.c.time(k.c.rack.tlp.at).IsZero() {
		t.Fatalf("PTO armed without SACK")
	}
	k.at(t1, rtt)
	k.ack(0, 1000, 2000)
	k.at(t1, time.Second/10)
	k.timer()
	k.wantLost("without SACK")
	if !k.c.time(k.c.rack.rackAt).IsZero() {
		t.Fatalf("reordering timer armed without SACK")
	}
}

// The send path with RACK-TLP in use (records, RACK per ACK, the PTO
// re-armed per segment) allocates nothing.
func TestRACKSendAllocs(t *testing.T) {
	const rtt = 100 * time.Microsecond
	k := newRK(t, rtt)
	k.c.sink = &uNopSink{}
	data := make([]byte, 1000)
	ack := k.ackSeg(0)
	step := func() {
		if n, err := k.c.Write(k.now, data); n != len(data) || err != nil {
			t.Fatalf("write %d %v", n, err)
		}
		k.now = k.now.Add(rtt)
		ack.Ack = k.c.SndNxt
		k.c.HandleSegment(k.now, ack)
		k.c.HandleTimer(k.now)
	}
	for i := 0; i < 10; i++ {
		step()
	}
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Fatalf("send path with RACK-TLP: %v allocs per segment", allocs)
	}
	k.c.Write(k.now, data)
	if !k.c.rack.valid || k.c.time(k.c.rack.tlp.at).IsZero() {
		t.Fatalf("RACK not running: valid %v, PTO %v", k.c.rack.valid, k.c.time(k.c.rack.tlp.at))
	}
}

// RACK.rtt is the RTT of the most recently sent record an ACK delivers
// (RFC 8985 6.2 step 2 walks them in transmission order), whatever their
// order in sequence space.
func TestRACKRTTOfMostRecentlySent(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	k.write(1000)
	k.at(k.now, rtt)
	k.ack(1000) // RACK.min_RTT = 10 ms
	t1 := k.now
	k.write(2000)
	k.at(t1, 5*time.Millisecond)
	k.c.sendSegment(k.now, seq(1000), 1000, false) // the first again, 5 ms later
	k.at(t1, 20*time.Millisecond)
	k.ack(3000)
	if k.c.rack.rtt != 15*time.Millisecond || k.c.rack.xmitTime != t1.Add(5*time.Millisecond) {
		t.Fatalf("RACK.rtt %v, xmit_ts %v after t1; want 15ms, 5ms", k.c.rack.rtt, k.c.rack.xmitTime.Sub(t1))
	}
}

// Records dropped wholesale (a path MTU change resets the records) take
// their SACKed count along: TLP is not blocked by a stale RACK.segs_sacked.
func TestRACKSackedCountAfterReset(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	k.write(3000)
	k.at(k.now, rtt)
	k.ack(0, 1000, 3000)
	if k.c.sacked() != 2 {
		t.Fatalf("segs_sacked %d, want 2", k.c.sacked())
	}
	k.c.txq.release()
	if k.c.sacked() != 0 {
		t.Fatalf("segs_sacked %d after the records went", k.c.sacked())
	}
}

// With timestamps, an ACK whose TSecr echoes the original transmission
// gives no RACK sample from the retransmission, even when the min_RTT
// heuristic would have taken it (RFC 8985 6.2 step 2).
func TestRACKTimestampsRejectEarlierTransmission(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	k.c.flags |= flagTSOK
	k.write(1000)
	t0 := k.now
	k.at(t0, rtt)
	k.ack(1000) // RACK.min_RTT = 10 ms (no TSopt on this ACK)
	t1 := k.now
	k.write(1000)
	k.at(t1, 25*time.Millisecond)
	k.c.sendSegment(k.now, seq(1000), 1000, false) // retransmitted 25 ms later
	k.at(t1, 40*time.Millisecond)
	a := k.ackSeg(seq(2000))
	a.Options.HasTimestamp, a.Options.TSVal, a.Options.TSEcr = true, 100, k.c.tsVal(t1)
	k.c.HandleSegment(k.now, a)
	if k.c.SndUna != seq(2000) {
		t.Fatalf("ACK not taken: SND.UNA %d", k.c.SndUna.Sub(seq(0)))
	}
	// The retransmission's 15 ms would pass the min_RTT heuristic.
	if k.c.rack.rtt != rtt || k.c.rack.xmitTime != t0 {
		t.Fatalf("RACK.rtt %v, xmit_ts %v after t0: the ACK of the original was taken for the retransmission's",
			k.c.rack.rtt, k.c.rack.xmitTime.Sub(t0))
	}
	// An ACK echoing the retransmission's TSval is a sample.
	k.write(1000)
	k.c.sendSegment(k.now, seq(2000), 1000, false)
	t2 := k.now
	k.at(t2, 12*time.Millisecond)
	a = k.ackSeg(seq(3000))
	a.Options.HasTimestamp, a.Options.TSVal, a.Options.TSEcr = true, 101, k.c.tsVal(t2)
	k.c.HandleSegment(k.now, a)
	if k.c.rack.rtt != 12*time.Millisecond || k.c.rack.xmitTime != t2 {
		t.Fatalf("RACK.rtt %v, xmit_ts %v after t2", k.c.rack.rtt, k.c.rack.xmitTime.Sub(t2))
	}
}
