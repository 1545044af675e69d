package tcp

import (
	"math"
	"testing"
	"time"
)

// A max_bw a few percent above the path's bandwidth (the highest of many
// jittery delivery-rate samples) makes CRUISE pace faster than the path
// delivers. At the start of each round CRUISE checks IsTimeToCruise again
// and goes back to DOWN when the queue has come back, keeping the cycle's
// schedule (resumeProbeBWDown): the queue stays within a few percent of
// the BDP instead of growing to the cwnd (2 BDP).
func TestBBRCruiseDrainsTheQueueOfAnOverestimate(t *testing.T) {
	const bw, rtt = 10e6, 10 * time.Millisecond
	bdp := bw * rtt.Seconds()
	m := toCruise(t, bw, rtt)
	m.round() // the round DOWN began ends: the filter's cycle advances
	stamp, wait, cycle := m.b.cycleStamp, m.b.bwProbeWait, m.b.cycleCount
	// The filter holds a sample 3 % above the path.
	for i := range m.b.maxBwSlot {
		m.b.maxBwSlot[i] = 1.03 * bw
	}
	downs := 0
	maxQueue := 0.0
	for r := 0; r < 40; r++ {
		st := m.b.state
		m.round()
		if m.b.state != bbrProbeBWCruise && m.b.state != bbrProbeBWDown {
			t.Fatalf("round %d: %v, want CRUISE or DOWN (no probe yet)", r, m.b.state)
		}
		if st == bbrProbeBWCruise && m.b.state == bbrProbeBWDown {
			downs++
			m.wantPacing(0.9)
		}
		if r >= 5 {
			maxQueue = max(maxQueue, float64(m.seen)-bdp)
		}
	}
	if downs == 0 {
		t.Fatalf("CRUISE never went back to DOWN")
	}
	if maxQueue > 0.1*bdp {
		t.Fatalf("queue up to %.0f bytes (%.0f %% of the BDP), want at most 10 %%", maxQueue, 100*maxQueue/bdp)
	}
	if m.b.cycleStamp != stamp || m.b.bwProbeWait != wait || m.b.cycleCount != cycle {
		t.Fatalf("going back to DOWN restarted the cycle: stamp %v wait %v cycle %d, want %v %v %d",
			m.b.cycleStamp, m.b.bwProbeWait, m.b.cycleCount, stamp, wait, cycle)
	}
	if m.b.maxBw != 1.03*bw {
		t.Fatalf("max_bw %.0f, want the filter's %.0f (only the cycle's end ages it)", m.b.maxBw, 1.03*bw)
	}
}

// A max_bw 15 % above the path: DOWN's pacing (0.9 of it) is still above
// the path and the queue DOWN should drain does not shrink. After one
// such round DOWN bounds bw_shortterm by the delivery rate of the round
// (checkDownDrains), once, and drains; max_bw itself stays until the
// filter ages it, and REFILL lifts the bound.
func TestBBRDownThatCannotDrainBoundsBw(t *testing.T) {
	const bw, rtt = 10e6, 10 * time.Millisecond
	bdp := bw * rtt.Seconds()
	m := toCruise(t, bw, rtt)
	m.round()
	for i := range m.b.maxBwSlot {
		m.b.maxBwSlot[i] = 1.15 * bw
	}
	// CRUISE at 0.99 * 1.15 fills the queue, then goes back to DOWN.
	m.untilState(bbrProbeBWDown, 10)
	rounds := m.untilState(bbrProbeBWCruise, 10)
	if m.b.bwShortterm > 1.02*bw || m.b.bw != m.b.bwShortterm {
		t.Fatalf("after DOWN (%d rounds): bw_shortterm %.0f bw %.0f, want the path's %.0f", rounds, m.b.bwShortterm, m.b.bw, bw)
	}
	if m.b.maxBw != 1.15*bw {
		t.Fatalf("max_bw %.0f, want the filter's %.0f", m.b.maxBw, 1.15*bw)
	}
	maxQueue := 0.0
	for r := 0; r < 30 && m.b.state != bbrProbeBWRefill; r++ {
		m.round()
		maxQueue = max(maxQueue, float64(m.seen)-bdp)
	}
	// DOWN leaves at inflight <= BDP(max_bw) = 1.15 BDP; CRUISE paces at
	// 0.99 of the path from there.
	if maxQueue > 0.2*bdp {
		t.Fatalf("queue up to %.0f bytes (%.0f %% of the BDP), want at most 20 %%", maxQueue, 100*maxQueue/bdp)
	}
	m.untilState(bbrProbeBWRefill, 100)
	if !math.IsInf(m.b.bwShortterm, 1) {
		t.Fatalf("REFILL kept bw_shortterm %.0f", m.b.bwShortterm)
	}
}
