package timers

import (
	"testing"
	"time"
)

const ms = time.Millisecond

// msf converts fractional milliseconds to a Duration exactly (the tables use
// values like 62.5 ms that the RFC's formulas produce).
func msf(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }

type rtoStep struct {
	op     string // "sample", "backoff", "reset"
	r      time.Duration
	srtt   time.Duration
	rttvar time.Duration
	rto    time.Duration
}

func runRTOTable(t *testing.T, cfg RTOConfig, steps []rtoStep) {
	t.Helper()
	e := NewRTOEstimator(cfg)
	for i, s := range steps {
		switch s.op {
		case "sample":
			e.Sample(s.r)
		case "backoff":
			e.Backoff()
		case "reset":
			e.ResetBackoff()
		case "init":
		default:
			t.Fatalf("bad op %q", s.op)
		}
		if e.SRTT() != s.srtt || e.RTTVar() != s.rttvar || e.RTO() != s.rto {
			t.Fatalf("step %d (%s %v): srtt=%v rttvar=%v rto=%v, want %v %v %v",
				i, s.op, s.r, e.SRTT(), e.RTTVar(), e.RTO(), s.srtt, s.rttvar, s.rto)
		}
	}
}

func TestRTODefaults(t *testing.T) {
	e := NewRTOEstimator(RTOConfig{})
	if got := e.Config(); got != DefaultRTOConfig() {
		t.Fatalf("zero config = %+v, want defaults %+v", got, DefaultRTOConfig())
	}
	c := DefaultRTOConfig()
	if c.Initial != time.Second || c.Min != 200*ms || c.Max != 60*time.Second {
		t.Fatalf("defaults %+v", c)
	}
	// RFC 6298 2.1: before any sample RTO is 1 s.
	if e.RTO() != time.Second || e.HasSample() {
		t.Fatalf("initial RTO %v sampled %v", e.RTO(), e.HasSample())
	}
}

// TestRTOFormulas follows RFC 6298 2.2 and 2.3 by hand:
//
//	first:  SRTT = R, RTTVAR = R/2
//	then:   RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|, SRTT = 7/8 SRTT + 1/8 R'
//	        RTO = SRTT + max(G, 4 RTTVAR), then clamped to [Min, Max].
func TestRTOFormulas(t *testing.T) {
	runRTOTable(t, RTOConfig{}, []rtoStep{
		{op: "init", rto: time.Second},
		// 2.2: SRTT 100, RTTVAR 50, RTO 100 + 4*50 = 300.
		{op: "sample", r: 100 * ms, srtt: 100 * ms, rttvar: 50 * ms, rto: 300 * ms},
		// 2.3: RTTVAR = .75*50 + .25*|100-200| = 62.5; SRTT = .875*100 + .125*200 = 112.5;
		// RTO = 112.5 + 250 = 362.5.
		{op: "sample", r: 200 * ms, srtt: msf(112.5), rttvar: msf(62.5), rto: msf(362.5)},
		// RTTVAR = .75*62.5 + .25*12.5 = 50; SRTT = .875*112.5 + 12.5 = 110.9375; RTO = 310.9375.
		{op: "sample", r: 100 * ms, srtt: msf(110.9375), rttvar: 50 * ms, rto: msf(310.9375)},
		// RTTVAR uses the old SRTT: .75*50 + .25*|110.9375-30| = 37.5 + 20.234375 = 57.734375;
		// SRTT = .875*110.9375 + 3.75 = 100.8203125; RTO = 100.8203125 + 230.9375 = 331.7578125.
		{op: "sample", r: 30 * ms, srtt: msf(100.8203125), rttvar: msf(57.734375), rto: msf(331.7578125)},
	})
}

func TestRTOGranularity(t *testing.T) {
	// RFC 6298 2.2: RTO = SRTT + max(G, K*RTTVAR). With G = 100 ms and a
	// 10 ms sample K*RTTVAR = 20 ms < G.
	runRTOTable(t, RTOConfig{Min: ms, Granularity: 100 * ms}, []rtoStep{
		{op: "sample", r: 10 * ms, srtt: 10 * ms, rttvar: 5 * ms, rto: 110 * ms},
		// Identical samples shrink RTTVAR: .75*5 + 0 = 3.75; RTO = 10 + max(100, 15) = 110.
		{op: "sample", r: 10 * ms, srtt: 10 * ms, rttvar: msf(3.75), rto: 110 * ms},
	})
	// With G = 1 ms, K*RTTVAR wins.
	runRTOTable(t, RTOConfig{Min: ms, Granularity: ms}, []rtoStep{
		{op: "sample", r: 10 * ms, srtt: 10 * ms, rttvar: 5 * ms, rto: 30 * ms},
	})
}

func TestRTOMinMax(t *testing.T) {
	// 2.4: below the minimum, rounded up (our default 200 ms, Linux's).
	runRTOTable(t, RTOConfig{}, []rtoStep{
		{op: "sample", r: ms, srtt: ms, rttvar: msf(0.5), rto: 200 * ms},
	})
	// RFC 6298's own minimum of 1 s, configured.
	runRTOTable(t, RTOConfig{Min: time.Second}, []rtoStep{
		{op: "sample", r: 100 * ms, srtt: 100 * ms, rttvar: 50 * ms, rto: time.Second},
	})
	// 2.5: above the maximum (default 60 s): 50 + 4*25 = 150 s -> 60 s.
	runRTOTable(t, RTOConfig{}, []rtoStep{
		{op: "sample", r: 50 * time.Second, srtt: 50 * time.Second, rttvar: 25 * time.Second, rto: 60 * time.Second},
	})
	runRTOTable(t, RTOConfig{Max: 120 * time.Second}, []rtoStep{
		{op: "sample", r: 50 * time.Second, srtt: 50 * time.Second, rttvar: 25 * time.Second, rto: 120 * time.Second},
	})
	// Initial outside the bounds is clamped too.
	if e := NewRTOEstimator(RTOConfig{Initial: ms}); e.RTO() != 200*ms {
		t.Fatalf("Initial 1 ms: RTO %v", e.RTO())
	}
	if e := NewRTOEstimator(RTOConfig{Min: 2 * time.Second, Max: time.Second}); e.RTO() != 2*time.Second || e.Config().Max != 2*time.Second {
		t.Fatalf("Max < Min: RTO %v cfg %+v", e.RTO(), e.Config())
	}
}

func TestRTOBackoff(t *testing.T) {
	// RFC 6298 5.5: RTO <- RTO * 2 on each expiry, capped by 2.5's maximum;
	// ResetBackoff returns to the estimate.
	runRTOTable(t, RTOConfig{}, []rtoStep{
		{op: "sample", r: 100 * ms, srtt: 100 * ms, rttvar: 50 * ms, rto: 300 * ms},
		{op: "backoff", srtt: 100 * ms, rttvar: 50 * ms, rto: 600 * ms},
		{op: "backoff", srtt: 100 * ms, rttvar: 50 * ms, rto: 1200 * ms},
		{op: "backoff", srtt: 100 * ms, rttvar: 50 * ms, rto: 2400 * ms},
		{op: "backoff", srtt: 100 * ms, rttvar: 50 * ms, rto: 4800 * ms},
		{op: "backoff", srtt: 100 * ms, rttvar: 50 * ms, rto: 9600 * ms},
		{op: "backoff", srtt: 100 * ms, rttvar: 50 * ms, rto: 19200 * ms},
		{op: "backoff", srtt: 100 * ms, rttvar: 50 * ms, rto: 38400 * ms},
		{op: "backoff", srtt: 100 * ms, rttvar: 50 * ms, rto: 60 * time.Second},
		{op: "backoff", srtt: 100 * ms, rttvar: 50 * ms, rto: 60 * time.Second},
		{op: "reset", srtt: 100 * ms, rttvar: 50 * ms, rto: 300 * ms},
	})
	// From the initial 1 s: 2, 4, ... 32, then 60.
	e := NewRTOEstimator(RTOConfig{})
	want := []time.Duration{2, 4, 8, 16, 32, 60, 60}
	for i, w := range want {
		e.Backoff()
		if e.RTO() != w*time.Second {
			t.Fatalf("backoff %d: RTO %v, want %v", i+1, e.RTO(), w*time.Second)
		}
		if e.Backoffs() != i+1 {
			t.Fatalf("Backoffs = %d after %d calls", e.Backoffs(), i+1)
		}
	}
	// The count keeps going at the cap (give-up thresholds count timeouts).
	for i := 0; i < 100; i++ {
		e.Backoff()
	}
	if e.Backoffs() != 107 || e.RTO() != 60*time.Second {
		t.Fatalf("Backoffs %d RTO %v", e.Backoffs(), e.RTO())
	}
	e.ResetBackoff()
	if e.Backoffs() != 0 || e.RTO() != time.Second {
		t.Fatalf("after reset: Backoffs %d RTO %v", e.Backoffs(), e.RTO())
	}
	// A sample does not reset the backoff by itself (Karn: the caller decides).
	e.Backoff()
	e.Sample(100 * ms)
	if e.RTO() != 600*ms {
		t.Fatalf("sample during backoff: RTO %v, want 600ms", e.RTO())
	}
}

func TestRTOExtremeInputs(t *testing.T) {
	// Huge Max must not overflow the doubling.
	e := NewRTOEstimator(RTOConfig{Max: time.Duration(1<<63 - 1)})
	for i := 0; i < 80; i++ {
		e.Backoff()
		if e.RTO() <= 0 {
			t.Fatalf("RTO overflowed to %v after %d backoffs", e.RTO(), i+1)
		}
	}
	if e.RTO() != time.Duration(1<<63-1) {
		t.Fatalf("RTO %v, want the cap", e.RTO())
	}
	// Bogus samples (e.g. from a forged timestamp echo) stay sane.
	e = NewRTOEstimator(RTOConfig{})
	e.Sample(time.Duration(1<<62) * 1)
	e.Sample(time.Duration(1<<62) * 1)
	if e.SRTT() != MaxRTTSample || e.RTO() != 60*time.Second {
		t.Fatalf("huge samples: srtt %v rto %v", e.SRTT(), e.RTO())
	}
	e = NewRTOEstimator(RTOConfig{})
	e.Sample(-time.Second)
	if e.SRTT() != 0 || e.RTO() != 200*ms {
		t.Fatalf("negative sample: srtt %v rto %v", e.SRTT(), e.RTO())
	}
}

func TestRTOAllocs(t *testing.T) {
	e := NewRTOEstimator(RTOConfig{})
	if n := testing.AllocsPerRun(100, func() {
		e.Sample(100 * ms)
		e.Backoff()
		_ = e.RTO()
		e.ResetBackoff()
	}); n != 0 {
		t.Fatalf("allocs %v", n)
	}
}

// LimitBackoff lowers the number of doublings, never raises it; the RTO
// follows.
func TestRTOLimitBackoff(t *testing.T) {
	e := NewRTOEstimator(RTOConfig{})
	e.Sample(100 * time.Millisecond)
	base := e.RTO()
	for range 5 {
		e.Backoff()
	}
	e.LimitBackoff(2)
	if e.Backoffs() != 2 || e.RTO() != 4*base {
		t.Fatalf("after LimitBackoff(2): %d backoffs, RTO %v, want 2 and %v", e.Backoffs(), e.RTO(), 4*base)
	}
	e.LimitBackoff(3)
	if e.Backoffs() != 2 {
		t.Fatalf("LimitBackoff(3) raised the backoff to %d", e.Backoffs())
	}
	e.LimitBackoff(0)
	if e.Backoffs() != 0 || e.RTO() != base {
		t.Fatalf("after LimitBackoff(0): %d backoffs, RTO %v, want 0 and %v", e.Backoffs(), e.RTO(), base)
	}
}
