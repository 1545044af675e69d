package tcp

import "time"

// instant is a time on the engine's clock in 8 bytes instead of a
// time.Time's 24, for the Conn's deadlines and timestamps (an idle Conn's
// size is one of the project's headline figures, TestConnSize): the
// nanoseconds since the Conn's epoch, which is the first instant it stores
// less 1 ns, so that 0 keeps the zero time.Time's meaning (none, not
// armed). Differences from the epoch use the monotonic clock reading when
// both times have one, as time.Time's own comparisons do, and an instant
// converts back to the time it was made from (Conn.time), so the code
// that reads one behaves as it did with time.Time.
type instant int64

// inst returns t as an instant (0 for the zero time).
func (c *Conn) inst(t time.Time) instant {
	if t.IsZero() {
		return 0
	}
	if c.epoch.IsZero() {
		c.epoch = t.Add(-1)
	}
	// Only the epoch itself would map to 0, and it is 1 ns before the
	// first instant stored: no time the engine is given.
	return instant(t.Sub(c.epoch))
}

// time returns the time an instant stands for (the zero time for 0).
func (c *Conn) time(i instant) time.Time {
	if i == 0 {
		return time.Time{}
	}
	return c.epoch.Add(time.Duration(i))
}
