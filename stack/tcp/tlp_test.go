package tcp

import (
	"testing"
	"time"
)

// Tail loss probe tests (RFC 8985 7), with the rkT harness of rack_test.go.

// A tail loss: the probe goes out at 2*SRTT + tlpSlack and is the last segment again
// (nothing new to send); the RTO is re-armed from the probe, not fired.
// The ACK at TLP.end_seq alone says nothing; the next ACK beyond it says
// the probe repaired a loss: one congestion response (RFC 8985 7.4).
func TestTLPProbeRetransmitsLastSegment(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	t1 := k.now
	k.write(3500)
	want := t1.Add(2*rtt + tlpSlack)
	if k.c.time(k.c.rack.tlp.at) != want || k.c.Deadline() != want {
		t.Fatalf("PTO at %v, deadline %v, want %v", k.c.time(k.c.rack.tlp.at).Sub(t1), k.c.Deadline().Sub(t1), want.Sub(t1))
	}
	k.now = want.Add(-time.Nanosecond)
	k.timer()
	if len(k.sink.out) != 0 {
		t.Fatalf("sent %d segments before the PTO", len(k.sink.out))
	}
	k.now = want
	k.timer()
	if len(k.sink.out) != 1 {
		t.Fatalf("probe: %d segments, want 1", len(k.sink.out))
	}
	if p := k.sink.out[0]; p.Seq != seq(3000) || len(p.Payload) != 500 {
		t.Fatalf("probe seq %d len %d, want the last segment (3000, 500)", p.Seq.Sub(seq(0)), len(p.Payload))
	}
	i := k.c.Info()
	if i.TLPProbes != 1 || i.RTOExpiries != 0 || i.RtxAt != want.Add(k.c.rto.RTO()) || !i.TLPAt.IsZero() {
		t.Fatalf("TLPProbes %d, RTOExpiries %d, RtxAt %v, TLPAt %v", i.TLPProbes, i.RTOExpiries, i.RtxAt.Sub(want), i.TLPAt)
	}
	// The probe's ACK: everything, up to TLP.end_seq.
	cwnd := k.c.Info().Cwnd
	k.at(want, rtt)
	k.ack(3500)
	if !k.c.rack.tlp.on || k.c.Info().TLPRecoveries != 0 {
		t.Fatalf("episode on %v, recoveries %d after the ACK at TLP.end_seq", k.c.rack.tlp.on, k.c.Info().TLPRecoveries)
	}
	// No second probe while the episode lasts.
	t2 := k.now
	k.write(1000)
	if !k.c.time(k.c.rack.tlp.at).IsZero() {
		t.Fatalf("PTO armed during a TLP episode")
	}
	k.at(t2, rtt)
	k.ack(4500)
	i = k.c.Info()
	if k.c.rack.tlp.on || i.TLPRecoveries != 1 || i.Cwnd >= cwnd {
		t.Fatalf("episode on %v, TLPRecoveries %d, cwnd %d (was %d)", k.c.rack.tlp.on, i.TLPRecoveries, i.Cwnd, cwnd)
	}
}

// A probe whose original also arrived: the peer's duplicate ACK at
// TLP.end_seq ends the episode with no congestion response.
func TestTLPDuplicateAckEndsEpisode(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	t1 := k.now
	k.write(2000)
	k.at(t1, 2*rtt+tlpSlack)
	k.timer()
	if k.c.Info().TLPProbes != 1 {
		t.Fatalf("no probe")
	}
	k.at(t1, 2*rtt+tlpSlack+time.Millisecond)
	k.ack(2000) // the (late) ACK of the originals
	cwnd := k.c.Info().Cwnd
	k.at(t1, 3*rtt)
	k.ack(2000) // the probe's: a duplicate
	if k.c.rack.tlp.on || k.c.Info().TLPRecoveries != 0 || k.c.Info().Cwnd != cwnd {
		t.Fatalf("episode on %v, recoveries %d, cwnd %d (was %d)", k.c.rack.tlp.on, k.c.Info().TLPRecoveries, k.c.Info().Cwnd, cwnd)
	}
}

// With new data waiting (the congestion window held it back), the probe
// is the next new segment, and the congestion window is not consulted.
func TestTLPProbeSendsNewData(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	t1 := k.now
	out := k.write(30000)
	sent := 0
	for _, s := range out {
		sent += len(s.Payload)
	}
	if sent >= 30000 {
		t.Fatalf("everything went out (%d bytes): the congestion window should hold some back", sent)
	}
	k.at(t1, 2*rtt+tlpSlack)
	k.timer()
	if len(k.sink.out) != 1 || k.sink.out[0].Seq != seq(sent) || len(k.sink.out[0].Payload) != 1000 {
		t.Fatalf("probe %+v, want new data at %d", k.sink.out, sent)
	}
	if k.c.rack.tlp.isRetrans || k.c.rack.tlp.endSeq != seq(sent+1000) {
		t.Fatalf("is_retrans %v, end_seq %d", k.c.rack.tlp.isRetrans, k.c.rack.tlp.endSeq.Sub(seq(0)))
	}
	// Its ACK ends the episode: new data needs no congestion response.
	k.at(t1, 3*rtt)
	k.ack(sent + 1000)
	if k.c.rack.tlp.on || k.c.Info().TLPRecoveries != 0 {
		t.Fatalf("episode on %v, recoveries %d", k.c.rack.tlp.on, k.c.Info().TLPRecoveries)
	}
}

// One segment in flight: the PTO adds WCDelAckT (200 ms) and is then
// capped by the RTO's expiry (RFC 8985 7.2); at that instant the probe
// goes first and re-arms the RTO, which does not expire.
func TestTLPSingleSegmentCappedByRTO(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	t1 := k.now
	k.write(100)
	rto := k.c.rto.RTO()
	if 2*rtt+wcDelAckT < rto {
		t.Fatalf("test assumes the RTO (%v) caps 2*SRTT+WCDelAckT", rto)
	}
	if want := t1.Add(rto); k.c.time(k.c.rack.tlp.at) != want || k.c.time(k.c.rtxAt) != want {
		t.Fatalf("PTO %v, RTO %v, want both %v", k.c.time(k.c.rack.tlp.at).Sub(t1), k.c.time(k.c.rtxAt).Sub(t1), rto)
	}
	k.at(t1, rto)
	k.timer()
	i := k.c.Info()
	if i.TLPProbes != 1 || i.RTOExpiries != 0 || len(k.sink.out) != 1 || i.RtxAt != k.now.Add(k.c.rto.RTO()) {
		t.Fatalf("probes %d, RTO expiries %d, %d segments, RtxAt %v", i.TLPProbes, i.RTOExpiries, len(k.sink.out), i.RtxAt.Sub(k.now))
	}
	// The probe failed too: the RTO is the last resort.
	k.now = i.RtxAt
	k.timer()
	if i := k.c.Info(); i.RTOExpiries != 1 || i.TLPProbes != 1 {
		t.Fatalf("RTO expiries %d, probes %d", i.RTOExpiries, i.TLPProbes)
	}
}

// The PTO restarts when new data is acknowledged, and is not armed while
// something is SACKed (RFC 8985 7.2).
func TestTLPRearmAndSackedBlocks(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	t1 := k.now
	k.write(4000)
	k.at(t1, rtt)
	k.ack(1000)
	if want := k.now.Add(2*k.c.rto.SRTT() + tlpSlack); k.c.time(k.c.rack.tlp.at) != want {
		t.Fatalf("PTO %v after the ACK, want %v", k.c.time(k.c.rack.tlp.at).Sub(k.now), 2*k.c.rto.SRTT()+tlpSlack)
	}
	k.ack(1000, 2000, 3000)
	if !k.c.time(k.c.rack.tlp.at).IsZero() {
		t.Fatalf("PTO armed with SACKed data")
	}
}

// An SRTT of zero (a manual clock, or a round trip below its resolution)
// gives a PTO of tlpSlack, not a timer due at once.
func TestTLPZeroSRTT(t *testing.T) {
	k := newRK(t, 0)
	t1 := k.now
	k.write(3000)
	if want := t1.Add(tlpSlack); k.c.Deadline() != want || k.c.time(k.c.rack.tlp.at) != want {
		t.Fatalf("deadline %v, PTO %v after the write, want %v", k.c.Deadline().Sub(t1), k.c.time(k.c.rack.tlp.at).Sub(t1), want.Sub(t1))
	}
}

// RFC 8985 7.3: no probe unless an RTT sample came in since the last one.
// The ACK of a spurious probe (a D-SACK, its original delivered 1 ms
// after the probe: no sample by RFC 8985 6.2 step 2) ends the episode
// without a sample; the next PTO then sends nothing and leaves the RTO.
func TestTLPNeedsRTTSampleSinceLastProbe(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	k.write(1000)
	k.at(k.now, rtt)
	k.ack(1000) // RACK.min_RTT = 10 ms
	k.write(1000)
	k.now = k.c.time(k.c.rack.tlp.at)
	k.timer()
	if k.c.Info().TLPProbes != 1 {
		t.Fatalf("no probe")
	}
	k.at(k.now, time.Millisecond)
	k.c.onDSACK(seq(1000), seq(2000))
	k.ack(2000)
	if k.c.rack.tlp.on || k.c.Info().TLPRecoveries != 0 || !k.c.rack.tlp.noRTT {
		t.Fatalf("episode on %v, recoveries %d, noRTT %v", k.c.rack.tlp.on, k.c.Info().TLPRecoveries, k.c.rack.tlp.noRTT)
	}
	k.write(2000)
	rtxAt := k.c.rtxAt
	if k.c.time(k.c.rack.tlp.at).IsZero() {
		t.Fatalf("PTO not armed after new data")
	}
	k.now = k.c.time(k.c.rack.tlp.at)
	k.timer()
	if k.c.Info().TLPProbes != 1 || len(k.sink.out) != 0 || k.c.rtxAt != rtxAt || !k.c.time(k.c.rack.tlp.at).IsZero() {
		t.Fatalf("probes %d, %d segments, RTO moved %v, PTO %v", k.c.Info().TLPProbes, len(k.sink.out),
			k.c.time(k.c.rtxAt).Sub(k.c.time(rtxAt)), k.c.time(k.c.rack.tlp.at))
	}
}
