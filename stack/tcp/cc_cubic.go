package tcp

import (
	"math"
	"time"
)

// CUBIC (RFC 9438): after a congestion event the window follows a cubic
// function of the time since the event, concave up to the window where the
// loss happened (W_max) and convex beyond it, independent of the RTT; a
// Reno-friendly estimate (W_est) keeps it at least as fast as Reno on short
// paths. Slow start is HyStart++ (RFC 9406, cc_hystart.go).
//
// Windows in the RFC's formulas are in segments (W_cubic, W_max, W_est,
// cwnd_epoch, C in segments/s^3); they are float64 here, and s.Cwnd /
// s.MSS converts. The math is float64 on the stack: nothing allocates.

// RFC 9438 4.1 / 4.6 / 4.7 constants.
const (
	cubicC         = 0.4 // C, segments / s^3
	cubicBeta      = 0.7 // beta_cubic
	cubicFastConv  = true
	cubicMaxGrowth = 1.5 // RFC 9438 4.2: target <= 1.5 * cwnd
)

// cubicAlpha is alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic)
// (RFC 9438 4.3).
const cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)

func init() { registerCC("cubic", func() CongestionControl { return newCubic() }) }

type cubic struct {
	hs hystart
	// The congestion avoidance state, created at the first congestion
	// event or the end of slow start: a Conn that has only sent a little
	// (most of a large server's idle ones) carries 40 bytes of CUBIC, not
	// 192 (TestUnitIdleConnHeap).
	*cubicCA
}

type cubicCA struct {
	wMax      float64   // W_max (segments): window before the last reduction, after fast convergence
	cwndPrior float64   // cwnd_prior (segments): window when ssthresh was last set (RFC 9438 4.6)
	epoch     time.Time // its start, shifted forward over app-limited time (RFC 9438 5.8)
	lastAck   time.Time // previous OnAck in congestion avoidance
	k         float64   // K (s), RFC 9438 4.2
	cwndEpoch float64   // cwnd_epoch (segments)
	wEst      float64   // W_est (segments), RFC 9438 4.3
	alpha     float64   // alpha_cubic in use (RFC 9438 4.3)
	frac      float64   // fractional bytes of growth not yet in Cwnd
	epochOn   bool      // a congestion avoidance stage is running
	afterRTO  bool      // the next stage is the first after a timeout (RFC 9438 4.8)
	rtoLoss   bool      // an RTO set the loss window and no ACK has arrived since
}

// ca returns the congestion avoidance state, creating it on first use
// (once per connection, when slow start first ends).
func (c *cubic) ca() *cubicCA {
	if c.cubicCA == nil {
		c.cubicCA = new(cubicCA)
	}
	return c.cubicCA
}

func newCubic() *cubic { return &cubic{} }

func (c *cubic) Name() string { return "cubic" }

// Init is RFC 6928 2 for IW and RFC 5681 3.1 for an "arbitrarily high"
// ssthresh; HyStart++ runs in the initial slow start (RFC 9438 4.10, RFC
// 9406). CUBIC does not pace, so HyStart++ uses L = 8 (RFC 9406 4.3).
func (c *cubic) Init(s *CCState) {
	*c = cubic{}
	s.Cwnd = initialWindow(s.MSS)
	s.Ssthresh = maxCwnd
	c.hs.start(hsNonPacedL)
}

// segs converts bytes to segments.
func segs(b uint32, mss uint32) float64 { return float64(b) / float64(mss) }

// wCubic is RFC 9438 4.1, Figure 1: W_cubic(t) = C*(t-K)^3 + W_max.
func (c *cubic) wCubic(t float64) float64 {
	d := t - c.k
	return cubicC*d*d*d + c.wMax
}

func (c *cubic) OnAck(s *CCState, rs *RateSample) {
	if rs == nil || s.MSS == 0 {
		return
	}
	if c.cubicCA != nil {
		c.rtoLoss = false
	}
	if s.InRecovery {
		// The sender's PRR owns cwnd in recovery (cc.go).
		return
	}
	if s.AppLimited {
		// RFC 9438 5.8: CUBIC does not raise cwnd while the flow is
		// application-limited, and t does not include such periods
		// (the epoch moves forward by the time spent). This is also the
		// "other measure" RFC 9438 4.6 asks of implementations that
		// compute ssthresh from cwnd rather than flight_size.
		if c.cubicCA != nil && c.epochOn {
			c.epoch = c.epoch.Add(s.Now.Sub(c.lastAck))
			c.lastAck = s.Now
		}
		return
	}
	acked := rs.AckedSacked
	if acked == 0 {
		return
	}
	if s.Cwnd < s.Ssthresh {
		// RFC 9438 4.10: slow start, HyStart++ (RFC 9406) in the
		// initial one.
		if c.hs.onAck(s, acked) {
			s.Ssthresh = s.Cwnd // RFC 9406 4.2: CSS done, ssthresh = cwnd
		}
		if s.Cwnd < s.Ssthresh {
			return
		}
		// RFC 5681 3.1: cwnd >= ssthresh, congestion avoidance from here.
		s.Cwnd = min(s.Cwnd, max(s.Ssthresh, 2*s.MSS))
		return
	}
	c.congestionAvoidance(s, acked)
}

// startEpoch begins a congestion avoidance stage (RFC 9438 4.2): t counts
// from now, cwnd_epoch = cwnd, K = cubic_root((W_max - cwnd_epoch)/C),
// W_est = cwnd_epoch (RFC 9438 4.3).
func (c *cubic) startEpoch(s *CCState) {
	c.epochOn = true
	c.epoch = s.Now
	c.lastAck = s.Now
	c.frac = 0
	c.cwndEpoch = segs(s.Cwnd, s.MSS)
	c.wEst = c.cwndEpoch
	c.alpha = cubicAlpha
	if c.afterRTO || c.wMax < c.cwndEpoch {
		// RFC 9438 4.8: the first stage after a timeout uses K = 0 and
		// W_max = the window at the stage's start. The same applies to
		// a stage with no earlier reduction (slow start ended by
		// ssthresh or HyStart++, RFC 9438 4.10) or with cwnd already
		// above W_max: the curve starts at cwnd, in its convex part.
		c.wMax = c.cwndEpoch
		c.k = 0
		c.afterRTO = false
		return
	}
	c.k = math.Cbrt((c.wMax - c.cwndEpoch) / cubicC)
}

// congestionAvoidance is RFC 9438 4.2-4.5 for one ACK of acked bytes.
func (c *cubic) congestionAvoidance(s *CCState, acked uint32) {
	if !c.ca().epochOn {
		c.startEpoch(s)
	}
	c.lastAck = s.Now
	cwnd := segs(s.Cwnd, s.MSS)
	t := s.Now.Sub(c.epoch).Seconds()

	// RFC 9438 4.3: W_est += alpha_cubic * segments_acked / cwnd; once
	// W_est >= cwnd_prior, alpha_cubic = 1.
	c.wEst += c.alpha * segs(acked, s.MSS) / cwnd
	if c.wEst >= c.cwndPrior {
		c.alpha = 1
	}

	// RFC 9438 4.3: if W_cubic(t) < W_est, CUBIC is in the Reno-friendly
	// region and cwnd SHOULD be set to W_est. (An ACK never lowers cwnd
	// here: cwnd may be above W_est when it followed W_cubic(t+RTT).)
	if c.wCubic(t) < c.wEst {
		if w := c.wEst * float64(s.MSS); w > float64(s.Cwnd) {
			s.Cwnd = uint32(min(w, maxCwnd))
		}
		c.frac = 0
		return
	}

	// RFC 9438 4.2: target = W_cubic(t + RTT), with RTT the smoothed
	// RTT, bounded to [cwnd, 1.5*cwnd].
	rtt := s.SRTT
	if rtt <= 0 {
		rtt = s.RTT
	}
	target := c.wCubic(t + rtt.Seconds())
	target = min(max(target, cwnd), cubicMaxGrowth*cwnd)

	// RFC 9438 4.4 (concave, cwnd < W_max) and 4.5 (convex, cwnd >=
	// W_max): cwnd grows by (target - cwnd) / cwnd for each segment
	// acknowledged, i.e. (target - cwnd)/cwnd * acked bytes.
	c.frac += (target - cwnd) / cwnd * float64(acked)
	if c.frac >= 1 {
		inc := math.Floor(c.frac)
		c.frac -= inc
		s.Cwnd = uint32(min(float64(s.Cwnd)+inc, maxCwnd))
	}
}

// reduce is RFC 9438 4.6 and 4.7 at a congestion event: fast convergence
// lowers W_max when the window did not reach the previous W_max, and
// ssthresh = max(cwnd * beta_cubic, 2 SMSS).
func (c *cubic) reduce(s *CCState) {
	c.ca()
	cwnd := segs(s.Cwnd, s.MSS)
	// RFC 9438 4.7: if cwnd < W_max and fast convergence is on,
	// W_max = cwnd * (1 + beta_cubic) / 2; else W_max = cwnd.
	if cubicFastConv && cwnd < c.wMax {
		c.wMax = cwnd * (1 + cubicBeta) / 2
	} else {
		c.wMax = cwnd
	}
	// RFC 9438 4.6: cwnd_prior = cwnd; ssthresh = cwnd * beta_cubic,
	// at least 2 segments. (cwnd, not flight_size: growth is frozen
	// while app-limited, see OnAck.)
	c.cwndPrior = cwnd
	s.Ssthresh = max(uint32(float64(s.Cwnd)*cubicBeta), 2*s.MSS)
	// RFC 9438 4.2: the next congestion avoidance stage starts anew.
	c.epochOn = false
}

// OnCongestionEvent is RFC 9438 4.6: the sender's PRR (RFC 6937) brings
// cwnd down to the ssthresh set here. A loss in slow start also ends
// HyStart++ (RFC 9406 4.2).
func (c *cubic) OnCongestionEvent(s *CCState) {
	c.hs.stop()
	c.reduce(s)
}

// OnRecoveryExit: the sender has set cwnd = ssthresh (RFC 6937); the
// congestion avoidance stage starts on the next ACK.
func (c *cubic) OnRecoveryExit(s *CCState) { c.ca().epochOn = false }

// OnRTO is RFC 9438 4.8: ssthresh as in 4.6 (with W_max and cwnd_prior),
// cwnd = 1 SMSS (RFC 5681 3.1, the loss window), and the first congestion
// avoidance stage afterwards uses K = 0, W_max = cwnd at its start.
// Deviation (as Linux's tcp_enter_loss): a further RTO before any ACK
// arrived (the same segment timing out again) keeps ssthresh, which would
// otherwise be computed from the 1-segment loss window.
func (c *cubic) OnRTO(s *CCState) {
	c.hs.stop()
	if !c.ca().rtoLoss {
		c.reduce(s)
	}
	c.rtoLoss = true
	c.afterRTO = true
	c.epochOn = false
	c.frac = 0
	s.Cwnd = s.MSS
}

// OnIdleRestart is RFC 5681 4.1: cwnd = min(cwnd, RW), RW = min(IW,
// cwnd); ssthresh and W_max stay. The congestion avoidance stage restarts
// when data is acknowledged again (RFC 9438 5.8: idle time is not part of
// t).
func (c *cubic) OnIdleRestart(s *CCState) {
	s.Cwnd = min(s.Cwnd, initialWindow(s.MSS))
	if c.cubicCA != nil {
		c.epochOn = false
		c.frac = 0
	}
}

// OnHandshakeLoss is RFC 5681 3.1: after a lost SYN or SYN-ACK the
// initial window is one segment.
func (c *cubic) OnHandshakeLoss(s *CCState) { s.Cwnd = s.MSS }

// PacingRate: CUBIC does not ask the sender to pace.
func (c *cubic) PacingRate(s *CCState) uint64 { return 0 }
