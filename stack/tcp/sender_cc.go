package tcp

import (
	"sync"
	"time"
)

// The sender's side of the congestion control interface (cc.go): the
// algorithm instance, and the CCState the sender maintains for it.

// newCC returns a Conn's algorithm: Config.CongestionControl, or the
// default if the name is unknown (the runtime rejects unknown names up
// front, stack.New; a Config built by hand falls back rather than fail).
func newCC(name string) CongestionControl {
	cc, err := NewCongestionControl(name)
	if err != nil {
		cc, _ = NewCongestionControl(DefaultCongestionControl)
	}
	return cc
}

// ccInit (re)starts congestion control once the send MSS is known (the
// handshake) with no loss recovery in progress. Before the state exists
// there is nothing to do: ccAlloc initialises it when it is first needed.
func (c *Conn) ccInit() {
	if c.ccBox == nil {
		return
	}
	c.lossState = lossNone
	c.recoveryPoint = c.ISS
	c.dupAcks = 0
	c.ccs.MSS = uint32(c.sndMSS)
	c.ccs.SRTT = c.rto.SRTT()
	c.cc.Init(&c.ccs)
}

// ccAlloc creates the congestion state and the algorithm when the sender
// first needs them (a Conn that never sends, as most idle ones in a large
// server, carries neither), and initialises it for the send MSS.
func (c *Conn) ccAlloc(now time.Time) {
	c.ccBox = &ccBox{cc: newCC(c.cfg.CongestionControl), recoveryPoint: c.SndUna}
	c.ccs.Now = now
	c.ccs.MSS = uint32(c.sndMSS)
	// The handshake's RTT sample (RFC 6298 3), if any: BBR's initial
	// pacing rate is InitialCwnd/SRTT (draft-ietf-ccwg-bbr 5.6.2), not
	// the 1 ms fallback meant for a connection without one.
	c.ccs.SRTT = c.rto.SRTT()
	c.cc.Init(&c.ccs)
}

// ccSync brings the sender-maintained fields of CCState up to date before
// a call into the algorithm, and returns it (creating it on first use).
func (c *Conn) ccSync(now time.Time) *CCState {
	if c.ccBox == nil {
		c.ccAlloc(now)
	}
	s := &c.ccs
	s.Now = now
	s.MSS = uint32(c.sndMSS)
	s.SndUna = c.SndUna
	s.SndNxt = c.sndMax
	s.Inflight = c.pipe()
	s.SRTT = c.rto.SRTT()
	s.InRecovery = c.lossState == lossFast
	s.AppLimited = c.rate.appLimited != 0
	s.NoSACK = c.flags&flagSackOK == 0
	return s
}

// ccOnAck is step (5) of the ACK pipeline: the algorithm sees the ACK's
// rate sample if it delivered data. An algorithm that does not own
// recovery (a window-growing one) sees only ACKs that advanced SND.UNA, as
// Linux calls cong_avoid only for FLAG_DATA_ACKED (tcp_may_raise_cwnd):
// RFC 5681 grows cwnd on cumulative acknowledgments, and RFC 3042 keeps it
// unchanged on the duplicate ACKs that SACK new data. The ACK that ended
// fast recovery does not grow the window PRR handed over (cwnd =
// ssthresh, RFC 6937 3.1; RFC 6582 3.2 step 3).
func (c *Conn) ccOnAck(now time.Time, acked uint32) {
	a := c.ackState
	if a.rs.AckedSacked == 0 || a.exited || acked == 0 && !c.ownsRecovery() {
		return
	}
	c.cc.OnAck(c.ccSync(now), &a.rs)
}

// ackStatePool holds the loss recovery working state of idle Conns: it is
// taken when data is sent and given back when the Conn has had nothing in
// flight for longer than the RTO (output) or closes, so an idle Conn holds
// none (TestUnitIdleConnHeap), a request/response Conn does not allocate,
// and a busy one does not go to the pool at every exchange.
var ackStatePool = sync.Pool{New: func() any { return new(ackState) }}

// ackStateGet gives the Conn its loss recovery state (sendSegment).
func (c *Conn) ackStateGet(now time.Time) {
	if c.ccBox == nil {
		c.ccAlloc(now)
	}
	a := ackStatePool.Get().(*ackState)
	*a = ackState{}
	c.ackState = a
}

// ackStatePut gives it back if nothing is left to track: no records, no
// recovery, no pacing deadline, no tail loss probe episode.
func (c *Conn) ackStatePut() {
	if a := c.ackState; a != nil && c.txq.n == 0 && c.lossState == lossNone && a.pace.at.IsZero() && !c.rack.tlp.on {
		c.ackState = nil
		ackStatePool.Put(a)
	}
}
