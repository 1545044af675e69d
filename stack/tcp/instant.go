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
		if c.epoch == c.epoch.Round(0) { // Round(0) strips the monotonic reading
			c.flags |= flagEpochWall
		}
	}
	// Only the epoch itself would map to 0, and it is 1 ns before the
	// first instant stored: no time the engine is given.
	return instant(c.sub(t))
}

// sub is t.Sub(c.epoch). Times without a monotonic reading (a manual
// clock's) make time.Time.Sub check for overflow at the cost of an Add on
// every call, a hot path's worth (BenchmarkSendFullSegment); their wall
// difference is computed directly instead, the same value for any two
// times within 292 years. Times with one take Sub's own fast path.
func (c *Conn) sub(t time.Time) time.Duration {
	if c.flags&flagEpochWall != 0 {
		e := c.epoch
		return time.Duration(t.Unix()-e.Unix())*time.Second + time.Duration(t.Nanosecond()-e.Nanosecond())
	}
	return t.Sub(c.epoch)
}

// since is now.Sub(c.time(a)) without making the time (a hot path's
// comparisons): the same duration, also for a == 0 (from the zero time).
func (c *Conn) since(now time.Time, a instant) time.Duration {
	if a == 0 {
		return now.Sub(time.Time{})
	}
	return c.sub(now) - time.Duration(a)
}

// due reports whether the instant a is armed and not after now (the
// timers' test, as due for a time.Time).
func (c *Conn) due(a instant, now time.Time) bool { return a != 0 && c.since(now, a) >= 0 }

// earliest returns the earlier armed instant of a and b (0 if neither).
func earliest(a, b instant) instant {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// time returns the time an instant stands for (the zero time for 0).
func (c *Conn) time(i instant) time.Time {
	if i == 0 {
		return time.Time{}
	}
	return c.epoch.Add(time.Duration(i))
}
