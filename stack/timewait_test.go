package stack_test

import (
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// pump advances the manual clock in small steps (letting the stacks'
// goroutines run in between) until cond holds; bounded.
func pump(clk *timers.Manual, cond func() bool) bool {
	for i := 0; i < 2000; i++ {
		if cond() {
			return true
		}
		clk.Advance(5 * time.Millisecond)
		time.Sleep(200 * time.Microsecond)
	}
	return cond()
}

// closeActively closes c1 (A) first, then c2 (B) after reading its EOF, so
// that A ends in TIME-WAIT.
func closeActively(t *testing.T, clk *timers.Manual, c1, c2 io.ReadWriteCloser) {
	t.Helper()
	c1.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(c2)
		c2.Close()
		done <- err
	}()
	var err error
	if !pump(clk, func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	}) {
		t.Fatal("B never saw A's FIN")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestTimeWaitExpiry: on the manual clock, the active closer holds one
// TIME-WAIT record (not a connection) for exactly 2*MSL.
func TestTimeWaitExpiry(t *testing.T) {
	clk := timers.NewManual(time.Unix(1e9, 0))
	const msl = 10 * time.Second
	var (
		trMu    sync.Mutex
		expired []tcp.Transition // TIME-WAIT -> CLOSED seen by A's hook
	)
	p := newPair(t, clk, tun.FaultConfig{}, func(o *stack.Options) {
		o.MSL = msl
		o.Trace = func(tr tcp.Transition) {
			if tr.From == tcp.StateTimeWait && tr.To == tcp.StateClosed && tr.Tuple.LocalAddr == addrA {
				trMu.Lock()
				expired = append(expired, tr)
				trMu.Unlock()
			}
		}
	})
	c1, c2 := p.connect(t, 80)
	closeActively(t, clk, c1, c2)
	if !pump(clk, func() bool { return p.a.Stats().TimeWait == 1 && p.a.Stats().Conns == 0 }) {
		t.Fatalf("A: %+v", p.a.Stats())
	}
	if !pump(clk, func() bool { return p.b.Stats().Conns == 0 }) {
		t.Fatalf("B still has %d conns", p.b.Stats().Conns)
	}
	entered := clk.Now()
	if st := p.b.Stats(); st.TimeWait != 0 {
		t.Fatalf("passive closer B has %d TIME-WAIT records", st.TimeWait)
	}
	clk.AdvanceTo(entered.Add(2*msl - 2*time.Second))
	if st := p.a.Stats(); st.TimeWait != 1 {
		t.Fatalf("TIME-WAIT ended early: %+v", st)
	}
	clk.AdvanceTo(entered.Add(2 * msl))
	st := p.a.Stats()
	if st.TimeWait != 0 || st.TimeWaitExpired != 1 {
		t.Fatalf("after 2*MSL: TIME-WAIT %d, expired %d", st.TimeWait, st.TimeWaitExpired)
	}
	// The expiry is traced like any other transition, stamped with the
	// expiry time (entry, which pump saw at most a step late, plus 2*MSL).
	trMu.Lock()
	defer trMu.Unlock()
	if len(expired) != 1 || expired[0].Seg != nil ||
		expired[0].Time.After(entered.Add(2*msl)) || !expired[0].Time.After(entered.Add(2*msl-2*time.Second)) {
		t.Fatalf("trace of the expiry: %+v, want one TIME-WAIT -> CLOSED within (%v, %v]", expired,
			entered.Add(2*msl-2*time.Second), entered.Add(2*msl))
	}
}

// TestTimeWaitBound: the TIME-WAIT table never exceeds MaxTimeWait; the
// oldest record is dropped and counted.
func TestTimeWaitBound(t *testing.T) {
	clk := timers.NewManual(time.Unix(1e9, 0))
	p := newPair(t, clk, tun.FaultConfig{}, func(o *stack.Options) { o.MaxTimeWait = 2 })
	for i := 0; i < 5; i++ {
		c1, c2 := p.connect(t, 80)
		closeActively(t, clk, c1, c2)
		want := uint64(min(i+1, 2))
		if !pump(clk, func() bool { return p.a.Stats().TimeWait == want && p.a.Stats().Conns == 0 }) {
			t.Fatalf("round %d: %+v", i, p.a.Stats())
		}
	}
	if st := p.a.Stats(); st.TimeWait != 2 || st.TimeWaitDropped != 3 {
		t.Fatalf("TIME-WAIT %d dropped %d; want 2, 3", st.TimeWait, st.TimeWaitDropped)
	}
}
