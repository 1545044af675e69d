package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// The SACK scoreboard (RFC 2018, RFC 6675) kept on the transmission
// records (txq.go): a record is SACKed when a SACK block covers it whole,
// lost when RFC 6675's IsLost, RACK (rack.go) or an RTO says so, until it
// is retransmitted. The counts below make pipe O(1); marking costs O(log n)
// per SACK block plus the records it newly covers (a cache of the previous
// ACK's blocks skips what they covered), so an ACK that brings no new SACK
// information costs no walk over the records.

type scoreboard struct {
	sackedBytes uint32 // bytes in records marked txSacked
	lostBytes   uint32 // bytes in records marked txLost
	// renoSacked, without SACK, is the data the duplicate ACKs say has
	// left the network, one SMSS each (as Linux's tcp_add_reno_sack): it
	// keeps pipe right for limited transmit (RFC 3042) and PRR (RFC 6937
	// 3: "DeliveredData ... 1 MSS for each duplicate ACK").
	renoSacked uint32
	highSacked Seq // end of the highest SACKed record (meaningful while sackedBytes > 0)
	// lostScan: no record starting below it is txLost (meaningful while
	// lostBytes > 0). lossMarked: RFC 6675 IsLost marking is done for
	// every record ending at or below it.
	lostScan, lossMarked Seq

	newlySacked uint32 // this ACK: bytes newly SACKed
	rescued     bool   // RFC 6675 NextSeg rule 4 used in this recovery (RescueRxt)
	ltBytes     uint32 // new data sent by limited transmit (RFC 3042) since the duplicate ACKs began
}

// pipe is RFC 6675's pipe: the data in the network, sent and not
// cumulatively acknowledged, less what is SACKed and what is deemed lost
// and not retransmitted since (a retransmission counts once, as Linux's
// packets_out - sacked_out - lost_out + retrans_out).
func (c *Conn) pipe() uint32 {
	f := c.flight()
	if c.ackState == nil {
		return f // nothing was ever sent (no records)
	}
	d := c.sb.sackedBytes + c.sb.lostBytes + c.sb.renoSacked
	if d >= f {
		return 0
	}
	return f - d
}

// ackRecords is step (1) of the ACK pipeline for the records: those the
// cumulative ACK covers are delivered (unless SACKed before) and dropped,
// with the scoreboard's counts.
func (c *Conn) ackRecords(now time.Time, ack Seq) {
	q := &c.txq
	if c.ackState == nil {
		c.recordsAcked(now, ack) // no records: a SYN or FIN alone
		return
	}
	sb := &c.sb
	for i := 0; i < q.n; i++ {
		r := q.at(i)
		if !r.start.LessThan(ack) {
			break
		}
		n := r.len()
		if r.end.GreaterThan(ack) {
			n = uint32(ack.Sub(r.start)) // the part acknowledged
		}
		switch {
		case r.flags&txSacked != 0:
			sb.sackedBytes -= n
		case r.flags&txLost != 0:
			sb.lostBytes -= n
			c.rateDelivered(now, r, n)
		default:
			c.rateDelivered(now, r, n)
		}
	}
	c.recordsAcked(now, ack)
	if q.n == 0 {
		sb.sackedBytes, sb.lostBytes, c.ncache = 0, 0, 0
	}
}

// sackUpdate is step (2) of the ACK pipeline: RFC 6675's Update() with the
// SACK blocks of seg (RFC 2018 3), after the cumulative ACK was applied.
func (c *Conn) sackUpdate(now time.Time, seg *segment.Segment) {
	o := &seg.Options
	var keep [segment.MaxSACKBlocks]segment.SACKBlock
	nkeep := 0
	for i := 0; i < o.NumSACK && i < segment.MaxSACKBlocks; i++ {
		b := o.SACK[i]
		if !b.Start.LessThan(b.End) {
			continue // malformed: ignored
		}
		// RFC 2883 4: the first block reports a duplicate segment
		// (D-SACK) when it lies at or below the cumulative ACK, or
		// within the second block.
		if i == 0 && (b.End.LessThanEq(seg.Ack) ||
			o.NumSACK > 1 && o.SACK[1].Start.LessThanEq(b.Start) && b.End.LessThanEq(o.SACK[1].End)) {
			c.onDSACK(b.Start, b.End) // RFC 8985 6.2 step 4 (rack.go)
			continue
		}
		// RFC 2018 / RFC 6675 5: only blocks within [SND.UNA, snd.max]
		// say anything about data in flight; others (stale, or forged)
		// are ignored.
		if b.Start.LessThan(c.SndUna) || b.End.GreaterThan(c.sndMax) {
			continue
		}
		c.sackBlock(now, b.Start, b.End)
		keep[nkeep] = b
		nkeep++
	}
	c.cache, c.ncache = keep, nkeep
}

// sackBlock marks the records [s, e) covers whole as SACKed. What a block
// of the previous ACK covered was marked then and is skipped: the block
// that grows with each ACK costs only its new part.
func (c *Conn) sackBlock(now time.Time, s, e Seq) {
	sb, a := &c.sb, c.ackState
	ts, te := s, e // the part to walk; coverage is checked against [s, e)
	for i := 0; i < a.ncache; i++ {
		cb := a.cache[i]
		if cb.Start.LessThanEq(ts) && te.LessThanEq(cb.End) {
			return
		}
		if cb.Start.LessThanEq(ts) && ts.LessThan(cb.End) {
			ts = cb.End
		} else if ts.LessThan(cb.Start) && cb.Start.LessThan(te) && te.LessThanEq(cb.End) {
			te = cb.Start
		}
	}
	q := &c.txq
	for i := q.search(ts); i < q.n; i++ {
		r := q.at(i)
		if !r.start.LessThan(te) {
			break
		}
		if r.flags&txSacked != 0 || r.start.LessThan(s) || r.end.GreaterThan(e) {
			continue
		}
		n := r.len()
		if r.flags&txLost != 0 {
			r.flags &^= txLost
			sb.lostBytes -= n
		}
		r.flags |= txSacked
		c.rackDelivered(now, r) // RFC 8985 6.2 steps 1-3
		sb.sackedBytes += n
		sb.newlySacked += n
		c.lstats.sackedBytes += uint64(n)
		if sb.sackedBytes == n || r.end.GreaterThan(sb.highSacked) {
			sb.highSacked = r.end
		}
		c.rateDelivered(now, r, n)
	}
}

// sackReneged forgets every SACK mark when the receiver has dropped data
// it SACKed: the record at SND.UNA is SACKed, yet the ACK stops short of
// it. RFC 2018 8: "the data sender MUST NOT discard data before it is
// acknowledged by the normal ACK"; the records count in pipe again and are
// resent when deemed lost (as Linux's tcp_check_sack_reneging).
func (c *Conn) sackReneged() {
	q := &c.txq
	for i := 0; i < q.n; i++ {
		if r := q.at(i); r.flags&txSacked != 0 {
			r.flags &^= txSacked
			c.rackUnsacked()
		}
	}
	c.sb.sackedBytes, c.ncache = 0, 0
	c.sb.lossMarked = c.SndUna
}

// markLost marks a record lost (RFC 6675 IsLost, RFC 8985 6.2, RFC 6675
// 5.1 after an RTO): it leaves pipe and is retransmitted next (RFC 6675
// NextSeg rule 1). A SACKed or already lost record is left alone.
func (c *Conn) markLost(r *txRecord) {
	if r.flags&(txLost|txSacked) != 0 {
		return
	}
	if c.sb.lostBytes == 0 || r.start.LessThan(c.sb.lostScan) {
		c.sb.lostScan = r.start
	}
	r.flags |= txLost
	n := r.len()
	c.sb.lostBytes += n
	c.ccs.Lost += uint64(n)
	c.newlyLost += n
	c.lstats.lostMarked++
}

// markLostBySACK is step (3) of the ACK pipeline for RFC 6675: after new
// SACK information, every unSACKed record for which IsLost holds, "DupThresh
// discontiguous SACKed sequences ... above" it or "more than (DupThresh -
// 1) * SMSS bytes with sequence numbers greater than" it SACKed (RFC 6675
// 4), is marked lost, once (a retransmitted record is RACK's to judge
// again). IsLost holding for a record holds for all below it, so the walk
// goes down from the highest SACKed record to the first record for which
// it holds, and marks from the previous frontier up to there.
func (c *Conn) markLostBySACK() {
	sb := &c.sb
	if sb.newlySacked == 0 || sb.sackedBytes == 0 {
		return
	}
	q := &c.txq
	lo := 0
	if sb.lossMarked.GreaterThan(c.SndUna) {
		lo = q.search(sb.lossMarked)
	}
	hi := q.search(sb.highSacked) // records below hi may be SACKed
	var bytes uint32
	cnt := 0
	limit := (dupThresh - 1) * uint32(c.sndMSS)
	for i := hi - 1; i >= lo; i-- {
		r := q.at(i)
		if r.flags&txSacked != 0 {
			bytes += r.len()
			cnt++
			continue
		}
		if cnt < dupThresh && bytes <= limit {
			continue
		}
		for j := lo; j <= i; j++ {
			if r := q.at(j); r.flags&txRetrans == 0 {
				c.markLost(r)
			}
		}
		sb.lossMarked = r.end
		return
	}
}

// markHeadLost marks the first unacknowledged record lost: the segment
// fast retransmit resends (RFC 5681 3.2 step 3, RFC 6675 5 (4.3)) and the
// one a partial ACK resends (RFC 6582 3.2 step 3).
func (c *Conn) markHeadLost() {
	if c.txq.n > 0 {
		c.markLost(c.txq.at(0))
	}
}

// markAllLost is RFC 6675 5.1 after an RTO: every record not SACKed is
// lost and retransmitted, in order, from the holes; the SACK information
// is kept, so SACKed data is not sent again.
func (c *Conn) markAllLost() {
	q := &c.txq
	for i := 0; i < q.n; i++ {
		c.markLost(q.at(i))
	}
	c.sb.renoSacked = 0
	c.sb.lossMarked = c.sndMax
}

// resetScoreboard drops the records and the scoreboard: after a path MTU
// change they no longer match the MSS, and everything from SND.UNA is
// sent again (go-back-N), recorded afresh in the new size.
func (c *Conn) resetScoreboard() {
	c.txq.release()
	if c.ackState != nil {
		c.sb = scoreboard{}
		c.ncache = 0
	}
}

// firstLost returns the index of the oldest lost record, or -1.
func (c *Conn) firstLost() int {
	if c.ackState == nil || c.sb.lostBytes == 0 {
		return -1
	}
	sb := &c.sb
	q := &c.txq
	for i := q.search(segment.Max(sb.lostScan, c.SndUna)); i < q.n; i++ {
		if r := q.at(i); r.flags&txLost != 0 {
			sb.lostScan = r.start
			return i
		}
	}
	return -1
}
