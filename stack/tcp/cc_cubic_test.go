package tcp

import (
	"math"
	"testing"
	"time"
)

// The congestion control algorithms are driven directly here: a CCState
// and RateSample built by the test, a fake clock (ccT0 plus offsets), no
// Conn. Expected values are computed in the tests from the RFCs' formulas.

var ccT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const ccMSS = 1000

// ccAck delivers one ACK of n bytes at the state's current time.
func ccAck(cc CongestionControl, s *CCState, n uint32) {
	s.SndUna = s.SndUna.Add(n)
	s.Delivered += uint64(n)
	rs := RateSample{AckedSacked: n, PriorInFlight: s.Inflight}
	cc.OnAck(s, &rs)
}

// cubicAfterLoss returns a CUBIC whose window was wMax segments at a
// congestion event and which is now out of recovery at cwnd = ssthresh.
func cubicAfterLoss(t *testing.T, srtt time.Duration, wMax uint32) (*cubic, *CCState) {
	t.Helper()
	c := newCubic()
	s := &CCState{MSS: ccMSS, Now: ccT0, SRTT: srtt, RTT: srtt}
	c.Init(s)
	s.Cwnd = wMax * ccMSS
	c.OnCongestionEvent(s)
	if want := wMax * 7 / 10 * ccMSS; s.Ssthresh != want {
		t.Fatalf("ssthresh after a congestion event at cwnd %d MSS = %d, want 0.7*cwnd = %d", wMax, s.Ssthresh, want)
	}
	s.Cwnd = s.Ssthresh // the sender, at the end of PRR (RFC 6937)
	c.OnRecoveryExit(s)
	return c, s
}

// runAckClock acknowledges one segment at a time, each cwnd's worth spread
// over one srtt (an ACK clock), until the time reaches until; visit is
// called after every ACK with t in seconds since start.
func runAckClock(c CongestionControl, s *CCState, start time.Time, until time.Duration, visit func(t float64)) {
	for s.Now.Sub(start) < until {
		ccAck(c, s, ccMSS)
		visit(s.Now.Sub(start).Seconds())
		s.Now = s.Now.Add(time.Duration(float64(s.SRTT) * ccMSS / float64(s.Cwnd)))
	}
}

func TestCubicWindowCurveFollowsRFC9438(t *testing.T) {
	const rtt = 100 * time.Millisecond
	c, s := cubicAfterLoss(t, rtt, 1000)
	// RFC 9438 4.1-4.3, written out here: W_max = 1000 segments,
	// cwnd_epoch = 700, K = cbrt((W_max - cwnd_epoch) / C), W_est from
	// cwnd_epoch by alpha_cubic * segments_acked / cwnd.
	const wMax, cwndEpoch, C, beta = 1000.0, 700.0, 0.4, 0.7
	K := math.Cbrt((wMax - cwndEpoch) / C)
	wCubic := func(t float64) float64 { return C*math.Pow(t-K, 3) + wMax }
	alpha := 3 * (1 - beta) / (1 + beta)
	wEst := cwndEpoch

	start := s.Now
	at := map[float64]float64{}
	marks := []float64{1, 3, 5, 7, K, 10, 11, 12}
	acks := 0
	runAckClock(c, s, start, 12*time.Second+time.Millisecond, func(tt float64) {
		w := float64(s.Cwnd) / ccMSS
		wEst += alpha / w // the ACK just processed grew cwnd by <1 byte
		// cwnd follows W_cubic(t + RTT) one RTT late: between
		// W_cubic(t - RTT) and W_cubic(t + RTT) within a segment,
		// unless W_est is above (the Reno-friendly region).
		lo, hi := wCubic(tt-rtt.Seconds())-1, wCubic(tt+rtt.Seconds())+1
		if tt > rtt.Seconds() && (w < lo || w > hi) && math.Abs(w-wEst) > 1 {
			t.Fatalf("t=%.3fs: cwnd %.2f segments outside [W_cubic(t-RTT), W_cubic(t+RTT)] = [%.2f, %.2f] and not W_est %.2f", tt, w, lo, hi, wEst)
		}
		if tt > rtt.Seconds() && wEst > wCubic(tt) {
			t.Fatalf("t=%.3fs: Reno-friendly region (W_est %.2f > W_cubic %.2f); the test wants the cubic region", tt, wEst, wCubic(tt))
		}
		acks++
		for _, m := range marks {
			if _, ok := at[m]; !ok && tt >= m {
				at[m] = w
			}
		}
	})
	if math.Abs(c.k-K) > 1e-9 {
		t.Fatalf("K = %v, want cbrt((W_max-cwnd_epoch)/C) = %v", c.k, K)
	}
	if acks < 10000 {
		t.Fatalf("only %d ACKs simulated", acks)
	}
	// Against the formula at fixed times: cwnd lags W_cubic(t+RTT) by
	// about one RTT, so it is W_cubic(t) within 1.5 segments.
	for _, m := range marks {
		if want := wCubic(m); math.Abs(at[m]-want) > 1.5 {
			t.Errorf("cwnd at t=%.3fs = %.2f segments, W_cubic(t) = %.2f", m, at[m], want)
		}
	}
	// Concave below W_max (growth slows towards K), convex above it
	// (growth speeds up).
	if !(at[3]-at[1] > at[5]-at[3] && at[5]-at[3] > at[7]-at[5] && at[K] < wMax+1) {
		t.Errorf("not concave before K: cwnd(1,3,5,7s) = %.2f %.2f %.2f %.2f", at[1], at[3], at[5], at[7])
	}
	if !(at[10] > wMax && at[12]-at[11] > at[11]-at[10]) {
		t.Errorf("not convex beyond W_max: cwnd(10,11,12s) = %.2f %.2f %.2f", at[10], at[11], at[12])
	}
}

func TestCubicRenoFriendlyRegion(t *testing.T) {
	// With a 1 ms RTT W_cubic barely moves, so W_est (RFC 9438 4.3)
	// governs: alpha_cubic = 3(1-beta)/(1+beta) segments per RTT until
	// W_est reaches cwnd_prior (100), then 1 segment per RTT.
	const rtt = time.Millisecond
	c, s := cubicAfterLoss(t, rtt, 100)
	alpha := 3 * (1 - 0.7) / (1 + 0.7)
	rttsToPrior := (100 - 70) / alpha
	rounds := 0
	for rounds = 0; rounds < 100; rounds++ {
		n := int(s.Cwnd / ccMSS)
		for i := 0; i < n; i++ {
			ccAck(c, s, ccMSS)
			s.Now = s.Now.Add(rtt / time.Duration(n))
		}
		w := float64(s.Cwnd) / ccMSS
		r := float64(rounds + 1)
		want := 70 + alpha*r
		if r > rttsToPrior {
			want = 100 + (r - rttsToPrior)
		}
		if math.Abs(w-want) > 1.2 {
			t.Fatalf("after %d RTTs cwnd = %.2f segments, want W_est = %.2f", rounds+1, w, want)
		}
		if tt := s.Now.Sub(ccT0).Seconds(); c.wCubic(tt) >= c.wEst {
			t.Fatalf("after %d RTTs W_cubic(t)=%.2f >= W_est=%.2f: not in the Reno-friendly region", rounds+1, c.wCubic(tt), c.wEst)
		}
	}
}

func TestCubicFastConvergence(t *testing.T) {
	c, s := cubicAfterLoss(t, 10*time.Millisecond, 100)
	if c.wMax != 100 {
		t.Fatalf("W_max = %v after the first event at 100 segments, want 100", c.wMax)
	}
	// RFC 9438 4.7: an event below W_max releases bandwidth:
	// W_max = cwnd * (1 + beta) / 2.
	s.Cwnd = 80 * ccMSS
	c.OnCongestionEvent(s)
	if want := 80 * (1 + 0.7) / 2; math.Abs(c.wMax-want) > 1e-9 {
		t.Fatalf("W_max = %v after an event at 80 < W_max, want %v", c.wMax, want)
	}
	if s.Ssthresh != 56*ccMSS {
		t.Fatalf("ssthresh = %d, want 0.7 * 80 MSS = %d", s.Ssthresh, 56*ccMSS)
	}
	// Above W_max: W_max = cwnd.
	s.Cwnd = 90 * ccMSS
	c.OnCongestionEvent(s)
	if c.wMax != 90 {
		t.Fatalf("W_max = %v after an event at 90 > W_max, want 90", c.wMax)
	}
	// The next stage's K uses the lowered W_max.
	s.Cwnd = 50 * ccMSS
	c.OnCongestionEvent(s) // 50 < 90: W_max = 76.5
	s.Cwnd = s.Ssthresh    // 35
	c.OnRecoveryExit(s)
	ccAck(c, s, ccMSS)
	if want := math.Cbrt((50*1.7/2 - 35) / 0.4); math.Abs(c.k-want) > 1e-9 {
		t.Fatalf("K = %v, want %v", c.k, want)
	}
}

func TestCubicBetaFloorTwoSegments(t *testing.T) {
	c := newCubic()
	s := &CCState{MSS: ccMSS, Now: ccT0}
	c.Init(s)
	s.Cwnd = 2 * ccMSS
	c.OnCongestionEvent(s)
	if s.Ssthresh != 2*ccMSS {
		t.Fatalf("ssthresh = %d at cwnd 2 MSS, want the 2 MSS floor", s.Ssthresh)
	}
	s.Cwnd = 1234567
	c.OnCongestionEvent(s)
	if want := uint32(864196); s.Ssthresh != want {
		t.Fatalf("ssthresh = %d, want %d", s.Ssthresh, want)
	}
}

func TestCubicRTOLossWindowAndRestart(t *testing.T) {
	c, s := cubicAfterLoss(t, 10*time.Millisecond, 100)
	s.Cwnd = 80 * ccMSS
	c.OnRTO(s)
	if s.Cwnd != ccMSS || s.Ssthresh != 56*ccMSS {
		t.Fatalf("after RTO cwnd=%d ssthresh=%d, want 1 MSS and 0.7*80 MSS", s.Cwnd, s.Ssthresh)
	}
	// The same segment timing out again keeps ssthresh.
	c.OnRTO(s)
	if s.Cwnd != ccMSS || s.Ssthresh != 56*ccMSS {
		t.Fatalf("after a second RTO cwnd=%d ssthresh=%d, want 1 MSS and 56 MSS", s.Cwnd, s.Ssthresh)
	}
	// Slow start (without HyStart++) up to ssthresh, and not beyond.
	for i := 0; i < 200 && s.Cwnd < s.Ssthresh; i++ {
		ccAck(c, s, ccMSS)
		s.Now = s.Now.Add(time.Millisecond)
		if c.epochOn {
			t.Fatalf("congestion avoidance began at cwnd %d below ssthresh %d", s.Cwnd, s.Ssthresh)
		}
	}
	if s.Cwnd != s.Ssthresh {
		t.Fatalf("slow start ended at cwnd %d, want ssthresh %d", s.Cwnd, s.Ssthresh)
	}
	// RFC 9438 4.8: the first stage after the timeout has K = 0 and
	// W_max = cwnd at its start.
	ccAck(c, s, ccMSS)
	if !c.epochOn || c.k != 0 || c.wMax != 56 || c.wEst < 56 {
		t.Fatalf("first stage after RTO: epoch=%v K=%v W_max=%v W_est=%v, want K=0 W_max=56", c.epochOn, c.k, c.wMax, c.wEst)
	}
	// A new RTO after ACKs arrived reduces again.
	s.Cwnd = 60 * ccMSS
	c.OnRTO(s)
	if s.Ssthresh != 42*ccMSS {
		t.Fatalf("ssthresh after a new RTO = %d, want 42 MSS", s.Ssthresh)
	}
}

func TestCubicIdleHandshakeAndAppLimited(t *testing.T) {
	c, s := cubicAfterLoss(t, 10*time.Millisecond, 100)
	ccAck(c, s, ccMSS)
	before := s.Cwnd
	epoch := c.epoch
	// RFC 9438 5.8: no growth while application-limited, and the time
	// spent does not count towards t.
	s.AppLimited = true
	for i := 0; i < 100; i++ {
		s.Now = s.Now.Add(10 * time.Millisecond)
		ccAck(c, s, ccMSS)
	}
	if s.Cwnd != before {
		t.Fatalf("cwnd grew from %d to %d while app-limited", before, s.Cwnd)
	}
	if got := c.epoch.Sub(epoch); got != time.Second {
		t.Fatalf("epoch moved by %v over 1 s app-limited, want 1s", got)
	}
	s.AppLimited = false
	// RFC 5681 4.1: restart window after idle.
	s.Cwnd = 50 * ccMSS
	c.OnIdleRestart(s)
	if s.Cwnd != initialWindow(ccMSS) || s.Ssthresh != 70*ccMSS {
		t.Fatalf("after idle cwnd=%d ssthresh=%d, want IW %d and ssthresh 70 MSS", s.Cwnd, s.Ssthresh, initialWindow(ccMSS))
	}
	// RFC 5681 3.1: one segment after a lost SYN.
	c.Init(s)
	if s.Cwnd != 10*ccMSS || s.Ssthresh != maxCwnd {
		t.Fatalf("Init: cwnd=%d ssthresh=%d", s.Cwnd, s.Ssthresh)
	}
	c.OnHandshakeLoss(s)
	if s.Cwnd != ccMSS {
		t.Fatalf("after handshake loss cwnd=%d, want 1 MSS", s.Cwnd)
	}
}

func TestCubicNoGrowthInRecoveryAndRegistered(t *testing.T) {
	cc, err := NewCongestionControl("cubic")
	if err != nil || cc.Name() != "cubic" {
		t.Fatalf("NewCongestionControl(cubic) = %v, %v", cc, err)
	}
	s := &CCState{MSS: ccMSS, Now: ccT0}
	cc.Init(s)
	s.InRecovery = true
	ccAck(cc, s, ccMSS)
	if s.Cwnd != 10*ccMSS {
		t.Fatalf("cwnd changed to %d in recovery", s.Cwnd)
	}
	if cc.PacingRate(s) != 0 {
		t.Fatalf("CUBIC asks for pacing")
	}
}
