package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// ACK processing: the fifth step of RFC 9293 3.10.7.4 and the sender's
// pipeline behind it (senderAck).

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
	// RFC 7323 5.3 R3 for the acceptable segment, once its ACK is known
	// to be acceptable too (as Linux's tcp_ack, FLAG_UPDATE_TS_RECENT): a
	// segment dropped above (or an in-window SYN, or one without ACK)
	// leaves TS.Recent alone, so a blind segment with an in-window
	// sequence number cannot move it far ahead and make PAWS drop the
	// peer's genuine segments.
	c.tsUpdate(now, seg)
	oldWnd := c.SndWnd
	c.senderAck(now, seg, oldWnd)
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
			c.persistAt = 0
			c.persistBackoff = 0
		}
	}
	switch c.state {
	case StateFinWait1:
		if c.finAcked() {
			c.setState(now, StateFinWait2, seg)
			if c.flags&flagReadClosed != 0 {
				c.stateAt = c.inst(now.Add(c.cfg.finWait2Timeout()))
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

// senderAck runs an acceptable ACK through the sender, in this order:
//
//  1. the cumulative ACK: records delivered and dropped, SND.UNA (newAck);
//  2. the SACK blocks: the scoreboard (sackUpdate, scoreboard.go);
//  3. loss detection: RACK (rackDetect, rack.go) and RFC 6675's IsLost
//     (markLostBySACK), then the rate sample is complete (rateFinish);
//  4. loss recovery: duplicate ACKs, entering and leaving recovery,
//     partial ACKs, PRR (recoveryOnAck, recovery.go);
//  5. congestion control: the algorithm's OnAck with the rate sample
//     (ccOnAck, sender_cc.go);
//  6. sending: output (send.go), from flush at the end of HandleSegment,
//     after the window update of RFC 9293 3.10.7.4.
func (c *Conn) senderAck(now time.Time, seg *segment.Segment, oldWnd uint32) {
	if c.ackState == nil {
		if seg.Options.NumSACK == 0 && (c.ccBox == nil || !c.rack.tlp.on) {
			// Nothing in flight (no records): only SND.UNA can move,
			// over a SYN or a FIN; RACK sees the ACK for its episode.
			if seg.Ack.GreaterThan(c.SndUna) {
				c.newAck(now, seg.Ack)
			}
			c.rackDetect(now)
			return
		}
		c.ackStateGet(now) // SACK blocks (a D-SACK for a probe) to process
	}
	c.rateStart()
	var acked uint32
	if seg.Ack.GreaterThan(c.SndUna) { // (1)
		acked = uint32(seg.Ack.Sub(c.SndUna))
		c.newAck(now, seg.Ack)
	}
	if c.flags&flagSackOK != 0 && seg.Options.NumSACK > 0 { // (2)
		c.sackUpdate(now, seg)
	}
	if c.txq.n > 0 && c.txq.at(0).flags&txSacked != 0 {
		c.sackReneged()
	}
	dup := c.isDupAck(seg, oldWnd, acked)
	c.rackDetect(now) // (3)
	if !c.rackEnabled() {
		c.markLostBySACK() // RFC 6675's IsLost when RACK is off
	}
	c.rateFinish(now)
	c.recoveryOnAck(now, acked, dup) // (4)
	c.ccOnAck(now, acked)            // (5)
}

// newAck is step (1) of the ACK pipeline, an ACK that advances SND.UNA
// (RFC 9293 3.10.7.4): the records it covers are delivered and dropped,
// the acknowledged data released, the RTT measured (RFC 6298) and the
// retransmission timer restarted.
func (c *Conn) newAck(now time.Time, ack Seq) {
	c.ackRecords(now, ack)
	c.SndUna = ack
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
	c.unackedSince = 0
	if c.SndUna != c.sndMax {
		c.unackedSince = c.inst(now) // progress: the user timeout starts again
	}
	c.persistBackoff = 0
	// RFC 6298 5.2/5.3: stop the timer when all is acknowledged,
	// otherwise restart it. (After a go-back-N rewind or a window probe,
	// sndMax may lie beyond SND.NXT: what was sent since is acknowledged,
	// and output re-arms the timer for what it sends next.)
	if c.SndNxt == c.SndUna {
		c.rtxAt = 0
	} else {
		c.armRtx(now)
	}
}

// finAcked reports whether our FIN has been acknowledged.
func (c *Conn) finAcked() bool {
	return c.flags&flagFinQueued != 0 && c.SndUna == c.dataEnd().Add(1)
}
