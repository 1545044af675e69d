package tcp

import "time"

// Pacing: when the algorithm asks for it (PacingRate > 0, BBR), the
// sender spaces its transmissions at that rate: after each send, the next
// may go no earlier than paceAt (a deadline of its own, timer.go), and one
// send (a GSO super-segment) carries at most about 1 ms worth of the rate,
// at least two segments, as Linux sizes TSO bursts (tcp_tso_autosize).
// With rate 0, sending is as before.

type paceState struct {
	at   time.Time // the next transmission's earliest time; zero: none pending
	next time.Time // the schedule: when the last send's successor was due
}

// paceCatchUp is how late a send may be against the schedule and still
// count from it: a timer that fires late (the runtime's clock, a busy
// machine) does not lower the rate, and an idle sender does not earn a
// burst of more than this.
const paceCatchUp = time.Millisecond

// pacingRate returns the algorithm's pacing rate in bytes per second.
func (c *Conn) pacingRate() uint64 { return c.cc.PacingRate(&c.ccs) } // after ccAlloc

// paceWait reports whether a paced sender must wait before sending at now.
func (c *Conn) paceWait(now time.Time) bool {
	if c.ackState == nil || c.pace.at.IsZero() {
		return false
	}
	if now.Before(c.pace.at) {
		return true
	}
	c.pace.at = time.Time{}
	return false
}

// paceBurst is the most one send may carry at rate: 1 ms worth, at least
// two MSS, a whole number of MSS, at most limit.
func paceBurst(rate uint64, mss, limit uint32) uint32 {
	b := max(rate/1000, 2*uint64(mss))
	b -= b % uint64(mss)
	return uint32(min(b, uint64(limit)))
}

// paceSent moves the pacing deadline past n bytes sent at now: n/rate
// after the schedule's previous deadline if now is less than paceCatchUp
// late for it, otherwise after now.
func (c *Conn) paceSent(now time.Time, rate uint64, n uint32) {
	if rate == 0 || n == 0 {
		return
	}
	base := now
	if late := now.Sub(c.pace.next); !c.pace.next.IsZero() && late > 0 && late < paceCatchUp {
		base = c.pace.next
	}
	next := base.Add(time.Duration(uint64(n) * uint64(time.Second) / rate))
	c.pace.next = next
	if next.After(now) {
		c.pace.at = next
	}
}
