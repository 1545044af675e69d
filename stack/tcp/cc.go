package tcp

import (
	"fmt"
	"sort"
	"time"
)

// Congestion control behind a small interface, one file per algorithm
// (cc_newreno.go, cc_cubic.go, cc_bbr.go), as Linux's tcp_congestion_ops:
// the sender owns loss detection (RACK-TLP, RFC 6675, NewReno duplicate
// ACKs), retransmission, PRR (RFC 6937) and pacing; an algorithm only
// decides the congestion window, the slow start threshold and (if it wants
// the sender to pace) the pacing rate, from the events and samples below.

// CCState is the sender's congestion state, passed by pointer to every
// call. Cwnd and Ssthresh belong to the algorithm; the sender writes Cwnd
// only while it runs PRR in recovery for an algorithm that does not
// implement RecoveryOwner, and when such a recovery ends (Cwnd =
// Ssthresh, RFC 6937). Everything else is maintained by the sender and is
// read-only for the algorithm.
type CCState struct {
	Cwnd     uint32 // congestion window in bytes
	Ssthresh uint32 // slow start threshold in bytes

	Now        time.Time
	MSS        uint32        // sender MSS (SMSS)
	SndUna     Seq           // SND.UNA
	SndNxt     Seq           // highest sequence number sent plus one (snd.max)
	Inflight   uint32        // bytes in the network: RFC 6675 "pipe" (sent, not acknowledged, not SACKed, not marked lost, plus retransmissions)
	Delivered  uint64        // bytes delivered (cumulatively acknowledged or SACKed) over the connection's life (C.delivered)
	Lost       uint64        // bytes marked lost over the connection's life (C.lost)
	SRTT       time.Duration // smoothed RTT (RFC 6298), 0 before the first sample
	MinRTT     time.Duration // lowest RTT sample seen (windowed by the sender), 0 before the first sample
	RTT        time.Duration // RTT sample taken on this ACK, 0 if none
	InRecovery bool          // fast recovery (loss recovery, not an RTO) in progress
	AppLimited bool          // the application, not the window, limits what is in flight (C.app_limited != 0)
	NoSACK     bool          // SACK was not negotiated: at most one loss is detected per round trip (BBR's !C.has_selective_acks)
}

// RateSample is one delivery-rate sample (draft-cheng-iccrg-delivery-rate-
// estimation, "rs"), computed by the sender for every ACK that delivers
// data. Delivered/Interval is the delivery rate.
type RateSample struct {
	PriorDelivered uint64        // C.delivered when the most recently sent delivered packet was sent (P.delivered)
	Delivered      uint64        // bytes delivered over Interval (rs.delivered)
	Interval       time.Duration // max(send_elapsed, ack_elapsed) (rs.interval); 0 = no valid sample
	TxInFlight     uint32        // bytes in flight when that packet was sent (BBR's rs.tx_in_flight)
	Lost           uint64        // bytes marked lost since that packet was sent (C.lost - P.lost)
	IsAppLimited   bool          // the packet was sent while application-limited (rs.is_app_limited)
	RTT            time.Duration // RTT of that packet, 0 if it was retransmitted
	AckedSacked    uint32        // bytes newly acknowledged or SACKed by this ACK ("DeliveredData", RFC 6937)
	NewlyLost      uint32        // bytes newly marked lost while processing this ACK
	PriorInFlight  uint32        // Inflight before this ACK was processed
}

// CongestionControl is a congestion control algorithm. Each Conn has its
// own instance (from NewCongestionControl); the methods are called with
// the Conn's lock held and must not block or allocate on the ACK path.
type CongestionControl interface {
	// Name is the algorithm's name as Config.CongestionControl and the
	// CLI's --cc spell it.
	Name() string
	// Init sets the initial Cwnd and Ssthresh once the send MSS is known
	// (again if the handshake changes it).
	Init(s *CCState)
	// OnAck is called for every ACK that delivered data (advanced SND.UNA
	// or SACKed new data), after loss detection ran on it; for algorithms
	// without RecoveryOwner only if it advanced SND.UNA (as Linux's
	// tcp_may_raise_cwnd: the duplicate ACKs that SACK new data do not
	// grow cwnd, RFC 3042). Algorithms without RecoveryOwner must not grow
	// Cwnd while s.InRecovery (the sender's PRR sets it).
	OnAck(s *CCState, rs *RateSample)
	// OnCongestionEvent is called when the sender enters fast recovery
	// (at most once per window of data, RFC 5681 3.2, RFC 6675 5, RFC
	// 8985 6.2): the algorithm sets the new Ssthresh (the target PRR
	// reduces Cwnd towards).
	OnCongestionEvent(s *CCState)
	// OnRecoveryExit is called when fast recovery ends (SND.UNA passed the
	// recovery point). For algorithms without RecoveryOwner the sender has
	// already set Cwnd = Ssthresh (RFC 6937).
	OnRecoveryExit(s *CCState)
	// OnRTO is called when the retransmission timer expired (RFC 5681
	// 3.1 (4): loss window of one segment for loss-based algorithms).
	OnRTO(s *CCState)
	// OnIdleRestart is called before new data is sent after an idle
	// period longer than the RTO (RFC 5681 4.1).
	OnIdleRestart(s *CCState)
	// OnHandshakeLoss is called when the handshake completes after our
	// SYN or SYN-ACK had to be retransmitted (RFC 5681 3.1).
	OnHandshakeLoss(s *CCState)
	// PacingRate is the rate, in bytes per second, at which the sender
	// spaces its transmissions; 0 means no pacing.
	PacingRate(s *CCState) uint64
}

// RecoveryOwner is implemented by an algorithm that sets Cwnd itself
// during fast recovery (a model-based one such as BBR); the sender then
// skips PRR.
type RecoveryOwner interface {
	OwnsRecovery() bool
}

// DefaultCongestionControl is the algorithm used when
// Config.CongestionControl is empty.
const DefaultCongestionControl = "cubic"

var ccRegistry = map[string]func() CongestionControl{}

// registerCC makes an algorithm available by name (called from each
// algorithm's file).
func registerCC(name string, f func() CongestionControl) { ccRegistry[name] = f }

// NewCongestionControl returns a new instance of the named algorithm, or an
// error listing the known names.
func NewCongestionControl(name string) (CongestionControl, error) {
	if name == "" {
		name = DefaultCongestionControl
	}
	if f, ok := ccRegistry[name]; ok {
		return f(), nil
	}
	return nil, fmt.Errorf("unknown congestion control %q (have %v)", name, CongestionControlNames())
}

// CongestionControlNames lists the registered algorithms, sorted.
func CongestionControlNames() []string {
	names := make([]string, 0, len(ccRegistry))
	for n := range ccRegistry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
