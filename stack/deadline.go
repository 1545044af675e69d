package stack

import (
	"sync"
	"time"

	"github.com/tunstack/tunstack/timers"
)

// deadline implements one of a Conn's I/O deadlines. Blocked calls select on
// the channel returned by wait, which is closed when the deadline passes
// (by a timer on the stack's clock) or at once when it is set in the past.
// Setting a new deadline after expiry installs a fresh, open channel.
//
// Deadlines are read on the stack's Clock: with the real clock that is wall
// time as in package net; with a manual clock a test expresses deadlines as
// clock.Now().Add(d) and they fire when the test advances the clock, so a
// blocked Read can never wait on a timer the test cannot move.
type deadline struct {
	mu      sync.Mutex
	clock   timers.Clock
	timer   timers.Timer  // created on first use, then Reset/Stopped
	gen     uint64        // bumped on every set, so a stale firing is ignored
	expired chan struct{} // closed when the deadline has passed; nil until needed
	closed  bool          // expired is closed
}

// set arms the deadline at t; the zero time clears it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
	}
	if d.closed {
		// Past expiry: a new deadline (or none) re-opens the gate.
		d.expired = nil
		d.closed = false
	}
	if t.IsZero() {
		return
	}
	dur := t.Sub(d.clock.Now())
	if dur <= 0 {
		d.closeLocked()
		return
	}
	// The callback carries the generation it was armed for, so a firing
	// that races with a later set is ignored. Deadlines are set per call,
	// not per packet, so one small allocation here is fine.
	gen := d.gen
	d.timer = d.clock.AfterFunc(dur, func() { d.fire(gen) })
}

func (d *deadline) fire(gen uint64) {
	d.mu.Lock()
	if gen == d.gen && !d.closed {
		d.closeLocked()
	}
	d.mu.Unlock()
}

func (d *deadline) closeLocked() {
	if d.expired == nil {
		d.expired = make(chan struct{})
	}
	close(d.expired)
	d.closed = true
}

// wait returns a channel that is closed once the deadline has passed. A
// channel obtained before a later set keeps its old meaning; callers fetch
// it again on every loop iteration.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	if d.expired == nil {
		d.expired = make(chan struct{})
	}
	ch := d.expired
	d.mu.Unlock()
	return ch
}

// isExpired reports whether the deadline has passed.
func (d *deadline) isExpired() bool {
	d.mu.Lock()
	c := d.closed
	d.mu.Unlock()
	return c
}

// stop releases the timer (on Conn close).
func (d *deadline) stop() {
	d.mu.Lock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
}
