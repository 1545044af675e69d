package tcp

import (
	"math"
	"time"
)

// BBR's network path model (draft-ietf-ccwg-bbr 5.5): round counting,
// BBR.max_bw, BBR.min_rtt (with ProbeRTT, 5.3.4), BBR.extra_acked, the
// loss-driven bounds, and the Startup/Drain exit checks.

// winMax is a windowed running maximum over a virtual time (Kathleen
// Nichols' algorithm, as the draft suggests for UpdateWindowedMaxFilter):
// the best, second best and third best samples of successively later
// sub-windows, so that the maximum of the last `win` time units is known
// without keeping every sample.
type winMax struct {
	s [3]winSample
}

type winSample struct {
	t uint64
	v float64
}

func (f *winMax) reset(t uint64, v float64) { f.s = [3]winSample{{t, v}, {t, v}, {t, v}} }

func (f *winMax) get() float64 { return f.s[0].v }

// update adds sample v at time t (non-decreasing) and returns the maximum
// over the window [t-win, t].
func (f *winMax) update(t, win uint64, v float64) float64 {
	n := winSample{t, v}
	if v >= f.s[0].v || t-f.s[2].t > win {
		// A new maximum, or nothing in the window is still valid.
		f.reset(t, v)
		return v
	}
	if v >= f.s[1].v {
		f.s[1], f.s[2] = n, n
	} else if v >= f.s[2].v {
		f.s[2] = n
	}
	// Age the sub-windows: the best sample left the window, so the
	// second (then third) best takes its place; or a sub-window quarter
	// / half passed without a new candidate, so the newest sample
	// becomes one.
	age := t - f.s[0].t
	switch {
	case age > win:
		f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], n
		if t-f.s[0].t > win {
			f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], n
		}
	case f.s[1].t == f.s[0].t && age > win/4:
		f.s[1], f.s[2] = n, n
	case f.s[2].t == f.s[1].t && age > win/2:
		f.s[2] = n
	}
	return f.s[0].v
}

// updateRound is draft 5.5.1 UpdateRound: a packet-timed round ends when
// a packet sent after the round's start (P.delivered >=
// next_round_delivered) is acknowledged.
func (b *bbr) updateRound(s *CCState, rs *RateSample) {
	if rs.PriorDelivered >= b.nextRoundDelivered {
		b.startRound(s)
		b.roundCount++
		b.roundsSinceProbeUp++
		b.roundStart = true
		// C.is_cwnd_limited covers the current and the last round.
		b.isCwndLimited = b.cwndLimitedRound
		b.cwndLimitedRound = false
	} else {
		b.roundStart = false
	}
}

// startRound is draft 5.5.1 StartRound.
func (b *bbr) startRound(s *CCState) { b.nextRoundDelivered = s.Delivered }

// updateMaxBw is draft 5.5.4: app-limited samples count only when they
// raise the estimate. The filter keeps one slot per ProbeBW cycle
// (MaxBwFilterLen = 2 cycles; cycle_count needs one bit, 5.5.5).
func (b *bbr) updateMaxBw(s *CCState, rs *RateSample, rate float64, appLimited bool) {
	b.updateRound(s, rs)
	if rate > 0 && (rate >= b.maxBw || !appLimited) {
		slot := &b.maxBwSlot[b.cycleCount&1]
		*slot = max(*slot, rate)
		b.maxBw = max(b.maxBwSlot[0], b.maxBwSlot[1])
	}
}

// advanceMaxBwFilter is draft 5.5.5 AdvanceMaxBwFilter: a new cycle's
// slot starts empty, the previous cycle's stays.
func (b *bbr) advanceMaxBwFilter() {
	b.cycleCount++
	b.maxBwSlot[b.cycleCount&1] = 0
	b.maxBw = max(b.maxBwSlot[0], b.maxBwSlot[1])
}

// updateLatestDeliverySignals is draft 5.5.10.3 (near the start of ACK
// processing): the one-round maxima of delivery rate and volume, and the
// loss round.
func (b *bbr) updateLatestDeliverySignals(s *CCState, rs *RateSample, rate float64) {
	b.lossRoundStart = false
	b.bwLatest = max(b.bwLatest, rate)
	b.inflightLatest = max(b.inflightLatest, float64(rs.Delivered))
	if rs.PriorDelivered >= b.lossRoundDelivered {
		b.lossRoundDelivered = s.Delivered
		b.lossRoundStart = true
	}
}

// advanceLatestDeliverySignals is draft 5.5.10.3 (near the end of ACK
// processing).
func (b *bbr) advanceLatestDeliverySignals(rs *RateSample, rate float64) {
	if b.lossRoundStart {
		b.bwLatest = rate
		b.inflightLatest = float64(rs.Delivered)
	}
}

// resetCongestionSignals is draft 5.5.10.3.
func (b *bbr) resetCongestionSignals() {
	b.isLossInRound = false
	b.lossEventsInRound = 0
	b.bwLatest = 0
	b.inflightLatest = 0
}

// updateCongestionSignals is draft 5.5.10.3: the max_bw filter on every
// ACK, the short-term bounds once per loss round.
func (b *bbr) updateCongestionSignals(s *CCState, rs *RateSample, rate float64, appLimited bool) {
	b.updateMaxBw(s, rs, rate, appLimited)
	if !b.lossRoundStart {
		return
	}
	b.checkStartupHighLoss(s, rs)
	// AdaptLowerBoundsFromCongestion: not while probing for bandwidth.
	if !b.isProbingBw() && b.isLossInRound {
		// InitLowerBounds, then LossLowerBounds.
		if math.IsInf(b.bwShortterm, 1) {
			b.bwShortterm = b.maxBw
		}
		if math.IsInf(b.inflightShortterm, 1) {
			b.inflightShortterm = float64(s.Cwnd)
		}
		b.bwShortterm = max(b.bwLatest, bbrBeta*b.bwShortterm)
		b.inflightShortterm = max(b.inflightLatest, bbrBeta*b.inflightShortterm)
	}
	b.isLossInRound = false
	b.lossEventsInRound = 0
}

// noteLoss is draft 5.5.10.2 NoteLoss, for an ACK that marked data lost
// (the draft runs it per lost packet). The first loss of a round starts a
// loss round and saves the state for an undo.
func (b *bbr) noteLoss(s *CCState) {
	if !b.isLossInRound {
		b.lossRoundDelivered = s.Delivered
		b.saveStateUponLoss(s)
	}
	b.isLossInRound = true
	b.lossEventsInRound++
}

// saveStateUponLoss is draft 5.5.11.1.
func (b *bbr) saveStateUponLoss(s *CCState) {
	b.saveCwnd(s)
	b.undoState = bbrNone
	b.undoBwShortterm = b.bwShortterm
	b.undoInflightShortterm = b.inflightShortterm
	b.undoInflightLongterm = b.inflightLongterm
}

// resetShortTermModel is draft 5.5.10.3 ResetShortTermModel.
func (b *bbr) resetShortTermModel() {
	b.bwShortterm = bbrInf
	b.inflightShortterm = bbrInf
}

// boundBwForModel is draft 5.5.10.3: BBR.bw = min(max_bw, bw_shortterm).
func (b *bbr) boundBwForModel() { b.bw = min(b.maxBw, b.bwShortterm) }

// isInflightTooHigh is draft 5.5.10.2: the loss rate of the round this
// sample covers exceeds LossThresh (or any loss without SACK).
func (b *bbr) isInflightTooHigh(s *CCState, rs *RateSample) bool {
	return float64(rs.Lost) > float64(rs.TxInFlight)*bbrLossThresh || (rs.Lost > 0 && s.NoSACK)
}

// updateACKAggregation is draft 5.5.9: the excess of data acknowledged
// over bw * interval, max-filtered over ExtraAckedFilterLen rounds (1 in
// Startup).
func (b *bbr) updateACKAggregation(s *CCState, rs *RateSample) {
	interval := s.Now.Sub(b.extraAckedTime).Seconds()
	expected := b.bw * interval
	if b.extraAckedDlv <= expected {
		b.extraAckedDlv = 0
		b.extraAckedTime = s.Now
		expected = 0
	}
	b.extraAckedDlv += float64(rs.AckedSacked)
	extra := min(b.extraAckedDlv-expected, float64(s.Cwnd))
	win := uint64(1)
	if b.fullBwReached {
		win = bbrExtraAckedFiltLen
	}
	b.extraAcked = b.extraAckedFilt.update(b.roundCount, win, extra)
}

// resetFullBw is draft 5.3.1.1 ResetFullBW.
func (b *bbr) resetFullBw() {
	b.fullBw = 0
	b.fullBwCount = 0
	b.fullBwNow = false
}

// checkFullBwReached is draft 5.3.1.1: three non-app-limited rounds
// without 25 % growth of the delivery rate mean the pipe is full. An ACK
// without a valid rate sample (rs.interval 0) is not a sample.
func (b *bbr) checkFullBwReached(rate float64, appLimited bool) {
	if b.fullBwNow || !b.roundStart || appLimited || rate <= 0 {
		return
	}
	if rate >= b.fullBw*bbrFullBWThresh {
		b.resetFullBw()
		b.fullBw = rate
		return
	}
	b.fullBwCount++
	b.fullBwNow = b.fullBwCount >= bbrFullBWCount
	if b.fullBwNow {
		b.fullBwReached = true
	}
}

// checkStartupHighLoss is draft 5.3.1.2, run at the end of each loss
// round: in fast recovery for a full round, the round's loss rate above
// LossThresh, and at least StartupFullLossCnt loss events (ACKs marking
// new losses stand in for "discontiguous lost sequence ranges"); without
// SACK any loss in recovery.
func (b *bbr) checkStartupHighLoss(s *CCState, rs *RateSample) {
	if b.state != bbrStartup || !b.inRecovery || !b.isLossInRound {
		return
	}
	high := s.NoSACK ||
		(b.roundCount > b.recoveryRound+1 && b.isInflightTooHigh(s, rs) && b.lossEventsInRound >= bbrStartupFullLossCnt)
	if !high {
		return
	}
	b.undoState = bbrStartup
	b.fullBwReached = true
	b.fullBwNow = true
	b.inflightLongterm = max(b.bdp, b.inflightLatest)
}

// checkStartupDone is draft 5.3.1.
func (b *bbr) checkStartupDone() {
	if b.state == bbrStartup && b.fullBwReached {
		b.enterDrain()
	}
}

// checkDrainDone is draft 5.3.2: the queue is drained when inflight is at
// most one BDP, or after 3 rounds in Drain.
func (b *bbr) checkDrainDone(s *CCState) {
	if b.state == bbrDrain &&
		(float64(s.Inflight) <= b.inflight(s, b.bw, 1.0) || b.roundCount > b.drainStartRound+3) {
		b.enterProbeBW(s)
	}
}

// bdpMultiple is draft 5.6.4.2 BDPMultiple(bw, gain); it also refreshes
// BBR.bdp. Without an RTT sample it is C.InitialCwnd.
func (b *bbr) bdpMultiple(bw, gain float64) float64 {
	if b.minRTT <= 0 {
		return b.initialCwnd
	}
	b.bdp = bw * b.minRTT.Seconds()
	return gain * b.bdp
}

// quantizationBudget is draft 5.6.4.2 QuantizationBudget, with the TCP
// offload budget of 5.5.8 (3 send quanta).
func (b *bbr) quantizationBudget(s *CCState, cap float64) float64 {
	b.offloadBudget = 3 * b.sendQuantum
	cap = max(cap, b.offloadBudget, bbrMinPipeSegs*float64(s.MSS))
	if b.state == bbrProbeBWUp {
		cap += 2 * float64(s.MSS)
	}
	return cap
}

// inflight is draft 5.6.4.2 Inflight(bw, gain).
func (b *bbr) inflight(s *CCState, bw, gain float64) float64 {
	return b.quantizationBudget(s, b.bdpMultiple(bw, gain))
}

// updateMaxInflight is draft 5.6.4.2.
func (b *bbr) updateMaxInflight(s *CCState) {
	b.maxInflight = b.quantizationBudget(s, b.bdpMultiple(b.bw, b.cwndGain)+b.extraAcked)
}

// targetInflight is draft 5.3.3.6 TargetInflight: min(bdp, cwnd).
func (b *bbr) targetInflight(s *CCState) float64 { return min(b.bdp, float64(s.Cwnd)) }

// inflightWithHeadroom is draft 5.3.3.6: leave Headroom of
// inflight_longterm free for other flows.
func (b *bbr) inflightWithHeadroom(s *CCState) float64 {
	if math.IsInf(b.inflightLongterm, 1) {
		return bbrInf
	}
	headroom := max(float64(s.MSS), bbrHeadroom*b.inflightLongterm)
	return max(b.inflightLongterm-headroom, bbrMinPipeSegs*float64(s.MSS))
}

// updateMinRTT is draft 5.3.4.3 UpdateMinRTT: probe_rtt_min_delay is the
// minimum over ProbeRTTInterval, min_rtt over MinRTTFilterLen. RS.rtt is
// the sample; when it is 0 (none: a retransmitted packet, cc.go) the
// ACK's own RTT sample is used, and an ACK without either is skipped.
func (b *bbr) updateMinRTT(s *CCState, rs *RateSample) {
	b.probeRTTExpired = s.Now.After(b.probeRTTMinStamp.Add(bbrProbeRTTInterval))
	rtt := rs.RTT
	if rtt <= 0 {
		rtt = s.RTT // e.g. from timestamps when the packet was retransmitted
	}
	if rtt > 0 && (b.probeRTTMinDelay <= 0 || rtt < b.probeRTTMinDelay || b.probeRTTExpired) {
		b.probeRTTMinDelay = rtt
		b.probeRTTMinStamp = s.Now
	}
	minRTTExpired := s.Now.After(b.minRTTStamp.Add(bbrMinRTTFilterLen))
	if b.probeRTTMinDelay > 0 && (b.minRTT <= 0 || b.probeRTTMinDelay < b.minRTT || minRTTExpired) {
		b.minRTT = b.probeRTTMinDelay
		b.minRTTStamp = b.probeRTTMinStamp
	}
}

// checkProbeRTT is draft 5.3.4.3 CheckProbeRTT.
func (b *bbr) checkProbeRTT(s *CCState, rs *RateSample) {
	if b.state != bbrProbeRTT && b.probeRTTExpired && !b.idleRestart {
		// EnterProbeRTT.
		b.saveCwnd(s)
		b.state = bbrProbeRTT
		b.pacingGain = 1
		b.cwndGain = bbrProbeRTTCwndGain
		b.probeRTTDoneStamp = time.Time{}
		b.ackPhase = acksProbeStopping
		b.startRound(s)
	}
	if b.state == bbrProbeRTT {
		b.handleProbeRTT(s)
	}
	if rs.Delivered > 0 {
		b.idleRestart = false
	}
}

// handleProbeRTT is draft 5.3.4.3 HandleProbeRTT: hold inflight at
// ProbeRTTCwnd for ProbeRTTDuration and at least one round.
func (b *bbr) handleProbeRTT(s *CCState) {
	// MarkConnectionAppLimited: ignore the low rate samples of
	// ProbeRTT (C.app_limited = C.delivered + C.inflight, kept here).
	b.appLimitedMark = max(s.Delivered+uint64(s.Inflight), 1)
	if b.probeRTTDoneStamp.IsZero() && float64(s.Inflight) <= b.probeRTTCwnd(s) {
		b.probeRTTDoneStamp = s.Now.Add(bbrProbeRTTDuration)
		b.probeRTTRoundDone = false
		b.startRound(s)
	} else if !b.probeRTTDoneStamp.IsZero() {
		if b.roundStart {
			b.probeRTTRoundDone = true
		}
		if b.probeRTTRoundDone {
			b.checkProbeRTTDone(s)
		}
	}
}

// checkProbeRTTDone is draft 5.3.4.3 CheckProbeRTTDone, with ExitProbeRTT
// (5.3.4.4).
func (b *bbr) checkProbeRTTDone(s *CCState) {
	if b.probeRTTDoneStamp.IsZero() || !s.Now.After(b.probeRTTDoneStamp) {
		return
	}
	b.probeRTTMinStamp = s.Now // schedule the next ProbeRTT
	b.restoreCwnd(s)
	b.resetShortTermModel()
	if b.fullBwReached {
		b.startProbeBWDown(s)
		b.startProbeBWCruise()
	} else {
		b.enterStartup()
	}
}

// probeRTTCwnd is draft 5.6.4.5 ProbeRTTCwnd: half a BDP, at least
// MinPipeCwnd.
func (b *bbr) probeRTTCwnd(s *CCState) float64 {
	return max(b.bdpMultiple(b.bw, bbrProbeRTTCwndGain), bbrMinPipeSegs*float64(s.MSS))
}
