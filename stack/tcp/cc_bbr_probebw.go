package tcp

import (
	"math"
	"time"
)

// BBR's ProbeBW state machine (draft-ietf-ccwg-bbr 5.3.3): DOWN (pacing
// gain 0.9) until the queue is drained, CRUISE (1.0) until it is time to
// probe (back to DOWN if the queue returns, resumeProbeBWDown), REFILL (1.0) for one round, UP (1.25, cwnd gain 2.25) until the
// bandwidth plateaus or loss exceeds LossThresh; then DOWN again. The
// gains per state are the table of draft 5.6.1.

func (b *bbr) isInProbeBW() bool {
	return b.state >= bbrProbeBWDown && b.state <= bbrProbeBWUp
}

// isProbingBw is draft 5.3.3.6 IsProbingBW.
func (b *bbr) isProbingBw() bool {
	return b.state == bbrStartup || b.state == bbrProbeBWRefill || b.state == bbrProbeBWUp
}

// enterProbeBW is draft 5.3.3.6 EnterProbeBW.
func (b *bbr) enterProbeBW(s *CCState) {
	b.cwndGain = bbrDefaultCwndGain
	b.startProbeBWDown(s)
}

// startProbeBWDown is draft 5.3.3.6 StartProbeBW_DOWN.
func (b *bbr) startProbeBWDown(s *CCState) {
	b.resetCongestionSignals()
	b.probeUpAckedPerInc = bbrInf
	b.pickProbeWait()
	b.cycleStamp = s.Now
	b.ackPhase = acksProbeStopping
	b.startRound(s)
	b.state = bbrProbeBWDown
	b.pacingGain = bbrDownPacingGain
	b.cwndGain = bbrDefaultCwndGain
	b.downInflight, b.downBounded = 0, false
}

// startProbeBWCruise is draft 5.3.3.6 StartProbeBW_CRUISE.
func (b *bbr) startProbeBWCruise() {
	b.state = bbrProbeBWCruise
	b.pacingGain = 1
	b.cwndGain = bbrDefaultCwndGain
}

// startProbeBWRefill is draft 5.3.3.6 StartProbeBW_REFILL.
func (b *bbr) startProbeBWRefill(s *CCState) {
	b.resetShortTermModel()
	b.bwProbeUpRounds = 0
	b.bwProbeUpAcked = 0
	b.prevProbePrecautional = false
	b.ackPhase = acksRefilling
	b.startRound(s)
	b.state = bbrProbeBWRefill
	b.pacingGain = 1
	b.cwndGain = bbrDefaultCwndGain
}

// startProbeBWUp is draft 5.3.3.6 StartProbeBW_UP.
func (b *bbr) startProbeBWUp(s *CCState, rate float64) {
	b.ackPhase = acksProbeStarting
	b.startRound(s)
	b.resetFullBw()
	b.fullBw = rate
	b.state = bbrProbeBWUp
	b.pacingGain = bbrUpPacingGain
	b.cwndGain = bbrUpCwndGain
	b.raiseInflightLongtermSlope(s)
}

// updateProbeBWCyclePhase is draft 5.3.3.6 UpdateProbeBWCyclePhase.
func (b *bbr) updateProbeBWCyclePhase(s *CCState, rs *RateSample, rate float64, appLimited bool) {
	if !b.fullBwReached {
		return
	}
	if b.adaptLongTermModel(s, rs, appLimited) {
		return
	}
	switch b.state {
	case bbrProbeBWDown:
		if b.isTimeToProbeBW(s) {
			return
		}
		if b.isTimeToCruise(s) {
			b.startProbeBWCruise()
		} else if b.roundStart {
			b.checkDownDrains(s)
		}
	case bbrProbeBWCruise:
		if b.isTimeToProbeBW(s) {
			return
		}
		if b.roundStart && !b.isLossInRound && math.IsInf(b.bwShortterm, 1) && !b.isTimeToCruise(s) {
			b.resumeProbeBWDown()
		}
	case bbrProbeBWRefill:
		// After one round of REFILL, start UP.
		if b.roundStart {
			b.isBwProbeSample = true
			b.startProbeBWUp(s, rate)
		}
	case bbrProbeBWUp:
		if b.isTimeToGoDown(s, rs, rate) {
			b.prevProbeTooHigh = false
			b.startProbeBWDown(s)
		}
	}
}

// resumeProbeBWDown goes back from CRUISE to DOWN, keeping the cycle
// (cycle_stamp, bw_probe_wait, the max_bw filter's slot) as it is: at the
// start of a round in CRUISE, if IsTimeToCruise no longer holds (inflight
// above the BDP of max_bw, or above the headroom), the queue DOWN drained
// has come back, so CRUISE is pacing faster than the path delivers. A
// deliberate deviation from draft 5.3.3.6, where CRUISE lasts until
// IsTimeToProbeBW: that assumes max_bw is the path's bandwidth, and the
// max filter (5.5.4) keeps the highest sample of two cycles. On a host
// whose ACKs arrive with ~1 ms of timing jitter, the highest of thousands
// of delivery-rate samples is 1-3 % above the bottleneck (netsim: 2 %
// with 1 ms uniform ACK jitter at 100 Mbit/s, 20 ms), more than the 1 %
// pacing margin (5.6.2), and two or three seconds of CRUISE at that rate
// filled the queue up to cwnd (2 BDP): 10.5 ms mean queue wait against
// 1.6 ms without jitter (TestSimBBRJitterQueue). DOWN's pacing gain
// drains it again, as the cycle's own DOWN did. Only while the short-term
// model is unset and the loss round has seen no loss: after a loss
// bw_shortterm bounds BBR.bw by what the path delivered (5.5.10.3), the
// draft's own correction.
func (b *bbr) resumeProbeBWDown() {
	b.state = bbrProbeBWDown
	b.pacingGain = bbrDownPacingGain
	b.cwndGain = bbrDefaultCwndGain
	b.downInflight, b.downBounded = 0, false
}

// checkDownDrains runs at each round start in DOWN: if inflight did not
// fall over a whole round at DOWN's pacing gain (0.9), the path delivers
// less than 0.9 * max_bw and the queue cannot drain before the next probe
// (2-3 s): the filter holds a sample 11 % or more above the path. Then,
// once per DOWN, bw_shortterm takes the delivery rate of the round just
// ended (bw_latest), so BBR.bw (5.5.10.3 BoundBWForModel) is what the
// path delivered and DOWN drains. A deliberate deviation from draft
// 5.3.3.6, where only loss lowers bw_shortterm: on the emulated WAN path
// (100 Mbit/s, 20 ms) single delivery-rate samples in Startup and
// ProbeBW_UP read 9-16 % above the path (send and ACK intervals both
// short: data or ACKs bunched after a late wake-up of the emulator or an
// endpoint), and DOWN held a full cwnd (2 BDP) in the queue until the
// next probe. Once per DOWN, not every round: while another
// flow keeps the queue full, a bound taken every round would ratchet
// down by DOWN's own gain. Only while no loss has set bw_shortterm (the
// draft's bound then applies, and on lossy paths the delivery rate of one
// round is below what the path can do: netsim lost 2-3 % of BBR's goodput
// at 10 ms, 1 %). REFILL resets it (ResetShortTermModel).
func (b *bbr) checkDownDrains(s *CCState) {
	inflight := float64(s.Inflight)
	prev := b.downInflight
	b.downInflight = inflight
	if prev == 0 || inflight < prev || b.downBounded || b.isLossInRound || !math.IsInf(b.bwShortterm, 1) || b.bwLatest <= 0 {
		return
	}
	b.downBounded = true
	b.bwShortterm = b.bwLatest
}

// isTimeToCruise is draft 5.3.3.6 IsTimeToCruise: inflight within the
// headroom and at most one BDP (of max_bw).
func (b *bbr) isTimeToCruise(s *CCState) bool {
	inflight := float64(s.Inflight)
	return inflight <= b.inflightWithHeadroom(s) && inflight <= b.inflight(s, b.maxBw, 1.0)
}

// isTimeToGoDown is draft 5.3.3.6 IsTimeToGoDown. "C.inflight reaches
// inflight_longterm" is judged on the inflight before this ACK
// (rs.PriorInFlight, as Linux does): after it, inflight is short of cwnd
// by what the ACK just delivered.
func (b *bbr) isTimeToGoDown(s *CCState, rs *RateSample, rate float64) bool {
	// Precautionary bandwidth probing: deceleration (5.3.3.5.2).
	if b.prevProbeTooHigh && float64(max(s.Inflight, rs.PriorInFlight)) >= b.inflightLongterm {
		b.prevProbePrecautional = true
		return true
	}
	if b.isCwndLimited && float64(s.Cwnd) >= b.inflightLongterm {
		// bw is limited by inflight_longterm: keep looking.
		b.resetFullBw()
		b.fullBw = rate
	} else if b.fullBwNow {
		return true
	}
	return false
}

// isTimeToProbeBW is draft 5.3.3.6 IsTimeToProbeBW: after bw_probe_wait
// (2-3 s) or the Reno-coexistence number of rounds, go to REFILL.
func (b *bbr) isTimeToProbeBW(s *CCState) bool {
	if s.Now.After(b.cycleStamp.Add(b.bwProbeWait)) || b.isRenoCoexistenceProbeTime(s) {
		b.startProbeBWRefill(s)
		return true
	}
	return false
}

// pickProbeWait is draft 5.3.3.6 PickProbeWait: rounds_since_probe_up
// starts at 0 or 1, the wall-clock wait is 2 s plus up to 1 s.
func (b *bbr) pickProbeWait() {
	b.roundsSinceProbeUp = b.rng.Uint64() & 1
	b.bwProbeWait = 2*time.Second + time.Duration(b.randFloat()*float64(time.Second))
}

// isRenoCoexistenceProbeTime is draft 5.3.3.6: probe at least every
// min(TargetInflight in packets, 63) rounds.
func (b *bbr) isRenoCoexistenceProbeTime(s *CCState) bool {
	renoRounds := b.targetInflight(s) / float64(s.MSS)
	return float64(b.roundsSinceProbeUp) >= min(renoRounds, 63)
}

// raiseInflightLongtermSlope is draft 5.3.3.6: inflight_longterm grows by
// 1, 2, 4, ... SMSS per round in UP.
func (b *bbr) raiseInflightLongtermSlope(s *CCState) {
	growth := float64(uint64(1) << b.bwProbeUpRounds)
	b.bwProbeUpRounds = min(b.bwProbeUpRounds+1, 30)
	b.probeUpAckedPerInc = max(float64(s.Cwnd)/growth, float64(s.MSS))
}

// probeInflightLongtermUpward is draft 5.3.3.6.
func (b *bbr) probeInflightLongtermUpward(s *CCState, rs *RateSample) {
	if !b.isCwndLimited || float64(s.Cwnd) < b.inflightLongterm {
		return // not fully using inflight_longterm, so don't grow it
	}
	b.bwProbeUpAcked += float64(rs.AckedSacked)
	if b.bwProbeUpAcked >= b.probeUpAckedPerInc {
		delta := math.Floor(b.bwProbeUpAcked / b.probeUpAckedPerInc)
		b.bwProbeUpAcked -= delta * b.probeUpAckedPerInc
		b.inflightLongterm += delta * float64(s.MSS)
	}
	if b.roundStart {
		b.raiseInflightLongtermSlope(s)
	}
}

// adaptLongTermModel is draft 5.3.3.6 AdaptLongTermModel, with the
// reaction to too much loss (5.5.10.2 HandleInflightTooHigh) checked on
// every ACK's sample while the samples come from a bandwidth probe (the
// draft checks each lost packet; the interface reports loss per ACK). It
// reports whether it decided a state transition.
func (b *bbr) adaptLongTermModel(s *CCState, rs *RateSample, appLimited bool) bool {
	if b.ackPhase == acksProbeStarting && b.roundStart {
		b.ackPhase = acksProbeFeedback // starting to get bw probing samples
	}
	if b.ackPhase == acksProbeStopping && b.roundStart {
		// End of samples from the bw probing phase.
		b.isBwProbeSample = false
		b.ackPhase = acksInit
		if b.isInProbeBW() && !appLimited {
			b.advanceMaxBwFilter()
		}
		// Precautionary bandwidth probing: acceleration (5.3.3.5.2).
		if b.isInProbeBW() && b.prevProbePrecautional && !b.prevProbeTooHigh {
			b.startProbeBWRefill(s)
			return true
		}
	}
	if b.isInflightTooHigh(s, rs) {
		if b.isBwProbeSample {
			return b.handleInflightTooHigh(s, rs, appLimited)
		}
		return false
	}
	// The loss rate is safe: adjust the upper bounds upward.
	if math.IsInf(b.inflightLongterm, 1) {
		return false
	}
	if float64(rs.TxInFlight) > b.inflightLongterm {
		b.inflightLongterm = float64(rs.TxInFlight)
	}
	if b.state == bbrProbeBWUp {
		b.probeInflightLongtermUpward(s, rs)
	}
	return false
}

// handleInflightTooHigh is draft 5.5.10.2 HandleInflightTooHigh: remember
// the inflight that caused too much loss (at least Beta of the target)
// as inflight_longterm, once per probe, and stop probing.
func (b *bbr) handleInflightTooHigh(s *CCState, rs *RateSample, appLimited bool) bool {
	b.prevProbeTooHigh = true
	b.isBwProbeSample = false // only react once per bw probe
	if !appLimited {
		b.inflightLongterm = max(float64(rs.TxInFlight), b.targetInflight(s)*bbrBeta)
	}
	if b.state == bbrProbeBWUp {
		b.undoState = bbrProbeBWUp
		b.startProbeBWDown(s)
		return true
	}
	return false
}
