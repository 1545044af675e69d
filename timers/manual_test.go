package timers

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// recorder logs "name@offset" for each callback, with the offset read from
// the clock inside the callback.
type recorder struct {
	m   *Manual
	mu  sync.Mutex
	log []string
}

func (r *recorder) fn(name string) func() {
	return func() {
		r.mu.Lock()
		r.log = append(r.log, fmt.Sprintf("%s@%v", name, r.m.Now().Sub(t0)))
		r.mu.Unlock()
	}
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.log
	r.log = nil
	return l
}

func expectLog(t *testing.T, r *recorder, want ...string) {
	t.Helper()
	got := r.take()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fired %q, want %q", got, want)
	}
}

func TestManualOrderAndNow(t *testing.T) {
	m := NewManual(t0)
	r := &recorder{m: m}
	m.AfterFunc(30*time.Millisecond, r.fn("c"))
	m.AfterFunc(10*time.Millisecond, r.fn("a"))
	m.AfterFunc(20*time.Millisecond, r.fn("b"))
	m.AfterFunc(time.Second, r.fn("late"))
	if got := m.Pending(); got != 4 {
		t.Fatalf("Pending = %d, want 4", got)
	}
	m.Advance(9 * time.Millisecond)
	expectLog(t, r)
	if got := m.Now(); !got.Equal(t0.Add(9 * time.Millisecond)) {
		t.Fatalf("Now = %v", got)
	}
	m.Advance(21 * time.Millisecond) // to 30 ms: a, b, c inclusive
	expectLog(t, r, "a@10ms", "b@20ms", "c@30ms")
	if got := m.Now().Sub(t0); got != 30*time.Millisecond {
		t.Fatalf("Now after Advance = %v, want 30ms", got)
	}
	if got := m.Pending(); got != 1 {
		t.Fatalf("Pending = %d, want 1", got)
	}
	next, ok := m.Next()
	if !ok || !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("Next = %v %v", next, ok)
	}
	m.AdvanceTo(t0.Add(2 * time.Second))
	expectLog(t, r, "late@1s")
	if m.Pending() != 0 {
		t.Fatalf("timer left behind")
	}
	if _, ok := m.Next(); ok {
		t.Fatalf("Next reported a timer on an empty clock")
	}
}

func TestManualTiesBySchedulingOrder(t *testing.T) {
	m := NewManual(t0)
	r := &recorder{m: m}
	names := []string{"p", "q", "r", "s", "t", "u", "v", "w", "x"}
	timers := map[string]Timer{}
	for _, n := range names {
		timers[n] = m.AfterFunc(5*time.Millisecond, r.fn(n))
	}
	// Re-scheduling to the same deadline moves a timer to the back of the
	// tie, because its deadline was set last.
	timers["p"].Reset(5 * time.Millisecond)
	// Reset to a later deadline and back to the tie: also last.
	timers["r"].Reset(time.Hour)
	timers["r"].Reset(5 * time.Millisecond)
	m.Advance(5 * time.Millisecond)
	expectLog(t, r, "q@5ms", "s@5ms", "t@5ms", "u@5ms", "v@5ms", "w@5ms", "x@5ms", "p@5ms", "r@5ms")
}

func TestManualStopResetReturnValues(t *testing.T) {
	m := NewManual(t0)
	r := &recorder{m: m}
	a := m.AfterFunc(time.Second, r.fn("a"))
	if !a.Stop() {
		t.Fatal("Stop of a pending timer = false")
	}
	if a.Stop() {
		t.Fatal("second Stop = true")
	}
	if a.Reset(2 * time.Second) {
		t.Fatal("Reset of a stopped timer = true")
	}
	if !a.Reset(3 * time.Second) {
		t.Fatal("Reset of a pending timer = false")
	}
	m.Advance(2 * time.Second)
	expectLog(t, r) // the 2 s arming was replaced by 3 s
	m.Advance(time.Second)
	expectLog(t, r, "a@3s")
	if a.Stop() {
		t.Fatal("Stop after firing = true")
	}
	if a.Reset(time.Second) {
		t.Fatal("Reset after firing = true")
	}
	m.Advance(time.Second)
	expectLog(t, r, "a@4s")
	// Reset earlier than the current deadline.
	a.Reset(10 * time.Second)
	a.Reset(time.Second)
	m.Advance(time.Second)
	expectLog(t, r, "a@5s")
	if m.Pending() != 0 {
		t.Fatal("timer left behind")
	}
}

func TestManualCallbacksReschedule(t *testing.T) {
	m := NewManual(t0)
	r := &recorder{m: m}
	var tick Timer
	n := 0
	tick = m.AfterFunc(10*time.Millisecond, func() {
		r.fn("tick")()
		n++
		if n < 5 {
			if tick.Reset(10 * time.Millisecond) {
				t.Error("Reset from own callback reported pending")
			}
		}
	})
	var victim Timer
	victim = m.AfterFunc(25*time.Millisecond, r.fn("victim"))
	m.AfterFunc(15*time.Millisecond, func() {
		r.fn("killer")()
		if !victim.Stop() {
			t.Error("Stop from a callback of a pending timer = false")
		}
		// Zero-delay timer scheduled from a callback fires in this Advance,
		// at the same instant, after the callback returns.
		m.AfterFunc(0, r.fn("now"))
		// One beyond the span does not.
		m.AfterFunc(time.Second, r.fn("beyond"))
	})
	m.Advance(100 * time.Millisecond)
	expectLog(t, r, "tick@10ms", "killer@15ms", "now@15ms", "tick@20ms", "tick@30ms", "tick@40ms", "tick@50ms")
	if got := m.Now().Sub(t0); got != 100*time.Millisecond {
		t.Fatalf("Now = %v", got)
	}
	if m.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1 (beyond)", m.Pending())
	}
	if !m.Step() {
		t.Fatal("Step found nothing")
	}
	expectLog(t, r, "beyond@1.015s")
	if m.Step() {
		t.Fatal("Step on an empty clock = true")
	}
}

func TestManualZeroAndNegative(t *testing.T) {
	m := NewManual(t0)
	r := &recorder{m: m}
	m.AfterFunc(-time.Second, r.fn("neg"))
	m.AfterFunc(0, r.fn("zero"))
	m.Advance(0)
	expectLog(t, r, "neg@0s", "zero@0s")
	m.Advance(-time.Second)
	if !m.Now().Equal(t0) {
		t.Fatal("negative Advance moved the clock")
	}
	m.AfterFunc(time.Duration(1<<63-1), r.fn("never"))
	m.Advance(time.Hour)
	expectLog(t, r)
}

func TestManualSet(t *testing.T) {
	m := NewManual(t0)
	r := &recorder{m: m}
	m.AfterFunc(time.Second, r.fn("a"))
	m.Set(t0.Add(5 * time.Second))
	expectLog(t, r) // Set fires nothing
	if !m.Now().Equal(t0.Add(5 * time.Second)) {
		t.Fatal("Set did not set")
	}
	m.Advance(0)
	expectLog(t, r, "a@5s")             // overdue timer fires, Now never moves back
	m.AfterFunc(time.Second, r.fn("b")) // deadline 6 s
	m.Set(t0)
	m.Advance(5 * time.Second)
	expectLog(t, r)
	m.Advance(time.Second)
	expectLog(t, r, "b@6s")
	// AdvanceTo into the past does not move the clock back.
	m.AdvanceTo(t0)
	if !m.Now().Equal(t0.Add(6 * time.Second)) {
		t.Fatal("AdvanceTo moved the clock back")
	}
}

// TestManualMatchesModel drives many timers with random Reset/Stop calls and
// checks the firing sequence against a simple sorted-slice model.
func TestManualMatchesModel(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		m := NewManual(t0)
		type mt struct {
			pending bool
			at      time.Duration
			seq     int
		}
		const n = 200
		model := make([]mt, n)
		seq := 0
		var fired []int
		ts := make([]Timer, n)
		for i := range ts {
			i := i
			ts[i] = m.AfterFunc(time.Duration(rng.Intn(1000))*time.Millisecond, func() { fired = append(fired, i) })
			seq++
			model[i] = mt{true, ts[i].(*entry).at2(m), seq}
		}
		now := time.Duration(0)
		for step := 0; step < 50; step++ {
			for k := 0; k < 40; k++ {
				i := rng.Intn(n)
				if rng.Intn(3) == 0 {
					if got := ts[i].Stop(); got != model[i].pending {
						t.Fatalf("seed %d: Stop = %v, model %v", seed, got, model[i].pending)
					}
					model[i].pending = false
				} else {
					d := time.Duration(rng.Intn(1000)) * time.Millisecond
					if got := ts[i].Reset(d); got != model[i].pending {
						t.Fatalf("seed %d: Reset = %v, model %v", seed, got, model[i].pending)
					}
					seq++
					model[i] = mt{true, now + d, seq}
				}
			}
			adv := time.Duration(rng.Intn(100)) * time.Millisecond
			now += adv
			var want []int
			for i := range model {
				if model[i].pending && model[i].at <= now {
					want = append(want, i)
				}
			}
			sort.Slice(want, func(a, b int) bool {
				x, y := model[want[a]], model[want[b]]
				if x.at != y.at {
					return x.at < y.at
				}
				return x.seq < y.seq
			})
			for _, i := range want {
				model[i].pending = false
			}
			fired = fired[:0]
			m.Advance(adv)
			if len(fired) != len(want) || (len(want) > 0 && !reflect.DeepEqual(fired, want)) {
				t.Fatalf("seed %d step %d: fired %v, want %v", seed, step, fired, want)
			}
			live := 0
			for i := range model {
				if model[i].pending {
					live++
				}
			}
			if m.Pending() != live {
				t.Fatalf("seed %d: Pending %d, model %d", seed, m.Pending(), live)
			}
		}
	}
}

// at2 returns e's deadline as an offset on m's scale (test helper).
func (e *entry) at2(m *Manual) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Duration(e.at)
}

func TestManualConcurrent(t *testing.T) {
	m := NewManual(t0)
	var mu sync.Mutex
	fired := 0
	var extra atomic.Int32
	var wg sync.WaitGroup
	const workers, per = 4, 300
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				tm := m.AfterFunc(time.Duration(i%7)*time.Millisecond, func() {
					mu.Lock()
					fired++
					mu.Unlock()
				})
				// A Reset that finds the timer already fired re-arms it:
				// one more callback to expect.
				if i%3 == 0 && !tm.Reset(time.Duration(i%5)*time.Millisecond) {
					extra.Add(1)
				}
				_ = m.Now()
				_, _ = m.Next()
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				m.Advance(time.Millisecond)
			}
		}
	}()
	wg.Wait()
	close(done)
	m.Advance(time.Second) // flush
	mu.Lock()
	defer mu.Unlock()
	if want := workers*per + int(extra.Load()); fired != want {
		t.Fatalf("fired %d, want %d", fired, want)
	}
	if m.Pending() != 0 {
		t.Fatalf("Pending = %d", m.Pending())
	}
}

func TestNilCallback(t *testing.T) {
	m := NewManual(t0)
	m.AfterFunc(time.Millisecond, nil)
	m.Advance(time.Second) // must not panic
	c := NewReal()
	c.AfterFunc(0, nil)
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("dispatcher died on a nil callback")
	}
}
