package timers

import "time"

// Clock is the only source of time for tunstack. The engine never reads it
// directly (it is handed "now"); the runtime and the in-memory pipe use it to
// read the time and to schedule callbacks. Real returns wall time; Manual is
// advanced explicitly by tests and fires due callbacks deterministically.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc arranges for f to be called once, d from now, and returns a
	// Timer that can stop or re-arm it. The callback runs on a goroutine of
	// the Clock's choosing (Real) or inside Manual.Advance (Manual).
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a handle on a scheduled callback. Stop and Reset do not allocate.
type Timer interface {
	// Stop cancels the timer. It reports whether the call stopped a pending
	// callback (false if it had already fired or been stopped). As with
	// time.AfterFunc, a callback already taken off the queue for firing may
	// still run after Stop returns false; Stop does not wait for it.
	Stop() bool
	// Reset re-arms the timer to fire d from now, whether or not it was
	// pending. It reports whether the timer was pending before the call.
	Reset(d time.Duration) bool
}
