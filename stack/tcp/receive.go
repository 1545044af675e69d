package tcp

import (
	"io"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// The receiver: segment acceptability (RFC 9293 3.10.7.4), reassembly of
// out-of-order data into the receive ring, the advertised window with
// receiver silly window avoidance (RFC 9293 3.8.6.2.2) and window scaling
// (RFC 7323 2), delayed ACKs (RFC 9293 3.8.6.3, RFC 5681 4.2), and Read.

// rcvWnd is RCV.WND as last advertised.
func (c *Conn) rcvWnd() uint32 {
	if d := c.rcvAdv.Sub(c.RcvNxt); d > 0 {
		return uint32(d)
	}
	return 0
}

// rcvSlack is how far beyond the buffer bound the right edge may be pushed
// by rounding the scaled window up (see advertise): 256 window units, so
// 2 KiB with the default 256 KiB buffer (shift 3). Without scaling there is
// no rounding and no slack.
func (c *Conn) rcvSlack() int {
	if c.rcvShift == 0 {
		return 0
	}
	return 256 << c.rcvShift
}

// rcvMax is the most the receive ring may hold: the buffer bound plus the
// rounding slack. advertise keeps RCV.NXT+RCV.WND within it, so data inside
// the window always fits.
func (c *Conn) rcvMax() int { return c.opts.rcvBuf + c.rcvSlack() }

// acceptable is the first step of RFC 9293 3.10.7.4, the four-case table:
//
//	Segment Length  Receive Window  Test
//	0               0               SEG.SEQ = RCV.NXT
//	0               >0              RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
//	>0              0               not acceptable
//	>0              >0              RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
//	                                or RCV.NXT =< SEG.SEQ+SEG.LEN-1 < RCV.NXT+RCV.WND
//
// It returns the part of the text inside the window (trimmed at both ends,
// "segments with higher beginning sequence numbers may be held for later
// processing") with its sequence number, and whether a FIN inside the
// window follows that text.
//
// Two allowances: with a zero window a segment at exactly RCV.NXT is
// accepted with its text dropped, so that its ACK, RST and URG are
// processed ("special allowance should be made to accept valid ACKs, URGs,
// and RSTs"); and a FIN at RCV.NXT is accepted even when the window is zero
// (it needs no buffer space; refusing it only delays the close).
func (c *Conn) acceptable(seg *segment.Segment) (seq Seq, payload []byte, fin, ok bool) {
	seq, payload = seg.Seq, seg.Payload
	fin = seg.Flags&segment.FlagFIN != 0
	if seg.Flags&segment.FlagSYN != 0 {
		seq = seq.Add(1) // the SYN occupies the first sequence number
	}
	segLen := seg.Len()
	wnd := c.rcvWnd()
	switch {
	case segLen == 0 && wnd == 0:
		ok = seg.Seq == c.RcvNxt
	case segLen == 0:
		ok = seg.Seq.InWindow(c.RcvNxt, wnd)
	case wnd == 0:
		ok = false
	default:
		ok = seg.Seq.InWindow(c.RcvNxt, wnd) || seg.Seq.Add(segLen-1).InWindow(c.RcvNxt, wnd)
	}
	if !ok {
		if wnd == 0 && seg.Seq == c.RcvNxt {
			// Zero window: process the control information, drop the
			// text, and answer with an ACK re-advertising the window.
			fin = fin && len(payload) == 0
			c.flags |= flagAckNow
			return seq, nil, fin, true
		}
		// RFC 2883 4 (1): an old duplicate. A FIN counts in it (its
		// sequence number, as Linux's end_seq), so a retransmitted FIN
		// is reported too.
		end := seq.Add(uint32(len(payload)))
		if fin {
			end = end.Add(1)
		}
		if end.LessThanEq(c.RcvNxt) {
			c.noteDup(seq, end)
		}
		return seq, nil, false, false
	}
	// Trim the front: bytes already received.
	if seq.LessThan(c.RcvNxt) {
		d := uint32(c.RcvNxt.Sub(seq))
		c.noteDup(seq, seq.Add(min(d, uint32(len(payload)))))
		if d > uint32(len(payload)) {
			payload, fin = nil, false // the FIN was received before too
		} else {
			payload = payload[d:]
		}
		seq = c.RcvNxt
	}
	// Trim the back: bytes beyond the window; a FIN beyond it goes too.
	if room := c.rcvAdv.Sub(seq); int64(len(payload)) > int64(room) {
		if room < 0 {
			room = 0
		}
		payload, fin = payload[:room], false
	}
	return seq, payload, fin, true
}

// receiveText places in-window text (RFC 9293 3.10.7.4, seventh step) into
// the receive ring at its sequence offset. In-order text advances RCV.NXT,
// absorbs any out-of-order ranges it now touches and becomes readable;
// other text is held in the bounded out-of-order queue. Because bytes are
// stored by sequence number, overlaps and duplicates are written over
// themselves and every byte is delivered once, in order.
func (c *Conn) receiveText(now time.Time, seq Seq, payload []byte) {
	off := int(uint32(seq.Sub(c.RcvNxt)))
	base := c.rcvBuf.n
	keep := base + c.ooo.extent(c.RcvNxt)
	need, limit := base+off+len(payload), c.rcvMax()
	// The ring grows in powers of two (pooled blocks, pool.go) up to the
	// one that holds the bound.
	if need > limit || !c.rcvBuf.reserve(need, keep, pow2Ceil(limit)) {
		return // cannot happen within the advertised window
	}
	end := seq.Add(uint32(len(payload)))
	if c.ooo.n > 0 && c.flags&flagSackRcv != 0 {
		if d, ok := c.dupOOO(seq, end); ok {
			c.noteDup(d.start, d.end) // RFC 2883 4 (2): already held
		}
	}
	c.rcvBuf.writeAt(base+off, payload)
	c.stats.bytesIn += uint64(len(payload))
	if off != 0 {
		// Out of order: hold it, and send a duplicate ACK at once (RFC
		// 5681 4.2: "A TCP receiver SHOULD send an immediate duplicate ACK
		// when an out-of-order segment arrives").
		c.stats.oooSegs++
		if c.ooo.add(seq, end, c.cfg.maxOOO()) {
			c.sackNote(seq)
		} else {
			c.stats.oooDropped++ // no range left: the sender sends it again
		}
		c.flags |= flagAckNow
		return
	}
	if len(payload) >= int(c.rcvMSSEst) {
		c.rcvRTTSample(now) // a full-sized segment: the peer answered at once (autotune.go)
	}
	c.RcvNxt = c.RcvNxt.Add(uint32(len(payload)))
	c.rcvBuf.n += len(payload)
	if c.ooo.n > 0 {
		// RFC 5681 4.2: "an immediate ACK SHOULD be generated when the
		// incoming segment fills in all or part of a gap".
		c.flags |= flagAckNow
		if nxt := c.ooo.advance(c.RcvNxt); nxt != c.RcvNxt {
			c.rcvBuf.n += int(uint32(nxt.Sub(c.RcvNxt)))
			c.RcvNxt = nxt
		}
	}
	c.sink.Notify(EventReadable)
	c.ackData(now, len(payload))
}

// ackData decides between an immediate and a delayed ACK for in-order data
// (RFC 9293 3.8.6.3; RFC 5681 4.2: "an ACK SHOULD be generated for at least
// every second full-sized segment", and never delayed beyond the timeout).
func (c *Conn) ackData(now time.Time, n int) {
	if n > c.cfg.mss() {
		// Longer than the MSS we announced: the runtime's link merged
		// several segments into one (receive offload); it stands for at
		// least two full-sized segments, so ACK it now. rcvMSSEst stays a
		// per-segment figure.
		c.flags |= flagAckNow
		return
	}
	if n > int(c.rcvMSSEst) {
		c.rcvMSSEst = uint16(min(n, 0xffff))
	}
	if n >= int(c.rcvMSSEst) {
		c.delackSegs++
	}
	d := c.cfg.delayedAck()
	if d < 0 || c.delackSegs >= 2 {
		c.flags |= flagAckNow
		return
	}
	if c.delackAt == 0 {
		c.delackAt = c.inst(now.Add(d))
	}
}

// delayedAckTimerExpired sends the ACK that was being held.
func (c *Conn) delayedAckTimerExpired(now time.Time) {
	c.delackAt = 0
	c.flags |= flagAckNow
}

// window returns the window to offer: free buffer space, held back by
// receiver SWS avoidance and never less than what was already offered.
func (c *Conn) window() uint32 {
	buf := c.opts.rcvBuf
	free := uint32(max(buf-c.rcvBuf.n, 0))
	cur := c.rcvWnd()
	w := free
	// RFC 9293 3.8.6.2.2: move the right edge only when the increase is
	// at least min(Fr*RCV.BUFF, Eff.snd.MSS), Fr = 1/2.
	if w > cur && w-cur < uint32(min(buf/2, int(c.sndMSS))) {
		w = cur
	}
	// RFC 9293 3.8.6.2.2 and RFC 7323 2.4: never shrink the window.
	if w < cur {
		w = cur
	}
	return min(w, uint32(0xffff)<<c.rcvShift)
}

// advertise returns the window field for an outgoing segment and records
// the right edge it offers.
//
// With window scaling the field counts units of 2^shift bytes, and rounding
// the window down can move the right edge left of one already offered,
// which a receiver must not do (RFC 7323 2.4, RFC 9293 3.8.6.2.2). The
// field is then rounded up, as Linux does. Each round-up can push the edge
// up to 2^shift-1 bytes past the free buffer space, and a run of odd-sized
// segments with no reads in between accumulates that; so rounding up is
// allowed while the edge stays within rcvSlack of the buffer bound (never
// reached by full-sized segments filling a buffer). Past that (a peer
// dribbling tiny segments into a full buffer) the field is rounded down,
// but rcvAdv, the edge up to which data is accepted, does not move back: a
// sender that uses the old edge loses nothing, and memory stays bounded.
func (c *Conn) advertise() uint16 {
	w := c.window()
	raw := w >> c.rcvShift
	if c.RcvNxt.Add(raw << c.rcvShift).LessThan(c.rcvAdv) {
		room := uint32(max(c.rcvMax()-c.rcvBuf.n, 0))
		if (raw+1)<<c.rcvShift <= room {
			raw++
		}
	}
	raw = min(raw, 0xffff)
	if edge := c.RcvNxt.Add(raw << c.rcvShift); edge.GreaterThan(c.rcvAdv) {
		c.rcvAdv = edge
	}
	return uint16(raw)
}

// Read copies received data into p (RFC 9293 3.10.3). It returns (0, nil)
// when nothing is available yet, (0, io.EOF) once the peer's FIN has been
// received and all data read, and (0, Err()) after a reset or timeout.
func (c *Conn) Read(now time.Time, p []byte) (int, error) {
	if c.rcvBuf.n > 0 && len(p) > 0 {
		n := c.rcvBuf.read(p)
		if c.rcvBuf.n == 0 && c.ooo.n == 0 {
			c.rcvBuf.release()
		}
		c.rcvSpaceAdjust(now, n) // auto-tuning (autotune.go)
		c.windowUpdate(now)
		return n, nil
	}
	if c.rcvBuf.n > 0 {
		return 0, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.flags&flagRcvFin != 0 {
		return 0, io.EOF
	}
	return 0, nil
}

// windowUpdate sends an ACK at once when reading opened the window
// significantly (RFC 9293 3.8.6.2.2, and as Linux's tcp_cleanup_rbuf: the
// window at least doubles), so a sender stalled on a full buffer resumes
// without waiting for its persist timer.
func (c *Conn) windowUpdate(now time.Time) {
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
	default:
		return
	}
	if c.flags&flagRcvFin != 0 {
		return
	}
	cur := c.rcvWnd()
	if w := c.window(); w > cur && w >= 2*cur {
		c.sendAck(now)
	}
}
