package tcp_test

import "testing"

// Lost bursts (a dropped GSO/TSO super-segment is a run of up to 44 lost
// segments) against RACK-TLP with timestamps: the peer's ACKs echo
// TS.Recent, which an out-of-order segment does not update (RFC 7323 4.3
// case B), so a SACK block for a retransmission carries the TSecr of an
// older in-order segment. That echo says nothing about which copy was
// SACKed.

// A tail loss of a whole flight (an echo reply sent as one super-segment):
// the probe, the last segment again, is SACKed by an ACK that echoes the
// TSval of the last in-order segment (before the flight). The probe's
// delivery is RACK's sample (RFC 8985 6.2 step 2 by RACK.min_RTT), and the
// four segments sent before it are lost at once (step 5): recovery starts
// on that ACK, with no RTO.
func TestRACK_RFC8985_TailBurstProbeSackedWithOldTSecr(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), peerTSOpt(), handshakeRTT(10*ms))
	h.write(10*ms, 1448) // one exchange: RACK.min_RTT 10 ms
	h.expect(10*ms, h.out("P.", seq(1), data(1448)))
	h.send(20*ms, h.in(".", ack(1449)))
	oldEcr := h.engTSVal // TS.Recent at the peer: that segment's TSval
	h.write(30*ms, 5*1448)
	h.drainOut(30 * ms) // all five lost
	pto := 30*ms + 2*h.c.Info().SRTT + tlpSlack
	h.expect(pto, h.out("P.", seq(7241), data(1448)))
	h.send(pto+10*ms, h.in(".", ack(1449), sackBlock(7241, 8689), ts(h.peerTSVal(), oldEcr)))
	got := h.drainOut(pto + 10*ms)
	if len(got) == 0 || got[0].seg.Seq != engISS+1449 {
		h.fatalf("after the probe's SACK: %d segments, want the first lost one (seq 1449) resent at once", len(got))
	}
	if i := h.c.Info(); i.RACKLosses != 4 || !i.InRecovery || i.RTOExpiries != 0 {
		h.fatalf("RACKLosses %d, InRecovery %v, RTOExpiries %d; want 4, true, 0", i.RACKLosses, i.InRecovery, i.RTOExpiries)
	}
}
