package stack

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
)

// Memory after load.
//
// Connections take their send and receive buffers from the engine's free
// list while data is queued and give them back when empty (stack/tcp
// pool.go), so a closed or idle connection holds no buffer memory. Two
// things would still keep a process at its peak size long after the load
// ended: the free list, full of blocks nobody asks for, and the Go runtime,
// which hands freed heap back to the operating system only after a GC, and
// with no allocation going on the next GC is the forced one two minutes
// later. (Measured on `tunstack serve`, 32 busy connections: 16 MB RSS
// idle, 80 MB under load, still 75 MB a minute after they closed.)
//
// So every memTrimInterval the stack trims the free list (a block unused
// for a whole interval is dropped) and, when a good part of the buffer
// memory went out of use over the interval (see unused), it runs two GCs
// and debug.FreeOSMemory on a goroutine of its own (releaseMemory), which
// return the freed pages at once. That happens once after a load ends,
// between one and two intervals after it (and once more when the free
// list's last blocks go), never while the load goes on at a steady level,
// and never for churn that only ever holds a few buffers. The collections
// are the whole process's; for the embedding program they come once per
// load episode.
const (
	memTrimInterval = 5 * time.Second
	memReleaseMin   = 4 << 20
)

// memTrimmer is the stack's periodic trim.
type memTrimmer struct {
	s *Stack
	// mu guards timer, stopped and sincePeak: the timer may fire (on a
	// clock another goroutine advances) before start has stored it.
	mu      sync.Mutex
	timer   timers.Timer
	stopped bool
	// sincePeak is the most buffer memory held since the last release.
	sincePeak int
	// release returns freed memory to the operating system
	// (releaseMemory); releasing is set while one runs.
	release   func()
	releasing atomic.Bool
}

func (m *memTrimmer) start(s *Stack) {
	m.s = s
	if m.release == nil {
		m.release = releaseMemory
	}
	m.mu.Lock()
	m.timer = s.clock.AfterFunc(memTrimInterval, m.onTimer)
	m.mu.Unlock()
}

func (m *memTrimmer) onTimer() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	m.trimLocked()
	m.timer.Reset(memTrimInterval)
}

// trim runs the trim now (tests).
func (m *memTrimmer) trim() {
	m.mu.Lock()
	m.trimLocked()
	m.mu.Unlock()
}

// trimLocked trims the free list and starts a release if the interval
// calls for one.
func (m *memTrimmer) trimLocked() {
	u := tcp.TrimBuffers()
	unused, ok := m.unused(u)
	if !ok || m.s.opts.KeepFreedMemory || !m.releasing.CompareAndSwap(false, true) {
		return
	}
	m.s.logf("stack: %d KiB of buffer memory unused for %v (%d KiB held now, %d KiB parked): returning freed memory to the OS",
		unused>>10, memTrimInterval, u.Held>>10, u.Parked>>10)
	// Not on the timer goroutine: a GC takes milliseconds, and every
	// connection's timers run there.
	go func() {
		defer m.releasing.Store(false)
		m.release()
	}()
}

// unused says how much buffer memory went out of use over the interval u
// describes, and whether that is enough to return freed memory to the
// operating system: the drop from the peak since the last release to this
// interval's peak (memory no connection needed for a whole interval), plus
// what the trim dropped from the free list. Enough is memReleaseMin and a
// quarter of that peak: a load that goes on at about the same level never
// releases, whatever its size.
func (m *memTrimmer) unused(u tcp.BufferUsage) (int, bool) {
	m.sincePeak = max(m.sincePeak, u.Peak)
	unused := m.sincePeak - u.Peak + u.Freed
	if unused < memReleaseMin || unused < m.sincePeak/4 {
		return unused, false
	}
	m.sincePeak = u.Peak
	return unused, true
}

// releaseMemory collects garbage and returns the free pages to the
// operating system. Two collections: what the output buffers' sync.Pools
// held when the load ended survives the first in the pools' victim cache.
func releaseMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// stop stops the timer (Stack.Close).
func (m *memTrimmer) stop() {
	m.mu.Lock()
	m.stopped = true
	if m.timer != nil {
		m.timer.Stop()
	}
	m.mu.Unlock()
}
