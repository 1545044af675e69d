package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Loss recovery, driven by the sender for every algorithm: fast
// retransmit and fast recovery (RFC 6675 with SACK, RFC 6582 NewReno
// without), limited transmit (RFC 3042), and the loss state after a
// retransmission timeout (RFC 6298 5.4, RFC 6675 5.1). What to send is
// RFC 6675's NextSeg on the transmission records (output, send.go: lost
// records first, then new data, then rules 3 and 4 here); how much is
// cwnd - pipe, with cwnd set by PRR (prr.go) during fast recovery.

type lossState uint8

const (
	lossNone lossState = iota
	lossFast           // fast recovery (RFC 6675 5, RFC 6582 3.2)
	lossRTO            // after an RTO, until recoveryPoint is acknowledged (RFC 6675 5.1)
)

// isDupAck reports whether an ACK is a duplicate. With SACK, RFC 6675 2:
// one "carrying a SACK block that identifies previously unacknowledged and
// un-SACKed octets ... even if it carries new data, changes the advertised
// window, or moves the cumulative acknowledgment point". Without, RFC 5681
// 2: outstanding data, no data, no SYN or FIN, the same acknowledgment
// number (acked 0) and window.
func (c *Conn) isDupAck(seg *segment.Segment, oldWnd, acked uint32) bool {
	if c.flags&flagSackOK != 0 {
		return c.sb.newlySacked > 0
	}
	return acked == 0 && seg.Ack == c.SndUna && c.SndNxt != c.SndUna && len(seg.Payload) == 0 &&
		seg.Flags&(segment.FlagSYN|segment.FlagFIN) == 0 && uint32(seg.Window)<<c.sndShift == oldWnd
}

// recoveryOnAck is step (4) of the ACK pipeline: duplicate ACK counting,
// the end of recovery, entering fast recovery, partial ACKs and PRR.
// acked is how far SND.UNA advanced.
func (c *Conn) recoveryOnAck(now time.Time, acked uint32, dup bool) {
	sack := c.flags&flagSackOK != 0
	mss := uint32(c.sndMSS)
	// DeliveredData (RFC 6937 3): the change in SND.UNA plus the change
	// in SACKed data; "If SACK is not in use", one SMSS per duplicate
	// ACK and, on a later ACK, the change in SND.UNA less what those
	// duplicate ACKs counted.
	dd := c.rs.AckedSacked
	if acked > 0 {
		c.dupAcks = 0 // RFC 6675 5: "If the incoming ACK is a cumulative acknowledgment, the TCP MUST reset DupAcks to zero"
		c.sb.ltBytes = 0
		if !sack {
			r := min(c.sb.renoSacked, acked)
			c.sb.renoSacked -= r
			dd = acked - r
		}
	}
	if dup {
		c.dupAcks++
		c.stats.dupAcksIn++
		if !sack && c.lossState != lossRTO {
			f := c.flight()
			c.sb.renoSacked = min(c.sb.renoSacked+mss, f-min(f, mss))
			dd = mss
		}
	}
	if c.lossState != lossNone && c.SndUna.GreaterThanEq(c.recoveryPoint) {
		c.exitRecovery(now)
	}
	partial := false
	switch c.lossState {
	case lossNone:
		// RFC 6675 5 (1), (2) and RFC 5681 3.2 step 2: DupThresh
		// duplicate ACKs, or a record deemed lost (IsLost(HighACK+1),
		// RACK). With RACK, only a loss it (or IsLost) found starts
		// recovery: RFC 8985 replaces the duplicate ACK threshold, which
		// reordering would trip (Linux's tcp_time_to_recover alike). A new
		// recovery does not start before SND.UNA passed the previous
		// RecoveryPoint (RFC 6582 3.2 step 2, RFC 6675 5.1): lossState
		// stays until then.
		if c.sb.lostBytes > 0 || c.dupAcks >= dupThresh && !c.rackEnabled() {
			c.enterRecovery(now)
		}
	case lossFast:
		if acked > 0 && !sack {
			// RFC 6582 3.2 step 3, partial acknowledgment: retransmit
			// the first unacknowledged segment.
			c.markHeadLost()
			partial = true
		}
	}
	if c.lossState == lossFast && !c.ownsRecovery() {
		c.prrOnAck(dd)
		if p := c.pipe(); partial && c.ccs.Cwnd < p+mss {
			// RFC 6582's partial ACK retransmits the hole now, even
			// when PRR's sndcnt is zero (Linux would wait for the next
			// ACK): a deliberate addition to RFC 6937.
			c.ccs.Cwnd = p + mss
		}
	}
}

// enterRecovery is RFC 6675 5 (4) (RFC 6582 3.2 step 2 without SACK):
// RecoveryPoint = HighData, the algorithm's new ssthresh, and the first
// unacknowledged segment marked for retransmission.
func (c *Conn) enterRecovery(now time.Time) {
	c.lossState = lossFast
	c.recoveryPoint = c.sndMax
	c.sb.rescued = false
	c.stats.fastRetransmits++
	if c.flags&flagSackOK != 0 {
		c.lstats.sackRecoveries++
	} else {
		c.lstats.renoRecoveries++
	}
	s := c.ccSync(now)
	// RFC 6675 5 (4.2): "[RFC5681] requires that any segments sent as
	// part of the Limited Transmit mechanism not be counted in FlightSize
	// for the purpose of the above equation."
	s.SndNxt = s.SndNxt.Add(-c.sb.ltBytes)
	c.undoStart(s)
	c.cc.OnCongestionEvent(s)
	s.SndNxt = c.sndMax
	c.sb.ltBytes = 0
	c.prrStart()
	if !c.rackEnabled() {
		c.markHeadLost() // RACK marked what is lost
	}
}

// exitRecovery ends fast recovery or the loss state of an RTO once SND.UNA
// reached the recovery point (RFC 6675 5, RFC 6582 3.2 step 3 "full
// acknowledgment"): after fast recovery cwnd = ssthresh (RFC 6937 3.1)
// unless the algorithm owns recovery.
func (c *Conn) exitRecovery(now time.Time) {
	was := c.lossState
	c.lossState = lossNone
	c.sb.renoSacked = 0
	c.rackRecoveryExited()
	s := c.ccSync(now)
	if was == lossFast {
		if !c.ownsRecovery() {
			s.Cwnd = s.Ssthresh
			c.exited = true
		}
		c.cc.OnRecoveryExit(s)
	}
}

// onLossMarked is called when a timer (RACK's reordering timer) marked
// records lost outside ACK processing: recovery starts as it would on an
// ACK (RFC 8985 6.2 step 5), and HandleTimer's flush retransmits.
func (c *Conn) onLossMarked(now time.Time) {
	if c.ackState == nil || c.lossState != lossNone || c.sb.lostBytes == 0 {
		return
	}
	c.enterRecovery(now)
	if !c.ownsRecovery() {
		c.prrOnAck(0)
	}
}

// ownsRecovery reports whether the algorithm sets cwnd itself in recovery
// (no PRR).
func (c *Conn) ownsRecovery() bool {
	o, ok := c.cc.(RecoveryOwner)
	return ok && o.OwnsRecovery()
}

// retransmitLost resends lost record i, with the lost records that follow
// it contiguously, up to limit bytes (RFC 6675 NextSeg rule 1; after an
// RTO, going back N over the holes only). It returns the bytes sent, 0 if
// the first record does not fit in limit.
func (c *Conn) retransmitLost(now time.Time, i int, limit uint32) uint32 {
	q := &c.txq
	r := q.at(i)
	if r.len() > limit {
		return 0
	}
	start, end := r.start, r.end
	fin := r.flags&txFin != 0
	for j := i + 1; j < q.n && !fin; j++ {
		n := q.at(j)
		if n.start != end || n.flags&txLost == 0 || uint32(n.end.Sub(start)) > limit {
			break
		}
		end, fin = n.end, n.flags&txFin != 0
	}
	used := uint32(end.Sub(start))
	n := used
	if fin {
		n-- // the FIN has no byte in the ring
	}
	c.flags &^= flagRTTTiming // Karn (RFC 6298 3)
	c.sendSegment(now, start, n, fin)
	if start == c.SndUna {
		c.armRtx(now) // a new RTO for the resent head, as Linux
	}
	return used
}

// retransmitOther is RFC 6675 NextSeg rules 3 and 4 in fast recovery with
// SACK, when neither lost data nor new data can go: (3) an unSACKed record
// below the highest SACKed one not yet retransmitted, else (4) once per
// recovery the "rescue" retransmission of the highest unSACKed record. At
// most one per output (the caller's rule): such a record stays in pipe
// once, where RFC 6675 would count it twice.
//
// Rule 4 does not take a record whose retransmission is in flight
// (txRetrans, not deemed lost since): the rescue is for data that nothing
// else will resend (RFC 6675 4: rules 1 and 3 take only data above
// HighRxt, and the rescue leaves HighRxt alone), and that record was just
// resent by rule 1 (RACK found the tail lost) or earlier in the recovery,
// where RACK watches that copy (RFC 8985 6.2). Taking it sent the same
// segment twice back to back. The rescue stays unused.
func (c *Conn) retransmitOther(now time.Time, budget uint32) uint32 {
	if c.ackState == nil || c.flags&flagSackOK == 0 || c.lossState != lossFast || c.sb.sackedBytes == 0 {
		return 0
	}
	sb := &c.sb
	q := &c.txq
	lo := 0
	if sb.lossMarked.GreaterThan(c.SndUna) {
		lo = q.search(sb.lossMarked)
	}
	for i := lo; i < q.n; i++ {
		r := q.at(i)
		if r.end.GreaterThan(sb.highSacked) {
			break
		}
		if r.flags&(txSacked|txRetrans|txLost) == 0 && r.len() <= budget {
			return c.resend(now, r)
		}
	}
	if sb.rescued {
		return 0
	}
	for i := q.n - 1; i >= 0; i-- {
		if r := q.at(i); r.flags&txSacked == 0 {
			if r.flags&(txLost|txRetrans) != 0 || r.len() > budget {
				return 0
			}
			sb.rescued = true
			return c.resend(now, r)
		}
	}
	return 0
}

// resend retransmits one record.
func (c *Conn) resend(now time.Time, r *txRecord) uint32 {
	fin := r.flags&txFin != 0
	n := r.len()
	if fin {
		n--
	}
	c.flags &^= flagRTTTiming // Karn (RFC 6298 3)
	c.sendSegment(now, r.start, n, fin)
	return r.len()
}

// rtoGiveUp decides, at an expiry of the retransmission timer, whether
// to give up (RFC 9293 3.8.3 R2: after MaxRetries timeouts, or the user
// timeout) and otherwise counts the expiry. When the peer's window is zero
// it shrank on data in flight (RFC 9293 3.8.6, MUST-34: the sender must be
// robust against it), and the retransmission is the window probe of 3.8.6.1:
// "As long as the receiving TCP peer continues to send acknowledgments in
// response to the probe segments, the sending TCP peer MUST allow the
// connection to stay open" (MUST-36). It then counts as a probe, reset by
// every acceptable ACK, as in persistTimerExpired (Linux alike:
// tcp_retransmit_timer's "Receiver dastardly shrinks window" case). The
// user timeout still applies: the data stays unacknowledged (RFC 5482;
// Linux's tcp_rtx_probe0_timed_out honours TCP_USER_TIMEOUT too).
func (c *Conn) rtoGiveUp(now time.Time) bool {
	if ut := c.cfg.UserTimeout; ut > 0 && now.Sub(c.time(c.unackedSince)) >= ut {
		return true
	}
	if c.SndWnd == 0 {
		if int(c.probesUnanswered) >= c.cfg.maxRetries() {
			return true
		}
		c.probesUnanswered++
		return false
	}
	if int(c.retries) >= c.cfg.maxRetries() {
		return true
	}
	c.retries++
	return false
}

// retransmitTimerExpired is RFC 6298 5.4-5.6 with RFC 9293 3.8.3's R2:
// retransmit the earliest unacknowledged segment, back off, and give up
// with ETIMEDOUT after MaxRetries timeouts or UserTimeout. Everything not
// SACKed is then deemed lost (RFC 6675 5.1) and resent, holes only, as the
// window reopens.
func (c *Conn) retransmitTimerExpired(now time.Time) {
	c.rtxAt = 0
	if c.state == StateSynSent || c.synUnacked() {
		c.synRetransmit(now)
		return
	}
	if c.SndUna == c.sndMax {
		return
	}
	if c.unackedSince == 0 {
		c.unackedSince = c.inst(now)
	}
	if c.rtoGiveUp(now) {
		c.close(now, c.timeoutErr(), nil)
		return
	}
	c.stats.rtoExpiries++
	// RFC 6675 5.1: an RTO ends fast recovery; RecoveryPoint = HighData,
	// and no new recovery starts before it is acknowledged.
	c.lossState = lossRTO
	c.recoveryPoint = c.sndMax
	c.undo = undoState{} // an RTO is not undone (undo.go)
	c.cc.OnRTO(c.ccSync(now))
	c.rto.Backoff() // RFC 6298 5.5
	c.dupAcks = 0
	c.flags &^= flagRTTTiming // Karn
	switch {
	case c.ackState == nil:
		// Nothing recorded: the go-back-N below resends it.
	case c.rackEnabled():
		c.rackMarkLossesOnRTO(now) // RFC 8985 6.3
	default:
		c.markAllLost() // RFC 6675 5.1
	}
	// RFC 6298 5.4: the earliest segment not acknowledged goes now,
	// whatever cwnd says.
	if i := c.firstLost(); i < 0 || c.retransmitLost(now, i, uint32(c.sndMSS)) == 0 {
		// No record to resend: go back N from SND.UNA. The segment may
		// not reach past both what was sent before and the peer's
		// window: RFC 5681 3, "a TCP MUST NOT send data with a sequence
		// number higher than the sum of the highest acknowledged
		// sequence number and the minimum of cwnd and rwnd".
		c.SndNxt = c.SndUna
		c.transmit(now, min(uint32(c.sndMSS), max(uint32(c.sndMax.Sub(c.SndUna)), c.SndWnd)), true)
	}
	c.armRtx(now) // RFC 6298 5.6
}
