package tcp

// Proportional Rate Reduction (RFC 6937) decides how much the sender may
// send on each ACK during fast recovery, for algorithms that do not own
// recovery (RecoveryOwner): it spreads the reduction of cwnd to ssthresh
// over the recovery's round trip, one segment for every
// RecoverFS/ssthresh delivered while pipe is above ssthresh, and slow
// starts back up to ssthresh (PRR-SSRB) when losses took pipe below it.
// Linux does the same (tcp_cwnd_reduction).

type prrState struct {
	delivered uint32 // prr_delivered: data delivered since recovery began
	out       uint32 // prr_out: data sent since recovery began
	recoverFS uint32 // RecoverFS: FlightSize when recovery began
}

// prrStart is RFC 6937 3.1 "At the beginning of recovery".
func (c *Conn) prrStart() {
	c.prr = prrState{recoverFS: max(c.flight(), 1)}
}

// prrOnAck is RFC 6937 3.1 "On every ACK during recovery": cwnd = pipe +
// sndcnt.
func (c *Conn) prrOnAck(deliveredData uint32) {
	c.prr.delivered += deliveredData
	pipe := c.pipe()
	c.ccs.Cwnd = pipe + prrSndcnt(&c.prr, deliveredData, pipe, c.ccs.Ssthresh, uint32(c.sndMSS))
}

// prrSndcnt is RFC 6937 3.1's sndcnt for an ACK that delivered
// deliveredData (already added to prr_delivered) with pipe in flight.
func prrSndcnt(p *prrState, deliveredData, pipe, ssthresh, mss uint32) uint32 {
	var sndcnt int64
	if pipe > ssthresh {
		// Proportional rate reduction:
		// sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out,
		// the CEIL taken to a whole MSS (Linux counts segments): the
		// sender sends whole segments, and a byte-exact target would
		// hold each one back an ACK longer than the proportion says.
		target := (uint64(p.delivered)*uint64(ssthresh) + uint64(p.recoverFS) - 1) / uint64(p.recoverFS)
		target = (target + uint64(mss) - 1) / uint64(mss) * uint64(mss)
		sndcnt = int64(target) - int64(p.out)
	} else {
		// PRR-SSRB (slow start reduction bound):
		// limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS
		// sndcnt = MIN(ssthresh - pipe, limit)
		limit := max(int64(p.delivered)-int64(p.out), int64(deliveredData)) + int64(mss)
		sndcnt = min(int64(ssthresh)-int64(pipe), limit)
	}
	sndcnt = max(sndcnt, 0)
	if p.out == 0 && sndcnt < int64(mss) {
		// As Linux (tcp_cwnd_reduction), not in RFC 6937: the fast
		// retransmit goes out on the ACK that starts recovery even when
		// the proportion would hold it back.
		sndcnt = int64(mss)
	}
	return uint32(sndcnt)
}
