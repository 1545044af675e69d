package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// The sender: Write into the send ring, segmentation by the effective MSS,
// sender silly window avoidance and Nagle (RFC 9293 3.8.6.2.1, 3.7.4),
// processing of ACKs (RFC 9293 3.10.7.4 fifth step, RFC 5961 5.2),
// retransmission with the RFC 6298 timer (Karn's rule, backoff, RFC 9293
// 3.8.3 R2 limits) and the zero-window persist timer (RFC 9293 3.8.6.1).
//
// A segment's payload is a slice of the send ring. When it would wrap
// around the end of the ring, it is copied into a block borrowed from the
// buffer free list for the duration of Sink.Output (one copy per ring
// wrap; no allocation once the free list is warm).

// Write queues as much of p as fits in the send buffer and transmits what
// the windows allow (RFC 9293 3.10.2). It returns (0, nil) when the buffer
// is full, ErrClosedForWrite after CloseWrite or Close, Err() after a reset
// or timeout and ErrNotConnected before Connect/Accept.
func (c *Conn) Write(now time.Time, p []byte) (int, error) {
	switch c.state {
	case StateSynSent, StateSynReceived, StateEstablished, StateCloseWait:
		if c.flags&flagFinQueued != 0 {
			return 0, ErrClosedForWrite
		}
	case StateClosed:
		if c.err != nil {
			return 0, c.err
		}
		if c.flags&flagOpened == 0 {
			return 0, ErrNotConnected
		}
		return 0, ErrClosedForWrite
	default:
		return 0, ErrClosedForWrite
	}
	limit := c.sndLimit()
	k := min(len(p), limit-c.sndBuf.n)
	if k <= 0 {
		return 0, nil
	}
	// The ring grows by doubling up to the most the bound can reach
	// (nextSize), not to the bound itself: auto-tuning raises the bound
	// with nearly every ACK, and each growth copies what is queued.
	grow := limit
	if !c.opts.sndFixed {
		grow = max(limit, c.cfg.sendBufferMax())
	}
	if !c.sndBuf.reserve(c.sndBuf.n+k, c.sndBuf.n, grow) {
		return 0, nil
	}
	c.sndBuf.writeAt(c.sndBuf.n, p[:k])
	c.sndBuf.n += k
	c.flush(now)
	return k, nil
}

// dataEnd is the sequence number just past the last queued byte (the FIN's
// sequence number once one is queued).
func (c *Conn) dataEnd() Seq { return c.sndBufSeq.Add(uint32(c.sndBuf.n)) }

// flight is the data sent and not yet acknowledged, SND.NXT - SND.UNA.
func (c *Conn) flight() uint32 { return uint32(c.SndNxt.Sub(c.SndUna)) }

// unsent is the queued data not yet sent.
func (c *Conn) unsent() uint32 {
	if d := c.dataEnd().Sub(c.SndNxt); d > 0 {
		return uint32(d)
	}
	return 0
}

// output sends what the send window, the congestion window, SWS avoidance
// and Nagle allow, then the FIN if one is queued and all data has gone.
func (c *Conn) output(now time.Time) {
	mss := uint32(c.sndMSS)
	if c.SndUna == c.sndMax && !c.lastDataAt.IsZero() && now.Sub(c.lastDataAt) > c.rto.RTO() && c.unsent() > 0 {
		// RFC 5681 4.1: restart from at most the initial window after
		// an idle period longer than the RTO.
		c.cc.OnIdleRestart(c.ccState())
	}
	for {
		unsent := c.unsent()
		if unsent == 0 {
			if c.flags&flagFinQueued != 0 && c.SndNxt == c.dataEnd() {
				// The FIN needs no window: close must progress even
				// when the peer's window is zero (gVisor #13393).
				c.transmit(now, 0, true)
			}
			break
		}
		flight := c.flight()
		wnd := min(c.SndWnd, c.cc.Cwnd())
		var usable uint32
		if wnd > flight {
			usable = wnd - flight
		}
		n := min(unsent, c.cfg.segmentBytes(mss), usable)
		if n == 0 {
			break
		}
		if n > mss && n < unsent {
			// A segment the link cuts (Config.GSOMaxSize) ends on a
			// full-sized piece unless it carries the last queued
			// byte, so its pieces obey the SWS rule below.
			n -= n % mss
		}
		if n < mss {
			if n < unsent {
				// RFC 9293 3.8.6.2.1 (sender SWS avoidance): send a
				// partial segment only if it is at least half the
				// largest window the peer has offered.
				if n < c.maxSndWnd/2 {
					break
				}
			} else if c.opts.nagle && flight > 0 {
				// RFC 9293 3.7.4 (Nagle): hold a short segment while
				// data is unacknowledged.
				break
			}
		}
		c.transmit(now, n, true)
	}
	c.armPersist(now)
}

// transmit sends n bytes (and a FIN if allowFin and the segment reaches the
// end of the queued data) at SND.NXT and advances SND.NXT.
func (c *Conn) transmit(now time.Time, n uint32, allowFin bool) {
	seq := c.SndNxt
	used := c.sendSegment(now, seq, n, allowFin)
	if used == 0 {
		return
	}
	if seq.GreaterThanEq(c.sndMax) && c.flags&flagRTTTiming == 0 {
		// Time one new segment per round trip (RFC 6298 3).
		c.rttSeq, c.rttStart = seq, now
		c.flags |= flagRTTTiming
	}
	if c.SndUna == c.sndMax {
		c.unackedSince = now // the start of the user timeout (RFC 5482)
	}
	c.SndNxt = seq.Add(used)
	c.flags &^= flagProbe
	if c.SndNxt.GreaterThan(c.sndMax) {
		c.sndMax = c.SndNxt
	}
	if c.rtxAt.IsZero() {
		c.armRtx(now) // RFC 6298 5.1
	}
}

// armRtx (re)starts the retransmission timer: RTO from now (RFC 6298
// 5.1/5.3/5.6), but never past the point where Config.UserTimeout expires,
// so the connection times out when the user timeout says, as Linux's
// tcp_clamp_rto_to_user_timeout does.
func (c *Conn) armRtx(now time.Time) {
	d := now.Add(c.rto.RTO())
	if ut := c.cfg.UserTimeout; ut > 0 && !c.unackedSince.IsZero() {
		if limit := c.unackedSince.Add(ut); limit.Before(d) {
			d = limit
			if d.Before(now) {
				d = now
			}
		}
	}
	c.rtxAt = d
}

// sendSegment emits the segment starting at seq with up to n bytes of
// queued data, plus the FIN if allowed and the segment ends where the data
// ends. It returns the sequence space used (0: nothing was sent).
func (c *Conn) sendSegment(now time.Time, seq Seq, n uint32, allowFin bool) uint32 {
	end := c.dataEnd()
	var avail uint32
	if d := end.Sub(seq); d > 0 {
		avail = uint32(d)
	}
	n = min(n, avail)
	fin := allowFin && c.flags&flagFinQueued != 0 && seq.Add(n) == end
	if n == 0 && !fin {
		return 0
	}
	flags := segment.FlagACK
	if fin {
		flags |= segment.FlagFIN
	}
	if n > 0 && seq.Add(n) == end {
		flags |= segment.FlagPSH
	}
	o := c.prepare(seq, flags)
	var scratch []byte
	if n > 0 {
		a, b := c.sndBuf.peek(int(uint32(seq.Sub(c.sndBufSeq))), int(n))
		if len(b) == 0 {
			o.Payload = a
		} else {
			scratch = getBuf(nextSize(int(n), 1<<maxBufShift))
			copy(scratch[copy(scratch, a):], b)
			o.Payload = scratch[:n]
		}
	}
	if seq.LessThan(c.sndMax) {
		c.stats.retransSegs++
		c.stats.retransBytes += uint64(n)
		if end := seq.Add(n); c.flags&flagRtxHigh == 0 || end.GreaterThan(c.rtxHigh) {
			c.rtxHigh = segment.Min(end, c.sndMax)
			c.flags |= flagRtxHigh
		}
	} else {
		c.stats.bytesOut += uint64(n)
	}
	c.emit(now, o)
	c.lastDataAt = now
	used := n
	if fin {
		used++
	}
	c.recordSent(now, seq, used, fin)
	if scratch != nil {
		c.sndBuf.free(scratch) // the Sink may still refer to it (BufferReleaser)
	}
	return used
}

// prepare fills the scratch segment with addressing, seq, flags and, on an
// ACK, the acknowledgment and window.
func (c *Conn) prepare(seq Seq, flags segment.Flags) *segment.Segment {
	o := &c.out
	*o = segment.Segment{
		Src: c.tuple.LocalAddr, Dst: c.tuple.RemoteAddr,
		SrcPort: c.tuple.LocalPort, DstPort: c.tuple.RemotePort,
		Seq: seq, Flags: flags,
	}
	if flags&segment.FlagACK != 0 {
		o.Ack = c.RcvNxt
		if flags&segment.FlagSYN == 0 {
			o.Window = c.advertise()
		}
	}
	return o
}

// emit hands the scratch segment to the sink. Any ACK-bearing segment
// satisfies a pending (delayed or immediate) ACK.
func (c *Conn) emit(now time.Time, o *segment.Segment) {
	c.stats.segsOut++
	c.stampOptions(now, o) // timestamps and SACK blocks (timestamps.go)
	if o.Flags&segment.FlagACK != 0 {
		c.delackSegs = 0
		c.delackAt = time.Time{}
		c.flags &^= flagAckNow
	}
	c.sink.Output(o)
	o.Payload = nil
}

// sendAck sends a bare ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. SND.NXT
// here is the highest sequence number sent (sndMax), not the rewound
// SND.NXT of a go-back-N retransmission: the peer may have received
// everything up to sndMax, and an ACK carrying a sequence number below its
// RCV.NXT would be unacceptable to it (and answered with an ACK, forever).
func (c *Conn) sendAck(now time.Time) {
	if c.state == StateClosed || c.state == StateSynSent {
		c.flags &^= flagAckNow
		return
	}
	c.emit(now, c.prepare(c.sndMax, segment.FlagACK))
}

// ackArrived is the fifth step of RFC 9293 3.10.7.4. It reports whether
// processing of the segment continues.
func (c *Conn) ackArrived(now time.Time, seg *segment.Segment) bool {
	if c.synUnacked() && !c.synReceivedAck(now, seg) {
		return false
	}
	ack := seg.Ack
	c.probesUnanswered = 0
	// "If the ACK acks something not yet sent (SEG.ACK > SND.NXT) then send
	// an ACK, drop the segment, and return."
	limit := c.sndMax
	if c.flags&flagProbe != 0 {
		limit = segment.Max(limit, c.SndNxt.Add(1)) // the probe's byte
	}
	if ack.GreaterThan(limit) {
		c.challengeAck(now)
		return false
	}
	// RFC 5961 5.2: the ACK must also be no older than SND.UNA -
	// MAX.SND.WND; otherwise discard it and send an ACK.
	if ack.LessThan(c.SndUna - Seq(c.maxSndWnd)) {
		c.challengeAck(now)
		return false
	}
	oldWnd := c.SndWnd
	if ack.GreaterThan(c.SndUna) {
		c.newAck(now, ack)
	} else if ack == c.SndUna && len(seg.Payload) == 0 &&
		seg.Flags&(segment.FlagSYN|segment.FlagFIN) == 0 &&
		uint32(seg.Window)<<c.sndShift == oldWnd && c.SndNxt != c.SndUna {
		// RFC 5681 2: a duplicate acknowledgment.
		c.dupAcks++
		c.stats.dupAcksIn++
		if c.cc.OnDupAck(c.ccState(), c.dupAcks) {
			c.fastRetransmit(now)
		}
	}
	// RFC 8985 6.2: RACK (and the TLP episode, 7.4) on every acceptable
	// ACK, after the cumulative ACK and the scoreboard are updated.
	c.rackDetect(now)
	// Window update: "If SND.UNA =< SEG.ACK =< SND.NXT ... If (SND.WL1 <
	// SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)), set SND.WND
	// <- SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK."
	if ack == c.SndUna && (c.SndWL1.LessThan(seg.Seq) || c.SndWL1 == seg.Seq && c.SndWL2.LessThanEq(ack)) {
		c.SndWnd = uint32(seg.Window) << c.sndShift
		c.SndWL1, c.SndWL2 = seg.Seq, ack
		if c.SndWnd > c.maxSndWnd {
			c.maxSndWnd = c.SndWnd
		}
		if c.SndWnd > 0 && oldWnd == 0 {
			c.persistAt = time.Time{}
			c.persistBackoff = 0
		}
	}
	switch c.state {
	case StateFinWait1:
		if c.finAcked() {
			c.setState(now, StateFinWait2, seg)
			if c.flags&flagReadClosed != 0 {
				c.stateAt = now.Add(c.cfg.finWait2Timeout())
			}
		}
	case StateClosing:
		if c.finAcked() {
			c.enterTimeWait(now, seg)
			return false
		}
	case StateLastAck:
		if c.finAcked() {
			c.close(now, nil, seg)
			return false
		}
	}
	return true
}

// newAck handles an ACK that advances SND.UNA.
func (c *Conn) newAck(now time.Time, ack Seq) {
	acked := uint32(ack.Sub(c.SndUna))
	c.SndUna = ack
	c.recordsAcked(now, ack)
	c.soft = nil // the path works: a timeout later is not this error's doing
	// Release acknowledged data; the FIN has no byte in the ring.
	end := c.dataEnd()
	if d := segment.Min(ack, end).Sub(c.sndBufSeq); d > 0 {
		c.sndBuf.discard(int(d))
		c.sndBufSeq = c.sndBufSeq.Add(uint32(d))
		if c.sndBuf.n == 0 {
			c.sndBuf.release()
		}
		if c.flags&flagFinQueued == 0 {
			c.sink.Notify(EventWritable)
		}
	}
	if c.SndNxt.LessThan(ack) {
		c.SndNxt = ack
	}
	if c.sndMax.LessThan(ack) {
		c.sndMax = ack // the peer took the window probe's byte
	}
	c.flags &^= flagProbe
	// RFC 6298 3 (Karn) and RFC 7323 4: the RTT sample, if this ACK gives
	// one (timestamps.go).
	c.ackRTT(now, ack)
	c.dropBackoff(ack)
	c.retries = 0
	c.unackedSince = time.Time{}
	if c.SndUna != c.sndMax {
		c.unackedSince = now // progress: the user timeout starts again
	}
	c.persistBackoff = 0
	if c.cc.OnAck(c.ccState(), acked) {
		// RFC 6582 3.2 step 3: a partial ACK retransmits the first
		// unacknowledged segment.
		c.retransmitFirst(now)
	}
	if !c.cc.InRecovery() {
		c.dupAcks = 0
	}
	// RFC 6298 5.2/5.3: stop the timer when all is acknowledged,
	// otherwise restart it. (After a go-back-N rewind or a window probe,
	// sndMax may lie beyond SND.NXT: what was sent since is acknowledged,
	// and output re-arms the timer for what it sends next.)
	if c.SndNxt == c.SndUna {
		c.rtxAt = time.Time{}
	} else {
		c.armRtx(now)
	}
}

// finAcked reports whether our FIN has been acknowledged.
func (c *Conn) finAcked() bool {
	return c.flags&flagFinQueued != 0 && c.SndUna == c.dataEnd().Add(1)
}

func (c *Conn) ccState() oldCCState {
	return oldCCState{MSS: uint32(c.sndMSS), SndUna: c.SndUna, SndMax: c.sndMax,
		FlightSize: uint32(c.sndMax.Sub(c.SndUna))}
}

// fastRetransmit is RFC 5681 3.2 step 3 (reached through RFC 6582 3.2
// step 2): retransmit the segment that appears lost.
func (c *Conn) fastRetransmit(now time.Time) {
	c.stats.fastRetransmits++
	c.retransmitFirst(now)
}

// retransmitFirst resends one segment at SND.UNA without moving SND.NXT:
// only bytes sent before (up to sndMax), and the FIN only if it was sent.
func (c *Conn) retransmitFirst(now time.Time) {
	c.flags &^= flagRTTTiming // Karn
	sent := uint32(c.sndMax.Sub(c.SndUna))
	finSent := c.flags&flagFinQueued != 0 && c.sndMax == c.dataEnd().Add(1)
	if finSent {
		sent-- // the FIN has no byte in the ring
	}
	c.sendSegment(now, c.SndUna, min(uint32(c.sndMSS), sent), finSent)
	c.armRtx(now)
}

// retransmitTimerExpired is RFC 6298 5.4-5.6 with RFC 9293 3.8.3's R2:
// retransmit the earliest unacknowledged segment, back off, and give up
// with ETIMEDOUT after MaxRetries timeouts or UserTimeout.
func (c *Conn) retransmitTimerExpired(now time.Time) {
	c.rtxAt = time.Time{}
	if c.state == StateSynSent || c.synUnacked() {
		c.synRetransmit(now)
		return
	}
	if c.SndUna == c.sndMax {
		return
	}
	if c.unackedSince.IsZero() {
		c.unackedSince = now
	}
	if c.retries >= c.cfg.maxRetries() ||
		c.cfg.UserTimeout > 0 && now.Sub(c.unackedSince) >= c.cfg.UserTimeout {
		c.close(now, c.timeoutErr(), nil)
		return
	}
	c.retries++
	c.stats.rtoExpiries++
	c.cc.OnRTO(c.ccState())
	c.rto.Backoff() // RFC 6298 5.5
	c.dupAcks = 0
	c.flags &^= flagRTTTiming // Karn
	// Go back N: resend from SND.UNA; ACKs up to sndMax stay acceptable.
	// The segment may not reach past both what was sent before and the
	// peer's window: RFC 5681 3, "a TCP MUST NOT send data with a sequence
	// number higher than the sum of the highest acknowledged sequence
	// number and the minimum of cwnd and rwnd".
	c.SndNxt = c.SndUna
	c.transmit(now, min(uint32(c.sndMSS), max(uint32(c.sndMax.Sub(c.SndUna)), c.SndWnd)), true)
	c.armRtx(now) // RFC 6298 5.6
}

// armPersist starts the persist timer when data waits, nothing is in
// flight and the window does not let it go (RFC 9293 3.8.6.1); without it
// a lost window update would deadlock the connection. The same timer is
// the "override timeout" of sender SWS avoidance (RFC 9293 3.8.6.2.1).
func (c *Conn) armPersist(now time.Time) {
	if c.SndNxt != c.SndUna || c.unsent() == 0 {
		c.persistAt = time.Time{}
		return
	}
	if c.persistAt.IsZero() {
		c.persistAt = now.Add(c.persistInterval())
	}
}

func (c *Conn) persistInterval() time.Duration {
	d := c.rto.RTO()
	ceil := c.rto.Config().Max
	for i := 0; i < c.persistBackoff && d < ceil; i++ {
		d *= 2
	}
	return min(d, ceil)
}

// persistTimerExpired sends what the window allows (the SWS override) or,
// with a zero window, a one-byte window probe (RFC 9293 3.8.6.1: "the
// sending TCP MUST regularly transmit at least one octet of new data (if
// available)"). The probe does not advance SND.NXT, so a probe refused by
// a closed window is simply sent again; flagProbe makes an ACK of the byte
// acceptable. (The byte is not counted in sndMax: bare ACKs carry
// SEQ=sndMax and must stay acceptable to a receiver whose window is zero.)
// Probing continues as long as the peer answers (MUST-35); the interval
// backs off like the RTO.
func (c *Conn) persistTimerExpired(now time.Time) {
	c.persistAt = time.Time{}
	if c.SndNxt != c.SndUna || c.unsent() == 0 {
		return
	}
	if w := min(c.SndWnd, c.cc.Cwnd()); w > 0 {
		c.transmit(now, min(w, uint32(c.sndMSS)), true)
		return
	}
	// MUST-35 forbids giving up while the peer answers; a peer that
	// answers nothing is dead, and is given up on like unacknowledged data
	// (after MaxRetries probes, or the user timeout), as Linux does.
	if c.probesUnanswered >= c.cfg.maxRetries() ||
		c.cfg.UserTimeout > 0 && c.probesUnanswered > 0 && now.Sub(c.unackedSince) >= c.cfg.UserTimeout {
		c.close(now, c.timeoutErr(), nil)
		return
	}
	if c.probesUnanswered == 0 {
		c.unackedSince = now
	}
	c.probesUnanswered++
	c.stats.zeroWindowProbes++
	c.sendSegment(now, c.SndNxt, 1, false)
	c.flags |= flagProbe
	c.persistBackoff++
	c.persistAt = now.Add(c.persistInterval())
}
