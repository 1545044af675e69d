package timers

import (
	"sync"
	"time"
)

// Manual is a Clock that only moves when told to. Advance, AdvanceTo and
// Step fire due callbacks deterministically: in deadline order, ties in
// scheduling order (the order of the AfterFunc/Reset calls that set the
// deadlines), each with Now reading exactly its deadline.
//
// All methods are safe for concurrent use: the runtime's goroutines may call
// AfterFunc, Reset and Stop while a test goroutine advances the clock.
// Callbacks run on the goroutine that called Advance (or AdvanceTo/Step),
// without the Manual's lock held, so they may use the clock freely — except
// that they must not call Advance, AdvanceTo, Step or Set themselves (those
// are serialised and would deadlock).
type Manual struct {
	base time.Time // Now() == base + now

	adv sync.Mutex // serialises Advance/AdvanceTo/Step so firing order is total

	mu  sync.Mutex
	now int64 // nanoseconds since base
	q   queue
}

var _ Clock = (*Manual)(nil)

// NewManual returns a Manual clock reading start.
func NewManual(start time.Time) *Manual {
	return &Manual{base: start}
}

// Now returns the clock's current reading.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	n := m.now
	m.mu.Unlock()
	return m.base.Add(time.Duration(n))
}

// Since returns Now().Sub(t).
func (m *Manual) Since(t time.Time) time.Duration { return m.Now().Sub(t) }

// AfterFunc implements Clock. f runs inside a later Advance (or AdvanceTo or
// Step) whose span covers now+d. A non-positive d means "now": the callback
// runs at the next Advance, even Advance(0).
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	e := &entry{index: -1, f: f, owner: m}
	m.reset(e, d)
	return e
}

func (m *Manual) reset(e *entry, d time.Duration) bool {
	m.mu.Lock()
	was := m.q.schedule(e, addSat(m.now, int64(d)))
	m.mu.Unlock()
	return was
}

func (m *Manual) stop(e *entry) bool {
	m.mu.Lock()
	was := m.q.remove(e)
	m.mu.Unlock()
	return was
}

// Advance moves the clock forward by d, firing every timer whose deadline is
// at or before the new time (see AdvanceTo). A negative d is treated as 0.
func (m *Manual) Advance(d time.Duration) {
	m.adv.Lock()
	defer m.adv.Unlock()
	m.mu.Lock()
	target := addSat(m.now, int64(d))
	m.mu.Unlock()
	m.advanceTo(target)
}

// AdvanceTo moves the clock to t, firing due timers in deadline order (ties
// in scheduling order). While a callback runs, Now reads its deadline; timers
// that callbacks schedule (or reset) with a deadline not after t fire in the
// same call. At the end Now reads t. If t is before Now, nothing moves but
// timers already due (deadline <= Now) fire.
func (m *Manual) AdvanceTo(t time.Time) {
	m.adv.Lock()
	defer m.adv.Unlock()
	m.advanceTo(m.toNanos(t))
}

// Step advances the clock to the earliest pending deadline and fires every
// timer due then (including ones those callbacks schedule for the same
// instant). It reports false, without moving the clock, if no timer is
// pending.
func (m *Manual) Step() bool {
	m.adv.Lock()
	defer m.adv.Unlock()
	m.mu.Lock()
	t := m.q.settleTop()
	m.mu.Unlock()
	if t == nil {
		return false
	}
	m.advanceTo(t.at)
	return true
}

// toNanos converts t to the clock's scale, saturating.
func (m *Manual) toNanos(t time.Time) int64 {
	d := t.Sub(m.base) // saturates at the Duration bounds
	return int64(d)
}

// advanceTo fires due timers up to target; the caller holds m.adv.
func (m *Manual) advanceTo(target int64) {
	m.mu.Lock()
	if target < m.now {
		target = m.now
	}
	for {
		e := m.q.popDue(target)
		if e == nil {
			break
		}
		if e.at > m.now {
			m.now = e.at
		}
		f := e.f
		m.mu.Unlock()
		if f != nil {
			f()
		}
		m.mu.Lock()
	}
	m.now = target
	m.mu.Unlock()
}

// Set sets the clock to t without running any callback. Pending timers keep
// their absolute deadlines: after a step back they are further away, after a
// step forward past them they fire at the next Advance, with Now reading the
// time Set chose (Advance never moves Now backwards). Set is for modelling a
// clock step; tests that want timers to fire use Advance or AdvanceTo.
func (m *Manual) Set(t time.Time) {
	m.adv.Lock()
	defer m.adv.Unlock()
	m.mu.Lock()
	m.now = m.toNanos(t)
	m.mu.Unlock()
}

// Pending returns the number of live (scheduled, not yet fired or stopped)
// timers, so a test can assert that nothing was left behind.
func (m *Manual) Pending() int {
	m.mu.Lock()
	n := m.q.len()
	m.mu.Unlock()
	return n
}

// Next returns the earliest pending deadline, and false if no timer is
// pending.
func (m *Manual) Next() (time.Time, bool) {
	m.mu.Lock()
	t := m.q.settleTop()
	if t == nil {
		m.mu.Unlock()
		return time.Time{}, false
	}
	at := t.at
	m.mu.Unlock()
	return m.base.Add(time.Duration(at)), true
}
