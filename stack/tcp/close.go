package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Closing: the application's CloseWrite/Close/Abort (RFC 9293 3.10.4,
// 3.10.5), the peer's FIN (RFC 9293 3.10.7.4 eighth step), TIME-WAIT and the
// TimeWait record that replaces a Conn in it.

// CloseWrite shuts the write side (half-close): a FIN follows the queued
// data, the state moves at once (ESTABLISHED -> FIN-WAIT-1, CLOSE-WAIT ->
// LAST-ACK) even if the FIN cannot be sent yet (RFC 9293 3.10.4), and the
// connection keeps receiving. Further Writes return ErrClosedForWrite.
func (c *Conn) CloseWrite(now time.Time) error {
	if c.flags&flagFinQueued != 0 {
		return nil
	}
	switch c.state {
	case StateClosed:
		if c.err != nil {
			return c.err
		}
		return nil
	case StateSynSent:
		// RFC 9293 3.10.4: "Delete the TCB ... return 'error: closing'
		// responses to any queued SENDs". No SYN-ACK came yet.
		c.close(now, nil, nil)
		return nil
	case StateSynReceived:
		c.flags |= flagFinQueued
		if c.sndBuf.n > 0 {
			// RFC 9293 3.10.4: "otherwise, queue for processing after
			// entering ESTABLISHED state" (established() moves on to
			// FIN-WAIT-1).
			return nil
		}
		// "If no SENDs have been issued and there is no pending data to
		// send, then form a FIN segment and send it, and enter FIN-WAIT-1
		// state." Our SYN is still unacknowledged (synUnacked): the ACK
		// step and the retransmission timer keep treating it as such.
		c.setState(now, StateFinWait1, nil)
	case StateEstablished:
		c.flags |= flagFinQueued
		c.setState(now, StateFinWait1, nil)
	case StateCloseWait:
		c.flags |= flagFinQueued
		c.setState(now, StateLastAck, nil)
	default:
		return nil
	}
	c.flush(now)
	return nil
}

// Close closes both directions. If received data is still unread, the
// connection is reset instead, as Linux does (RFC 9293 3.10.4 leaves
// this open; RFC 1122 4.2.2.13 describes it): a RST is sent and the state
// becomes CLOSED. Otherwise it is CloseWrite plus "no more reading": data
// arriving later is answered with a RST, and FIN-WAIT-2 is bounded by
// Config.FinWait2Timeout.
func (c *Conn) Close(now time.Time) error {
	switch c.state {
	case StateClosed:
		c.rcvBuf.n = 0
		c.rcvBuf.release()
		return nil
	case StateSynSent, StateListen:
		c.close(now, nil, nil)
		return nil
	}
	if c.rcvBuf.n > 0 {
		c.Abort(now)
		return nil
	}
	c.flags |= flagReadClosed
	err := c.CloseWrite(now)
	if c.state == StateFinWait2 && c.stateAt == 0 {
		c.stateAt = c.inst(now.Add(c.cfg.finWait2Timeout()))
	}
	return err
}

// Abort resets the connection (RFC 9293 3.10.5 ABORT): in SYN-RECEIVED and
// the synchronized states a RST <SEQ=SND.NXT> is sent (sndMax, see
// sendAck); the state becomes CLOSED with Err() nil (the application asked
// for it).
func (c *Conn) Abort(now time.Time) {
	switch c.state {
	case StateClosed:
		return
	case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		c.sendRst(now, c.sndMax) // the highest SND.NXT: see sendAck
	}
	c.rcvBuf.n = 0
	c.close(now, nil, nil)
}

// finArrived is the eighth step of RFC 9293 3.10.7.4 for a FIN at
// sequence number finSeq. A FIN beyond a gap is remembered and processed
// when the gap fills.
func (c *Conn) finArrived(now time.Time, finSeq Seq, seg *segment.Segment) {
	if c.flags&flagRcvFin != 0 {
		c.flags |= flagAckNow
		return
	}
	if finSeq != c.RcvNxt {
		if finSeq.GreaterThan(c.RcvNxt) {
			c.flags |= flagRcvFinPending
			c.rcvFinSeq = finSeq
		}
		c.flags |= flagAckNow
		return
	}
	c.flags &^= flagRcvFinPending
	c.flags |= flagRcvFin | flagAckNow
	c.RcvNxt = c.RcvNxt.Add(1)
	c.rcvAdv = segment.Max(c.rcvAdv, c.RcvNxt)
	c.ooo.reset() // nothing can follow the FIN
	c.sink.Notify(EventReadable)
	switch c.state {
	case StateSynReceived, StateEstablished:
		c.setState(now, StateCloseWait, seg)
	case StateFinWait1:
		if c.finAcked() {
			c.enterTimeWait(now, seg)
		} else {
			c.setState(now, StateClosing, seg)
		}
	case StateFinWait2:
		c.enterTimeWait(now, seg)
	}
}

// pendingFin processes a FIN that arrived ahead of a gap now filled.
func (c *Conn) pendingFin(now time.Time, seg *segment.Segment) {
	if c.flags&flagRcvFinPending != 0 && c.rcvFinSeq == c.RcvNxt {
		c.finArrived(now, c.rcvFinSeq, seg)
	}
}

// enterTimeWait moves to TIME-WAIT for 2*MSL (RFC 9293 3.10.7.4). The ACK
// of the peer's FIN goes out first, so that the TimeWait record taken on
// EventTimeWait is final; every other timer stops and the buffers go.
func (c *Conn) enterTimeWait(now time.Time, seg *segment.Segment) {
	if c.flags&flagAckNow != 0 {
		c.sendAck(now)
	}
	c.setState(now, StateTimeWait, seg)
	c.rtxAt, c.delackAt, c.persistAt, c.kaAt = 0, 0, 0, 0
	c.rackStopTimers()
	c.stateAt = c.inst(now.Add(2 * c.cfg.msl()))
	c.releaseBuffers()
	c.sink.Notify(EventTimeWait)
}

// stateTimerExpired ends TIME-WAIT (2*MSL elapsed) or an orphaned
// FIN-WAIT-2.
func (c *Conn) stateTimerExpired(now time.Time) {
	c.stateAt = 0
	switch c.state {
	case StateTimeWait, StateFinWait2:
		c.close(now, nil, nil)
	}
}

// TimeWait is what remains of a connection in TIME-WAIT: enough to
// acknowledge a retransmitted FIN, ignore a RST, and recognise a new SYN
// (about 100 bytes, against a few hundred for a Conn). The runtime keeps
// these in its own bounded, counted table.
type TimeWait struct {
	Tuple  Tuple
	SndNxt Seq    // our next sequence number (our FIN is acknowledged)
	RcvNxt Seq    // one past the peer's FIN
	Window uint16 // window field for our ACKs (already scaled)
	// Expiry is the end of TIME-WAIT; Duration (2*MSL) is how far a
	// retransmitted FIN pushes it.
	Expiry   time.Time
	Duration time.Duration
	// AckedSYN says the last segment was a SYN the record could not
	// accept and answered with an ACK (see handle): the peer's RST in
	// reply to that ACK then ends the record.
	AckedSYN bool
	// TSOK says the connection used timestamps (RFC 7323): the record's
	// ACKs carry TSopt (our clock at TSOffset, TSecr TSRecent), PAWS
	// applies, and a SYN is told new by its TSval (RFC 6191).
	TSOK     bool
	TSOffset uint32
	TSRecent uint32
}

// TimeWaitVerdict tells the runtime what to do with a TimeWait record
// after a segment.
type TimeWaitVerdict uint8

const (
	// TimeWaitKeep: the record stays (the segment was answered or
	// ignored).
	TimeWaitKeep TimeWaitVerdict = iota
	// TimeWaitExpired: 2*MSL had elapsed; drop the record and handle the
	// segment as if no connection existed (RST, or a listener's SYN).
	TimeWaitExpired
	// TimeWaitReopen: a SYN with a sequence number above RcvNxt may open a
	// new incarnation (RFC 9293 3.10.7.4 via RFC 1122 4.2.2.13, RFC 6191):
	// drop the record and hand the SYN to the listener, choosing an ISS
	// above SndNxt (NextISS).
	TimeWaitReopen
	// TimeWaitClosed: the peer reset the record in answer to the ACK it
	// sent to an unacceptable SYN; drop the record, the segment is
	// consumed (a retransmitted SYN will find no record).
	TimeWaitClosed
)

// TimeWait returns the record to keep for a Conn in TIME-WAIT. (A Conn kept
// in TIME-WAIT behaves the same, through the same code.)
func (c *Conn) TimeWait() TimeWait {
	return TimeWait{
		Tuple:    c.tuple,
		SndNxt:   c.sndMax,
		RcvNxt:   c.RcvNxt,
		Window:   uint16(min(c.rcvWnd()>>c.rcvShift, 0xffff)),
		Expiry:   c.time(c.stateAt),
		Duration: 2 * c.cfg.msl(),
		TSOK:     c.flags&flagTSOK != 0,
		TSOffset: c.tsOffset,
		TSRecent: c.tsRecent,
	}
}

// Expired reports whether TIME-WAIT is over at now.
func (tw *TimeWait) Expired(now time.Time) bool { return !now.Before(tw.Expiry) }

// NextISS returns an initial sequence number for a connection reopened
// from this record: isn if it lies ahead of SndNxt, else one well ahead
// (RFC 1122 4.2.2.13: the new ISS must exceed the old connection's
// sequence space).
func (tw *TimeWait) NextISS(isn Seq) Seq {
	if isn.GreaterThan(tw.SndNxt) {
		return isn
	}
	return tw.SndNxt.Add(1 << 16)
}

// HandleSegment processes a segment reaching a TIME-WAIT record (RFC 9293
// 3.10.7.4 for TIME-WAIT). ACKs are emitted through sink. (This path is not
// hot; the ACK it builds escapes to the heap.)
func (tw *TimeWait) HandleSegment(now time.Time, seg *segment.Segment, sink Sink) TimeWaitVerdict {
	var out segment.Segment
	return tw.handle(now, seg, sink, &out)
}

func (tw *TimeWait) handle(now time.Time, seg *segment.Segment, sink Sink, out *segment.Segment) TimeWaitVerdict {
	if tw.Expired(now) {
		return TimeWaitExpired
	}
	f := seg.Flags
	ackedSYN := tw.AckedSYN
	tw.AckedSYN = false
	if f&segment.FlagRST != 0 {
		// RFC 1337 (TIME-WAIT assassination hazards): ignore RSTs —
		// except the one answering the ACK we sent to an unacceptable
		// SYN, at exactly the sequence number that ACK acknowledged. A
		// peer reopening the 4-tuple with an ISS not above our RCV.NXT
		// (its ISN clock has not moved past the old connection's bytes)
		// gets that ACK in SYN-SENT, resets it (RFC 9293 3.10.7.3) and
		// retransmits the same SYN: were the RST ignored, every
		// retransmission would meet the same ACK until the peer's connect
		// timed out. Linux accepts any in-window RST in TIME-WAIT unless
		// net.ipv4.tcp_rfc1337 is set (tcp_timewait_state_process); this
		// is a deliberate middle: the RFC 1337 hazard H1 (an old duplicate
		// ACK drawing a RST that kills the record) stays closed, and only
		// a SYN, which the peer retransmits, can open the record to a RST.
		if ackedSYN && seg.Seq == tw.RcvNxt {
			return TimeWaitClosed
		}
		return TimeWaitKeep
	}
	if f&segment.FlagSYN != 0 {
		// RFC 9293 3.10.7.4 via RFC 1122 4.2.2.13 and RFC 6191: a SYN
		// may reopen the connection if it is new (isNewSYN).
		if f&segment.FlagACK == 0 && tw.isNewSYN(seg) {
			return TimeWaitReopen
		}
		// Otherwise a challenge ACK (RFC 5961 4.2; RFC 9293 fourth step;
		// RFC 6191 2 would drop the SYN silently). For a SYN without ACK
		// this is the ACK the peer's SYN-SENT answers with a RST (see
		// above).
		tw.AckedSYN = f&segment.FlagACK == 0
		tw.ack(now, sink, out)
		return TimeWaitKeep
	}
	if tw.TSOK {
		// RFC 7323 5.3 R1 as in a Conn (tsCheck): a segment with an old
		// TSval is answered with an ACK and dropped. R3: TS.Recent
		// follows the peer's retransmitted FIN.
		if o := &seg.Options; o.HasTimestamp {
			if tsBefore(o.TSVal, tw.TSRecent) {
				tw.ack(now, sink, out)
				return TimeWaitKeep
			}
			if seg.Seq.LessThanEq(tw.RcvNxt) {
				tw.TSRecent = o.TSVal
			}
		}
	}
	if len(seg.Payload) == 0 && f&segment.FlagFIN == 0 && seg.Seq == tw.RcvNxt {
		return TimeWaitKeep // a bare ACK needs no answer
	}
	// "The only thing that can arrive in this state is a retransmission
	// of the remote FIN. Acknowledge it, and restart the 2 MSL timeout."
	// Anything else is unacceptable and is answered with an ACK too.
	if f&segment.FlagFIN != 0 && seg.Seq.Add(uint32(len(seg.Payload))+1) == tw.RcvNxt {
		tw.Expiry = now.Add(tw.Duration)
	}
	tw.ack(now, sink, out)
	return TimeWaitKeep
}

// isNewSYN is RFC 6191 2: with timestamps on the old connection and on the
// SYN (so on the new incarnation too), the SYN is new if its TSval is
// greater than the last one seen, or equal with a greater sequence number;
// otherwise (no timestamps) if its sequence number lies above the old
// connection's RCV.NXT (RFC 9293 3.10.7.4 via RFC 1122 4.2.2.13). Our
// TSval offset is a function of the 4-tuple (ISNGenerator.TSOffset), so a
// reopening peer that is a tunstack sees our TSvals keep increasing too.
func (tw *TimeWait) isNewSYN(seg *segment.Segment) bool {
	if tw.TSOK && seg.Options.HasTimestamp {
		v := seg.Options.TSVal
		return tsBefore(tw.TSRecent, v) || v == tw.TSRecent && seg.Seq.GreaterThan(tw.RcvNxt)
	}
	return seg.Seq.GreaterThan(tw.RcvNxt)
}

func (tw *TimeWait) ack(now time.Time, sink Sink, out *segment.Segment) {
	*out = segment.Segment{
		Src: tw.Tuple.LocalAddr, Dst: tw.Tuple.RemoteAddr,
		SrcPort: tw.Tuple.LocalPort, DstPort: tw.Tuple.RemotePort,
		Seq: tw.SndNxt, Ack: tw.RcvNxt, Flags: segment.FlagACK, Window: tw.Window,
	}
	if tw.TSOK { // RFC 7323 3.2: TSopt on every non-RST segment
		out.Options.HasTimestamp = true
		out.Options.TSVal, out.Options.TSEcr = tsClock(now, tw.TSOffset), tw.TSRecent
	}
	sink.Output(out)
}

// timeWaitSegment is a segment for a Conn still in TIME-WAIT.
func (c *Conn) timeWaitSegment(now time.Time, seg *segment.Segment) {
	tw := c.TimeWait()
	tw.AckedSYN = c.flags&flagTWAckedSYN != 0
	switch tw.handle(now, seg, c.sink, &c.out) {
	case TimeWaitKeep:
		c.stateAt = c.inst(tw.Expiry)
		c.tsRecent = tw.TSRecent
		c.flags &^= flagTWAckedSYN
		if tw.AckedSYN {
			c.flags |= flagTWAckedSYN
		}
	default:
		c.close(now, nil, seg)
	}
}
