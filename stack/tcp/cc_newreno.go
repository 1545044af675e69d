package tcp

// NewReno (RFC 5681 slow start and congestion avoidance; the fast
// retransmit and fast recovery of RFC 6582 and RFC 6675 are the sender's,
// recovery.go). The sender counts duplicate ACKs, detects losses and runs
// PRR (RFC 6937) during recovery; the algorithm only sets the window.

func init() { registerCC("newreno", func() CongestionControl { return new(newReno) }) }

type newReno struct {
	bytesAcked uint32 // congestion avoidance byte counting (RFC 5681 3.1)
}

// initialWindow is IW (RFC 6928 2): min(10*MSS, max(2*MSS, 14600)).
func initialWindow(mss uint32) uint32 { return min(10*mss, max(2*mss, 14600)) }

// flightSize is RFC 5681's FlightSize: data sent and not yet cumulatively
// acknowledged.
func flightSize(s *CCState) uint32 { return uint32(s.SndNxt.Sub(s.SndUna)) }

func (r *newReno) Name() string { return "newreno" }

// Init sets the initial window, RFC 6928 2, and ssthresh "arbitrarily
// high" (RFC 5681 3.1).
func (r *newReno) Init(s *CCState) {
	s.Cwnd = initialWindow(s.MSS)
	s.Ssthresh = 1 << 30
	r.bytesAcked = 0
}

// OnAck grows the window outside recovery: RFC 5681 3.1 (2), slow start,
// cwnd += min(N, SMSS) per ACK, and (3), congestion avoidance by byte
// counting, one SMSS per cwnd of data acknowledged. N is the data this
// ACK newly delivered (cumulatively acknowledged or SACKed, as Linux
// counts it).
func (r *newReno) OnAck(s *CCState, rs *RateSample) {
	if s.InRecovery {
		return // PRR (RFC 6937) owns cwnd in recovery
	}
	acked := rs.AckedSacked
	if s.Cwnd < s.Ssthresh {
		s.Cwnd += min(acked, s.MSS)
		return
	}
	r.bytesAcked += acked
	if r.bytesAcked >= s.Cwnd {
		r.bytesAcked -= s.Cwnd
		s.Cwnd += s.MSS
	}
}

// OnCongestionEvent is RFC 5681 3.2 step 2 (RFC 6675 5 (4.2), RFC 6582
// 3.2 step 2): ssthresh = max(FlightSize / 2, 2*SMSS). Cwnd is brought
// down to it by PRR.
func (r *newReno) OnCongestionEvent(s *CCState) {
	s.Ssthresh = max(flightSize(s)/2, 2*s.MSS)
	r.bytesAcked = 0
}

// OnRecoveryExit: the sender has set cwnd = ssthresh (RFC 6937; RFC 6582
// 3.2 step 3's "full acknowledgment" option (1)).
func (r *newReno) OnRecoveryExit(s *CCState) {}

// OnRTO is RFC 5681 3.1 (4) and "LW": ssthresh = max(FlightSize / 2,
// 2*SMSS), cwnd = 1 SMSS after a timeout.
func (r *newReno) OnRTO(s *CCState) {
	s.Ssthresh = max(flightSize(s)/2, 2*s.MSS)
	s.Cwnd = s.MSS
	r.bytesAcked = 0
}

// OnIdleRestart is RFC 5681 4.1: "a TCP SHOULD set cwnd to no more than RW
// before beginning transmission if the TCP has not sent data in an interval
// exceeding the retransmission timeout", RW = min(IW, cwnd). (Linux does
// this too, net.ipv4.tcp_slow_start_after_idle, decaying cwnd by halves
// per idle RTO rather than straight to RW.) ssthresh is left alone.
func (r *newReno) OnIdleRestart(s *CCState) {
	s.Cwnd = min(s.Cwnd, initialWindow(s.MSS))
	r.bytesAcked = 0
}

// OnHandshakeLoss is RFC 5681 3.1: "if the SYN or SYN/ACK is lost, the
// initial window used by a sender after a correctly transmitted SYN MUST be
// one segment consisting of at most SMSS bytes". (Linux waits for a second
// SYN retransmission before doing so, given RFC 6298's 1 s initial RTO; we
// follow the RFC's MUST.)
func (r *newReno) OnHandshakeLoss(s *CCState) {
	s.Cwnd = s.MSS
	r.bytesAcked = 0
}

// PacingRate: NewReno is not paced.
func (r *newReno) PacingRate(s *CCState) uint64 { return 0 }
