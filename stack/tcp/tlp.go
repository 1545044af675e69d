package tcp

import "time"

// TLP: the Tail Loss Probe (RFC 8985 7). With RACK in use, a sender whose
// flight goes unacknowledged for about two round trips sends one probe
// segment (new data, or the last segment again) so that the peer's ACK,
// with its SACK blocks, lets RACK find a loss at the tail of the flight
// that no later segment would reveal; only if that fails does the
// retransmission timer expire. The probe timeout (PTO) runs beside the
// RTO and never beyond it.

// wcDelAckT is RFC 8985 7.2's WCDelAckT, the worst-case delayed-ACK time
// added to the PTO when a single segment is in flight: 200 ms, as the RFC
// says (Linux's TCP_DELACK_MAX; Linux receivers usually ACK within 40 ms).
const wcDelAckT = 200 * time.Millisecond

// tlpSlack is added to 2*SRTT in the PTO: Linux's TCP_TIMEOUT_MIN at
// HZ=1000 (2 ms).
const tlpSlack = 2 * time.Millisecond

// tlpState is the TLP part of rackState.
type tlpState struct {
	at        instant // the PTO timer; zero: not armed (instant.go)
	endSeq    Seq     // TLP.end_seq: SND.NXT when the probe went out, while on
	on        bool    // a TLP episode is in progress (TLP.end_seq is not None)
	isRetrans bool    // TLP.is_retrans: the probe was a retransmission
	noRTT     bool    // no RTT sample came in since the last probe (RFC 8985 7.3)
	// SND.UNA and snd.max when the PTO was last armed: the PTO restarts
	// when new data goes out or new data is acknowledged (RFC 8985 7.2).
	armUna, armMax Seq
}

// tlpEligible is RFC 8985 7.2's condition for scheduling a probe: SACK in
// use (with RACK), nothing SACKed, not in fast or RTO recovery, data in
// flight. As Linux (tcp_send_loss_probe), one probe at a time: none while
// a TLP episode is in progress.
func (c *Conn) tlpEligible() bool {
	return c.ccBox != nil && c.rackEnabled() && c.SndUna != c.sndMax && !c.synUnacked() &&
		c.sacked() == 0 && !c.rackInRecovery() && c.retries == 0 &&
		!c.rack.tlp.on
}

// tlpSchedule (re)arms the PTO at the end of each engine call (flush):
// after new data was sent that was not itself a probe, or after an ACK
// acknowledged new data (RFC 8985 7.2), and disarms it when a probe is
// not allowed.
func (c *Conn) tlpSchedule(now time.Time) {
	if c.ccBox == nil {
		return // nothing sent yet: no probe to arm (tlpEligible)
	}
	t := &c.rack.tlp
	if c.rackInRecovery() {
		// RFC 8985 7.1: fast recovery (or RTO recovery) resets
		// TLP.end_seq; the recovery answers for what the probe found.
		t.on = false
	}
	if !c.tlpEligible() {
		t.at = 0
		return
	}
	if t.armUna == c.SndUna && t.armMax == c.sndMax {
		// No progress since the PTO was armed (or fired): it stays.
		if t.at != 0 && c.rtxAt != 0 && c.rtxAt < t.at {
			t.at = c.rtxAt // the RTO moved earlier: the PTO stays within it
		}
		return
	}
	t.armUna, t.armMax = c.SndUna, c.sndMax
	t.at = c.inst(now.Add(c.tlpPTO(now)))
}

// tlpPTO is RFC 8985 7.2's TLP_calc_PTO: 2*SRTT, plus WCDelAckT when one
// segment is in flight, 1 s before any RTT sample; never beyond the RTO's
// expiry. A deliberate deviation, as Linux (tcp_schedule_loss_probe adds
// TCP_TIMEOUT_MIN, two jiffies): 2*SRTT is extended by tlpSlack. On a
// local path 2*SRTT is tens of microseconds, and a bare 2*SRTT probes
// every ACK that the peer's or our own scheduling delays by more than
// that (the runtime's timers do not fire sooner than about 1 ms anyway):
// spurious retransmissions that the conformance peers saw crossing their
// ACKs. An SRTT of zero (a manual clock) must not make a PTO of zero
// either.
func (c *Conn) tlpPTO(now time.Time) time.Duration {
	pto := time.Second
	if c.rto.HasSample() {
		pto = 2*c.rto.SRTT() + tlpSlack
		if c.txq.len() == 1 {
			pto += wcDelAckT
		}
	}
	if c.rtxAt != 0 {
		if left := -c.since(now, c.rtxAt); left < pto {
			pto = max(left, time.Nanosecond)
		}
	}
	return pto
}

// tlpTimerExpired sends the loss probe (RFC 8985 7.3): the next new
// segment if there is one and the peer's window allows it, otherwise the
// highest-sequence segment sent again; the congestion window is not
// consulted and not changed. The RTO is then re-armed, not the PTO: the
// RTO remains the last resort. No probe goes out while the previous one
// is in flight (tlpEligible) or when no RTT sample came in since it (7.3:
// the sender "MUST skip sending a loss probe and MUST proceed to re-arm
// the RTO timer"; the RTO is already armed and keeps its expiry).
func (c *Conn) tlpTimerExpired(now time.Time) {
	t := &c.rack.tlp
	t.at = 0
	if !c.tlpEligible() || t.noRTT {
		t.armUna, t.armMax = c.SndUna, c.sndMax // no PTO again until progress
		if c.rtxAt == 0 {
			c.armRtx(now)
		}
		return
	}
	mss := uint32(c.sndMSS)
	flight := uint32(c.sndMax.Sub(c.SndUna))
	if unsent := c.unsent(); unsent > 0 && c.SndNxt == c.sndMax && c.SndWnd > flight {
		c.transmit(now, min(unsent, mss, c.SndWnd-flight), true)
		t.isRetrans = false
	} else {
		r := c.txq.last()
		if r == nil {
			return
		}
		n, fin := r.len(), r.flags&txFin != 0
		if fin {
			n-- // the FIN has no byte in the ring
		}
		c.flags &^= flagRTTTiming // Karn (RFC 6298 3)
		c.sendSegment(now, r.start, n, fin)
		t.isRetrans = true
	}
	t.on, t.endSeq, t.noRTT = true, c.sndMax, true
	t.armUna, t.armMax = c.SndUna, c.sndMax
	c.stats.tlpProbes++
	c.armRtx(now)
}

// tlpOnAck is RFC 8985 7.4 for the ACK being processed: it ends the TLP
// episode once the ACK reaches TLP.end_seq, and when the probe repaired a
// loss (the ACK goes beyond TLP.end_seq after a retransmitted probe, and
// no D-SACK said the probe was a duplicate) invokes the congestion
// response once. A duplicate ACK at TLP.end_seq that SACKs nothing new
// means the original and the probe both arrived: no loss. (Linux also
// requires the duplicate to carry no data and no window update; this
// engine does not tell those apart here.)
func (c *Conn) tlpOnAck(now time.Time) {
	rk := &c.rack
	t := &rk.tlp
	if !t.on || c.SndUna.LessThan(t.endSeq) {
		return
	}
	switch {
	case !t.isRetrans: // the new data the probe carried was delivered
		t.on = false
	case rk.ackDSACK: // the probe was spurious
		t.on = false
	case c.SndUna.GreaterThan(t.endSeq):
		t.on = false
		c.stats.tlpRecoveries++
		c.tlpCongestionResponse(now)
	case c.SndUna == rk.prevUna && !rk.ackSacked:
		t.on = false
	}
}

// tlpCongestionResponse is the congestion response to a loss that the
// probe alone repaired (RFC 8985 7.4: the sender "MUST invoke the
// congestion control" for it): one reduction, as at the start of a fast
// recovery that ends at once (Linux: tcp_init_cwnd_reduction and
// tcp_end_cwnd_reduction, the CWR state).
func (c *Conn) tlpCongestionResponse(now time.Time) {
	s := c.ccSync(now)
	c.cc.OnCongestionEvent(s)
	if !c.ownsRecovery() {
		s.Cwnd = min(s.Cwnd, s.Ssthresh)
	}
	c.cc.OnRecoveryExit(s)
}

// tlpOnRTO ends a TLP episode when the retransmission timer expires: RTO
// recovery takes over.
func (c *Conn) tlpOnRTO() {
	if c.ccBox == nil {
		return // a SYN's timeout: no TLP state
	}
	c.rack.tlp.on = false
	c.rack.tlp.at = 0
}

// rackTimers returns RACK's reordering and TLP's probe deadlines (zero:
// not armed, as always before the sender has its state, ccBox).
func (c *Conn) rackTimers() (rackAt, tlpAt instant) {
	if c.ccBox == nil {
		return 0, 0
	}
	return c.rack.rackAt, c.rack.tlp.at
}

// rackStopTimers disarms RACK's and TLP's timers (CLOSED, TIME-WAIT).
func (c *Conn) rackStopTimers() {
	if c.ccBox == nil {
		return
	}
	c.rack.rackAt = 0
	c.rack.tlp.at = 0
}
