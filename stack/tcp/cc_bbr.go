package tcp

import (
	"math"
	"math/rand/v2"
	"time"
)

// BBR (draft-ietf-ccwg-bbr, "BBRv3"): a model-based algorithm. It
// estimates the bottleneck bandwidth (a max filter over delivery-rate
// samples) and the round-trip propagation time (a min filter over RTT
// samples), paces at a gain times the bandwidth and bounds inflight at a
// gain times their product, cycling through states that probe for more
// bandwidth (Startup, ProbeBW_REFILL/UP), drain the queue this made
// (Drain, ProbeBW_DOWN), cruise (ProbeBW_CRUISE) and re-measure the RTT
// (ProbeRTT). Loss bounds the model (inflight_longterm, and the short-term
// bw_shortterm / inflight_shortterm) rather than halving a window.
//
// Section names below are the draft's ("draft 5.3.3.6 ProbeBW_UP").
// Units as the draft recommends: bytes, bytes per second, time.Duration.
// The code is split in three files: this one (entry points, control
// parameters), cc_bbr_model.go (the path model) and cc_bbr_probebw.go
// (the ProbeBW state machine).
//
// Where the CongestionControl interface gives less than the draft
// assumes, the approximation is named where it is made: loss is seen per
// ACK (rs.NewlyLost, rs.Lost, rs.TxInFlight), not per lost packet; "lost
// sequence ranges in a round" are counted as ACKs that marked new losses;
// C.is_cwnd_limited is derived from rs.PriorInFlight; MarkConnectionAppLimited
// in ProbeRTT is kept inside BBR; the restart from idle runs on the
// sender's OnIdleRestart.

func init() { registerCC("bbr", func() CongestionControl { return newBBR() }) }

type bbrState uint8

const (
	bbrStartup bbrState = iota
	bbrDrain
	bbrProbeBWDown
	bbrProbeBWCruise
	bbrProbeBWRefill
	bbrProbeBWUp
	bbrProbeRTT
	bbrNone // undo_state "None"
)

func (st bbrState) String() string {
	return [...]string{"Startup", "Drain", "ProbeBW_DOWN", "ProbeBW_CRUISE", "ProbeBW_REFILL", "ProbeBW_UP", "ProbeRTT", "None"}[st]
}

// draft 2.x constants.
const (
	bbrStartupPacingGain  = 2.77 // 4*ln(2)
	bbrDrainPacingGain    = 0.5
	bbrDownPacingGain     = 0.90
	bbrUpPacingGain       = 1.25
	bbrDefaultCwndGain    = 2.0
	bbrUpCwndGain         = 2.25
	bbrProbeRTTCwndGain   = 0.5
	bbrPacingMarginPct    = 1
	bbrLossThresh         = 0.02
	bbrBeta               = 0.7
	bbrHeadroom           = 0.15
	bbrMinPipeSegs        = 4 // BBR.MinPipeCwnd = 4 * SMSS
	bbrExtraAckedFiltLen  = 10
	bbrMinRTTFilterLen    = 10 * time.Second
	bbrProbeRTTDuration   = 200 * time.Millisecond
	bbrProbeRTTInterval   = 5 * time.Second
	bbrStartupFullLossCnt = 6
	bbrFullBWThresh       = 1.25
	bbrFullBWCount        = 3
	bbrMaxSendQuantum     = 64 << 10
)

// bbrInf is "Infinity" for volumes (bytes) and bandwidths (bytes/s).
var bbrInf = math.Inf(1)

// ackPhase is BBR.ack_phase (draft 2.10).
type ackPhase uint8

const (
	acksInit ackPhase = iota
	acksRefilling
	acksProbeStarting
	acksProbeFeedback
	acksProbeStopping
)

type bbr struct {
	state       bbrState
	pacingGain  float64
	cwndGain    float64
	pacingRate  float64 // C.pacing_rate, bytes/s
	sendQuantum float64 // C.send_quantum, bytes
	initialCwnd float64 // C.InitialCwnd
	inRecovery  bool    // fast recovery or RTO recovery, as BBR sees it
	rtoRecovery bool    // the recovery is the one after an RTO
	rtoPoint    Seq     // RTO recovery ends when SND.UNA reaches this (SND.NXT at the RTO)
	rng         rand.PCG

	// Round counting (draft 5.5.1).
	roundCount         uint64
	roundStart         bool
	nextRoundDelivered uint64

	// The model (cc_bbr_model.go).
	maxBwSlot      [2]float64 // BBR.max_bw_filter: the previous and the current ProbeBW cycle
	cycleCount     uint64
	maxBw          float64
	bw             float64
	bwShortterm    float64
	bwLatest       float64
	minRTT         time.Duration // 0 = Infinity
	minRTTStamp    time.Time
	bdp            float64
	extraAcked     float64
	extraAckedFilt winMax
	extraAckedTime time.Time
	extraAckedDlv  float64
	offloadBudget  float64
	maxInflight    float64

	inflightLongterm  float64
	inflightShortterm float64
	inflightLatest    float64

	// Congestion signals (draft 5.5.10.3).
	lossRoundDelivered uint64
	lossRoundStart     bool
	isLossInRound      bool
	lossEventsInRound  int
	recoveryRound      uint64 // round_count when recovery began

	// Startup (draft 5.3.1).
	fullBwReached bool
	fullBwNow     bool
	fullBw        float64
	fullBwCount   int

	drainStartRound uint64

	// ProbeBW (draft 5.3.3).
	ackPhase              ackPhase
	isBwProbeSample       bool
	bwProbeUpAcked        float64
	probeUpAckedPerInc    float64
	bwProbeUpRounds       uint
	roundsSinceProbeUp    uint64
	bwProbeWait           time.Duration
	cycleStamp            time.Time
	prevProbeTooHigh      bool
	prevProbePrecautional bool
	cwndLimitedRound      bool    // inflight reached cwnd in the current round
	downInflight          float64 // inflight at the last round start in DOWN (0: none yet)
	downBounded           bool    // this DOWN bounded bw_shortterm already (checkDownDrains)
	isCwndLimited         bool    // C.is_cwnd_limited: ... in the current or the last round

	// ProbeRTT (draft 5.3.4).
	probeRTTMinDelay  time.Duration // 0 = Infinity
	probeRTTMinStamp  time.Time
	probeRTTExpired   bool
	probeRTTDoneStamp time.Time
	probeRTTRoundDone bool
	appLimitedMark    uint64 // MarkConnectionAppLimited inside BBR: samples of packets sent before delivered reached this are app-limited
	idleRestart       bool
	priorCwnd         float64

	// Undo (draft 5.5.10.4).
	undoState             bbrState
	undoBwShortterm       float64
	undoInflightShortterm float64
	undoInflightLongterm  float64
}

func newBBR() *bbr { return &bbr{} }

func (b *bbr) Name() string { return "bbr" }

// OwnsRecovery: BBR sets cwnd itself in loss recovery (draft 5.6.4.4);
// the sender does not run PRR for it.
func (b *bbr) OwnsRecovery() bool { return true }

// Init is the draft's OnInit (5.2.1). Deviation: probe_rtt_min_stamp
// starts at Now (as min_rtt_stamp), not 0, or the first ACK would find
// it expired and enter ProbeRTT at once.
func (b *bbr) Init(s *CCState) {
	*b = bbr{}
	b.rng.Seed(uint64(s.Now.UnixNano()), uint64(s.SndUna)<<32|uint64(s.MSS))
	s.Cwnd = initialWindow(s.MSS)
	s.Ssthresh = maxCwnd // unused by BBR
	b.initialCwnd = float64(s.Cwnd)
	b.minRTT = s.SRTT
	b.minRTTStamp = s.Now
	b.probeRTTMinStamp = s.Now
	b.probeRTTMinDelay = s.SRTT
	b.extraAckedTime = s.Now
	b.inflightLongterm = bbrInf
	b.probeUpAckedPerInc = bbrInf
	b.undoState = bbrNone
	b.resetCongestionSignals()
	b.resetShortTermModel()
	b.resetFullBw()
	// draft 5.6.2 InitPacingRate: StartupPacingGain * InitialCwnd / srtt
	// (1 ms without one).
	srtt := s.SRTT
	if srtt <= 0 {
		srtt = time.Millisecond
	}
	b.pacingRate = bbrStartupPacingGain * b.initialCwnd / srtt.Seconds()
	b.enterStartup()
}

// enterStartup is draft 5.3.1.
func (b *bbr) enterStartup() {
	b.state = bbrStartup
	b.pacingGain = bbrStartupPacingGain
	b.cwndGain = bbrDefaultCwndGain
}

// enterDrain is draft 5.3.2.
func (b *bbr) enterDrain() {
	b.state = bbrDrain
	b.pacingGain = bbrDrainPacingGain
	b.cwndGain = bbrDefaultCwndGain
	b.drainStartRound = b.roundCount
}

// OnAck is the draft's UpdateOnACK (5.2.3): UpdateModelAndState, then
// UpdateControlParameters.
func (b *bbr) OnAck(s *CCState, rs *RateSample) {
	if rs == nil || s.MSS == 0 {
		return
	}
	if b.rtoRecovery && s.SndUna.GreaterThanEq(b.rtoPoint) {
		// draft 5.6.4.4: upon exiting loss recovery (here the RTO's,
		// which the sender does not report), RestoreCwnd.
		b.exitRecovery(s)
	}
	rate := 0.0
	if rs.Interval > 0 {
		rate = float64(rs.Delivered) / rs.Interval.Seconds()
	}
	appLimited := rs.IsAppLimited || rs.PriorDelivered < b.appLimitedMark
	if rs.NewlyLost > 0 {
		b.noteLoss(s)
	}
	b.trackCwndLimited(s, rs)

	// UpdateModelAndState.
	b.updateLatestDeliverySignals(s, rs, rate)
	b.updateCongestionSignals(s, rs, rate, appLimited)
	b.updateACKAggregation(s, rs)
	b.checkFullBwReached(rate, appLimited)
	b.checkStartupDone()
	b.checkDrainDone(s)
	b.updateProbeBWCyclePhase(s, rs, rate, appLimited)
	b.updateMinRTT(s, rs)
	b.checkProbeRTT(s, rs)
	b.advanceLatestDeliverySignals(rs, rate)
	b.boundBwForModel()

	// UpdateControlParameters.
	b.setPacingRateWithGain(b.pacingGain)
	b.setSendQuantum(s)
	b.setCwnd(s, rs)
}

// trackCwndLimited derives C.is_cwnd_limited ("fully utilized C.cwnd at
// any point in the last packet-timed round trip", draft 2.2) from the
// inflight before each ACK: within one SMSS of cwnd counts as full.
func (b *bbr) trackCwndLimited(s *CCState, rs *RateSample) {
	if rs.PriorInFlight+s.MSS >= s.Cwnd {
		b.cwndLimitedRound = true
		b.isCwndLimited = true
	}
}

// setPacingRateWithGain is draft 5.6.2: rate = gain * bw * (100 -
// PacingMarginPercent)/100, taken if the pipe was filled or it raises
// the rate.
func (b *bbr) setPacingRateWithGain(gain float64) {
	rate := gain * b.bw * (100 - bbrPacingMarginPct) / 100
	if b.fullBwReached || rate > b.pacingRate {
		b.pacingRate = rate
	}
}

// setSendQuantum is draft 5.6.3: pacing_rate * 1 ms within [2 SMSS, 64 KB].
func (b *bbr) setSendQuantum(s *CCState) {
	q := b.pacingRate * time.Millisecond.Seconds()
	b.sendQuantum = max(min(q, bbrMaxSendQuantum), 2*float64(s.MSS))
}

// setCwnd is draft 5.6.4.6 SetCwnd, with 5.6.4.7 BoundCwndForProbeRTT and
// 5.6.4.8 BoundCwndForModel.
func (b *bbr) setCwnd(s *CCState, rs *RateSample) {
	b.updateMaxInflight(s)
	cwnd := float64(s.Cwnd)
	acked := float64(rs.AckedSacked)
	if b.fullBwReached {
		cwnd = min(cwnd+acked, b.maxInflight)
	} else if cwnd < b.maxInflight || float64(s.Delivered) < b.initialCwnd {
		cwnd += acked
	}
	minPipe := bbrMinPipeSegs * float64(s.MSS)
	cwnd = max(cwnd, minPipe)
	if b.state == bbrProbeRTT {
		cwnd = min(cwnd, b.probeRTTCwnd(s))
	}
	// BoundCwndForModel: the volume cap of the state (draft 5.6.1).
	cap := bbrInf
	if b.isInProbeBW() && b.state != bbrProbeBWCruise {
		cap = b.inflightLongterm
	} else if b.state == bbrProbeRTT || b.state == bbrProbeBWCruise {
		cap = b.inflightWithHeadroom(s)
	}
	cap = max(min(cap, b.inflightShortterm), minPipe)
	cwnd = min(cwnd, cap)
	s.Cwnd = uint32(min(cwnd, maxCwnd))
}

// saveCwnd is draft 5.6.4.4 SaveCwnd.
func (b *bbr) saveCwnd(s *CCState) {
	if !b.inRecovery && b.state != bbrProbeRTT {
		b.priorCwnd = float64(s.Cwnd)
	} else {
		b.priorCwnd = max(b.priorCwnd, float64(s.Cwnd))
	}
}

// restoreCwnd is draft 5.6.4.4 RestoreCwnd.
func (b *bbr) restoreCwnd(s *CCState) {
	s.Cwnd = uint32(min(max(float64(s.Cwnd), b.priorCwnd), maxCwnd))
}

// OnCongestionEvent is draft 5.6.4.4 OnEnterFastRecovery: SaveCwnd. The
// model's response to the losses themselves runs per ACK (noteLoss and
// the bounds in cc_bbr_model.go); ssthresh is not used.
func (b *bbr) OnCongestionEvent(s *CCState) {
	b.saveCwnd(s)
	if !b.inRecovery {
		b.recoveryRound = b.roundCount
	}
	b.inRecovery = true
}

// OnRecoveryExit is draft 5.6.4.4: RestoreCwnd when loss recovery ends
// (the next ACK's SetCwnd bounds it by the model again).
func (b *bbr) OnRecoveryExit(s *CCState) { b.exitRecovery(s) }

func (b *bbr) exitRecovery(s *CCState) {
	b.inRecovery = false
	b.rtoRecovery = false
	b.restoreCwnd(s)
}

// OnRTO is draft 5.6.4.4 OnEnterRTO: SaveCwnd, SaveStateUponLoss, and a
// cwnd that lets one SMSS be sent: inflight + SMSS. The RTO recovery ends
// when everything sent before the timeout is acknowledged.
func (b *bbr) OnRTO(s *CCState) {
	b.saveCwnd(s)
	b.saveStateUponLoss(s)
	if !b.inRecovery {
		b.recoveryRound = b.roundCount
	}
	b.inRecovery = true
	b.rtoRecovery = true
	b.rtoPoint = s.SndNxt
	s.Cwnd = min(s.Inflight+s.MSS, maxCwnd)
}

// OnIdleRestart is draft 5.4.1 HandleRestartFromIdle (the sender calls it
// before sending after an idle period; the draft checks before every
// transmission, with inflight 0 and the connection app-limited): in
// ProbeBW pace at exactly bw; in ProbeRTT see whether it is done. cwnd
// stays (BBR does not restart from IW, draft 5.4.2; a deliberate
// deviation from RFC 5681 4.1's SHOULD).
func (b *bbr) OnIdleRestart(s *CCState) {
	if s.Inflight != 0 {
		return
	}
	b.idleRestart = true
	b.extraAckedTime = s.Now
	if b.isInProbeBW() {
		b.setPacingRateWithGain(1)
	} else if b.state == bbrProbeRTT {
		b.checkProbeRTTDone(s)
	}
}

// OnHandshakeLoss is RFC 5681 3.1: the initial window is one segment
// after a lost SYN or SYN-ACK (the draft leaves the initial cwnd to the
// transport, 5.6.4.1). SetCwnd raises it to MinPipeCwnd on the first ACK.
func (b *bbr) OnHandshakeLoss(s *CCState) {
	s.Cwnd = s.MSS
}

// PacingRate is C.pacing_rate in bytes per second.
func (b *bbr) PacingRate(s *CCState) uint64 {
	if b.pacingRate <= 0 || math.IsInf(b.pacingRate, 0) || math.IsNaN(b.pacingRate) {
		return 0
	}
	return uint64(b.pacingRate)
}

// randFloat is uniform in [0, 1), from the per-connection generator
// (seeded in Init: deterministic under the test's clock, no allocation).
func (b *bbr) randFloat() float64 { return float64(b.rng.Uint64()>>11) / (1 << 53) }
