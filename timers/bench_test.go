package timers

import (
	"math/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks: go test -run '^$' -bench . -benchmem ./timers
//
// "live" benchmarks hold 100k pending timers (far in the future, so none
// fires) and measure one operation on a random one of them, for the three
// implementations: manual (the queue under Manual's lock), real (the same
// queue under RealClock's lock, dispatcher asleep), runtime (time.AfterFunc).

const liveTimers = 100_000

func nop() {}

type clockCase struct {
	name string
	new  func() Clock
}

func clockCases() []clockCase {
	return []clockCase{
		{"manual", func() Clock { return NewManual(t0) }},
		{"real", NewReal},
		{"runtime", NewRuntime},
	}
}

// populate arms n timers between 1 h and 2 h from now.
func populate(c Clock, n int, rng *rand.Rand) []Timer {
	ts := make([]Timer, n)
	for i := range ts {
		ts[i] = c.AfterFunc(time.Hour+time.Duration(rng.Int63n(int64(time.Hour))), nop)
	}
	return ts
}

func stopAll(ts []Timer) {
	for _, t := range ts {
		t.Stop()
	}
}

// idx returns a precomputed random index sequence (so the benchmark loop
// does not pay for the RNG).
func idx(n int, rng *rand.Rand) []int32 {
	s := make([]int32, 1<<16)
	for i := range s {
		s[i] = int32(rng.Intn(n))
	}
	return s
}

// BenchmarkResetLater: the TCP pattern (retransmission/keepalive pushed back
// on every ACK): each Reset moves a timer later than it was.
func BenchmarkResetLater(b *testing.B) {
	for _, cc := range clockCases() {
		b.Run(cc.name, func(b *testing.B) {
			rng := rand.New(rand.NewSource(1))
			c := cc.new()
			ts := populate(c, liveTimers, rng)
			ix := idx(liveTimers, rng)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ts[ix[i&(len(ix)-1)]].Reset(2*time.Hour + time.Duration(i))
			}
			b.StopTimer()
			stopAll(ts)
		})
	}
}

// BenchmarkResetRandom: each Reset moves a timer to a random deadline in the
// same range (earlier half the time).
func BenchmarkResetRandom(b *testing.B) {
	for _, cc := range clockCases() {
		b.Run(cc.name, func(b *testing.B) {
			rng := rand.New(rand.NewSource(1))
			c := cc.new()
			ts := populate(c, liveTimers, rng)
			ix := idx(liveTimers, rng)
			ds := make([]time.Duration, len(ix))
			for i := range ds {
				ds[i] = time.Hour + time.Duration(rng.Int63n(int64(time.Hour)))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i & (len(ix) - 1)
				ts[ix[k]].Reset(ds[k])
			}
			b.StopTimer()
			stopAll(ts)
		})
	}
}

// BenchmarkStopReset: Stop a random live timer and re-arm it (a delayed ACK
// cancelled by an outgoing segment, then armed again). Per op: one Stop and
// one Reset.
func BenchmarkStopReset(b *testing.B) {
	for _, cc := range clockCases() {
		b.Run(cc.name, func(b *testing.B) {
			rng := rand.New(rand.NewSource(1))
			c := cc.new()
			ts := populate(c, liveTimers, rng)
			ix := idx(liveTimers, rng)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t := ts[ix[i&(len(ix)-1)]]
				t.Stop()
				t.Reset(time.Hour + time.Duration(i&0xffff)*time.Millisecond)
			}
			b.StopTimer()
			stopAll(ts)
		})
	}
}

// BenchmarkSchedule: AfterFunc a new timer into a queue of 100k and Stop it
// (one allocation per AfterFunc: the timer itself).
func BenchmarkSchedule(b *testing.B) {
	for _, cc := range clockCases() {
		b.Run(cc.name, func(b *testing.B) {
			rng := rand.New(rand.NewSource(1))
			c := cc.new()
			ts := populate(c, liveTimers, rng)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.AfterFunc(time.Hour+time.Duration(i&0xffff)*time.Millisecond, nop).Stop()
			}
			b.StopTimer()
			stopAll(ts)
		})
	}
}

// BenchmarkFireManual: throughput of Advance firing timers out of a 100k
// queue; per op: one timer fired and re-armed into the queue.
func BenchmarkFireManual(b *testing.B) {
	m := NewManual(t0)
	rng := rand.New(rand.NewSource(1))
	var fired int
	ts := make([]Timer, liveTimers)
	for i := range ts {
		i := i
		ts[i] = m.AfterFunc(time.Duration(rng.Int63n(int64(time.Second))), func() {
			fired++
			ts[i].Reset(time.Second) // steady state: 100k live
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for fired < b.N {
		m.Advance(time.Millisecond)
	}
	b.StopTimer()
	stopAll(ts)
}

// BenchmarkFireReal measures how fast a real clock fires b.N timers that are
// all due (deadlines within the first millisecond), end to end: arm them,
// wait for the last callback.
func BenchmarkFireReal(b *testing.B) {
	for _, cc := range clockCases()[1:] {
		b.Run(cc.name, func(b *testing.B) {
			c := cc.new()
			var n atomic.Int64
			done := make(chan struct{})
			target := int64(b.N)
			f := func() {
				if n.Add(1) == target {
					close(done)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.AfterFunc(time.Duration(i&1023)*time.Microsecond, f)
			}
			select {
			case <-done:
			case <-time.After(time.Minute):
				b.Fatalf("only %d of %d fired", n.Load(), b.N)
			}
		})
	}
}

// BenchmarkBytesPerTimer reports the heap bytes per timer for 100k live
// timers (the Timer object, its queue slot and slice slack; the callback is
// shared so no closure is counted). Measured once per clock per process; the
// loop itself does nothing.
func BenchmarkBytesPerTimer(b *testing.B) {
	for _, cc := range clockCases() {
		b.Run(cc.name, func(b *testing.B) {
			b.ReportMetric(measuredBytesPerTimer(cc), "bytes/timer")
		})
	}
}

var (
	bptMu    sync.Mutex
	bptCache = map[string]float64{}
	leaked   [][]Timer
)

func measuredBytesPerTimer(cc clockCase) float64 {
	bptMu.Lock()
	defer bptMu.Unlock()
	if v, ok := bptCache[cc.name]; ok {
		return v
	}
	v := bytesPerTimer(cc, liveTimers)
	bptCache[cc.name] = v
	return v
}

// bytesPerTimer measures HeapAlloc growth across creating n live timers.
// Our clocks free a stopped timer at once, so they are stopped afterwards.
// The runtime deletes stopped timers lazily (they stay in the P's heap until
// a later timer operation cleans them up, which would free memory during the
// next measurement and hide its cost), so its timers are left armed, an hour
// or more away, until the process exits.
func bytesPerTimer(cc clockCase, n int) float64 {
	var before, after runtime.MemStats
	rng := rand.New(rand.NewSource(1))
	ts := make([]Timer, n)
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := cc.new()
	for i := range ts {
		ts[i] = c.AfterFunc(time.Hour+time.Duration(rng.Int63n(int64(time.Hour))), nop)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
	if cc.name == "runtime" {
		leaked = append(leaked, ts)
	} else {
		stopAll(ts)
	}
	runtime.KeepAlive(ts)
	return per
}

// TestBytesPerTimer bounds the memory cost of a timer in our queue: a 48-byte
// entry plus a 24-byte slot (plus append slack) must stay under 96 bytes.
func TestBytesPerTimer(t *testing.T) {
	for _, cc := range clockCases()[:2] {
		per := bytesPerTimer(cc, liveTimers)
		t.Logf("%s: %.1f bytes/timer", cc.name, per)
		if per > 96 || per < 64 {
			t.Errorf("%s: %.1f bytes/timer, want within [64, 96]", cc.name, per)
		}
	}
}

// TestResetStopAllocs: Reset and Stop allocate nothing, on a populated queue,
// for both of our clocks.
func TestResetStopAllocs(t *testing.T) {
	for _, cc := range clockCases()[:2] {
		rng := rand.New(rand.NewSource(1))
		c := cc.new()
		ts := populate(c, 10_000, rng)
		i := 0
		n := testing.AllocsPerRun(1000, func() {
			tm := ts[i%len(ts)]
			tm.Reset(3 * time.Hour)
			tm.Reset(time.Hour)
			tm.Stop()
			tm.Reset(90 * time.Minute)
			i += 7
		})
		if n != 0 {
			t.Errorf("%s: %v allocs per Reset/Stop round", cc.name, n)
		}
		stopAll(ts)
	}
}
