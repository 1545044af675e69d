package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation-02,
// as Linux's tcp_rate.c) on the transmission records, and the RTT
// variables of CCState. Every record carries the connection's delivery
// state when it was sent; an ACK that delivers records (cumulatively or by
// SACK) compares it with the state now: the data delivered between the two
// over the longer of the send and the ACK intervals is the delivery rate.

// The times are Unix nanoseconds (nanos), 8 bytes rather than a
// time.Time's 24: every idle Conn carries them (TestManyConns' budget).
type rateState struct {
	deliveredTime int64  // C.delivered_time
	firstSentTime int64  // C.first_sent_time
	appLimited    uint64 // C.app_limited: 0, or the C.delivered beyond which samples are no longer application-limited
	minRTTAt      int64  // when ccs.MinRTT was taken
}

// ackState is the sender's loss recovery working state while data is in
// flight (ackStateGet, ackStatePut): the scoreboard, PRR, pacing, and what
// the ACK pipeline builds for each ACK.
type ackState struct {
	sb   scoreboard // SACK scoreboard and lost marking (scoreboard.go)
	prr  prrState   // RFC 6937 (prr.go)
	pace paceState  // pacing (pacing.go)

	rs          RateSample // the sample this ACK builds (draft 3.3), reset by rateStart
	priorTime   int64      // rs.prior_time; 0: no delivered record seen yet
	priorXmit   int64      // send time of the record chosen
	priorLost   uint64     // its P.lost
	sendElapsed time.Duration
	ackElapsed  time.Duration
	newlyLost   uint32 // bytes marked lost during this ACK
	exited      bool   // this ACK ended fast recovery (PRR's cwnd = ssthresh stands)

	cache  [segment.MaxSACKBlocks]segment.SACKBlock // the previous ACK's valid SACK blocks (scoreboard.go)
	ncache int
}

// nanos is t in Unix nanoseconds.
func nanos(t time.Time) int64 { return t.UnixNano() }

// onRecordSent fills a record's delivery-rate fields at (re)transmission
// (draft 3.2 "Transmitting or retransmitting a data packet"). With nothing
// in flight before it, the send and delivery clocks restart now.
func (c *Conn) onRecordSent(now time.Time, r *txRecord) {
	if c.ackState == nil {
		c.ackStateGet(now) // a record made other than by sendSegment (tests)
	}
	rt := &c.rate
	retrans := r.flags&txRetrans != 0
	if !retrans && c.txq.n == 1 {
		n := nanos(now)
		rt.firstSentTime, rt.deliveredTime = n, n
	}
	r.delivered = c.ccs.Delivered
	r.deliveredTime = rt.deliveredTime
	r.firstSentTime = rt.firstSentTime
	r.lostAtSend = c.ccs.Lost
	if retrans {
		r.txInFlight = c.pipe()
	} else {
		r.txInFlight = c.pipe() + uint32(r.end.Sub(c.SndNxt))
	}
	if rt.appLimited != 0 {
		r.flags |= txAppLimited
	} else {
		r.flags &^= txAppLimited
	}
	if c.lossState == lossFast {
		c.prr.out += r.len() // RFC 6937 3: prr_out += (data sent)
	}
}

// rateStart resets the per-ACK sample (before step (1) of the ACK
// pipeline).
func (c *Conn) rateStart() {
	a := c.ackState
	a.rs = RateSample{PriorInFlight: c.pipe()}
	a.priorTime = 0
	a.newlyLost = 0
	a.exited = false
	c.sb.newlySacked = 0
}

// rateDelivered is draft 3.3's UpdateRateSample for n bytes of record r
// newly delivered (cumulatively acknowledged or SACKed) by this ACK: the
// most recently sent of the delivered records (the largest P.delivered,
// the later send on a tie) gives the sample's starting point.
func (c *Conn) rateDelivered(now time.Time, r *txRecord, n uint32) {
	rt, a := &c.rate, c.ackState
	c.ccs.Delivered += uint64(n)
	nowN := nanos(now)
	rt.deliveredTime = nowN
	a.rs.AckedSacked += n
	xmit := nanos(r.xmitTime)
	if a.priorTime != 0 && (r.delivered < a.rs.PriorDelivered ||
		r.delivered == a.rs.PriorDelivered && xmit <= a.priorXmit) {
		return
	}
	a.rs.PriorDelivered = r.delivered
	a.priorTime = r.deliveredTime
	a.priorXmit = xmit
	a.priorLost = r.lostAtSend
	a.rs.IsAppLimited = r.flags&txAppLimited != 0
	a.rs.TxInFlight = r.txInFlight
	a.sendElapsed = time.Duration(xmit - r.firstSentTime)
	a.ackElapsed = time.Duration(nowN - r.deliveredTime)
	rt.firstSentTime = xmit
	a.rs.RTT = 0
	if r.flags&txRetrans == 0 {
		a.rs.RTT = time.Duration(nowN - xmit) // Karn: only from data sent once
	}
}

// rateFinish is draft 3.3's GenerateRateSample, after loss detection ran
// on this ACK; it also updates the RTT fields of CCState.
func (c *Conn) rateFinish(now time.Time) {
	rt, a := &c.rate, c.ackState
	rs := &a.rs
	s := &c.ccs
	if rt.appLimited != 0 && s.Delivered > rt.appLimited {
		rt.appLimited = 0 // the application-limited data is delivered
	}
	rs.NewlyLost = a.newlyLost
	// CCState.RTT: this ACK's sample from the newest delivered record if
	// it was sent once (Karn; to the nanosecond), else the one the
	// timestamps or the timed segment gave (RFC 7323 4, RFC 6298;
	// timestamps.go, 1 ms granularity with timestamps).
	s.RTT = rs.RTT
	if s.RTT == 0 {
		s.RTT = c.rttAck
	}
	if s.RTT > 0 {
		// A windowed minimum (rack.go's minRTTWindow, Linux's
		// tcp_min_rtt_wlen), expire-and-replace.
		n := nanos(now)
		if s.MinRTT == 0 || s.RTT <= s.MinRTT || time.Duration(n-rt.minRTTAt) > minRTTWindow {
			s.MinRTT, rt.minRTTAt = s.RTT, n
		}
	}
	if a.priorTime == 0 {
		rs.Interval = 0
		return
	}
	rs.Delivered = s.Delivered - rs.PriorDelivered
	rs.Lost = s.Lost - a.priorLost
	rs.Interval = max(a.sendElapsed, a.ackElapsed)
	// "Normally we expect interval >= MinRTT. Note that rate may still be
	// overestimated when a spuriously retransmitted skb was first (s)acked
	// because the interval is underestimated": such samples are invalid.
	if rs.Interval < s.MinRTT {
		rs.Interval = 0
	}
}

// markAppLimited is draft 3.4: the sender ran out of data with room in
// the window, so the samples of what is in flight now measure the
// application, not the network.
func (c *Conn) markAppLimited() {
	if c.pipe() >= c.ccs.Cwnd || c.ackState != nil && c.sb.lostBytes > 0 {
		return
	}
	c.rate.appLimited = max(c.ccs.Delivered+uint64(c.pipe()), 1)
}

// lossCounters are Info's loss recovery counters (kept in ccBox: a Conn
// that never sent data has none).
type lossCounters struct {
	sackRecoveries uint64 // fast recoveries with SACK (RFC 6675)
	renoRecoveries uint64 // fast recoveries without (RFC 6582)
	rtxFast        uint64 // segments retransmitted in fast recovery
	rtxRTO         uint64 // segments retransmitted after an RTO
	rtxOther       uint64 // other retransmissions (TLP, path MTU, outside recovery)
	sackedBytes    uint64 // bytes newly SACKed
	lostMarked     uint64 // records marked lost
	undos          uint64 // fast recoveries undone as spurious (undo.go)
}
