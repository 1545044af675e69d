package tcp

import "time"

// Info is a snapshot of a connection for diagnostics (like Linux's
// tcp_info).
type Info struct {
	State State
	Tuple Tuple

	ISS, IRS       Seq
	SndUna, SndNxt Seq
	SndMax         Seq
	RcvNxt         Seq
	SndWnd         uint32 // peer's window, scaled
	RcvWnd         uint32 // our advertised window, scaled
	SndWndShift    uint8
	RcvWndShift    uint8
	SndMSS         uint16 // effective send MSS

	SRTT, RTTVar, RTO time.Duration
	Cwnd, Ssthresh    uint32
	InRecovery        bool

	// SoftErr is the ICMP soft error a timeout would report (Conn.SoftErr).
	SoftErr error

	SendQueued, RecvQueued int // bytes in the send and receive buffers
	SendBufCap, RecvBufCap int // bytes currently allocated for them

	SegsIn, SegsOut   uint64
	BytesIn, BytesOut uint64 // payload bytes: received in window, sent for the first time
	Retransmits       uint64 // retransmitted segments (timeouts, fast retransmits, SYNs)
	RetransBytes      uint64
	FastRetransmits   uint64
	RTOExpiries       uint64
	DupAcksIn         uint64
	ChallengeACKs     uint64
	OutOfOrderSegs    uint64
	ZeroWindowProbes  uint64
	KeepaliveProbes   uint64
}

// SendMSS returns the effective send MSS (RFC 9293 3.7.1): the payload
// size of a full-sized segment, which a runtime using Config.GSOMaxSize
// gives its link as the size to cut segments to.
func (c *Conn) SendMSS() uint16 { return c.sndMSS }

// Info returns the current counters and variables.
func (c *Conn) Info() Info {
	return Info{
		State: c.state, Tuple: c.tuple,
		ISS: c.ISS, IRS: c.IRS, SndUna: c.SndUna, SndNxt: c.SndNxt, SndMax: c.sndMax, RcvNxt: c.RcvNxt,
		SndWnd: c.SndWnd, RcvWnd: c.rcvWnd(), SndWndShift: c.sndShift, RcvWndShift: c.rcvShift, SndMSS: c.sndMSS,
		SRTT: c.rto.SRTT(), RTTVar: c.rto.RTTVar(), RTO: c.rto.RTO(),
		Cwnd: c.cc.Cwnd(), Ssthresh: c.cc.Ssthresh(), InRecovery: c.cc.InRecovery(),
		SoftErr:    c.soft,
		SendQueued: c.sndBuf.n, RecvQueued: c.rcvBuf.n,
		SendBufCap: len(c.sndBuf.buf), RecvBufCap: len(c.rcvBuf.buf),
		SegsIn: c.stats.segsIn, SegsOut: c.stats.segsOut,
		BytesIn: c.stats.bytesIn, BytesOut: c.stats.bytesOut,
		Retransmits: c.stats.retransSegs, RetransBytes: c.stats.retransBytes,
		FastRetransmits: c.stats.fastRetransmits, RTOExpiries: c.stats.rtoExpiries,
		DupAcksIn: c.stats.dupAcksIn, ChallengeACKs: c.stats.challengeACKs,
		OutOfOrderSegs: c.stats.oooSegs, ZeroWindowProbes: c.stats.zeroWindowProbes,
		KeepaliveProbes: c.stats.keepaliveProbes,
	}
}
