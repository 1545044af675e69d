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

// paceCatchUp is how far behind the schedule a send may count from: a
// timer that fires late (the runtime's clock, a busy machine) does not
// lower the rate, and an idle sender does not earn a burst of more than
// this. The runtime's short timers fire up to about 1.1 ms late
// (timers.BenchmarkShortTimerLateness), so a 1 ms limit that dropped the
// schedule for a later send paced at about half the rate.
const paceCatchUp = 2 * time.Millisecond

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
// after the schedule's previous deadline, or after now - paceCatchUp if
// that is later (a send far behind the schedule catches up at most that
// much).
func (c *Conn) paceSent(now time.Time, rate uint64, n uint32) {
	if rate == 0 || n == 0 {
		return
	}
	base := now
	if !c.pace.next.IsZero() && c.pace.next.Before(now) {
		base = c.pace.next
		if floor := now.Add(-paceCatchUp); base.Before(floor) {
			base = floor
		}
	}
	next := base.Add(time.Duration(uint64(n) * uint64(time.Second) / rate))
	c.pace.next = next
	if next.After(now) {
		c.pace.at = next
	}
}
