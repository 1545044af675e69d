package tcp

import "time"

// RACK: Recent ACKnowledgment loss detection (RFC 8985 6), used when SACK
// is in use and Config.RACK is set. A record (txq.go) is deemed lost when
// a record sent after it has been delivered and it is older than the
// latest RTT plus a reordering window. Times are the injected clock's
// time.Time, kept to the nanosecond: nothing here rounds to milliseconds,
// so a 20 us round trip gives a 5 us reordering window. Detection on an
// ACK is exact; the reordering timer is as fine as the runtime's clock
// (a real clock runs sub-millisecond timers up to about 1 ms late,
// timers.BenchmarkShortTimerLateness).
//
// Entry points for the ACK pipeline (ack.go, scoreboard.go), in the order
// RFC 8985 6.2 processes an ACK:
//   - rackDelivered(now, r) for every record newly delivered by the ACK,
//     cumulatively (recordsAcked does it before dropping the record) or
//     selectively (the SACK scoreboard, right after it sets txSacked):
//     RFC 8985 6.2 steps 1-3 (RACK.min_RTT, RACK.rtt, RACK.xmit_ts,
//     RACK.end_seq, RACK.segs_sacked, reordering detection with
//     RACK.fack).
//   - onDSACK(start, end) for every D-SACK block (RFC 2883) the ACK
//     carries, after SND.UNA was updated: step 4.
//   - rackDetect(now) once for every acceptable ACK, after the scoreboard
//     update and before recovery entry: the TLP episode (RFC 8985 7.4) and
//     step 5 (loss marking and the reordering timer). It marks records
//     lost with markLost (scoreboard.go); the sender's recovery then
//     retransmits them. When the reordering timer marks records, it
//     starts that recovery itself (onLossMarked, recovery.go).
//   - rackRecoveryExited() when fast or RTO recovery ends: step 4's
//     RACK.reo_wnd_persist.
//   - rackMarkLossesOnRTO(now) when the retransmission timer expires: RFC
//     8985 6.3.

// dupThresh is RFC 6675's DupThresh, which RACK's reordering window
// honours before reordering has been seen (RFC 8985 6.2 step 4).
const dupThresh = 3

// reoWndPersistRecoveries is how many recoveries a widened reordering
// window outlives without D-SACKs (RFC 8985 6.2 step 4: 16).
const reoWndPersistRecoveries = 16

// minRTTWindow is how long a minimum RTT sample stands before a larger one
// replaces it: RFC 8985 6.2 step 1 asks for "a windowed min-filtered
// estimate"; 300 s is Linux's net.ipv4.tcp_min_rtt_wlen default.
const minRTTWindow = 300 * time.Second

// rackState is RACK-TLP's per-connection state (RFC 8985 6.1, 7.4), kept
// in the sender's ccBox. Its small fields sit together (no padding: every
// Conn that has sent carries one) and its times that are not compared
// with the records' are instants (instant.go).
type rackState struct {
	xmitTime   time.Time     // RACK.xmit_ts: latest transmission time of a delivered record
	endSeq     Seq           // RACK.end_seq: its end
	segsSacked int32         // RACK.segs_sacked: records SACKed and not yet cumulatively acknowledged
	fack       Seq           // RACK.fack: highest end delivered before this ACK
	fackNext   Seq           // RACK.fack including this ACK's deliveries (committed by rackDetect)
	rtt        time.Duration // RACK.rtt
	minRTT     time.Duration // RACK.min_RTT
	minRTTAt   instant       // when minRTT was sampled (the window of minRTTWindow)

	// Reordering window adaptation (RFC 8985 6.2 step 4).
	reoWndMult    int32 // RACK.reo_wnd_mult (0 means 1: the zero value is usable)
	reoWndPersist int32 // RACK.reo_wnd_persist
	dsackRound    Seq   // RACK.dsack_round, while dsackRoundOn

	valid          bool // xmitTime, endSeq and rtt come from a delivered record
	fackValid      bool
	dsackRoundOn   bool
	reorderingSeen bool // RACK.reordering_seen

	// What the ACK being processed did, for the TLP episode (RFC 8985
	// 7.4); reset by rackDetect. The most recently sent record it
	// delivered and that record's RTT: RFC 8985 6.2 step 2 takes the
	// records in ascending transmission order, so RACK.rtt ends as this
	// one's.
	ackXmit   time.Time
	ackRTT    time.Duration
	ackEnd    Seq
	prevUna   Seq  // SND.UNA before it
	ackSacked bool // it SACKed new data
	ackValid  bool
	ackDSACK  bool // it carried a D-SACK block covering the TLP probe

	rackAt instant // the reordering timer (RFC 8985 6.2 step 5); zero: not armed

	tlp tlpState // tail loss probe (tlp.go)
}

// rackEnabled reports whether RACK does the loss detection: SACK is in
// use and the configuration has not turned RACK off (Config.RACK).
func (c *Conn) rackEnabled() bool { return c.flags&flagSackOK != 0 && c.cfg.RACK }

// rackDelivered is RFC 8985 6.2 steps 1-3 for a record newly delivered
// (cumulatively acknowledged or SACKed, txSacked already set then) by the
// ACK being processed at now. The caller calls it before it drops the
// record.
func (c *Conn) rackDelivered(now time.Time, r *txRecord) {
	rk := &c.rack
	if r.flags&txSacked != 0 {
		rk.segsSacked++
		rk.ackSacked = true
	}
	retrans := r.flags&txRetrans != 0
	// Step 3 (RACK_detect_reordering): a record delivered below the
	// highest delivered sequence that was never retransmitted arrived out
	// of order. RACK.fack is compared as it stood before this ACK, so the
	// order in which the ACK's records are reported does not matter.
	if !rk.fackValid {
		rk.fack, rk.fackNext, rk.fackValid = r.start, r.start, true
	}
	if r.end.GreaterThan(rk.fackNext) {
		rk.fackNext = r.end
	}
	// A retransmitted record counts too when the ACK's TSecr shows the
	// original transmission filled the hole (RFC 7323 4's echo: the
	// original came late, not lost; as Linux's tcp_packet_delayed). RFC
	// 8985 excludes retransmitted segments because without timestamps a
	// sender cannot tell which copy arrived; otherwise a reordering that
	// RACK took for a loss (RACK.reo_wnd is 0 until reordering is seen)
	// would never be seen, its retransmission always coming first.
	if r.end.LessThan(rk.fack) && (!retrans || c.ackForEarlierXmit(r)) {
		rk.reorderingSeen = true
	}
	rtt := now.Sub(r.xmitTime)
	if rtt < 0 {
		return // a clock that went backwards gives no sample
	}
	// Step 2 (RACK_update): a retransmitted record is no sample if the
	// ACK's TSecr shows it acknowledges an earlier transmission, or if it
	// was retransmitted less than RACK.min_RTT ago (the heuristic for no
	// timestamps, or a round trip shorter than their granularity). With
	// no RACK.min_RTT yet the heuristic cannot tell: no sample.
	if retrans && (c.ackForEarlierXmit(r) || rk.minRTT == 0 || rtt < rk.minRTT) {
		return
	}
	rk.tlp.noRTT = false
	// Step 1: RACK.min_RTT, windowed (minRTTWindow).
	if rk.minRTT == 0 || rtt <= rk.minRTT || c.since(now, rk.minRTTAt) > minRTTWindow {
		rk.minRTT, rk.minRTTAt = rtt, c.inst(now)
	}
	if !rk.ackValid || sentAfter(r.xmitTime, r.end, rk.ackXmit, rk.ackEnd) {
		rk.ackXmit, rk.ackEnd, rk.ackRTT, rk.ackValid = r.xmitTime, r.end, rtt, true
	}
	if !rk.valid || sentAfter(r.xmitTime, r.end, rk.xmitTime, rk.endSeq) {
		rk.xmitTime, rk.endSeq, rk.valid = r.xmitTime, r.end, true
	}
}

// rackCumAcked notes that a record SACKed earlier is now cumulatively
// acknowledged (RACK.segs_sacked counts only what the scoreboard holds).
func (c *Conn) rackCumAcked(r *txRecord) {
	if r.flags&txSacked != 0 && c.rack.segsSacked > 0 {
		c.rack.segsSacked--
	}
}

// sacked is RACK.segs_sacked. The count is kept by rackDelivered and
// rackCumAcked; records dropped wholesale (the scoreboard reset after a
// path MTU change, a closed connection) take their SACKed ones along.
func (c *Conn) sacked() int {
	if c.txq.n == 0 {
		c.rack.segsSacked = 0
	}
	return min(int(c.rack.segsSacked), c.txq.n)
}

// rackUnsacked notes that the scoreboard cleared txSacked on a record (SACK
// reneging).
func (c *Conn) rackUnsacked() {
	if c.rack.segsSacked > 0 {
		c.rack.segsSacked--
	}
}

// ackForEarlierXmit reports whether the ACK being processed echoes a
// timestamp older than r's latest transmission (RFC 8985 6.2 step 2, RFC
// 7323 4): it acknowledges an earlier transmission of r. Within one tick
// of the timestamp clock (1 ms) it cannot tell; the min_RTT heuristic
// covers that.
//
// Only for a record the cumulative ACK delivered: the receiver echoes
// TS.Recent, the TSval of the segment that last advanced its left edge
// (RFC 7323 4.3 case B, "a hole in the sequence space"), so an ACK that
// SACKs an out-of-order segment echoes an older segment's TSval whichever
// copy arrived. Taken as "the earlier copy", it denied RACK the sample of
// every SACKed retransmission (a tail loss probe SACKed after a lost
// burst: nothing marked lost, the RTO), and claimed reordering for it
// (step 3). The min_RTT heuristic decides for SACKed records, as Linux's
// tcp_rack_advance does for all.
func (c *Conn) ackForEarlierXmit(r *txRecord) bool {
	return r.flags&txSacked == 0 && c.flags&flagTSOK != 0 && c.ackTSecr != 0 &&
		tsBefore(c.ackTSecr, c.tsVal(r.xmitTime))
}

// sentAfter is RFC 8985 6.2's RACK_sent_after: t1 later than t2, ties
// broken by the end sequence number.
func sentAfter(t1 time.Time, seq1 Seq, t2 time.Time, seq2 Seq) bool {
	return t1.After(t2) || t1.Equal(t2) && seq1.GreaterThan(seq2)
}

// onDSACK takes a D-SACK block [start, end) (RFC 2883) of the ACK being
// processed, after SND.UNA was updated: RFC 8985 6.2 step 4, grow the
// reordering window once per round trip that sees D-SACKs. Each block
// reports a segment that arrived twice: a spurious retransmission (or a
// duplicate made by the network).
func (c *Conn) onDSACK(start, end Seq) {
	rk := &c.rack
	c.stats.spuriousRetrans++
	c.undoOnDSACK(start, end)
	if t := &rk.tlp; t.on && t.isRetrans && start.LessThan(t.endSeq) && end.GreaterThanEq(t.endSeq) {
		rk.ackDSACK = true
	}
	if rk.dsackRoundOn && c.SndUna.GreaterThanEq(rk.dsackRound) {
		rk.dsackRoundOn = false
	}
	if rk.dsackRoundOn {
		return
	}
	rk.dsackRound, rk.dsackRoundOn = c.sndMax, true
	rk.reoWndMult = max(rk.reoWndMult, 1) + 1
	rk.reoWndPersist = reoWndPersistRecoveries
	c.stats.reoWndAdapts++
}

// rackRecoveryExited is RFC 8985 6.2 step 4 on leaving fast or RTO
// recovery: after 16 recoveries without D-SACK the window is reset.
func (c *Conn) rackRecoveryExited() {
	rk := &c.rack
	if rk.reoWndPersist > 0 {
		rk.reoWndPersist--
		if rk.reoWndPersist == 0 && rk.reoWndMult > 1 {
			rk.reoWndMult = 1
			c.stats.reoWndAdapts++
		}
	}
}

// rackInRecovery reports fast or RTO recovery, in which RACK uses no
// reordering window until reordering has been seen.
func (c *Conn) rackInRecovery() bool { return c.ccBox != nil && c.lossState != lossNone }

// reoWnd is RFC 8985 6.2 step 4's RACK_reo_wnd(): zero while no reordering
// has been seen and the sender is in recovery or DupThresh records are
// SACKed; otherwise RACK.min_RTT/4 per RACK.reo_wnd_mult, at most SRTT.
func (c *Conn) reoWnd() time.Duration {
	rk := &c.rack
	if !rk.reorderingSeen && (c.rackInRecovery() || c.sacked() >= dupThresh) {
		return 0
	}
	w := time.Duration(max(rk.reoWndMult, 1)) * rk.minRTT / 4
	if srtt := c.rto.SRTT(); srtt > 0 && w > srtt {
		w = srtt
	}
	return w
}

// rackDetect runs once per acceptable ACK, after the scoreboard update:
// it ends the TLP episode the ACK concludes (RFC 8985 7.4) and marks the
// records RACK deems lost, arming the reordering timer for the rest (RFC
// 8985 6.2 step 5). It reports how many records it marked lost.
func (c *Conn) rackDetect(now time.Time) int {
	if c.ccBox == nil {
		return 0 // nothing was ever sent: nothing delivered, no episode
	}
	rk := &c.rack
	rk.fack = rk.fackNext
	if rk.ackValid {
		rk.rtt = rk.ackRTT // RACK.rtt (step 2)
	}
	if !c.rackEnabled() {
		c.rackAckDone()
		return 0
	}
	c.tlpOnAck(now)
	c.rackAckDone()
	return c.rackDetectLoss(now)
}

// rackAckDone resets the per-ACK notes.
func (c *Conn) rackAckDone() {
	rk := &c.rack
	rk.ackSacked, rk.ackDSACK, rk.ackValid, rk.prevUna = false, false, false, c.SndUna
}

// rackDetectLoss is RFC 8985 6.2 step 5 (RACK_detect_loss_and_arm_timer):
// a record not delivered, not already marked lost and sent before the
// most recently sent delivered record (ties: by end) is lost once it is
// RACK.rtt + RACK.reo_wnd old; the reordering timer is armed for the
// latest such record that is not old enough yet.
//
// Records are in sequence order, not transmission order, but those never
// retransmitted were first sent in sequence order: once one of them was
// sent after RACK.xmit_ts, so were all later ones, and past the highest
// retransmitted data (rtxHigh) only such records remain.
func (c *Conn) rackDetectLoss(now time.Time) int {
	rk := &c.rack
	rk.rackAt = 0
	if !rk.valid {
		return 0
	}
	deadline := now.Add(-rk.rtt - c.reoWnd()) // sent at or before this: lost
	var timeout time.Duration
	marked := 0
	q := &c.txq
	for i := 0; i < q.n; i++ {
		r := q.at(i)
		retrans := r.flags&txRetrans != 0
		if r.flags&(txSacked|txLost) != 0 {
			continue
		}
		if !sentAfter(rk.xmitTime, rk.endSeq, r.xmitTime, r.end) {
			if !retrans && (c.flags&flagRtxHigh == 0 || r.start.GreaterThanEq(c.rtxHigh)) {
				break // every later record was sent later still
			}
			continue
		}
		if !r.xmitTime.After(deadline) {
			c.markLost(r)
			marked++
			continue
		}
		timeout = max(timeout, r.xmitTime.Sub(deadline))
	}
	if timeout > 0 {
		rk.rackAt = c.inst(now.Add(timeout))
	}
	if marked > 0 {
		c.stats.rackLosses += uint64(marked)
	}
	return marked
}

// rackTimerExpired is the reordering timer (RFC 8985 6.2 step 5): the
// records it waited for are old enough now; the sender's recovery then
// retransmits what was marked (HandleTimer's flush).
func (c *Conn) rackTimerExpired(now time.Time) {
	c.rack.rackAt = 0
	if !c.rackEnabled() {
		return
	}
	if c.rackDetectLoss(now) > 0 {
		c.onLossMarked(now)
	}
}

// rackMarkLossesOnRTO is RFC 8985 6.3, for the retransmission timeout: the
// first unacknowledged record and every record older than RACK.rtt +
// RACK.reo_wnd are lost.
func (c *Conn) rackMarkLossesOnRTO(now time.Time) {
	deadline := now.Add(-c.rack.rtt - c.reoWnd())
	q := &c.txq
	for i := 0; i < q.n; i++ {
		r := q.at(i)
		if r.flags&(txSacked|txLost) == 0 && (i == 0 || !r.xmitTime.After(deadline)) {
			c.markLost(r)
		}
	}
	c.rack.rackAt = 0
}
