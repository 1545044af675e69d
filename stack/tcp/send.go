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

// output sends what the windows allow, in RFC 6675 NextSeg's order: data
// marked lost first (rule 1), then new data (rule 2) as the send window,
// sender silly window avoidance and Nagle allow, then the FIN once all data
// has gone, then in SACK recovery rules 3 and 4. The congestion window
// limits pipe (RFC 6675: "cwnd - pipe >= 1 SMSS"; PRR sets cwnd in
// recovery), the send window the new data (RFC 9293 3.8.6.2.1), and a
// pacing algorithm the timing (pacing.go).
func (c *Conn) output(now time.Time) {
	if c.ccBox == nil {
		if c.unsent() == 0 && (c.flags&flagFinQueued == 0 || c.SndNxt != c.dataEnd()) {
			c.armPersist(now)
			return // nothing to send yet: no congestion state needed
		}
		c.ccAlloc(now)
	}
	mss := uint32(c.sndMSS)
	if c.SndUna == c.sndMax && c.lastDataAt != 0 && (c.ackState != nil || c.unsent() > 0) &&
		c.since(now, c.lastDataAt) > c.rto.RTO() {
		// Idle for longer than the RTO: the loss recovery working
		// state goes back to its pool (sender_cc.go), and RFC 5681 4.1:
		// restart from at most the initial window.
		c.ackStatePut()
		if c.unsent() > 0 {
			c.cc.OnIdleRestart(c.ccSync(now))
		}
	}
	rate := c.pacingRate()
	limit := c.cfg.segmentBytes(mss)
	if rate > 0 {
		limit = paceBurst(rate, mss, limit)
	}
	other := true // one NextSeg rule 3 or 4 retransmission per call
	for {
		if c.paceWait(now) {
			break
		}
		var budget uint32 // cwnd - pipe
		if p := c.pipe(); c.ccs.Cwnd > p {
			budget = c.ccs.Cwnd - p
		}
		if i := c.firstLost(); i >= 0 {
			// NextSeg rule 1: lost data, as cwnd allows, one MSS per
			// segment even on a GSO link (a deliberate choice, not in
			// RFC 6675): a super-segment is dropped whole, so a lost
			// burst retransmitted as one was a single packet in flight
			// that, lost again, left nothing whose delivery RACK could
			// see (RFC 8985 6.2) and only the RTO. Sent apart, each
			// retransmission is lost or delivered on its own and draws
			// its own ACK (RFC 5681 4.2), which PRR (RFC 6937) and RACK
			// feed on.
			sent := c.retransmitLost(now, i, min(budget, mss))
			if sent == 0 {
				break
			}
			c.paceSent(now, rate, sent)
			continue
		}
		unsent := c.unsent()
		if unsent == 0 && c.flags&flagFinQueued != 0 && c.SndNxt == c.dataEnd() {
			// The FIN needs no window: close must progress even
			// when the peer's window is zero (gVisor #13393).
			c.transmit(now, 0, true)
			continue
		}
		if unsent == 0 {
			c.markAppLimited()
		}
		flight := c.flight()
		usable := budget
		if c.SndWnd > flight {
			usable = min(usable, c.SndWnd-flight)
		} else {
			usable = 0
		}
		n := min(unsent, limit, usable)
		if n == 0 {
			// NextSeg rules 3 and 4 when rule 2 has nothing to send.
			if other && budget >= mss {
				other = false
				if sent := c.retransmitOther(now, budget); sent > 0 {
					c.paceSent(now, rate, sent)
					continue
				}
			}
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
		c.paceSent(now, rate, n)
		if c.dupAcks > 0 && c.lossState == lossNone {
			c.sb.ltBytes += n // RFC 3042 limited transmit
		}
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
		c.rttSeq, c.rttStart = seq, c.inst(now)
		c.flags |= flagRTTTiming
	}
	if c.SndUna == c.sndMax {
		c.unackedSince = c.inst(now) // the start of the user timeout (RFC 5482)
	}
	c.SndNxt = seq.Add(used)
	c.flags &^= flagProbe
	if c.SndNxt.GreaterThan(c.sndMax) {
		c.sndMax = c.SndNxt
	}
	if c.rtxAt == 0 {
		c.armRtx(now) // RFC 6298 5.1
	}
}

// armRtx (re)starts the retransmission timer: RTO from now (RFC 6298
// 5.1/5.3/5.6), but never past the point where Config.UserTimeout expires,
// so the connection times out when the user timeout says, as Linux's
// tcp_clamp_rto_to_user_timeout does.
func (c *Conn) armRtx(now time.Time) {
	d := now.Add(c.rto.RTO())
	if ut := c.cfg.UserTimeout; ut > 0 && c.unackedSince != 0 {
		if limit := c.time(c.unackedSince).Add(ut); limit.Before(d) {
			d = limit
			if d.Before(now) {
				d = now
			}
		}
	}
	c.rtxAt = c.inst(d)
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
	if c.ackState == nil {
		c.ackStateGet(now) // data goes out: loss recovery state (sender_cc.go)
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
		switch c.lossState {
		case lossFast:
			c.lstats.rtxFast++
		case lossRTO:
			c.lstats.rtxRTO++
		default:
			c.lstats.rtxOther++
		}
		c.stats.retransBytes += uint64(n)
		c.undoRetransmitted(n)
		if end := seq.Add(n); c.flags&flagRtxHigh == 0 || end.GreaterThan(c.rtxHigh) {
			c.rtxHigh = segment.Min(end, c.sndMax)
			c.flags |= flagRtxHigh
		}
	} else {
		c.stats.bytesOut += uint64(n)
	}
	c.emit(now, o)
	c.lastDataAt = c.inst(now)
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
		c.delackAt = 0
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

// armPersist starts the persist timer when data waits, nothing is in
// flight and the window does not let it go (RFC 9293 3.8.6.1); without it
// a lost window update would deadlock the connection. The same timer is
// the "override timeout" of sender SWS avoidance (RFC 9293 3.8.6.2.1).
func (c *Conn) armPersist(now time.Time) {
	if c.SndNxt != c.SndUna || c.unsent() == 0 {
		c.persistAt = 0
		return
	}
	if c.persistAt == 0 {
		c.persistAt = c.inst(now.Add(c.persistInterval()))
	}
}

func (c *Conn) persistInterval() time.Duration {
	d := c.rto.RTO()
	ceil := c.rto.Config().Max
	for i := int32(0); i < c.persistBackoff && d < ceil; i++ {
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
	c.persistAt = 0
	if c.SndNxt != c.SndUna || c.unsent() == 0 {
		return
	}
	if w := min(c.SndWnd, c.ccSync(now).Cwnd); w > 0 {
		c.transmit(now, min(w, uint32(c.sndMSS)), true)
		return
	}
	// MUST-35 forbids giving up while the peer answers; a peer that
	// answers nothing is dead, and is given up on like unacknowledged data
	// (after MaxRetries probes, or the user timeout), as Linux does.
	if int(c.probesUnanswered) >= c.cfg.maxRetries() ||
		c.cfg.UserTimeout > 0 && c.probesUnanswered > 0 && now.Sub(c.time(c.unackedSince)) >= c.cfg.UserTimeout {
		c.close(now, c.timeoutErr(), nil)
		return
	}
	if c.probesUnanswered == 0 {
		c.unackedSince = c.inst(now)
	}
	c.probesUnanswered++
	c.stats.zeroWindowProbes++
	c.sendSegment(now, c.SndNxt, 1, false)
	c.flags |= flagProbe
	c.persistBackoff++
	c.persistAt = c.inst(now.Add(c.persistInterval()))
}
