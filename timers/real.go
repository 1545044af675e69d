package timers

import (
	"math"
	"sync"
	"time"
)

// idleExit is how long the dispatcher goroutine of a Real clock lingers with
// no timer queued before it exits (it is restarted by the next AfterFunc or
// Reset). Lingering avoids a goroutine start per timer when a lightly loaded
// stack repeatedly empties and refills its queue.
const idleExit = time.Second

// RealClock is the wall clock with its own timer queue (see doc.go for why).
// All methods are safe for concurrent use.
type RealClock struct {
	base time.Time // monotonic origin of the queue's nanosecond scale

	mu         sync.Mutex
	q          queue
	running    bool  // a dispatcher goroutine exists
	sleepUntil int64 // key the dispatcher sleeps until; MinInt64 while awake
	kick       chan struct{}
}

var _ Clock = (*RealClock)(nil)

// NewReal returns a real-time Clock. Its timers live in a 4-ary min-heap
// served by one dispatcher goroutine, which runs the callbacks one after the
// other; see the package documentation for what callbacks may do.
func NewReal() Clock { return newReal() }

func newReal() *RealClock {
	return &RealClock{
		base:       time.Now(),
		sleepUntil: math.MinInt64,
		kick:       make(chan struct{}, 1),
	}
}

// Now returns time.Now().
func (c *RealClock) Now() time.Time { return time.Now() }

// nanos is the queue's time scale: monotonic nanoseconds since base.
func (c *RealClock) nanos() int64 { return int64(time.Since(c.base)) }

// AfterFunc implements Clock. f runs on the clock's dispatcher goroutine.
func (c *RealClock) AfterFunc(d time.Duration, f func()) Timer {
	e := &entry{index: -1, f: f, owner: c}
	c.reset(e, d)
	return e
}

func (c *RealClock) reset(e *entry, d time.Duration) bool {
	at := addSat(c.nanos(), int64(d))
	c.mu.Lock()
	was := c.q.schedule(e, at)
	if e.index == 0 {
		c.wakeLocked(c.q.h[0].when)
	}
	c.mu.Unlock()
	return was
}

func (c *RealClock) stop(e *entry) bool {
	c.mu.Lock()
	was := c.q.remove(e)
	c.mu.Unlock()
	// No need to re-arm the dispatcher: if it wakes for the removed entry the
	// wake is stale and it goes back to sleep.
	return was
}

// wakeLocked makes sure the dispatcher will look at the queue by key when.
func (c *RealClock) wakeLocked(when int64) {
	if !c.running {
		c.running = true
		c.sleepUntil = math.MinInt64
		go c.dispatch()
		return
	}
	if when < c.sleepUntil {
		select {
		case c.kick <- struct{}{}:
		default: // a kick is already pending
		}
	}
}

// Pending returns the number of queued timers.
func (c *RealClock) Pending() int {
	c.mu.Lock()
	n := c.q.len()
	c.mu.Unlock()
	return n
}

// dispatch is the clock's one goroutine: it sleeps on a runtime timer until
// the earliest key, pops due entries one at a time and runs their callbacks
// with the lock released (callbacks Reset and Stop timers).
func (c *RealClock) dispatch() {
	rt := time.NewTimer(time.Hour)
	rt.Stop()
	defer rt.Stop()
	c.mu.Lock()
	for {
		now := c.nanos()
		if e := c.q.popDue(now); e != nil {
			f := e.f
			c.mu.Unlock()
			if f != nil {
				f()
			}
			c.mu.Lock()
			continue
		}
		var sleep time.Duration
		when, ok := c.q.topKey()
		if !ok {
			c.sleepUntil = math.MaxInt64
			sleep = idleExit
		} else {
			c.sleepUntil = when
			sleep = time.Duration(when - now)
		}
		c.mu.Unlock()
		// Go >= 1.23 timers: Reset drops any stale value from rt.C.
		rt.Reset(sleep)
		select {
		case <-rt.C:
		case <-c.kick:
		}
		c.mu.Lock()
		c.sleepUntil = math.MinInt64
		if !ok && c.q.len() == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
	}
}
