package tcp

// dropBackoff removes the RTO's exponential backoff once an ACK
// acknowledges data that was sent only once: RFC 8961 4 (4), "The backoff
// SHOULD be removed after either (a) the subsequent successful transmission
// of non-retransmitted data, or (b) an RTO passes without detecting
// additional losses". Only (a) is applied. Karn's rule still holds for
// the estimate (no sample from retransmitted data) and for an ACK that
// covers only retransmitted data: the backed-off RTO stays (RFC 6298 5, the
// note after 5.7), in case the path's RTT grew past the RTO, which (b)
// would forget after one RTO (TestReview_RFC6298_5_KarnBackoffKeptUntilSample
// keeps that behaviour).
//
// Without this, backoff left over from one loss episode carries into the
// next whenever no clean sample came in between (go-back-N and NewReno
// retransmissions void every timed segment), and under sustained loss the
// RTO ratchets up to its 60 s cap while the RTT is a fraction of a
// millisecond: the connection stalls for tens of seconds at a time, which
// is how issue 8's connections "wedged" under 3 % loss. Linux escapes this
// with timestamps (RTT samples from retransmissions, RFC 7323 4), SACK and
// F-RTO. With timestamps negotiated, the TSecr of an ACK of retransmitted
// data is such a sample here too (ackRTT, timestamps.go) and removes the
// backoff before this runs; without them this rule is what remains.
func (c *Conn) dropBackoff(ack Seq) {
	if c.flags&flagRtxHigh == 0 || ack.GreaterThan(c.rtxHigh) {
		c.flags &^= flagRtxHigh
		c.rto.ResetBackoff()
		return
	}
	c.rto.LimitBackoff(carriedBackoffs)
}

// carriedBackoffs is how many doublings of the RTO an ACK of retransmitted
// data leaves in place. A deliberate deviation from RFC 6298 5 (the note
// after 5.7), which keeps the whole backoff until a new RTT measurement,
// and a milder one than RFC 8961 4 (4)(b), which drops it all: the
// exponential growth belongs to consecutive timeouts of the same data
// (RFC 6298 5.5), and once the peer has acknowledged the retransmission
// only two doublings carry into what follows, room for a path whose RTT
// has up to quadrupled (Karn's concern) before a sample says so. Without
// the cap, a go-back-N recovery in which a retransmission is lost again
// and again (every ACK covers only retransmitted data, so no sample and
// no rule (a)) ratchets the RTO: TestLossWedge against the kernel caught
// a connection at RTO 25.6 s with an SRTT of 91 us, stalled 25 s.
const carriedBackoffs = 2
