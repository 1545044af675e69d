package tcp

import "time"

// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation-02,
// as Linux's tcp_rate.c) on the transmission records, and the RTT
// variables of CCState. Every record carries the connection's delivery
// state when it was sent; an ACK that delivers records (cumulatively or by
// SACK) compares it with the state now: the data delivered between the two
// over the longer of the send and the ACK intervals is the delivery rate.

type rateState struct {
	deliveredTime time.Time // C.delivered_time
	firstSentTime time.Time // C.first_sent_time
	appLimited    uint64    // C.app_limited: 0, or the C.delivered beyond which samples are no longer application-limited
	minRTTAt      time.Time // when ccs.MinRTT was taken

	// The sample this ACK builds (draft 3.3), reset by rateStart.
	rs                    RateSample
	have                  bool      // a delivered record was seen
	priorTime             time.Time // rs.prior_time
	priorXmit             time.Time // send time of the record chosen
	priorLost             uint64    // its P.lost
	sendElapsed, ackElapd time.Duration
	newlyLost             uint32 // bytes marked lost during this ACK
	exited                bool   // this ACK ended fast recovery (PRR's cwnd = ssthresh stands)
}

// onRecordSent fills a record's delivery-rate fields at (re)transmission
// (draft 3.2 "Transmitting or retransmitting a data packet"). With nothing
// in flight before it, the send and delivery clocks restart now.
func (c *Conn) onRecordSent(now time.Time, r *txRecord) {
	rt := &c.rate
	retrans := r.flags&txRetrans != 0
	if !retrans && c.txq.n == 1 {
		rt.firstSentTime, rt.deliveredTime = now, now
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
	rt := &c.rate
	rt.rs = RateSample{PriorInFlight: c.pipe()}
	rt.have = false
	rt.newlyLost = 0
	rt.exited = false
	c.sb.newlySacked = 0
}

// rateDelivered is draft 3.3's UpdateRateSample for n bytes of record r
// newly delivered (cumulatively acknowledged or SACKed) by this ACK: the
// most recently sent of the delivered records (the largest P.delivered,
// the later send on a tie) gives the sample's starting point.
func (c *Conn) rateDelivered(now time.Time, r *txRecord, n uint32) {
	rt := &c.rate
	c.ccs.Delivered += uint64(n)
	rt.deliveredTime = now
	rt.rs.AckedSacked += n
	if rt.have && (r.delivered < rt.rs.PriorDelivered ||
		r.delivered == rt.rs.PriorDelivered && !r.xmitTime.After(rt.priorXmit)) {
		return
	}
	rt.have = true
	rt.rs.PriorDelivered = r.delivered
	rt.priorTime = r.deliveredTime
	rt.priorXmit = r.xmitTime
	rt.priorLost = r.lostAtSend
	rt.rs.IsAppLimited = r.flags&txAppLimited != 0
	rt.rs.TxInFlight = r.txInFlight
	rt.sendElapsed = r.xmitTime.Sub(r.firstSentTime)
	rt.ackElapd = now.Sub(r.deliveredTime)
	rt.firstSentTime = r.xmitTime
	rt.rs.RTT = 0
	if r.flags&txRetrans == 0 {
		rt.rs.RTT = now.Sub(r.xmitTime) // Karn: only from data sent once
	}
}

// rateFinish is draft 3.3's GenerateRateSample, after loss detection ran
// on this ACK; it also updates the RTT fields of CCState.
func (c *Conn) rateFinish(now time.Time) {
	rt := &c.rate
	rs := &rt.rs
	s := &c.ccs
	if rt.appLimited != 0 && s.Delivered > rt.appLimited {
		rt.appLimited = 0 // the application-limited data is delivered
	}
	rs.NewlyLost = rt.newlyLost
	s.RTT = 0
	if !rt.have || rt.priorTime.IsZero() {
		rs.Interval = 0
		return
	}
	rs.Delivered = s.Delivered - rs.PriorDelivered
	rs.Lost = s.Lost - rt.priorLost
	rs.Interval = max(rt.sendElapsed, rt.ackElapd)
	if rs.RTT > 0 {
		s.RTT = rs.RTT
		if s.MinRTT == 0 || rs.RTT <= s.MinRTT || now.Sub(rt.minRTTAt) > minRTTWindow {
			s.MinRTT, rt.minRTTAt = rs.RTT, now
		}
	}
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
	if c.pipe() >= c.ccs.Cwnd || c.sb.lostBytes > 0 {
		return
	}
	c.rate.appLimited = max(c.ccs.Delivered+uint64(c.pipe()), 1)
}
