package tcp

import "time"

// Receive-buffer auto-tuning: the receive buffer, and with it the window we
// offer, grows with the rate at which the application reads, measured per
// round trip, as Linux's dynamic right-sizing does (tcp_rcv_space_adjust;
// Fisk and Feng, "Dynamic Right-Sizing in TCP", 2001). A fixed 256 KiB
// window caps a 40 ms path at 52 Mbit/s whatever the link; a buffer sized
// for every path at once would hold megabytes per idle connection. RFC 9293
// and RFC 7323 leave the buffer size to the implementation; the window
// scale we offer (Config.RcvWindowShift) is sized for the largest buffer
// (Config.RecvBufferMax), since it cannot change after the handshake (RFC
// 7323 2.2).
//
// Every round trip (the receiver's RTT estimate, rcvRTTSample), the bytes
// the application read during it are compared with the round before. If
// they grew, the buffer bound becomes twice that amount plus 16 segments,
// plus twice the growth rate (the sender may still be in slow start),
// capped at RecvBufferMax — Linux's formula. The bound never decreases, so
// the offered window never shrinks (RFC 7323 2.4, RFC 9293 3.8.6.2.2). An
// application that does not read makes no room and gains nothing; one that
// set its buffer size (SetRecvBufferSize, like SO_RCVBUF) keeps it.

// DefaultRecvBufferMax is the most auto-tuning grows a receive buffer to:
// 6 MiB, as Linux's net.ipv4.tcp_rmem[2]. At a 40 ms RTT that is 1.2
// Gbit/s.
const DefaultRecvBufferMax = 6 << 20

// rcvSpaceInitSegs is the first round's reference amount, in segments
// (Linux: TCP_INIT_CWND, 10).
const rcvSpaceInitSegs = 10

// rcvRTTSample takes the receiver's RTT sample from the TSecr of arriving
// in-order data: the time since we sent the ACK whose TSval the peer
// echoes, which is how long the peer takes to answer an ACK with data
// (Linux: tcp_rcv_rtt_measure_ts). Smoothed with gain 1/8 (RFC 6298 2.3's
// alpha). Without timestamps the sender's SRTT stands in (rcvRTTEstimate).
func (c *Conn) rcvRTTSample(now time.Time) {
	if c.ackTSecr == 0 {
		return
	}
	r, ok := c.tsRTT(now, c.ackTSecr)
	if !ok {
		return
	}
	if c.rcvRTT == 0 {
		c.rcvRTT = r
	} else {
		c.rcvRTT += (r - c.rcvRTT) / 8
	}
}

// rcvRTTEstimate is the round trip auto-tuning measures over.
func (c *Conn) rcvRTTEstimate() time.Duration {
	if c.rcvRTT > 0 {
		return c.rcvRTT
	}
	return c.rto.SRTT()
}

// rcvSpaceAdjust is called when the application has read: once per round
// trip it compares what was read with the previous round and grows the
// buffer bound (see the top of this file).
func (c *Conn) rcvSpaceAdjust(now time.Time, n int) {
	c.rcvCopied += uint64(n)
	if c.rcvSpaceAt == 0 {
		c.rcvSpace = min(c.opts.rcvBuf, rcvSpaceInitSegs*c.cfg.mss())
		c.rcvSpaceMark, c.rcvSpaceAt = c.rcvCopied-uint64(n), c.inst(now)
		return
	}
	rtt := c.rcvRTTEstimate()
	if rtt <= 0 || c.since(now, c.rcvSpaceAt) < rtt {
		return
	}
	copied := int(c.rcvCopied - c.rcvSpaceMark)
	c.rcvSpaceMark, c.rcvSpaceAt = c.rcvCopied, c.inst(now)
	if copied <= c.rcvSpace {
		return
	}
	limit := c.cfg.recvBufferMax()
	if c.opts.rcvBufLocked || c.opts.rcvBuf >= limit {
		c.rcvSpace = copied
		return
	}
	win := int64(2*copied + 16*c.cfg.mss())
	grow := win * int64(copied-c.rcvSpace) / int64(c.rcvSpace)
	win += 2 * grow
	if nb := int(min(win, int64(limit))); nb > c.opts.rcvBuf {
		c.opts.rcvBuf = nb
	}
	c.rcvSpace = copied
}
