package tcp

import (
	"math"
	"time"
)

// HyStart++ (RFC 9406): slow start that leaves early, into Conservative
// Slow Start (CSS), when the round trip time rises, instead of doubling the
// window until the bottleneck queue overflows. It is a helper embedded by
// the loss-based algorithms (cubic, and newreno if it wants it); the
// algorithm calls onAck for every ACK while cwnd < ssthresh and ends slow
// start (ssthresh = cwnd) when onAck says so. Beside RFC 9406's RTT
// check it ends slow start on Linux's ACK train (ackTrain, a deliberate
// deviation), which sees a full pipe a round earlier.

// RFC 9406 4.3, the recommended constants.
const (
	hsMinRTTThresh  = 4 * time.Millisecond
	hsMaxRTTThresh  = 16 * time.Millisecond
	hsMinRTTDivisor = 8
	hsNRTTSample    = 8
	hsCSSGrowthDiv  = 4
	hsCSSRounds     = 5
	hsNonPacedL     = 8       // L for a sender that does not pace
	hsInfiniteL     = 0       // L = infinity (a paced sender)
	hsNoRTT         = usec(0) // "infinity": no sample yet
)

// Linux's ACK-train detection (tcp_cubic.c, HYSTART_ACK_TRAIN), a
// deliberate addition to RFC 9406: its constants.
const (
	hsTrainLowWindow = 16                   // hystart_low_window: segments of cwnd before it applies
	hsTrainAckDelta  = 2 * time.Millisecond // hystart_ack_delta_us: ACKs closer than this form a train
	hsTrainGSOMax    = 64 << 10             // sk_gso_max_size in hystart_ack_delay
	hsTrainMaxDelay  = time.Millisecond     // hystart_ack_delay's bound
	hsTrainSSRatio   = 2                    // tcp_pacing_ss_ratio 200 %: Linux's pacing rate in slow start
)

// maxCwnd bounds every algorithm's window (bytes), far from uint32 overflow.
const maxCwnd = 1 << 30

// hystart is RFC 9406 4.2's state. The zero value is inactive; start
// arms it for the initial slow start.
type hystart struct {
	// Laid out small (32 bytes, RTTs and times in microseconds): every Conn that
	// has sent data carries one in its cubic state (TestUnitIdleConnHeap).
	windowEnd Seq // SND.NXT when the current round started

	lastRoundMinRTT    usec // hsNoRTT = infinity
	currentRoundMinRTT usec // hsNoRTT = infinity
	cssBaselineMinRTT  usec
	roundStartUs       usec  // the round's start and its train's last ACK, on a
	lastAckUs          usec  // wrapping microsecond clock (as Linux's u32 usec stamps)
	rttSampleCount     uint8 // saturates

	// limitL is L (RFC 9406 4.2): an ACK grows cwnd by at most L*SMSS;
	// hsInfiniteL for no limit. RFC 9406 4.3: "A paced TCP implementation
	// SHOULD use L = infinity", a non-paced one L = 8.
	limitL uint8

	cssRounds uint8
	active    bool // in the initial slow start (standard or CSS)
	roundOpen bool // windowEnd is valid
	inCSS     bool
}

// usec is an RTT in microseconds (0: none, "infinity" for the minima).
type usec uint32

// toUsec rounds d up to whole microseconds (a positive sample stays
// one), saturating.
func toUsec(d time.Duration) usec {
	return usec(min((d+time.Microsecond-1)/time.Microsecond, math.MaxUint32))
}

func (u usec) dur() time.Duration { return time.Duration(u) * time.Microsecond }

// start arms HyStart++ for the initial slow start (RFC 9406 4.2). A slow
// start after an RTO or idle period runs without it: the ssthresh the loss
// set already bounds that one.
func (h *hystart) start(limitL uint32) {
	*h = hystart{limitL: uint8(limitL), active: true}
}

// stop ends HyStart++ (RFC 9406 4.2: loss or ECN-CE in standard slow
// start or CSS ends slow start; the algorithm's loss response sets
// ssthresh).
func (h *hystart) stop() { h.active = false; h.inCSS = false }

// growth is RFC 9406 4.2's per-ACK increase for N newly acknowledged
// bytes: min(N, L*SMSS) in standard slow start, divided by
// CSS_GROWTH_DIVISOR in CSS. Also used for slow start without HyStart++
// (then with the divisor off).
func (h *hystart) growth(acked, mss uint32) uint32 {
	inc := acked
	if h.limitL != hsInfiniteL {
		inc = min(inc, uint32(h.limitL)*mss)
	}
	if h.active && h.inCSS {
		inc /= hsCSSGrowthDiv
	}
	return inc
}

// onAck runs RFC 9406 4.2 for one ACK in slow start: it grows s.Cwnd,
// tracks the round's minimum RTT, enters and leaves CSS, and reports true
// when slow start must end now (CSS_ROUNDS rounds of CSS completed); the
// caller then sets ssthresh = cwnd.
func (h *hystart) onAck(s *CCState, acked uint32) (exitSlowStart bool) {
	// RFC 9406 4.2: cwnd = cwnd + min(N, L*SMSS) in standard slow start;
	// cwnd = cwnd + (min(N, L*SMSS) / CSS_GROWTH_DIVISOR) in CSS.
	s.Cwnd = min(s.Cwnd+h.growth(acked, s.MSS), maxCwnd)
	if !h.active {
		return false
	}
	if !h.roundOpen {
		h.newRound(s)
	} else if h.ackTrain(s) {
		h.stop()
		return true
	}
	h.sample(s.RTT)
	// RFC 9406 4.2: the round ends when the ACK for windowEnd (SND.NXT
	// at the round's start) arrives; that ACK's sample was the round's
	// last.
	if s.SndUna.LessThan(h.windowEnd) {
		return false
	}
	if h.inCSS {
		// RFC 9406 4.2: "If CSS_ROUNDS rounds are complete, enter
		// congestion avoidance by setting the ssthresh to the current
		// cwnd." The round in which CSS was entered counts as the first.
		h.cssRounds++
		if h.cssRounds >= hsCSSRounds {
			h.stop()
			return true
		}
	}
	h.newRound(s)
	return false
}

// newRound is RFC 9406 4.2 at the start of each round:
// lastRoundMinRTT = currentRoundMinRTT, currentRoundMinRTT = infinity,
// rttSampleCount = 0, windowEnd = SND.NXT.
func (h *hystart) newRound(s *CCState) {
	h.roundOpen = true
	h.windowEnd = s.SndNxt
	h.lastRoundMinRTT = h.currentRoundMinRTT
	h.currentRoundMinRTT = hsNoRTT
	h.rttSampleCount = 0
	h.roundStartUs = usClock(s.Now)
	h.lastAckUs = h.roundStartUs
}

// usClock is a wrapping microsecond clock: differences of two readings
// less than 71 minutes apart are right modulo 2^32.
func usClock(t time.Time) usec { return usec(t.UnixMicro()) }

// ackTrain is Linux's HyStart ACK-train detection (tcp_cubic.c
// hystart_update, HYSTART_ACK_TRAIN), a deliberate deviation from RFC
// 9406, which only watches the RTT: ACKs arriving closely spaced (at most
// hsTrainAckDelta apart) since the round started, for longer than half
// the minimum RTT (plus Linux's allowance for ACK delay), mean the
// previous round's data keeps the bottleneck busy for half a round trip:
// the window is about a bandwidth-delay product, and slow start ends now.
// RFC 9406's RTT check sees the queue only in the first samples of the
// round after the one that built it, when an unpaced slow start has
// already doubled the window again (at 20 ms RTT and a 50 ms queue it
// overflowed the queue: 160 drops, 38 ms mean queue wait, in netsim).
func (h *hystart) ackTrain(s *CCState) bool {
	if s.Cwnd < hsTrainLowWindow*s.MSS || s.MinRTT <= 0 {
		return false
	}
	now := usClock(s.Now)
	if time.Duration(now-h.lastAckUs)*time.Microsecond > hsTrainAckDelta {
		return false
	}
	h.lastAckUs = now
	// hystart_ack_delay: min(1 ms, 4 * gso_max_size / pacing rate), the
	// pacing rate 2 * cwnd / srtt in slow start (tcp_update_pacing_rate).
	delay := hsTrainMaxDelay
	if s.SRTT > 0 {
		rate := hsTrainSSRatio * float64(s.Cwnd) / s.SRTT.Seconds()
		delay = min(delay, time.Duration(4*hsTrainGSOMax/rate*float64(time.Second)))
	}
	threshold := (s.MinRTT + delay) / 2 // not paced: threshold >>= 1
	return time.Duration(now-h.roundStartUs)*time.Microsecond > threshold
}

// sample takes one RTT sample: RFC 9406 4.2, currentRoundMinRTT =
// min(currentRoundMinRTT, currRTT), rttSampleCount += 1, then the checks
// for entering (standard slow start) or leaving (CSS) CSS. An ACK without
// a sample, or a 0 one (below the clock's resolution on a local path), is
// not a sample.
func (h *hystart) sample(rtt time.Duration) {
	if rtt <= 0 {
		return
	}
	if r := toUsec(rtt); h.currentRoundMinRTT == hsNoRTT || r < h.currentRoundMinRTT {
		h.currentRoundMinRTT = r
	}
	if h.rttSampleCount < math.MaxUint8 {
		h.rttSampleCount++
	}
	if h.rttSampleCount < hsNRTTSample {
		return
	}
	if !h.inCSS {
		// RFC 9406 4.2: for rounds with at least N_RTT_SAMPLE samples
		// and both minima valid: RttThresh = max(MIN_RTT_THRESH,
		// min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH)); if
		// currentRoundMinRTT >= lastRoundMinRTT + RttThresh, set
		// cssBaselineMinRtt = currentRoundMinRTT and enter CSS.
		if h.lastRoundMinRTT == hsNoRTT {
			return
		}
		last := h.lastRoundMinRTT.dur()
		thresh := max(hsMinRTTThresh, min(last/hsMinRTTDivisor, hsMaxRTTThresh))
		if h.currentRoundMinRTT.dur() >= last+thresh {
			h.cssBaselineMinRTT = h.currentRoundMinRTT
			h.inCSS = true
			h.cssRounds = 0
		}
		return
	}
	// RFC 9406 4.2, in CSS: if currentRoundMinRTT < cssBaselineMinRtt
	// (after N_RTT_SAMPLE samples), the rise was spurious: set
	// cssBaselineMinRtt = infinity and resume standard slow start.
	if h.currentRoundMinRTT < h.cssBaselineMinRTT {
		h.cssBaselineMinRTT = hsNoRTT
		h.inCSS = false
		h.cssRounds = 0
	}
}
