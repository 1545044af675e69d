package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/timers"
)

// Seq is a shorthand for segment.Seq.
type Seq = segment.Seq

// Conn is one TCP connection: the transmission control block (TCB) of RFC
// 9293 3.3.1 plus its buffers and timers. It is a deterministic state
// machine: every method takes "now", emits segments through the Sink and
// never blocks, reads a clock or starts a goroutine.
//
// Concurrency: a Conn is not safe for concurrent use. The runtime holds one
// lock per Conn around every method call (package stack takes that lock
// before its demux lock, never the reverse); the Sink and Config.Trace are
// called with that lock held and must not call back into the Conn (a
// runtime that must not do I/O under its lock queues what the Sink gets and
// implements Tracer to receive transitions the same way).
//
// Send sequence space (RFC 9293 3.3.1, Figure 3):
//
//	           1         2          3          4
//	      ----------|----------|----------|----------
//	             SND.UNA    SND.NXT    SND.UNA
//	                                  +SND.WND
//
//	1 - old sequence numbers that have been acknowledged
//	2 - sequence numbers of unacknowledged data
//	3 - sequence numbers allowed for new data transmission
//	4 - future sequence numbers that are not yet allowed
//
// Receive sequence space (RFC 9293 3.3.1, Figure 4):
//
//	               1          2          3
//	           ----------|----------|----------
//	                  RCV.NXT    RCV.NXT
//	                            +RCV.WND
//
//	1 - old sequence numbers that have been acknowledged
//	2 - sequence numbers allowed for new reception
//	3 - future sequence numbers that are not yet allowed
//
// Implementation notes on the sequence variables:
//   - sndMax is the highest sequence number ever sent. After a
//     retransmission timeout SndNxt goes back to SndUna (go-back-N) while
//     sndMax stays, so an ACK is acceptable up to sndMax.
//   - The send buffer holds the bytes from sndBufSeq (= SndUna once the SYN
//     is acknowledged) to sndBufSeq+sndBuf.n; a FIN, once queued, sits at
//     sequence number sndBufSeq+sndBuf.n.
//   - rcvAdv is RCV.NXT+RCV.WND as last advertised: the right edge of the
//     receive window, which never moves left (RFC 9293 3.8.6.2.2,
//     RFC 7323 2.4).
type Conn struct {
	cfg   *Config
	tuple Tuple
	sink  Sink
	state State
	flags connFlags
	err   error // terminal error
	soft  error // last ICMP soft error since new data was last acknowledged

	sender   // send sequence variables, send buffer, retransmission, congestion control (sender.go)
	receiver // receive sequence variables, receive buffer, reassembly, delayed ACK (receiver.go)

	opts connOpts // per-connection settings (sockopt.go)

	// Deadlines; zero means not armed (the sender's and receiver's own
	// are in their halves). Instants count from epoch (instant.go).
	kaAt    instant
	stateAt instant // TIME-WAIT or FIN-WAIT-2 expiry
	epoch   time.Time

	chalFrom instant
	kaProbes int32
	chalN    int32

	out   segment.Segment // scratch for Sink.Output
	stats counters
}

type connFlags uint32

const (
	flagPassive       connFlags = 1 << iota // opened by AcceptSYN/AcceptCookie
	flagFinQueued                           // CloseWrite/Close: a FIN follows the queued data
	flagReadClosed                          // Close: the application reads no more
	flagRcvFin                              // the peer's FIN has been received (in order)
	flagRcvFinPending                       // a FIN arrived out of order, at rcvFinSeq
	flagRTTTiming                           // rttSeq/rttStart measure a segment (RFC 6298 3, Karn)
	flagAckNow                              // an ACK must go out at the end of this call
	flagSynOptWS                            // window scaling is (to be) agreed: echo it in the SYN-ACK
	flagProbe                               // a one-byte zero-window probe at SND.NXT is outstanding
	flagOpened                              // Connect, AcceptSYN or AcceptCookie was called
	flagTWAckedSYN                          // in TIME-WAIT: the last segment was a SYN we ACKed (TimeWait.AckedSYN)
	flagRtxHigh                             // rtxHigh is valid: data below it was retransmitted
	flagSackOK                              // the sender uses SACK (RFC 2018 2 negotiated, flagSackRcv, and senderUsesSACK): RACK-TLP, scoreboard
	flagTSOK                                // timestamps are in use: both SYNs carried TSopt (RFC 7323 3.2)
	flagSackRcv                             // both SYNs carried SACK-permitted: we report SACK blocks (RFC 2018 4); flagSackOK follows once the sender uses SACK (senderUsesSACK)
	flagEpochWall                           // epoch has no monotonic clock reading (a manual clock): instants are wall differences (instant.go)
)

type counters struct {
	segsIn, segsOut   uint64
	bytesIn, bytesOut uint64
	retransSegs       uint64
	retransBytes      uint64
	dupAcksIn         uint64
	challengeACKs     uint64
	oooSegs           uint64
	fastRetransmits   uint64 // fast recoveries entered (each begins with a fast retransmit)
	rtoExpiries       uint64
	zeroWindowProbes  uint64
	keepaliveProbes   uint64
	rackLosses        uint64 // records RACK marked lost (RFC 8985 6.2)
	tlpProbes         uint64 // tail loss probes sent (RFC 8985 7.3)
	tlpRecoveries     uint64 // losses repaired by a probe alone (RFC 8985 7.4)
	reoWndAdapts      uint64 // reordering window widened or reset (RFC 8985 6.2 step 4)
	spuriousRetrans   uint64 // D-SACK blocks received (RFC 2883)
	pawsDrops         uint64 // RFC 7323 5.3: segments dropped for an old TSval
	oooDropped        uint64 // out-of-order segments dropped: every range of the queue in use
	tsMissing         uint64 // RFC 7323 3.2: segments without TSopt (processed, see tsCheck)
}

// NewConn returns a connection in state CLOSED for tuple t. cfg may be nil
// (DefaultConfig); it is retained and must not change afterwards. Nothing is
// sent until Connect, AcceptSYN or AcceptCookie.
func NewConn(cfg *Config, t Tuple, sink Sink) *Conn {
	if cfg == nil {
		cfg = &defaultConfig
	}
	c := &Conn{cfg: cfg, tuple: t, sink: sink}
	c.opts = cfg.connOpts()
	c.rto = timers.NewRTOEstimator(cfg.RTO)
	c.sndMSS = MinMSS
	c.rcvMSSEst = MinMSS
	if cfg.Timestamps {
		c.tsOffset = cfg.tsOffset(t)
	}
	if r, ok := sink.(BufferReleaser); ok {
		c.sndBuf.rel = r
	}
	return c
}

// State returns the current state.
func (c *Conn) State() State { return c.state }

// Tuple returns the connection's addresses and ports.
func (c *Conn) Tuple() Tuple { return c.tuple }

// Err returns the terminal error: syscall.ECONNRESET, ECONNREFUSED or
// ETIMEDOUT, or nil (still open, or closed cleanly).
func (c *Conn) Err() error { return c.err }

// SoftError records an ICMP soft error (RFC 1122 4.2.3.9: destination
// unreachable codes 0, 1, 5 and the like must not abort the connection). It
// changes nothing now; if the connection later times out it is the error
// reported instead of ETIMEDOUT (timeoutErr), unless the peer acknowledges
// new data first, which shows the path works again and forgets it (as
// Linux clears sk_err_soft in tcp_ack). SoftErr and Info report it
// meanwhile.
func (c *Conn) SoftError(err error) {
	c.soft = err
	c.sink.Notify(EventSoftError)
}

// SoftErr returns the soft error recorded by SoftError that a timeout would
// report, or nil.
func (c *Conn) SoftErr() error { return c.soft }

// Readable returns the number of bytes Read can return now.
func (c *Conn) Readable() int { return c.rcvBuf.n }

// Writable returns the free space in the send buffer (0 once the write side
// is closed).
func (c *Conn) Writable() int {
	if c.flags&flagFinQueued != 0 || c.state == StateClosed && c.flags&flagOpened != 0 {
		return 0
	}
	return max(c.sndLimit()-c.sndBuf.n, 0)
}

// setState moves to a new state and reports it to Config.Trace, or to the
// Sink if it is a Tracer.
func (c *Conn) setState(now time.Time, to State, seg *segment.Segment) {
	from := c.state
	c.state = to
	if c.cfg.Trace != nil && from != to {
		tr := Transition{Time: now, Tuple: c.tuple, From: from, To: to, Seg: seg}
		if t, ok := c.sink.(Tracer); ok {
			t.Trace(tr)
		} else {
			c.cfg.Trace(tr)
		}
	}
}

// synUnacked reports whether our SYN (SYN-ACK) awaits its ACK after the
// peer's SYN arrived: SYN-RECEIVED, or FIN-WAIT-1 entered from it by
// CloseWrite.
func (c *Conn) synUnacked() bool {
	return c.SndUna == c.ISS && c.state != StateSynSent && c.flags&flagOpened != 0
}

// synchronized reports whether the state is one of RFC 9293's synchronized
// states (ESTABLISHED and later).
func (c *Conn) synchronized() bool {
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait,
		StateClosing, StateLastAck, StateTimeWait:
		return true
	}
	return false
}

// close moves to CLOSED with the given terminal error, disarms every timer
// and frees the buffers. The application is told through EventClosed.
func (c *Conn) close(now time.Time, err error, seg *segment.Segment) {
	if c.state == StateClosed {
		return
	}
	if err != nil && c.err == nil {
		c.err = err
	}
	c.setState(now, StateClosed, seg)
	c.rtxAt, c.delackAt, c.persistAt, c.kaAt, c.stateAt = 0, 0, 0, 0, 0
	c.rackStopTimers()
	if c.ackState != nil {
		c.pace.at = time.Time{}
	}
	if c.ccBox != nil {
		c.lossState = lossNone
	}
	c.flags &^= flagAckNow
	// Unsent and unacknowledged data is gone; received data stays readable
	// after a clean close (it cannot exist after a reset: Read returns the
	// error first, as Linux does).
	if err != nil {
		c.rcvBuf.n = 0
	}
	c.releaseBuffers()
	c.sink.Notify(EventClosed)
}

// releaseBuffers drops the send queue and the out-of-order ranges and frees
// their memory, and the receive ring's once nothing in it is left to read:
// for a connection that will send and accept no more data.
func (c *Conn) releaseBuffers() {
	c.sndBuf.n = 0
	c.sndBuf.release()
	c.txq.release()
	if a := c.ackState; a != nil {
		c.ackState = nil
		ackStatePool.Put(a)
	}
	c.ooo.reset()
	if c.rcvBuf.n == 0 {
		c.rcvBuf.release()
	}
}

// HandleSegment processes one arriving segment (RFC 9293 3.10.7). seg is
// only read during the call; the Conn keeps no reference to it or its
// payload. Addresses are not checked: the runtime demultiplexed already.
func (c *Conn) HandleSegment(now time.Time, seg *segment.Segment) {
	c.stats.segsIn++
	switch c.state {
	case StateClosed, StateListen:
		// RFC 9293 3.10.7.1/3.10.7.2: the runtime answers these (ResetFor,
		// its listener); a Conn that is CLOSED ignores segments.
		return
	case StateSynSent:
		c.synSentSegment(now, seg)
	case StateTimeWait:
		c.timeWaitSegment(now, seg)
	default:
		c.otherSegment(now, seg)
	}
	c.flush(now)
}

// flush transmits what the call made possible: new data, a FIN, and any
// pending immediate ACK.
func (c *Conn) flush(now time.Time) {
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
		c.output(now)
		c.tlpSchedule(now)
	}
	if c.flags&flagAckNow != 0 {
		c.sendAck(now)
	}
}

// otherSegment is RFC 9293 3.10.7.4 "Otherwise": SYN-RECEIVED and the
// synchronized states, in the RFC's order: sequence number, RST, SYN, ACK,
// URG, text, FIN.
func (c *Conn) otherSegment(now time.Time, seg *segment.Segment) {
	if c.synUnacked() && (c.dupSyn(now, seg) || c.crossingSynAck(now, seg)) {
		return
	}
	// RFC 7323 3.2 and 5.3 R1 (PAWS), before the sequence number check.
	if c.tsCheck(now, seg) {
		return
	}
	// First: check the sequence number.
	seq, payload, fin, ok := c.acceptable(seg)
	if !ok {
		// "If an incoming segment is not acceptable, an acknowledgment
		// should be sent in reply (unless the RST bit is set, if so drop
		// the segment and return)".
		switch {
		case seg.Flags&segment.FlagRST != 0:
			c.resetAtFinSeq(now, seg)
		case seg.Flags&segment.FlagSYN != 0:
			// RFC 5961 4.2: a SYN gets a challenge ACK "irrespective
			// of the sequence number", within the rate limit.
			c.challengeAck(now)
		default:
			c.flags |= flagAckNow
		}
		return
	}
	// Second: the RST bit (RFC 5961 3.2).
	if seg.Flags&segment.FlagRST != 0 {
		c.rstArrived(now, seg)
		return
	}
	// Fourth: the SYN bit (RFC 5961 4.2; the third step, security, does
	// not apply).
	if seg.Flags&segment.FlagSYN != 0 {
		c.synInWindow(now, seg)
		return
	}
	// Fifth: the ACK field.
	if seg.Flags&segment.FlagACK == 0 {
		return // "if the ACK bit is off, drop the segment and return"
	}
	if !c.ackArrived(now, seg) {
		return
	}
	if c.state == StateClosed {
		return
	}
	c.lastHeard(now)
	// Sixth: URG. Urgent data is not supported (RFC 6093 advises against
	// its use); the urgent pointer is ignored and the bytes are ordinary
	// data.
	// Seventh: the segment text.
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
		if len(payload) > 0 {
			if c.flags&flagReadClosed != 0 {
				// As Linux: data for an application that has closed
				// its socket is answered with a RST (RFC 9293 3.10.7.4
				// leaves this to the implementation; RFC 1122 4.2.2.13
				// allows it).
				c.sendRst(now, c.sndMax)
				c.close(now, errReset, seg)
				return
			}
			c.receiveText(now, seq, payload)
		}
	}
	// Eighth: the FIN bit (or a FIN that was waiting for this text).
	if fin {
		c.finArrived(now, seq.Add(uint32(len(payload))), seg)
	} else {
		c.pendingFin(now, seg)
	}
}
