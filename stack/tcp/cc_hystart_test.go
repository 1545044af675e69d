package tcp

import (
	"testing"
	"time"
)

// hsSim drives a hystart the way a window-limited sender would: the
// window is kept full (SND.NXT = SND.UNA + cwnd after every ACK), each ACK
// acknowledges one segment and carries an RTT sample.
type hsSim struct {
	h hystart
	s CCState
}

func newHSSim(limitL uint32) *hsSim {
	m := &hsSim{s: CCState{MSS: ccMSS, Now: ccT0, Cwnd: initialWindow(ccMSS), Ssthresh: maxCwnd}}
	m.h.start(limitL)
	m.s.SndNxt = m.s.SndUna.Add(m.s.Cwnd)
	return m
}

// ack processes one ACK of n bytes with the given RTT sample.
func (m *hsSim) ack(n uint32, rtt time.Duration) bool {
	m.s.SndUna = m.s.SndUna.Add(n)
	m.s.RTT = rtt
	m.s.Now = m.s.Now.Add(time.Microsecond)
	exit := m.h.onAck(&m.s, n)
	m.s.SndNxt = m.s.SndUna.Add(m.s.Cwnd)
	return exit
}

// round acknowledges one segment per ACK, each with RTT sample rtt(i),
// until HyStart++'s round ends (windowEnd is acknowledged); it returns
// whether slow start ended, and stops there.
func (m *hsSim) round(rtt func(i int) time.Duration) bool {
	for i := 0; ; i++ {
		open, end := m.h.roundOpen, m.h.windowEnd
		if m.ack(ccMSS, rtt(i)) {
			return true
		}
		if open && (m.h.windowEnd != end || !m.h.active) {
			return false
		}
	}
}

func fixed(d time.Duration) func(int) time.Duration { return func(int) time.Duration { return d } }

func TestHyStartEntersCSSWhenRoundMinRTTRisesByThreshold(t *testing.T) {
	// RttThresh = max(4ms, min(100ms/8, 16ms)) = 12.5 ms (RFC 9406 4.2).
	for _, tc := range []struct {
		next    time.Duration
		wantCSS bool
	}{
		{112 * time.Millisecond, false},
		{112*time.Millisecond + 400*time.Microsecond, false},
		{112*time.Millisecond + 500*time.Microsecond, true},
		{150 * time.Millisecond, true},
	} {
		m := newHSSim(hsNonPacedL)
		m.round(fixed(100 * time.Millisecond))
		m.round(fixed(100 * time.Millisecond))
		// CSS needs N_RTT_SAMPLE = 8 samples of this round.
		for i := 0; i < 7; i++ {
			m.ack(ccMSS, tc.next)
			if m.h.inCSS {
				t.Fatalf("next round at %v: CSS after %d samples, want 8", tc.next, i+1)
			}
		}
		m.ack(ccMSS, tc.next)
		if m.h.inCSS != tc.wantCSS {
			t.Fatalf("rounds at 100ms then %v: inCSS=%v, want %v", tc.next, m.h.inCSS, tc.wantCSS)
		}
		if tc.wantCSS && m.h.cssBaselineMinRTT.dur() != tc.next {
			t.Fatalf("cssBaselineMinRtt = %v, want %v", m.h.cssBaselineMinRTT.dur(), tc.next)
		}
		// Growth: min(N, L*SMSS) in slow start, a quarter of it in CSS.
		before := m.s.Cwnd
		m.ack(ccMSS, tc.next)
		want := uint32(ccMSS)
		if tc.wantCSS {
			want = ccMSS / 4 // CSS_GROWTH_DIVISOR
		}
		if got := m.s.Cwnd - before; got != want {
			t.Fatalf("growth per 1-MSS ACK = %d, want %d (inCSS=%v)", got, want, m.h.inCSS)
		}
	}
}

func TestHyStartThresholdClampsOnShortAndLongPaths(t *testing.T) {
	for _, tc := range []struct {
		base, next time.Duration
		wantCSS    bool
	}{
		// 20 us local path: the threshold is MIN_RTT_THRESH = 4 ms.
		{20 * time.Microsecond, 1 * time.Millisecond, false},
		{20 * time.Microsecond, 4020 * time.Microsecond, true},
		// 400 ms: lastRoundMinRTT/8 = 50 ms, clamped to 16 ms.
		{400 * time.Millisecond, 415 * time.Millisecond, false},
		{400 * time.Millisecond, 416 * time.Millisecond, true},
	} {
		m := newHSSim(hsNonPacedL)
		m.round(fixed(tc.base))
		m.round(fixed(tc.next))
		if m.h.inCSS != tc.wantCSS {
			t.Errorf("round at %v then %v: inCSS=%v, want %v", tc.base, tc.next, m.h.inCSS, tc.wantCSS)
		}
	}
}

func TestHyStartIgnoresZeroRTTSamples(t *testing.T) {
	// A 0 sample (below the clock's resolution) must neither become the
	// round's minimum nor count as one of the N_RTT_SAMPLE samples.
	m := newHSSim(hsNonPacedL)
	m.round(func(i int) time.Duration {
		if i%2 == 0 {
			return 0
		}
		return time.Millisecond
	})
	if m.h.lastRoundMinRTT.dur() != time.Millisecond {
		t.Fatalf("lastRoundMinRTT = %v, want 1ms", m.h.lastRoundMinRTT.dur())
	}
	m.round(fixed(2 * time.Millisecond)) // +1 ms < 4 ms: no CSS
	if m.h.inCSS {
		t.Fatalf("entered CSS: a 0 RTT sample was taken as the previous round's minimum")
	}
	// 0 samples do not count towards N_RTT_SAMPLE: 7 of them and one
	// real sample 50 ms up are not enough to decide.
	m = newHSSim(hsNonPacedL)
	m.round(fixed(100 * time.Millisecond))
	for i := 0; i < 7; i++ {
		m.ack(ccMSS, 0)
	}
	m.ack(ccMSS, 150*time.Millisecond)
	if m.h.inCSS || m.h.rttSampleCount != 1 {
		t.Fatalf("after 7 zero samples and one real: inCSS=%v rttSampleCount=%d, want false and 1", m.h.inCSS, m.h.rttSampleCount)
	}
	// A round of only 0 samples has no minimum to compare against.
	m = newHSSim(hsNonPacedL)
	m.round(fixed(0))
	if m.h.lastRoundMinRTT != hsNoRTT {
		t.Fatalf("a round of 0 samples has minimum %v", m.h.lastRoundMinRTT.dur())
	}
	m.round(fixed(100 * time.Millisecond))
	if m.h.inCSS {
		t.Fatalf("entered CSS against a round without samples")
	}
}

func TestHyStartReturnsToSlowStartWhenRTTFalls(t *testing.T) {
	m := newHSSim(hsNonPacedL)
	m.round(fixed(100 * time.Millisecond))
	m.round(fixed(120 * time.Millisecond))
	if !m.h.inCSS {
		t.Fatalf("no CSS after the RTT rose 20 ms")
	}
	// A round whose minimum stays at the baseline keeps CSS.
	m.round(fixed(120 * time.Millisecond))
	if !m.h.inCSS {
		t.Fatalf("left CSS although the RTT stayed at the baseline")
	}
	// RFC 9406 4.2: currentRoundMinRTT < cssBaselineMinRtt after
	// N_RTT_SAMPLE samples: back to standard slow start.
	for i := 0; i < 8; i++ {
		m.ack(ccMSS, 110*time.Millisecond)
	}
	if m.h.inCSS || !m.h.active || m.h.cssBaselineMinRTT != hsNoRTT {
		t.Fatalf("after the RTT fell below the baseline: inCSS=%v active=%v baseline=%v", m.h.inCSS, m.h.active, m.h.cssBaselineMinRTT.dur())
	}
	before := m.s.Cwnd
	m.ack(ccMSS, 110*time.Millisecond)
	if m.s.Cwnd-before != ccMSS {
		t.Fatalf("growth after returning to slow start = %d, want 1 MSS", m.s.Cwnd-before)
	}
}

func TestHyStartCSSRoundsEndSlowStart(t *testing.T) {
	m := newHSSim(hsNonPacedL)
	m.round(fixed(100 * time.Millisecond))
	// CSS is entered in this round (counted as the first of CSS_ROUNDS).
	m.round(fixed(120 * time.Millisecond))
	if !m.h.inCSS {
		t.Fatalf("no CSS")
	}
	const cssRounds = 5 // CSS_ROUNDS
	for r := 2; r <= cssRounds; r++ {
		if m.round(fixed(125 * time.Millisecond)) {
			if r != cssRounds {
				t.Fatalf("slow start ended in CSS round %d, want %d", r, cssRounds)
			}
			break
		}
		if r == cssRounds {
			t.Fatalf("slow start did not end after %d CSS rounds", cssRounds)
		}
	}
	if m.h.active {
		t.Fatalf("HyStart++ still active after CSS ended slow start")
	}

	// Through CUBIC: the end of CSS sets ssthresh = cwnd and starts
	// congestion avoidance with K = 0, W_max = cwnd (RFC 9438 4.10).
	c := newCubic()
	s := &CCState{MSS: ccMSS, Now: ccT0, SRTT: 100 * time.Millisecond}
	c.Init(s)
	ended := false
	for r := 0; r < 40 && !ended; r++ {
		rtt := 100 * time.Millisecond
		if r > 0 {
			rtt = 130 * time.Millisecond
		}
		end := s.SndUna.Add(s.Cwnd)
		s.SndNxt = end
		for s.SndUna.LessThan(end) {
			s.RTT = rtt
			s.Now = s.Now.Add(time.Millisecond)
			ccAck(c, s, ccMSS)
			s.SndNxt = s.SndUna.Add(s.Cwnd)
			if s.Ssthresh != maxCwnd {
				ended = true
				break
			}
		}
	}
	if !ended || s.Ssthresh != s.Cwnd {
		t.Fatalf("CUBIC's slow start: ended=%v cwnd=%d ssthresh=%d", ended, s.Cwnd, s.Ssthresh)
	}
	ccAck(c, s, ccMSS)
	if !c.epochOn || c.k != 0 || c.wMax != float64(s.Ssthresh)/ccMSS {
		t.Fatalf("first stage after HyStart++: epoch=%v K=%v W_max=%v, want K=0 W_max=%v", c.epochOn, c.k, c.wMax, float64(s.Ssthresh)/ccMSS)
	}
}

func TestHyStartGrowthLimitL(t *testing.T) {
	// RFC 9406 4.2: an ACK of N bytes grows cwnd by min(N, L*SMSS);
	// L = 8 unpaced, infinity paced.
	m := newHSSim(hsNonPacedL)
	before := m.s.Cwnd
	m.ack(20*ccMSS, 0)
	if got := m.s.Cwnd - before; got != 8*ccMSS {
		t.Fatalf("unpaced growth for a 20-MSS ACK = %d, want 8 MSS", got)
	}
	m = newHSSim(hsInfiniteL)
	before = m.s.Cwnd
	m.ack(20*ccMSS, 0)
	if got := m.s.Cwnd - before; got != 20*ccMSS {
		t.Fatalf("paced growth for a 20-MSS ACK = %d, want 20 MSS", got)
	}
}

func TestHyStartStopsOnLoss(t *testing.T) {
	c := newCubic()
	s := &CCState{MSS: ccMSS, Now: ccT0}
	c.Init(s)
	s.Cwnd = 40 * ccMSS
	c.OnCongestionEvent(s)
	if c.hs.active || s.Ssthresh != 28*ccMSS {
		t.Fatalf("after a loss in slow start: hystart active=%v ssthresh=%d", c.hs.active, s.Ssthresh)
	}
}

// trainSim is an hsSim past the first round on a path with min RTT and
// SRTT rtt and a window of segs segments: the next ACK opens a round.
func trainSim(segs uint32, rtt time.Duration) *hsSim {
	m := newHSSim(hsNonPacedL)
	m.s.MinRTT, m.s.SRTT = rtt, rtt
	m.s.Cwnd = segs * ccMSS
	m.s.SndNxt = m.s.SndUna.Add(m.s.Cwnd)
	return m
}

// trainAcks acknowledges one segment every gap(i), each with an RTT
// sample of the min RTT (no rise), until slow start ends or the round does; it returns
// the time from the round's first ACK at which slow start ended, or -1.
func (m *hsSim) trainAcks(gap func(i int) time.Duration) time.Duration {
	m.ack(ccMSS, m.s.MinRTT) // opens the round
	start, end := m.s.Now, m.h.windowEnd
	for i := 0; m.h.windowEnd == end; i++ {
		m.s.Now = m.s.Now.Add(gap(i) - time.Microsecond) // ack adds 1 us
		if m.ack(ccMSS, m.s.MinRTT) {
			return m.s.Now.Sub(start)
		}
	}
	return -1
}

// Linux's ACK-train detection (tcp_cubic.c HYSTART_ACK_TRAIN, a deliberate
// addition to RFC 9406): ACKs at most 2 ms apart for longer than half of
// min RTT + min(1 ms, 4 * 64 KiB / (2 * cwnd / SRTT)) since the round
// began end slow start, with no RTT rise at all.
func TestHyStartACKTrainEndsSlowStart(t *testing.T) {
	m := trainSim(100, 20*time.Millisecond)
	// 2 * 144800 B / 20 ms = 14.5 MB/s: 4 * 64 KiB at that rate is 18 ms,
	// so the ACK delay allowance is 1 ms and the threshold 10.5 ms.
	got := m.trainAcks(func(int) time.Duration { return 200 * time.Microsecond })
	if got <= 10500*time.Microsecond || got > 10700*time.Microsecond {
		t.Fatalf("slow start ended %v into the ACK train, want at the first ACK past 10.5 ms", got)
	}
	if m.h.active || m.h.inCSS {
		t.Fatalf("HyStart still active after the ACK train ended slow start: %+v", m.h)
	}
}

// A gap of more than 2 ms breaks the train for the rest of the round
// (Linux compares each ACK with the train's last one, which a gap leaves
// behind), and below 16 segments of cwnd the train is not watched.
func TestHyStartACKTrainBrokenOrSmallWindow(t *testing.T) {
	m := trainSim(100, 20*time.Millisecond)
	gap := func(i int) time.Duration {
		if i == 10 {
			return 2100 * time.Microsecond
		}
		return 200 * time.Microsecond
	}
	if got := m.trainAcks(gap); got != -1 {
		t.Fatalf("slow start ended %v into a round whose ACK train broke after 2 ms", got)
	}
	// min RTT 1 ms: the threshold is (1 ms + 1 ms) / 2; a round of 4
	// segments (cwnd 8 at its end) acknowledged 400 us apart spans 1.2 ms.
	m = trainSim(4, time.Millisecond)
	if got := m.trainAcks(func(int) time.Duration { return 400 * time.Microsecond }); got != -1 {
		t.Fatalf("slow start ended %v into a round with a window below 16 segments", got)
	}
}
