package tcp

// Congestion control (RFC 5681, RFC 6582, RFC 6928) behind a small
// interface, so CUBIC can be added later without touching the sender.

// oldCCState is what the sender tells the congestion controller on each event.
type oldCCState struct {
	MSS        uint32 // sender MSS (SMSS)
	SndUna     Seq    // SND.UNA after the event
	SndMax     Seq    // highest sequence number sent
	FlightSize uint32 // data outstanding, SndMax - SndUna (RFC 5681 2)
}

// oldCC is a sender's congestion control algorithm. The Conn
// owns the retransmissions; the algorithm only says how large the
// congestion window is and when a retransmission is due.
type oldCC interface {
	// Cwnd is the congestion window in bytes.
	Cwnd() uint32
	// Ssthresh is the slow start threshold in bytes.
	Ssthresh() uint32
	// InRecovery reports fast recovery in progress.
	InRecovery() bool
	// OnAck is called when an ACK advanced SND.UNA by acked bytes. It
	// returns true when the first unacknowledged segment must be
	// retransmitted now (a partial ACK in recovery).
	OnAck(s oldCCState, acked uint32) (retransmit bool)
	// OnDupAck is called for the n-th consecutive duplicate ACK. It
	// returns true for a fast retransmit.
	OnDupAck(s oldCCState, n int) (retransmit bool)
	// OnRTO is called when the retransmission timer expired.
	OnRTO(s oldCCState)
	// OnIdleRestart is called before new data is sent after the sender
	// sent nothing for more than an RTO with nothing outstanding (RFC
	// 5681 4.1).
	OnIdleRestart(s oldCCState)
	// OnHandshakeLoss is called when the handshake completes after our SYN
	// or SYN-ACK had to be retransmitted (RFC 5681 3.1).
	OnHandshakeLoss(s oldCCState)
}

// newReno is RFC 5681 slow start and congestion avoidance with RFC 6582
// fast retransmit and fast recovery. A plain value embedded in Conn.
type newReno struct {
	cwnd, ssthresh uint32
	bytesAcked     uint32 // congestion avoidance byte counting (RFC 5681 3.1)
	recover        Seq    // RFC 6582 "recover"
	recovering     bool
}

// init sets the initial window: RFC 6928 2, IW = min(10*MSS, max(2*MSS,
// 14600)); ssthresh starts "arbitrarily high" (RFC 5681 3.1).
func (r *newReno) init(c *Conn) {
	r.cwnd = initialWindow(uint32(c.sndMSS))
	r.ssthresh = 1 << 30
	r.bytesAcked = 0
	r.recover = c.ISS
	r.recovering = false
}

// initialWindow is IW (RFC 6928 2): min(10*MSS, max(2*MSS, 14600)).
func initialWindow(mss uint32) uint32 { return min(10*mss, max(2*mss, 14600)) }

func (r *newReno) Cwnd() uint32     { return r.cwnd }
func (r *newReno) Ssthresh() uint32 { return r.ssthresh }
func (r *newReno) InRecovery() bool { return r.recovering }

// halve is RFC 5681 (4): ssthresh = max(FlightSize / 2, 2*SMSS).
func (r *newReno) halve(s oldCCState) {
	r.ssthresh = max(s.FlightSize/2, 2*s.MSS)
}

func (r *newReno) OnAck(s oldCCState, acked uint32) bool {
	if r.recovering {
		if s.SndUna.GreaterThanEq(r.recover) {
			// RFC 6582 3.2 step 3, full acknowledgment: deflate,
			// cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
			r.cwnd = min(r.ssthresh, max(s.FlightSize, s.MSS)+s.MSS)
			r.recovering = false
			r.bytesAcked = 0
			return false
		}
		// RFC 6582 3.2 step 3, partial acknowledgment: deflate by the
		// amount acknowledged, add back one SMSS if that was at least
		// one SMSS, and retransmit the first unacknowledged segment.
		if acked < r.cwnd {
			r.cwnd -= acked
		} else {
			r.cwnd = s.MSS
		}
		if acked >= s.MSS {
			r.cwnd += s.MSS
		}
		return true
	}
	if r.cwnd < r.ssthresh {
		// RFC 5681 3.1 (2): slow start, cwnd += min(N, SMSS).
		r.cwnd += min(acked, s.MSS)
		return false
	}
	// RFC 5681 3.1 (3), byte counting: one SMSS per cwnd acknowledged.
	r.bytesAcked += acked
	if r.bytesAcked >= r.cwnd {
		r.bytesAcked -= r.cwnd
		r.cwnd += s.MSS
	}
	return false
}

func (r *newReno) OnDupAck(s oldCCState, n int) bool {
	if r.recovering {
		// RFC 5681 3.2 step 4: inflate by one SMSS per further dup ACK.
		r.cwnd += s.MSS
		return false
	}
	if n != 3 {
		return false
	}
	// RFC 6582 3.2 step 2: only if the ACK covers more than "recover"
	// (otherwise these dup ACKs belong to a loss already handled). Here
	// recover is one past the highest byte sent, so "covers more than"
	// is SND.UNA >= recover.
	if s.SndUna.LessThan(r.recover) {
		return false
	}
	r.halve(s)
	r.recover = s.SndMax
	// RFC 5681 3.2 step 3: cwnd = ssthresh + 3*SMSS.
	r.cwnd = r.ssthresh + 3*s.MSS
	r.recovering = true
	return true
}

func (r *newReno) OnRTO(s oldCCState) {
	// RFC 5681 3.1 (4) and "LW": cwnd = 1 SMSS after a timeout; RFC 6582
	// 3.2 step 4 notes recover = the highest sequence number sent.
	r.halve(s)
	r.cwnd = s.MSS
	r.bytesAcked = 0
	r.recovering = false
	r.recover = s.SndMax
}

// OnIdleRestart is RFC 5681 4.1: "a TCP SHOULD set cwnd to no more than RW
// before beginning transmission if the TCP has not sent data in an interval
// exceeding the retransmission timeout", RW = min(IW, cwnd). (Linux does
// this too, net.ipv4.tcp_slow_start_after_idle, decaying cwnd by halves
// per idle RTO rather than straight to RW.) ssthresh is left alone.
func (r *newReno) OnIdleRestart(s oldCCState) {
	r.cwnd = min(r.cwnd, initialWindow(s.MSS))
	r.bytesAcked = 0
}

// OnHandshakeLoss is RFC 5681 3.1: "if the SYN or SYN/ACK is lost, the
// initial window used by a sender after a correctly transmitted SYN MUST be
// one segment consisting of at most SMSS bytes". (Linux waits for a second
// SYN retransmission before doing so, given RFC 6298's 1 s initial RTO; we
// follow the RFC's MUST.)
func (r *newReno) OnHandshakeLoss(s oldCCState) {
	r.cwnd = s.MSS
	r.bytesAcked = 0
}
