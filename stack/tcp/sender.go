package tcp

import (
	"time"

	"github.com/tunstack/tunstack/timers"
)

// sender is the sending half of a Conn: the send sequence variables of RFC
// 9293 3.3.1 (Figure 3) and what RFC 6298, RFC 5681, RFC 6675, RFC 6937
// and RFC 8985 add to them. It is embedded in Conn, so its fields read as
// c.SndUna and so on; the methods that use it are in send.go (output and
// ACK processing), txq.go (the transmission records), and the loss
// recovery and congestion control files.
type sender struct {
	// Send sequence variables (RFC 9293 3.3.1).
	ISS       Seq
	SndUna    Seq
	SndNxt    Seq
	SndWnd    uint32 // peer's window, already scaled
	SndWL1    Seq
	SndWL2    Seq
	sndMax    Seq
	maxSndWnd uint32 // largest window the peer offered (RFC 9293 3.8.6.2.1, RFC 5961 5.2)

	sndShift uint8 // shift applied to the peer's window field (RFC 7323 2.3)
	tsRtxSet bool  // tsRtxVal is valid (with the other small fields: no padding)
	sndMSS   uint16

	sndBufSeq Seq
	sndBuf    ring

	// Deadlines; zero means not armed (instants: instant.go).
	rtxAt        instant // retransmission (also SYN, SYN-ACK, FIN)
	persistAt    instant
	unackedSince instant // when the oldest unacknowledged data went out (or last made progress), for UserTimeout
	lastDataAt   instant // when data (or a FIN) was last sent, for the idle restart (RFC 5681 4.1)

	// Small counters, int32 to pack with the other 4-byte fields.
	retries          int32 // consecutive retransmission timeouts
	persistBackoff   int32
	probesUnanswered int32 // zero-window probes since the peer last sent an acceptable ACK
	rttSeq           Seq   // with rttStart: the segment being timed (flagRTTTiming)

	rto      timers.RTOEstimator
	rttStart instant
	// rtxHigh, valid while flagRtxHigh, is the end of the highest data
	// retransmitted since the RTO's backoff was last removed; it lies in
	// [SND.UNA, sndMax]. An ACK beyond it acknowledges data sent only once
	// (RFC 8961 4 (4)(a), see newAck).
	rtxHigh Seq
	// tsRtxVal is the TSval of our latest retransmission (valid while
	// tsRtxSet): an ACK echoing an older TSval gives no RTT sample (ackRTT).
	tsRtxVal uint32
	// rttLatest is the most recent RTT sample (RFC 6298 3 timing or RFC
	// 7323 TSecr; ackRTT in timestamps.go), zero before the first: for
	// loss detection and congestion control.
	rttLatest time.Duration
	// rttAck is the RTT sample the segment being processed gave (0: none;
	// CCState.RTT "taken on this ACK").
	rttAck time.Duration

	txq txq // transmission records, SND.UNA to snd.max (txq.go)

	// The congestion, RACK-TLP and loss recovery state lives outside the
	// Conn so that a Conn that sends nothing stays small (TestManyConns,
	// TestUnitIdleConnHeap): ccBox, allocated when the sender first needs
	// it (ccSync, output), and ackState, taken from a pool when data is
	// sent and given back after an RTO with nothing in flight (nil
	// meanwhile; it exists whenever transmission records do).
	*ccBox
	*ackState
}

// ccBox is the sender's congestion state (sender_cc.go).
type ccBox struct {
	cc  CongestionControl // from Config.CongestionControl (cc.go)
	ccs CCState           // the congestion state the algorithm works on

	dupAcks int // RFC 5681 2 / RFC 6675 2 duplicate ACKs since SND.UNA last advanced

	// Loss recovery (recovery.go): RFC 6675 / RFC 6582 fast recovery or
	// the loss state after an RTO, until SND.UNA reaches recoveryPoint.
	lossState     lossState
	recoveryPoint Seq // RFC 6675 RecoveryPoint, RFC 6582 "recover"

	rate   rateState    // delivery-rate estimation (ratesample.go)
	lstats lossCounters // Info's loss recovery counters

	// RACK-TLP loss detection (rack.go, tlp.go). It is here, not in the
	// Conn, because a Conn that has sent nothing has no RACK state to
	// keep (its timers read as not armed: rackTimers); it is not in
	// ackState because it outlives a flight (RACK.min_RTT, the
	// reordering window's adaptation, RFC 8985 6.2 step 4).
	rack rackState

	undo undoState // undoing a spurious fast recovery (undo.go)
}
