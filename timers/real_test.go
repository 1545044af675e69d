package timers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Real-clock tests assert ordering and outcomes with generous bounds: they
// must not flake on a loaded 2-core machine.

func realClocks() map[string]Clock {
	return map[string]Clock{"heap": NewReal(), "runtime": NewRuntime()}
}

func TestRealFiresInOrder(t *testing.T) {
	for name, c := range realClocks() {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var order []int
			done := make(chan struct{})
			start := time.Now()
			delays := []time.Duration{60, 20, 100, 40}
			for i, d := range delays {
				i := i
				c.AfterFunc(d*time.Millisecond, func() {
					mu.Lock()
					order = append(order, i)
					if len(order) == len(delays) {
						close(done)
					}
					mu.Unlock()
				})
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("timers did not fire within 10 s")
			}
			if el := time.Since(start); el < 100*time.Millisecond {
				t.Fatalf("last timer fired after %v, before its 100 ms deadline", el)
			}
			mu.Lock()
			defer mu.Unlock()
			want := []int{1, 3, 0, 2}
			for i := range want {
				if order[i] != want[i] {
					t.Fatalf("fired in order %v, want %v", order, want)
				}
			}
		})
	}
}

func TestRealStopPreventsFiring(t *testing.T) {
	for name, c := range realClocks() {
		t.Run(name, func(t *testing.T) {
			var stoppedFired atomic.Bool
			s := c.AfterFunc(50*time.Millisecond, func() { stoppedFired.Store(true) })
			// Reset to later, then stop: neither arming may fire.
			r := c.AfterFunc(30*time.Millisecond, func() { stoppedFired.Store(true) })
			if !r.Reset(40 * time.Millisecond) {
				t.Fatal("Reset of pending timer = false")
			}
			if !s.Stop() || !r.Stop() {
				t.Fatal("Stop of pending timer = false")
			}
			if s.Stop() {
				t.Fatal("second Stop = true")
			}
			sentinel := make(chan struct{})
			c.AfterFunc(200*time.Millisecond, func() { close(sentinel) })
			select {
			case <-sentinel:
			case <-time.After(10 * time.Second):
				t.Fatal("sentinel did not fire")
			}
			if stoppedFired.Load() {
				t.Fatal("a stopped timer fired")
			}
		})
	}
}

func TestRealResetEarlierAndLater(t *testing.T) {
	for name, c := range realClocks() {
		t.Run(name, func(t *testing.T) {
			got := make(chan time.Time, 4)
			start := time.Now()
			tm := c.AfterFunc(time.Hour, func() { got <- time.Now() })
			if !tm.Reset(20 * time.Millisecond) { // earlier
				t.Fatal("Reset = false")
			}
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("timer reset from 1 h to 20 ms did not fire")
			}
			if tm.Stop() {
				t.Fatal("Stop after firing = true")
			}
			start = time.Now()
			tm.Reset(20 * time.Millisecond)
			tm.Reset(150 * time.Millisecond) // later: the 20 ms arming is gone
			select {
			case at := <-got:
				if at.Sub(start) < 150*time.Millisecond {
					t.Fatalf("fired after %v, before the reset deadline", at.Sub(start))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("timer did not fire")
			}
			select {
			case <-got:
				t.Fatal("fired twice")
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestRealCallbacksUseClock checks callbacks may Reset/Stop timers (the lock
// is not held while they run) and that a self-rearming timer keeps going.
func TestRealCallbacksUseClock(t *testing.T) {
	c := NewReal()
	var n atomic.Int32
	done := make(chan struct{})
	var tick Timer
	other := c.AfterFunc(time.Hour, func() {})
	// Arm only after tick is assigned, so the callback reads it race-free.
	tick = c.AfterFunc(time.Hour, func() {
		other.Reset(time.Hour)
		if n.Add(1) == 10 {
			other.Stop()
			close(done)
			return
		}
		tick.Reset(time.Millisecond)
	})
	tick.Reset(time.Millisecond)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("self-rearming timer stalled after %d ticks", n.Load())
	}
	if p := c.(*RealClock).Pending(); p != 0 {
		t.Fatalf("Pending = %d", p)
	}
}

// TestRealConcurrentStopWhileFiring races Reset/Stop against firing. Every
// arming must end exactly once: fired, or cancelled by a Stop that returned
// true. AfterFunc and a Reset that returned false (the previous arming had
// already fired) each create an arming; a Reset that returned true replaces
// one.
func TestRealConcurrentStopWhileFiring(t *testing.T) {
	for name, c := range realClocks() {
		t.Run(name, func(t *testing.T) {
			var fired, stopped, armings atomic.Int32
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 500; i++ {
						armings.Add(1)
						tm := c.AfterFunc(time.Duration(i%3)*time.Microsecond, func() { fired.Add(1) })
						if i%2 == 0 && !tm.Reset(time.Duration(i%4)*time.Microsecond) {
							armings.Add(1)
						}
						if tm.Stop() {
							stopped.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			want := armings.Load()
			deadline := time.Now().Add(10 * time.Second)
			for fired.Load()+stopped.Load() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			if f, s := fired.Load(), stopped.Load(); f+s != want {
				t.Fatalf("fired %d + stopped %d != %d armings", f, s, want)
			}
		})
	}
}

func TestRealDispatcherIdleRestart(t *testing.T) {
	c := newReal()
	ch := make(chan struct{}, 2)
	c.AfterFunc(time.Millisecond, func() { ch <- struct{}{} })
	<-ch
	// Wait for the dispatcher to exit, then schedule again.
	deadline := time.Now().Add(idleExit + 5*time.Second)
	for {
		c.mu.Lock()
		r := c.running
		c.mu.Unlock()
		if !r {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dispatcher did not exit when idle")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.AfterFunc(time.Millisecond, func() { ch <- struct{}{} })
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("timer after idle exit did not fire")
	}
}

// TestRealNeverEarlyNeverLost arms many timers from several goroutines, some
// re-armed earlier or later before they fire; every final arming must fire
// exactly once and never before its deadline.
func TestRealNeverEarlyNeverLost(t *testing.T) {
	c := NewReal()
	const workers, per = 4, 500
	type rec struct {
		mu       sync.Mutex
		earliest time.Time // lower bound of the current arming's deadline
		fires    int
		early    bool
	}
	recs := make([]*rec, workers*per)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				r := &rec{}
				recs[w*per+i] = r
				d := time.Duration((i*7919+w*104729)%40) * time.Millisecond
				r.mu.Lock()
				r.earliest = time.Now().Add(d)
				tm := c.AfterFunc(d, func() {
					now := time.Now()
					r.mu.Lock()
					if now.Before(r.earliest) {
						r.early = true
					}
					r.fires++
					r.mu.Unlock()
				})
				r.mu.Unlock()
				if i%3 == 0 {
					// Re-arm later. Usually the first arming is still
					// pending and is replaced; if it already fired (or is
					// about to) the Reset is a second arming: expect one
					// more firing, and keep the first arming's bound, which
					// is lower and so valid for both.
					d2 := time.Duration(50+i%30) * time.Millisecond
					r.mu.Lock()
					before := time.Now().Add(d2)
					if tm.Reset(d2) {
						r.earliest = before
					} else {
						r.fires--
					}
					r.mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		missing := 0
		for _, r := range recs {
			r.mu.Lock()
			if r.fires < 1 {
				missing++
			}
			r.mu.Unlock()
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // any duplicate firing would show now
	for i, r := range recs {
		r.mu.Lock()
		if r.fires != 1 || r.early {
			t.Fatalf("timer %d: net fires %d, early %v", i, r.fires, r.early)
		}
		r.mu.Unlock()
	}
	if p := c.(*RealClock).Pending(); p != 0 {
		t.Fatalf("Pending = %d", p)
	}
}
