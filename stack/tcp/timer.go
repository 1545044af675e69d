package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Timers are deadlines owned by the Conn. The runtime sleeps until
// Deadline() and calls HandleTimer; a call before any deadline (a stale or
// early wake) does nothing.

// Deadline returns when HandleTimer is next due: the earliest armed
// retransmission, RACK reordering (RFC 8985 6.2), tail loss probe (RFC 8985
// 7.2), delayed-ACK, persist, keepalive, TIME-WAIT/FIN-WAIT-2 and pacing
// deadline. The zero time means no timer is armed.
func (c *Conn) Deadline() time.Time {
	rackAt, tlpAt := c.rackTimers()
	var m instant // the earliest armed instant: one conversion, not eight
	for _, a := range [...]instant{c.rtxAt, rackAt, tlpAt, c.delackAt, c.persistAt, c.kaAt, c.stateAt} {
		m = earliest(m, a)
	}
	d := c.time(m)
	if c.ackState != nil {
		if t := c.pace.at; !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

func due(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

// HandleTimer runs every timer that is due at now.
func (c *Conn) HandleTimer(now time.Time) {
	if c.due(c.stateAt, now) {
		c.stateTimerExpired(now)
	}
	if c.state == StateClosed {
		return
	}
	if rackAt, _ := c.rackTimers(); c.due(rackAt, now) {
		c.rackTimerExpired(now)
	}
	if _, tlpAt := c.rackTimers(); c.due(tlpAt, now) {
		// Before the RTO: a probe due with it re-arms it (RFC 8985 7.3).
		c.tlpTimerExpired(now)
	}
	if c.due(c.rtxAt, now) {
		c.tlpOnRTO()
		c.retransmitTimerExpired(now)
	}
	if c.state == StateClosed {
		return
	}
	if c.due(c.persistAt, now) {
		c.persistTimerExpired(now)
	}
	if c.due(c.kaAt, now) {
		c.keepaliveTimerExpired(now)
	}
	if c.state == StateClosed {
		return
	}
	if c.due(c.delackAt, now) {
		c.delayedAckTimerExpired(now)
	}
	if c.ackState != nil && due(c.pace.at, now) {
		c.pace.at = time.Time{} // flush sends what pacing held back
	}
	c.flush(now)
}

// lastHeard notes that the peer was heard from, restarting the keepalive
// idle period (RFC 9293 3.8.4).
func (c *Conn) lastHeard(now time.Time) {
	if !c.opts.keepalive {
		return
	}
	c.kaProbes = 0
	c.kaAt = c.inst(now.Add(c.opts.kaIdle))
}

// keepaliveTimerExpired sends a keep-alive probe (RFC 9293 3.8.4, RFC 1122
// 4.2.3.6): an ACK with SEG.SEQ = SND.NXT-1 and no data, which the peer must
// answer with an ACK. KeepaliveCount unanswered probes close the connection
// with ETIMEDOUT and a RST. While data is outstanding the retransmission timer
// watches the peer instead.
func (c *Conn) keepaliveTimerExpired(now time.Time) {
	c.kaAt = 0
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait2:
	default:
		return
	}
	if c.SndNxt != c.SndUna || c.unsent() > 0 {
		c.kaAt = c.inst(now.Add(c.opts.kaIdle))
		return
	}
	if int(c.kaProbes) >= c.opts.kaCount {
		// As Linux (tcp_keepalive_timer): tell the peer, should it still
		// be there, that the connection is gone.
		c.sendRst(now, c.sndMax)
		c.close(now, c.timeoutErr(), nil)
		return
	}
	c.kaProbes++
	c.stats.keepaliveProbes++
	c.emit(now, c.prepare(c.sndMax.Add(^uint32(0)), segment.FlagACK))
	c.kaAt = c.inst(now.Add(c.opts.kaIntvl))
}
