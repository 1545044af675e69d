package tcp

import (
	"math"
	"testing"
	"time"
)

func TestBBRStartupExitsAfterThreeRoundsWithoutGrowth(t *testing.T) {
	// Rates set per round; 2 MB in flight, above the BDP, so that Drain
	// lasts.
	m := newBBRSim(t, 1e9, 10*time.Millisecond)
	m.fixed, m.unpaced = 2e6, true
	// Growing rounds: each at least 25 % above the baseline.
	for _, rate := range []float64{20e6, 40e6, 50e6, 80e6} {
		m.rate = rate
		m.round()
		if m.b.state != bbrStartup || !near(m.b.fullBw, rate) || m.b.fullBwCount != 0 {
			t.Fatalf("round at %.0f B/s: state %v full_bw %.0f count %d", rate, m.b.state, m.b.fullBw, m.b.fullBwCount)
		}
		if !near(m.b.maxBw, rate) {
			t.Fatalf("max_bw %.0f, want %.0f", m.b.maxBw, rate)
		}
		m.wantPacing(2.77)
	}
	// Three rounds below 1.25 * 80e6 end Startup: 99e6 is +24 %.
	for i, rate := range []float64{90e6, 99e6, 95e6} {
		m.rate = rate
		m.round()
		if i < 2 && (m.b.state != bbrStartup || m.b.fullBwCount != i+1) {
			t.Fatalf("after %d rounds without growth: %v count %d", i+1, m.b.state, m.b.fullBwCount)
		}
	}
	if !m.b.fullBwReached || m.b.fullBwCount != 3 || len(m.visited) < 2 || m.visited[1] != bbrDrain {
		t.Fatalf("after 3 rounds without 25%% growth: full_bw_reached %v count %d states %v", m.b.fullBwReached, m.b.fullBwCount, m.visited)
	}
	if !near(m.b.maxBw, 99e6) {
		t.Fatalf("max_bw %.0f, want the filter's max 99e6", m.b.maxBw)
	}

	// Exactly +25 % restarts the count.
	m = newBBRSim(t, 1e9, 10*time.Millisecond)
	for _, rate := range []float64{80e6, 80e6, 100e6, 100e6, 100e6} {
		m.rate = rate
		m.round()
	}
	if m.b.state != bbrStartup || m.b.fullBwCount != 2 {
		t.Fatalf("after +25%%: state %v count %d, want Startup and 2", m.b.state, m.b.fullBwCount)
	}
	// App-limited rounds do not count, nor ACKs without a rate sample.
	m.appLimited = true
	for i := 0; i < 5; i++ {
		m.round()
	}
	m.appLimited = false
	for i := 0; i < 5; i++ {
		for m.b.state == bbrStartup && !m.b.roundStart {
			m.ack()
		}
		rs := m.rs
		rs.Interval, rs.PriorDelivered, rs.IsAppLimited = 0, m.s.Delivered, false
		m.s.Delivered += ccMSS
		m.b.OnAck(&m.s, &rs)
	}
	if m.b.state != bbrStartup || m.b.fullBwCount != 2 {
		t.Fatalf("app-limited rounds or invalid samples ended Startup: %v count %d", m.b.state, m.b.fullBwCount)
	}
}

func TestBBRStartupOnPathThenDrainUntilInflightAtBDP(t *testing.T) {
	const bw, rtt = 10e6, 10 * time.Millisecond
	bdp := bw * rtt.Seconds() // 100 kB, above the offload budget
	m := newBBRSim(t, bw, rtt)
	m.untilState(bbrDrain, 30)
	if !near(m.b.maxBw, bw) || m.b.minRTT != rtt {
		t.Fatalf("Startup measured max_bw %.0f min_rtt %v, want %.0f and %v", m.b.maxBw, m.b.minRTT, bw, rtt)
	}
	if got := m.b.inflight(&m.s, m.b.bw, 1.0); !near(got, bdp) {
		t.Fatalf("Inflight(1.0) = %.0f, want BDP %.0f", got, bdp)
	}
	m.wantPacing(0.5)
	// In Drain while inflight > BDP; ProbeBW on the ACK that brings it
	// to the BDP (DOWN, then CRUISE at once: the queue is drained).
	for m.b.state == bbrDrain {
		m.ack()
		if m.b.state == bbrDrain && float64(m.seen) <= bdp {
			t.Fatalf("still in Drain with inflight %d <= BDP", m.seen)
		}
		if m.b.state != bbrDrain && float64(m.seen) > bdp {
			t.Fatalf("left Drain with inflight %d > BDP", m.seen)
		}
	}
	if want := []bbrState{bbrStartup, bbrDrain, bbrProbeBWCruise}; !sameStates(m.visited, want) {
		t.Fatalf("states %v, want %v", m.visited, want)
	}
	m.wantPacing(1)

	// Drain also ends after 3 rounds, whatever the inflight.
	m = newBBRSim(t, bw, rtt)
	m.untilState(bbrDrain, 30)
	start := m.b.drainStartRound
	m.fixed = uint32(3 * bdp)
	m.unpaced = true
	m.untilState(bbrProbeBWDown, 10)
	if m.b.roundCount != start+4 {
		t.Fatalf("Drain ended at round %d, want drain_start_round+4 = %d", m.b.roundCount, start+4)
	}
	m.wantPacing(0.9)
}

func TestBBRProbeBWCycle(t *testing.T) {
	const bw, rtt = 10e6, 10 * time.Millisecond
	bdp := bw * rtt.Seconds()
	m := toCruise(t, bw, rtt)
	cycle := m.b.cycleCount
	// CRUISE until the Reno-coexistence bound: min(TargetInflight in
	// packets = 100, 63) rounds since the last probe (which starts at 0
	// or 1).
	start := m.b.roundCount
	m.untilState(bbrProbeBWRefill, 100)
	if n := m.b.roundCount - start; n < 61 || n > 64 {
		t.Fatalf("REFILL after %d rounds of CRUISE, want about 63", n)
	}
	if m.b.cycleCount != cycle+1 {
		t.Fatalf("max_bw filter not advanced once after DOWN: cycle %d -> %d", cycle, m.b.cycleCount)
	}
	m.wantPacing(1)
	if !math.IsInf(m.b.bwShortterm, 1) || !math.IsInf(m.b.inflightShortterm, 1) {
		t.Fatalf("REFILL did not reset the short-term model")
	}
	// One round of REFILL, then UP: pacing 1.25, cwnd gain 2.25.
	m.untilState(bbrProbeBWUp, 1)
	if m.b.cwndGain != 2.25 || !m.b.isBwProbeSample {
		t.Fatalf("UP: cwnd_gain %v bw probe sample %v", m.b.cwndGain, m.b.isBwProbeSample)
	}
	m.wantPacing(1.25)
	// The path gives no more: UP ends after 3 rounds without growth.
	upRound := m.b.roundCount
	m.untilState(bbrProbeBWDown, 4)
	if n := m.b.roundCount - upRound; n != 3 {
		t.Fatalf("UP lasted %d rounds, want 3", n)
	}
	m.wantPacing(0.9)
	// DOWN holds while inflight is above the BDP, then CRUISE.
	for m.b.state == bbrProbeBWDown {
		m.ack()
		if m.b.state == bbrProbeBWDown && float64(m.seen) <= bdp {
			t.Fatalf("still DOWN with inflight %d <= BDP", m.seen)
		}
	}
	if m.b.state != bbrProbeBWCruise || float64(m.seen) > bdp {
		t.Fatalf("left DOWN for %v with inflight %d", m.b.state, m.seen)
	}
	// cwnd = max_inflight: 2 * BDP + extra_acked, at least the
	// quantization budget.
	m.round()
	if want := m.b.quantizationBudget(&m.s, 2*m.b.bw*rtt.Seconds()+m.b.extraAcked); math.Abs(float64(m.s.Cwnd)-want) > 1 {
		t.Fatalf("cwnd in CRUISE %d, want BDP*2 + extra_acked = %.0f", m.s.Cwnd, want)
	}
}

func TestBBRProbeRTTAfterMinRTTExpiry(t *testing.T) {
	// A BDP of 6 segments: ProbeRTT's cwnd is MinPipeCwnd (4 MSS > BDP/2),
	// and holds no queue.
	const bw, rtt = 600e3, 10 * time.Millisecond
	m := toCruise(t, bw, rtt)
	last := m.b.probeRTTMinStamp
	if m.b.minRTT != rtt {
		t.Fatalf("min_rtt %v", m.b.minRTT)
	}
	// RTT samples above the minimum do not refresh it: ProbeRTT after
	// ProbeRTTInterval = 5 s.
	m.rtt = 12 * time.Millisecond
	for i := 0; i < 100000 && m.b.state != bbrProbeRTT; i++ {
		m.ack()
	}
	if m.b.state != bbrProbeRTT {
		t.Fatalf("no ProbeRTT")
	}
	if d := m.s.Now.Sub(last); d <= 5*time.Second || d > 5*time.Second+20*time.Millisecond {
		t.Fatalf("ProbeRTT %v after the last min RTT sample, want just after 5s", d)
	}
	if m.s.Cwnd != 4*ccMSS || m.b.cwndGain != 0.5 {
		t.Fatalf("ProbeRTT cwnd %d (gain %v), want MinPipeCwnd 4*MSS", m.s.Cwnd, m.b.cwndGain)
	}
	m.wantPacing(1)
	saved := m.b.priorCwnd
	// Inflight at 4 segments: stay 200 ms and one round.
	var reached time.Time
	for i := 0; i < 10000 && m.b.state == bbrProbeRTT; i++ {
		m.ack()
		if reached.IsZero() && m.s.Inflight <= 4*ccMSS {
			reached = m.s.Now
		}
	}
	if d := m.s.Now.Sub(reached); d < 200*time.Millisecond || d > 200*time.Millisecond+2*m.rtt {
		t.Fatalf("ProbeRTT lasted %v after inflight reached 4 MSS, want 200 ms and a round", d)
	}
	if m.b.state != bbrProbeBWCruise {
		t.Fatalf("after ProbeRTT: %v, want ProbeBW_CRUISE", m.b.state)
	}
	if float64(m.s.Cwnd)+1 < min(saved, m.b.maxInflight) {
		t.Fatalf("cwnd %d after ProbeRTT, want the saved %.0f (bounded by max_inflight %.0f)", m.s.Cwnd, saved, m.b.maxInflight)
	}
	// min_rtt (10 s filter) still holds the 10 ms sample, though the
	// 5 s ProbeRTT filter took 12 ms.
	if m.b.minRTT != rtt || m.b.probeRTTMinDelay != 12*time.Millisecond {
		t.Fatalf("min_rtt %v probe_rtt_min_delay %v, want 10ms and 12ms", m.b.minRTT, m.b.probeRTTMinDelay)
	}
	// After MinRTTFilterLen = 10 s the older minimum expires.
	for i := 0; i < 200000 && m.b.minRTT == rtt; i++ {
		m.ack()
	}
	if m.b.minRTT != 12*time.Millisecond {
		t.Fatalf("min_rtt %v after 10 s of 12 ms samples", m.b.minRTT)
	}
	if d := m.s.Now.Sub(last); d <= 10*time.Second || d > 10*time.Second+20*time.Millisecond {
		t.Fatalf("min_rtt expired %v after its sample, want just after 10s", d)
	}
}

func TestBBRLossAboveThresholdBoundsInflightLongterm(t *testing.T) {
	const bw, rtt = 10e6, 10 * time.Millisecond
	// Loss at an inflight of half the BDP: inflight_longterm is not cut
	// below Beta * TargetInflight.
	m := toCruise(t, bw, rtt)
	m.untilState(bbrProbeBWUp, 100)
	m.fixed = 50e3
	for m.sent[0].inflight > m.fixed {
		m.ack()
	}
	if m.b.state != bbrProbeBWUp {
		t.Fatalf("left UP: %v", m.b.state)
	}
	m.lossFrac = 0.05
	target := min(m.b.bdp, float64(m.s.Cwnd))
	m.ack()
	if want := 0.7 * target; m.b.inflightLongterm != want || want <= 50e3 {
		t.Fatalf("inflight_longterm %.0f after loss at 50 kB in flight, want 0.7 * TargetInflight %.0f = %.0f", m.b.inflightLongterm, target, want)
	}

	m = toCruise(t, bw, rtt)
	m.untilState(bbrProbeBWUp, 100)
	// 2 % exactly is not above LossThresh.
	m.lossFrac = 0.02
	m.ack()
	if m.b.state != bbrProbeBWUp || !math.IsInf(m.b.inflightLongterm, 1) {
		t.Fatalf("2%% loss: state %v inflight_longterm %v", m.b.state, m.b.inflightLongterm)
	}
	// 3 %: inflight_longterm = max(tx_in_flight, 0.7 * TargetInflight),
	// and UP ends.
	m.lossFrac = 0.03
	txInFlight := float64(m.sent[0].inflight)
	target = min(m.b.bdp, float64(m.s.Cwnd))
	m.ack()
	if want := max(txInFlight, 0.7*target); m.b.inflightLongterm != want {
		t.Fatalf("inflight_longterm %.0f, want max(tx_in_flight %.0f, 0.7*target %.0f)", m.b.inflightLongterm, txInFlight, 0.7*target)
	}
	if m.b.state != bbrProbeBWDown || !m.b.prevProbeTooHigh {
		t.Fatalf("after 3%% loss in UP: %v prev_probe_too_high %v", m.b.state, m.b.prevProbeTooHigh)
	}
	if float64(m.s.Cwnd) > m.b.inflightLongterm {
		t.Fatalf("cwnd %d above inflight_longterm %.0f in DOWN", m.s.Cwnd, m.b.inflightLongterm)
	}
	// Once per probe: more loss in DOWN does not lower it again.
	lt := m.b.inflightLongterm
	m.ack()
	if m.b.inflightLongterm != lt {
		t.Fatalf("inflight_longterm moved from %.0f to %.0f outside a probe", lt, m.b.inflightLongterm)
	}
	// In CRUISE cwnd keeps 15 % headroom below inflight_longterm.
	m.lossFrac = 0
	m.untilState(bbrProbeBWCruise, 10)
	m.ack()
	if want := 0.85 * m.b.inflightLongterm; math.Abs(float64(m.s.Cwnd)-want) > 1 {
		t.Fatalf("cwnd in CRUISE %d, want 0.85 * inflight_longterm = %.0f", m.s.Cwnd, want)
	}
}

func TestBBRLossInCruiseLowersShortTermBounds(t *testing.T) {
	const bw, rtt = 10e6, 10 * time.Millisecond
	m := toCruise(t, bw, rtt)
	maxBw := m.b.maxBw
	// A round with loss delivering at half the rate: at its end
	// bw_shortterm = max(bw_latest, Beta * max_bw) = 0.7 * max_bw.
	m.rate = 0.5 * bw
	m.lossFrac = 0.01
	m.round()
	m.lossFrac = 0
	m.round()
	if want := 0.7 * maxBw; !near(m.b.bwShortterm, want) || m.b.bw != m.b.bwShortterm {
		t.Fatalf("bw_shortterm %.0f bw %.0f, want 0.7 * max_bw = %.0f", m.b.bwShortterm, m.b.bw, want)
	}
	if m.b.state != bbrProbeBWCruise {
		t.Fatalf("state %v", m.b.state)
	}
	m.wantPacing(1)
	if math.IsInf(m.b.inflightShortterm, 1) || float64(m.s.Cwnd) > m.b.inflightShortterm {
		t.Fatalf("cwnd %d above inflight_shortterm %.0f", m.s.Cwnd, m.b.inflightShortterm)
	}
}

func TestBBRStartupExitsOnHighLoss(t *testing.T) {
	// draft 5.3.1.2: in recovery for a full round, the round's loss rate
	// above 2 % and at least 6 loss events. The samples are app-limited,
	// so the bandwidth plateau cannot end Startup (the draft's "Exiting
	// STARTUP on Loss When Application-Limited").
	for _, tc := range []struct {
		window uint32 // bytes in flight (BDP 100 kB)
		events int    // ACKs in one round marking a segment lost
		exit   bool
		fresh  bool // the losses come in the round recovery started
	}{
		{200e3, 6, false, true},
		// The segment whose ACK ends the loss round was sent after the
		// first loss was marked: its rs.lost counts the others.
		{200e3, 6, true, false},  // rs.lost 2.5 %, 6 events
		{150e3, 5, false, false}, // 2.7 %, 5 events
		{400e3, 9, false, false}, // 2 %, 9 events
		{400e3, 10, true, false}, // 2.25 %, 10 events
	} {
		m := newBBRSim(t, 1e9, 10*time.Millisecond)
		m.fixed, m.unpaced, m.rate, m.appLimited = tc.window, true, 10e6, true
		m.round()
		m.round()
		m.b.OnCongestionEvent(&m.s)
		if !tc.fresh {
			m.round() // a full round in recovery
			m.round()
		}
		for i := 0; i < 10+tc.events; i++ {
			m.markLost = i >= 10
			m.ack()
		}
		m.markLost = false
		m.round()
		m.round()
		exited := len(m.visited) > 1 && m.visited[1] == bbrDrain
		if exited != tc.exit {
			t.Fatalf("%d losses of %d kB: states %v, want Drain %v", tc.events, tc.window/1000, m.visited, tc.exit)
		}
		if tc.exit && (!m.b.fullBwReached || m.b.undoState != bbrStartup || m.b.inflightLongterm < 100e3) {
			t.Fatalf("after the loss exit: full_bw_reached %v undo_state %v inflight_longterm %.0f, want >= BDP",
				m.b.fullBwReached, m.b.undoState, m.b.inflightLongterm)
		}
	}
}

func TestBBRRecoveryAndRTOCwnd(t *testing.T) {
	var cc CongestionControl = newBBR()
	if ro, ok := cc.(RecoveryOwner); !ok || !ro.OwnsRecovery() {
		t.Fatalf("BBR does not own recovery")
	}
	if c, err := NewCongestionControl("bbr"); err != nil || c.Name() != "bbr" {
		t.Fatalf("NewCongestionControl(bbr) = %v, %v", c, err)
	}
	m := toCruise(t, 10e6, 10*time.Millisecond)
	before := m.s.Cwnd
	m.b.OnCongestionEvent(&m.s)
	m.s.Cwnd = 5 * ccMSS // whatever happened meanwhile
	m.b.OnRecoveryExit(&m.s)
	if m.s.Cwnd != before {
		t.Fatalf("cwnd after recovery %d, want the saved %d", m.s.Cwnd, before)
	}
	// RTO: cwnd = inflight + 1 SMSS, restored once everything sent
	// before the timeout is acknowledged.
	m.b.OnRTO(&m.s)
	if m.s.Cwnd != m.s.Inflight+ccMSS {
		t.Fatalf("cwnd after RTO %d, want inflight %d + MSS", m.s.Cwnd, m.s.Inflight)
	}
	for i := 0; i < 1000 && m.b.rtoRecovery; i++ {
		m.ack()
	}
	if m.b.rtoRecovery || m.s.Cwnd < before {
		t.Fatalf("after the RTO recovery: recovering %v cwnd %d, want %d", m.b.rtoRecovery, m.s.Cwnd, before)
	}
}

func TestBBRWindowedMaxFilter(t *testing.T) {
	// A max over the last 10 time units (BBR.extra_acked's filter). The
	// three-sample filter is approximate (it may drop a sample that was
	// below a later-expiring maximum), but it never reports more than
	// the true windowed maximum, never less than the newest sample, and
	// always a sample still in the window.
	var f winMax
	f.reset(0, 0)
	vals := []float64{5, 3, 9, 1, 1, 2, 8, 7, 1, 1, 1, 1, 1, 1, 1, 6, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 4, 1}
	for now, v := range vals {
		got := f.update(uint64(now), 10, v)
		want, inWindow := 0.0, false
		for t1 := max(0, now-10); t1 <= now; t1++ {
			want = max(want, vals[t1])
			inWindow = inWindow || vals[t1] == got
		}
		if got > want || got < v || !inWindow {
			t.Fatalf("t=%d: windowed max %v, true max %v, newest %v", now, got, want, v)
		}
		switch now {
		case 2, 12:
			if got != 9 {
				t.Fatalf("t=%d: max %v, want 9 (from t=2)", now, got)
			}
		case 13:
			if got != 8 {
				t.Fatalf("t=13: max %v, want 8 (9 expired)", got)
			}
		}
	}
	if f.get() != 4 {
		t.Fatalf("final max %v, want 4", f.get())
	}
}

func TestBBRProbeUpGrowsInflightLongterm(t *testing.T) {
	// After a probe that saw too much loss, the path's bandwidth
	// doubles. The next UP is precautionary (DOWN as soon as inflight
	// reaches inflight_longterm), then, with no loss, REFILL and UP
	// again at once (draft 5.3.3.5.2), where inflight_longterm grows
	// by 1, 2, 4, ... SMSS per round while cwnd-limited (5.3.3.6).
	const bw, rtt = 10e6, 10 * time.Millisecond
	m := toCruise(t, bw, rtt)
	m.untilState(bbrProbeBWUp, 100)
	m.lossFrac = 0.05
	m.ack()
	m.lossFrac = 0
	if m.b.state != bbrProbeBWDown || !m.b.prevProbeTooHigh {
		t.Fatalf("after loss in UP: %v too_high %v", m.b.state, m.b.prevProbeTooHigh)
	}
	m.bw = 2 * bw
	m.untilState(bbrProbeBWUp, 100)
	m.untilState(bbrProbeBWDown, 10)
	if !m.b.prevProbePrecautional {
		t.Fatalf("the UP after a too-high probe did not stop at inflight_longterm")
	}
	m.untilState(bbrProbeBWRefill, 3)
	m.untilState(bbrProbeBWUp, 2)
	if m.b.prevProbeTooHigh || m.b.prevProbePrecautional {
		t.Fatalf("second UP: too_high %v precautionary %v", m.b.prevProbeTooHigh, m.b.prevProbePrecautional)
	}
	var incs []float64
	prev := m.b.inflightLongterm
	for r := 0; r < 6 && m.b.state == bbrProbeBWUp; r++ {
		m.round()
		incs = append(incs, (m.b.inflightLongterm-prev)/ccMSS)
		prev = m.b.inflightLongterm
	}
	// Per round about a cwnd is acknowledged, and one SMSS per
	// probe_up_acked_per_inc = cwnd / 2^k: the increments double each
	// round once cwnd reaches inflight_longterm (not exactly: rounds and
	// slope changes do not line up).
	first := -1
	for i, inc := range incs {
		if inc > 0 && first < 0 {
			first = i
		}
		if first >= 0 && i > first && inc < incs[i-1] {
			t.Fatalf("inflight_longterm increments per round %v SMSS: not growing", incs)
		}
	}
	if first < 0 || len(incs)-first < 4 || incs[len(incs)-1] < 4*incs[first] {
		t.Fatalf("inflight_longterm increments per round %v SMSS, want doubling", incs)
	}
}
