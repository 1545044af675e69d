package timers

import "time"

// runtimeClock is the Go runtime's timers used directly: time.AfterFunc
// returns a *time.Timer, which already satisfies Timer.
type runtimeClock struct{}

// NewRuntime returns a real-time Clock whose timers are Go runtime timers
// (time.AfterFunc): per-P heaps, no lock shared across Ps, each callback on
// its own goroutine. It exists for comparison with NewReal (see the
// benchmarks) and as a fallback for callers whose callbacks may block.
func NewRuntime() Clock { return runtimeClock{} }

func (runtimeClock) Now() time.Time { return time.Now() }

func (runtimeClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
