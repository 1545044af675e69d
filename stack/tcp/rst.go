package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Resets: an arriving RST (RFC 9293 3.10.7.4 second step with RFC 5961 3),
// a SYN in a synchronized state (RFC 5961 4), the challenge ACK and its rate
// limit (RFC 5961 7), sending a RST, and ResetFor for segments that reach no
// connection (RFC 9293 3.10.7.1).

// rstArrived handles an in-window RST. RFC 5961 3.2: "If the RST bit is set
// and the sequence number exactly matches the next expected sequence number
// (RCV.NXT), then TCP MUST reset the connection"; in the window but not
// exact, "TCP MUST send an ACK (challenge ACK)". (Out-of-window RSTs were
// dropped by the acceptability test.)
func (c *Conn) rstArrived(now time.Time, seg *segment.Segment) {
	if seg.Seq != c.RcvNxt {
		c.challengeAck(now)
		return
	}
	switch c.state {
	case StateSynReceived:
		// "If this connection was initiated with a passive OPEN, then
		// return this connection to the LISTEN state" - for us, it ends
		// (the listener lives in the runtime). "If ... with an active
		// OPEN (i.e., came from SYN-SENT state), then the connection was
		// refused".
		if c.flags&flagPassive != 0 {
			c.close(now, errReset, seg)
		} else {
			c.close(now, errRefused, seg)
		}
	case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		// "any outstanding RECEIVEs and SEND should receive 'reset'
		// responses ... enter the CLOSED state".
		c.close(now, errReset, seg)
	default: // CLOSING, LAST-ACK
		c.close(now, nil, seg)
	}
}

// resetAtFinSeq handles an otherwise unacceptable RST. The RFC 9293
// 3.10.7.4 table drops it, but Linux (tcp_reset_check) takes a RST whose
// sequence number is the peer's FIN (RCV.NXT-1) as exact in CLOSE-WAIT,
// LAST-ACK and CLOSING: stacks that reset after their FIN without counting
// it would otherwise leave the connection to time out. We follow Linux.
func (c *Conn) resetAtFinSeq(now time.Time, seg *segment.Segment) {
	if seg.Seq != c.RcvNxt.Add(^uint32(0)) {
		return
	}
	switch c.state {
	case StateCloseWait:
		c.close(now, errReset, seg)
	case StateLastAck, StateClosing:
		c.close(now, nil, seg)
	}
}

// synInWindow is the fourth step for SYN-RECEIVED and the synchronized
// states. RFC 5961 4.2 / RFC 9293 3.10.7.4: "If the SYN bit is set,
// irrespective of the sequence number, TCP endpoints MUST send a 'challenge
// ACK'". In SYN-RECEIVED after a passive open the RFC instead returns to
// LISTEN, which for us ends the embryonic connection.
func (c *Conn) synInWindow(now time.Time, seg *segment.Segment) {
	if c.state == StateSynReceived && c.flags&flagPassive != 0 {
		c.close(now, errReset, seg)
		return
	}
	c.challengeAck(now)
}

// challengeAck queues an ACK unless this Conn already sent
// Config.ChallengeACKLimit of them in the current one-second interval
// (RFC 5961 7; the limit is per Conn, see DefaultChallengeACKLimit).
func (c *Conn) challengeAck(now time.Time) {
	if now.Sub(c.time(c.chalFrom)) >= time.Second || now.Before(c.time(c.chalFrom)) {
		c.chalFrom = c.inst(now)
		c.chalN = 0
	}
	if int(c.chalN) >= c.cfg.challengeLimit() {
		return
	}
	c.chalN++
	c.stats.challengeACKs++
	c.flags |= flagAckNow
}

// sendRst sends <SEQ=seq><CTL=RST>.
func (c *Conn) sendRst(now time.Time, seq Seq) {
	o := c.prepare(seq, segment.FlagRST)
	c.emit(now, o)
}

// ResetFor builds in out the RST answering in, a segment that reached no
// connection (RFC 9293 3.10.7.1, "If the state is CLOSED"): "If the
// ACK bit is off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
// <CTL=RST,ACK>. If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>". It returns
// false, leaving out untouched, when in is itself a RST ("An incoming
// segment containing a RST is discarded").
func ResetFor(in *segment.Segment, out *segment.Segment) bool {
	if in.Flags&segment.FlagRST != 0 {
		return false
	}
	*out = segment.Segment{
		Src: in.Dst, Dst: in.Src, SrcPort: in.DstPort, DstPort: in.SrcPort,
	}
	if in.Flags&segment.FlagACK != 0 {
		out.Seq = in.Ack
		out.Flags = segment.FlagRST
	} else {
		out.Ack = in.Seq.Add(in.Len())
		out.Flags = segment.FlagRST | segment.FlagACK
	}
	return true
}
