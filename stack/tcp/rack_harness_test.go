package tcp_test

import (
	"testing"
	"time"
)

// RACK-TLP (RFC 8985) against the scripted peer, with SACK negotiated in
// the handshake and the peer's SACK blocks on its ACKs. Round trip 10 ms;
// MSS 1460. Sequence numbers are relative to the engine's ISS.

const us = time.Microsecond

// rackEstablished returns a connection with SACK negotiated and an SRTT of
// 10 ms.
func rackEstablished(t *testing.T) *harness {
	h := newEstablished(t, peerSACKOpt(), handshakeRTT(10*ms))
	if i := h.c.Info(); !i.SACKOK || i.SRTT != 10*ms {
		h.fatalf("SACK %v, SRTT %v", i.SACKOK, i.SRTT)
	}
	return h
}

// RFC 8985 6.2 step 5: after a later segment is SACKed, the first one is
// lost when RACK.rtt + RACK.reo_wnd (min_RTT/4 = 2.5 ms) have passed since
// it was sent, and the reordering timer retransmits it then: not at the
// SACK, not a microsecond before.
func TestRACK_RFC8985_6_2_LostAfterReorderingWindow(t *testing.T) {
	h := rackEstablished(t)
	h.write(20*ms, 4*1460)
	h.expect(20*ms, h.out(".", seq(1), data(1460)), h.out(".", seq(1461), data(1460)),
		h.out(".", seq(2921), data(1460)), h.out("P.", seq(4381), data(1460)))
	h.send(30*ms, h.in(".", ack(1), sackBlock(1461, 2921)))
	h.expectNothing(30 * ms)
	h.expectNothing(32*ms + 499*us)
	h.expect(32*ms+500*us, h.out(".", seq(1), data(1460)))
	if i := h.c.Info(); i.RACKLosses != 1 || i.RTOExpiries != 0 || !i.InRecovery {
		h.fatalf("RACKLosses %d, RTOExpiries %d, InRecovery %v", i.RACKLosses, i.RTOExpiries, i.InRecovery)
	}
}

// Reordering within the window is not loss: the first segment arrives
// 2 ms late, nothing is retransmitted, and RACK remembers the reordering.
func TestRACK_RFC8985_6_2_ReorderingIsNotLoss(t *testing.T) {
	h := rackEstablished(t)
	h.write(20*ms, 4*1460)
	h.drainOut(20 * ms)
	h.send(30*ms, h.in(".", ack(1), sackBlock(1461, 2921)))
	h.send(32*ms, h.in(".", ack(2921)))
	h.send(33*ms, h.in(".", ack(5841)))
	h.expectNothing(100 * ms)
	if i := h.c.Info(); i.RACKLosses != 0 || i.Retransmits != 0 || i.InRecovery {
		h.fatalf("RACKLosses %d, Retransmits %d, InRecovery %v", i.RACKLosses, i.Retransmits, i.InRecovery)
	}
}

// tlpSlack is what the engine adds to 2*SRTT in its probe timeout, as
// Linux adds TCP_TIMEOUT_MIN (tlp.go).
const tlpSlack = 2 * ms

// RFC 8985 7: a tail loss. Five segments, the peer acknowledges three (two
// in flight: no WCDelAckT); the probe goes out 2*SRTT + 2 ms after that ACK and is
// the last segment again; its ACK completes the transfer with no RTO. The
// next ACK beyond TLP.end_seq confirms the probe repaired a loss: one
// congestion response (7.4).
func TestTLP_RFC8985_7_TailLossProbe(t *testing.T) {
	h := rackEstablished(t)
	h.write(20*ms, 5*1460)
	h.drainOut(20 * ms)
	h.send(30*ms, h.in(".", ack(4381)))
	srtt := h.c.Info().SRTT
	pto := 30*ms + 2*srtt + tlpSlack
	if got := h.c.Info().TLPAt; !got.Equal(h.at(pto)) {
		h.fatalf("PTO at %s, want %s", h.ts(got), h.ts(h.at(pto)))
	}
	h.expectNothing(pto - us)
	h.expect(pto, h.out("P.", seq(5841), data(1460)))
	i := h.c.Info()
	if i.TLPProbes != 1 || i.RTOExpiries != 0 {
		h.fatalf("TLPProbes %d, RTOExpiries %d", i.TLPProbes, i.RTOExpiries)
	}
	cwnd := i.Cwnd
	h.send(pto+10*ms, h.in(".", ack(7301)))
	h.write(pto+20*ms, 1460)
	h.expect(pto+20*ms, h.out("P.", seq(7301), data(1460)))
	h.send(pto+30*ms, h.in(".", ack(8761)))
	i = h.c.Info()
	if i.TLPRecoveries != 1 || i.Cwnd >= cwnd || i.RTOExpiries != 0 {
		h.fatalf("TLPRecoveries %d, cwnd %d (was %d), RTOExpiries %d", i.TLPRecoveries, i.Cwnd, cwnd, i.RTOExpiries)
	}
}

// A spurious probe: the peer had the last segment, only its ACK was lost.
// The probe's ACK reaches TLP.end_seq and D-SACKs the probe: the episode
// ends without a congestion response (RFC 8985 7.4).
func TestTLP_RFC8985_7_4_SpuriousProbeDSACK(t *testing.T) {
	h := rackEstablished(t)
	h.write(20*ms, 5*1460)
	h.drainOut(20 * ms)
	h.send(30*ms, h.in(".", ack(4381)))
	pto := 30*ms + 2*h.c.Info().SRTT + tlpSlack
	h.expect(pto, h.out("P.", seq(5841), data(1460)))
	cwnd := h.c.Info().Cwnd
	h.send(pto+10*ms, h.in(".", ack(7301), sackBlock(5841, 7301)))
	h.write(pto+20*ms, 1460)
	h.expect(pto+20*ms, h.out("P.", seq(7301), data(1460)))
	h.send(pto+30*ms, h.in(".", ack(8761)))
	if i := h.c.Info(); i.TLPRecoveries != 0 || i.Cwnd < cwnd || i.SpuriousRetrans != 1 {
		h.fatalf("TLPRecoveries %d, cwnd %d (was %d), SpuriousRetrans %d", i.TLPRecoveries, i.Cwnd, cwnd, i.SpuriousRetrans)
	}
}

// A lost retransmission is found the same way (RFC 8985 3.4): the first
// segment's retransmission at 32.5 ms is lost too; once new data sent
// after it is SACKed and RACK.rtt has passed since it went out, it is
// retransmitted again, with no RTO.
func TestRACK_RFC8985_LostRetransmission(t *testing.T) {
	h := rackEstablished(t)
	h.write(20*ms, 4*1460)
	h.drainOut(20 * ms)
	h.send(30*ms, h.in(".", ack(1), sackBlock(1461, 2921)))
	h.expect(32*ms+500*us, h.out(".", seq(1), data(1460)))
	h.write(33*ms, 1460) // new data, sent as PRR allows
	h.send(35*ms, h.in(".", ack(1), sackBlock(1461, 4381)))
	h.send(37*ms, h.in(".", ack(1), sackBlock(1461, 5841)))
	h.expect(37*ms, h.out("P.", seq(5841), data(1460)))
	// 45 ms: the new segment (sent at 37 ms) is SACKed, the
	// retransmission (32.5 ms) is not. 32.5 ms + RACK.rtt (8 ms) has
	// passed, and in recovery with no reordering seen the reordering
	// window is zero (RFC 8985 6.2 step 4): the retransmission is lost.
	// It goes out once: RFC 6675's rescue retransmission (NextSeg rule
	// 4) does not send it again while that copy is in flight.
	h.send(45*ms, h.in(".", ack(1), sackBlock(1461, 7301)))
	h.expect(45*ms, h.out(".", seq(1), data(1460)))
	h.expectNothing(50 * ms)
	if i := h.c.Info(); i.RACKLosses != 2 || i.RTOExpiries != 0 {
		h.fatalf("RACKLosses %d, RTOExpiries %d", i.RACKLosses, i.RTOExpiries)
	}
	h.send(55*ms, h.in(".", ack(7301)))
	if i := h.c.Info(); i.InRecovery || i.SndUna != i.SndMax {
		h.fatalf("InRecovery %v, SND.UNA %d, snd.max %d", i.InRecovery, i.SndUna, i.SndMax)
	}
}

// Without SACK there is no RACK and no probe: the same tail loss waits
// for the RTO.
func TestTLP_RFC8985_NoSACKNoProbe(t *testing.T) {
	h := newEstablished(t, handshakeRTT(10*ms))
	h.write(20*ms, 4*1460)
	h.drainOut(20 * ms)
	h.send(30*ms, h.in(".", ack(4381)))
	if at := h.c.Info().TLPAt; !at.IsZero() {
		h.fatalf("PTO armed without SACK")
	}
	h.expectNothing(200 * ms)
	if i := h.c.Info(); i.TLPProbes != 0 {
		h.fatalf("TLPProbes %d", i.TLPProbes)
	}
}

// A call whose time is older than the last transmission's (a runtime that
// read its clock before taking the connection's lock, while another
// goroutine's Write sent data) must not stamp the data it sends as sent
// before data of lower sequence numbers: RACK (RFC 8985 6.2) would take the
// cumulative ACK of the lower data for a delivery after the higher data's
// transmission and declare the higher data lost. Here the ACK that frees
// the window is processed with a time 500 us older than the Write's; the
// data it sends is delivered in order, 19 ms after the data before it, and
// nothing may be retransmitted.
func TestRACK_RFC8985_6_2_StaleCallTimeIsNotReordering(t *testing.T) {
	h := rackEstablished(t)
	h.write(20*ms, 4*1460)
	h.drainOut(20 * ms)
	h.send(30*ms, h.in(".", ack(2921)))
	h.write(31*ms, 20*1460) // more than the window takes at 31 ms
	n1 := len(h.drainOut(31 * ms))
	h.c.HandleSegment(h.now.Add(-500*us), h.in(".", ack(5841)))
	n2 := len(h.drainOut(31 * ms))
	if n1 == 0 || n2 == 0 || n1+n2 >= 20 {
		h.fatalf("sent %d segments by the Write and %d by the stale ACK; want both, and data left", n1, n2)
	}
	// The data sent at 31 ms by the Write is acknowledged at 41 ms, the
	// data the stale call sent at 60 ms, then the rest as it goes out.
	h.send(41*ms, h.in(".", ack(int64(5841+n1*1460))))
	sent := 4 + n1 + n2 + len(h.drainOut(41*ms))
	for at := 60 * ms; at < 2*s && sent <= 24; at += 20 * ms {
		h.send(at, h.in(".", ack(int64(1+sent*1460))))
		n := len(h.drainOut(at))
		if n == 0 {
			break
		}
		sent += n
	}
	if sent != 24 {
		h.fatalf("%d segments sent, want 24", sent)
	}
	h.expectNothing(500 * ms)
	if i := h.c.Info(); i.RACKLosses != 0 || i.Retransmits != 0 {
		h.fatalf("RACKLosses %d, Retransmits %d: in-order delivery taken for loss", i.RACKLosses, i.Retransmits)
	}
}
