package tcp

import (
	"fmt"
	"strings"
	"time"
)

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
	SndMSS         uint16 // effective send MSS: payload of a full-sized segment

	// Negotiated options (RFC 2018 2, RFC 7323 3.2) and the timestamp
	// state (RFC 7323 4.3).
	SACKOK, TimestampsOK bool
	TSRecent             uint32
	RTTLatest            time.Duration // the most recent RTT sample
	RTTAck               time.Duration // the sample the last segment processed gave, 0 if none

	// Receive-buffer auto-tuning: the buffer bound now, the receiver's RTT
	// estimate and the bytes read in the last round that grew it.
	RecvBufLimit int
	RcvRTT       time.Duration
	RcvSpace     int

	SRTT, RTTVar, RTO time.Duration
	Cwnd, Ssthresh    uint32
	InRecovery        bool   // fast recovery
	InLossRTO         bool   // recovering from a retransmission timeout
	CongestionControl string // the algorithm's name
	Pipe              uint32 // RFC 6675 pipe: bytes in flight
	SackedOut         uint32 // bytes SACKed above SND.UNA
	LostOut           uint32 // bytes marked lost, not yet retransmitted
	Delivered         uint64 // bytes delivered over the connection's life
	MinRTT            time.Duration
	PacingRate        uint64 // bytes per second, 0: not paced

	// SoftErr is the ICMP soft error a timeout would report (Conn.SoftErr).
	SoftErr error

	SendQueued, RecvQueued int // bytes in the send and receive buffers
	SendBufCap, RecvBufCap int // bytes currently allocated for them

	SegsIn, SegsOut   uint64
	BytesIn, BytesOut uint64 // payload bytes: received in window, sent for the first time
	Retransmits       uint64 // retransmitted segments (timeouts, fast retransmits, SYNs)
	RetransBytes      uint64
	FastRetransmits   uint64 // fast recoveries entered (SACKRecoveries + RenoRecoveries)
	RTOExpiries       uint64
	SACKRecoveries    uint64 // fast recoveries with SACK (RFC 6675)
	RenoRecoveries    uint64 // fast recoveries without (RFC 6582)
	RetransFast       uint64 // segments retransmitted in fast recovery
	RetransRTO        uint64 // segments retransmitted after an RTO
	RetransOther      uint64 // other retransmissions (tail loss probes, path MTU)
	SACKedBytes       uint64 // bytes newly SACKed by the peer
	LostMarked        uint64 // transmission records marked lost
	RecoveryUndos     uint64 // fast recoveries undone: D-SACKs showed every retransmission spurious (RFC 3708)
	DupAcksIn         uint64
	ChallengeACKs     uint64
	OutOfOrderSegs    uint64
	ZeroWindowProbes  uint64
	KeepaliveProbes   uint64
	// RACK-TLP (RFC 8985).
	RACKLosses      uint64 // records RACK marked lost
	TLPProbes       uint64 // tail loss probes sent
	TLPRecoveries   uint64 // losses repaired by a tail loss probe alone
	ReoWndAdapts    uint64 // reordering window adaptations (D-SACK widenings, resets)
	SpuriousRetrans uint64 // D-SACK blocks received: segments that arrived twice
	PAWSDrops       uint64 // RFC 7323 5.3: segments with an old TSval, dropped
	OOODropped      uint64 // out-of-order segments dropped because MaxOOORanges ranges were in use
	TSMissing       uint64 // RFC 7323 3.2: segments without TSopt after negotiation (processed anyway, as Linux)

	// What a stalled connection's dump needs (a progress watchdog): the
	// window-update bookkeeping, the loss-recovery and persist state, the
	// out-of-order ranges held and the armed deadlines (zero: not armed).
	SndWL1, SndWL2   Seq
	MaxSndWnd        uint32
	Retries          int // consecutive retransmission timeouts
	PersistBackoff   int
	ProbesUnanswered int
	ProbeOut         bool // a zero-window probe byte is outstanding
	DupAcks          int
	OOO              Ranges
	RtxAt, PersistAt time.Time
	RackAt, TLPAt    time.Time // RACK reordering timer, tail loss probe
	DelackAt, KaAt   time.Time
	StateAt          time.Time
}

// Ranges is a copy of the out-of-order ranges held, [start, end) each.
type Ranges struct {
	r [maxOOORanges]seqRange
	n int
}

// Len returns the number of ranges.
func (r Ranges) Len() int { return r.n }

// At returns range i.
func (r Ranges) At(i int) (start, end Seq) { return r.r[i].start, r.r[i].end }

// String lists the ranges as "[start,end) ...", or "-" when there are none.
func (r Ranges) String() string {
	if r.n == 0 {
		return "-"
	}
	var b strings.Builder
	for i := range r.n {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "[%d,%d)", r.r[i].start, r.r[i].end)
	}
	return b.String()
}

// SendMSS returns the effective send MSS (RFC 9293 3.7.1): the payload
// size of a full-sized segment, which a runtime using Config.GSOMaxSize
// gives its link as the size to cut segments to.
func (c *Conn) SendMSS() uint16 { return c.sndMSS }

// Info returns the current counters and variables.
func (c *Conn) Info() Info {
	// The congestion state; for a Conn that has not needed it yet, a
	// freshly initialised one that is not kept (Info must not make an
	// idle Conn bigger: the runtime's statistics call it for every Conn).
	b := c.ccBox
	if b == nil {
		b = &ccBox{cc: newCC(c.cfg.CongestionControl)}
		b.ccs.MSS = uint32(c.sndMSS)
		b.cc.Init(&b.ccs)
	}
	in := Info{
		State: c.state, Tuple: c.tuple,
		ISS: c.ISS, IRS: c.IRS, SndUna: c.SndUna, SndNxt: c.SndNxt, SndMax: c.sndMax, RcvNxt: c.RcvNxt,
		SndWnd: c.SndWnd, RcvWnd: c.rcvWnd(), SndWndShift: c.sndShift, RcvWndShift: c.rcvShift, SndMSS: c.sndMSS,
		SACKOK: c.flags&flagSackRcv != 0, TimestampsOK: c.flags&flagTSOK != 0, TSRecent: c.tsRecent, RTTLatest: c.rttLatest, RTTAck: c.rttAck,
		RecvBufLimit: c.opts.rcvBuf, RcvRTT: c.rcvRTT, RcvSpace: c.rcvSpace,
		PAWSDrops: c.stats.pawsDrops, OOODropped: c.stats.oooDropped, TSMissing: c.stats.tsMissing,
		SRTT: c.rto.SRTT(), RTTVar: c.rto.RTTVar(), RTO: c.rto.RTO(),
		Cwnd: b.ccs.Cwnd, Ssthresh: b.ccs.Ssthresh, InRecovery: b.lossState == lossFast,
		InLossRTO: b.lossState == lossRTO, CongestionControl: b.cc.Name(),
		Pipe:      c.pipe(),
		Delivered: b.ccs.Delivered, MinRTT: b.ccs.MinRTT, PacingRate: b.cc.PacingRate(&b.ccs),
		SoftErr:    c.soft,
		SendQueued: c.sndBuf.n, RecvQueued: c.rcvBuf.n,
		SendBufCap: len(c.sndBuf.buf), RecvBufCap: c.rcvBuf.allocated(),
		SegsIn: c.stats.segsIn, SegsOut: c.stats.segsOut,
		BytesIn: c.stats.bytesIn, BytesOut: c.stats.bytesOut,
		Retransmits: c.stats.retransSegs, RetransBytes: c.stats.retransBytes,
		FastRetransmits: c.stats.fastRetransmits, RTOExpiries: c.stats.rtoExpiries,
		DupAcksIn: c.stats.dupAcksIn, ChallengeACKs: c.stats.challengeACKs,
		OutOfOrderSegs: c.stats.oooSegs, ZeroWindowProbes: c.stats.zeroWindowProbes,
		KeepaliveProbes: c.stats.keepaliveProbes,
		RACKLosses:      c.stats.rackLosses, TLPProbes: c.stats.tlpProbes, TLPRecoveries: c.stats.tlpRecoveries,
		ReoWndAdapts: c.stats.reoWndAdapts, SpuriousRetrans: c.stats.spuriousRetrans,
		RackAt: c.time(b.rack.rackAt), TLPAt: c.time(b.rack.tlp.at),
		SndWL1: c.SndWL1, SndWL2: c.SndWL2, MaxSndWnd: c.maxSndWnd,
		Retries: int(c.retries), PersistBackoff: int(c.persistBackoff), ProbesUnanswered: int(c.probesUnanswered),
		ProbeOut: c.flags&flagProbe != 0, DupAcks: b.dupAcks,
		OOO:   c.ooo.ranges(),
		RtxAt: c.time(c.rtxAt), PersistAt: c.time(c.persistAt), DelackAt: c.time(c.delackAt), KaAt: c.time(c.kaAt), StateAt: c.time(c.stateAt),
	}
	if a := c.ackState; a != nil {
		in.SackedOut, in.LostOut = a.sb.sackedBytes, a.sb.lostBytes
	}
	l := &b.lstats
	in.SACKRecoveries, in.RenoRecoveries = l.sackRecoveries, l.renoRecoveries
	in.RetransFast, in.RetransRTO, in.RetransOther = l.rtxFast, l.rtxRTO, l.rtxOther
	in.SACKedBytes, in.LostMarked = l.sackedBytes, l.lostMarked
	in.RecoveryUndos = l.undos
	return in
}
