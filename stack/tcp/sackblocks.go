package tcp

import "github.com/tunstack/tunstack/segment"

// The data receiver's side of SACK (RFC 2018 4) and D-SACK (RFC 2883):
// which out-of-order ranges each ACK reports, in which order.
//
// RFC 2018 4: "The first SACK block (i.e., the one immediately following
// the kind and length fields in the option) MUST specify the contiguous
// block of data containing the segment which triggered this ACK, unless
// that segment advanced the Acknowledgment Number field in the header",
// and "The SACK option SHOULD be filled out by repeating the most recently
// reported SACK blocks ... that are not subsets of a SACK block already
// included". The recency is kept as one sequence number per reported block
// (sackHist), looked up in the out-of-order ranges when an ACK is built, so
// merges and the advance of RCV.NXT need no bookkeeping. Room left after
// those goes to the other held ranges, highest first (the sender learns of
// every hole sooner; RFC 2018 does not forbid it).
//
// RFC 2883 4: a duplicate segment is reported in the first block, once;
// when the duplicate lies above RCV.NXT, "the second SACK block in that
// SACK option should specify that (possibly larger) block of data" that
// holds it, which is how the sender tells it from an ordinary block.

// sackNote records that the out-of-order segment starting at seq was just
// queued: its block is the most recent (RFC 2018 4).
func (c *Conn) sackNote(seq Seq) {
	if c.flags&flagSackRcv == 0 {
		return
	}
	r, ok := c.ooo.find(seq)
	if !ok {
		return
	}
	// Drop entries of the same block (merged since) and shift.
	k := 0
	for i := range c.sackHistN {
		if s := c.sackHist[i]; !(r.start.LessThanEq(s) && s.LessThan(r.end)) {
			c.sackHist[k] = s
			k++
		}
	}
	k = min(k, len(c.sackHist)-1)
	copy(c.sackHist[1:k+1], c.sackHist[:k])
	c.sackHist[0] = seq
	c.sackHistN = k + 1
}

// noteDup records [s, e) as a duplicate to report with D-SACK (RFC 2883
// 4); the latest one wins.
func (c *Conn) noteDup(s, e Seq) {
	if c.flags&flagSackRcv == 0 || !s.LessThan(e) {
		return
	}
	c.dsack, c.dsackSet = seqRange{s, e}, true
}

// dupOOO returns the first part of [s, e) that the out-of-order queue
// already holds.
func (c *Conn) dupOOO(s, e Seq) (seqRange, bool) {
	for i := range c.ooo.n {
		r := c.ooo.r[i]
		lo, hi := segment.Max(s, r.start), segment.Min(e, r.end)
		if lo.LessThan(hi) {
			return seqRange{lo, hi}, true
		}
	}
	return seqRange{}, false
}

// putSACKBlocks fills the SACK blocks of an outgoing ACK: a pending D-SACK
// first, then the block of the most recent segment and the most recently
// reported ones, then the other held ranges. At most 4 blocks fit, 3 with
// TSopt (RFC 2018 3). A segment with data gets only what fits beside it
// within a full-sized segment's option budget (the send MSS accounts for
// TSopt only, RFC 6691), so a full-sized data segment carries none.
func (c *Conn) putSACKBlocks(o *segment.Segment) {
	limit := segment.MaxSACKBlocks
	if c.flags&flagTSOK != 0 {
		limit--
	}
	if len(o.Payload) > 0 {
		room := int(c.sndMSS) - min(len(o.Payload), int(c.sndMSS)) - 4 // NOP, NOP, kind, length
		limit = min(limit, max(room, 0)/8)
	}
	opts := &o.Options
	n := 0
	put := func(b segment.SACKBlock) {
		if n < limit {
			opts.SACK[n] = b
			n++
		}
	}
	has := func(r seqRange) bool {
		for i := range n {
			if opts.SACK[i] == c.sackBlockOf(r) {
				return true
			}
		}
		return false
	}
	if c.dsackSet && limit > 0 {
		c.dsackSet = false
		put(segment.SACKBlock{Start: c.dsack.start, End: c.dsack.end})
		if r, ok := c.ooo.find(c.dsack.start); ok {
			put(c.sackBlockOf(r)) // RFC 2883 4 (2): the block holding the duplicate, second
		}
	}
	for i := range c.sackHistN {
		if r, ok := c.ooo.find(c.sackHist[i]); ok && !has(r) {
			put(c.sackBlockOf(r))
		}
	}
	for i := c.ooo.n - 1; i >= 0 && n < limit; i-- {
		if r := c.ooo.r[i]; !has(r) {
			put(c.sackBlockOf(r))
		}
	}
	opts.NumSACK = n
}

// sackBlockOf is the SACK block reporting held range r. A FIN held beyond
// a gap (flagRcvFinPending) right after r is reported with it: RFC 2018 3's
// right edge is "the sequence number immediately following the last
// sequence number of this block", and the FIN occupies one (RFC 9293 3.4),
// as in Linux's blocks (the queued segment's end_seq counts the FIN), which
// a Linux sender needs to see its data+FIN segment SACKed whole.
func (c *Conn) sackBlockOf(r seqRange) segment.SACKBlock {
	if c.flags&flagRcvFinPending != 0 && r.end == c.rcvFinSeq {
		r.end = r.end.Add(1)
	}
	return segment.SACKBlock{Start: r.start, End: r.end}
}

// find returns the held range that contains s.
func (a *assembler) find(s Seq) (seqRange, bool) {
	for i := range a.n {
		if r := a.r[i]; r.start.LessThanEq(s) && s.LessThan(r.end) {
			return r, true
		}
	}
	return seqRange{}, false
}
