package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// The timestamps option (RFC 7323 3-5): the timestamp clock, TS.Recent and
// Last.ACK.sent (4.3), PAWS (5.3) with the idle exception (5.5), and RTT
// measurement from TSecr (4.1, with RFC 6298).
//
// The clock ticks every millisecond (RFC 7323 5.4: "a timestamp clock
// frequency in the range 1 ms to 1 sec per tick"; Linux's TCP_TS_HZ is
// 1000 as well). A finer tick would resolve local round trips of 20 us,
// but 2^31 microseconds is only 36 minutes: a connection idle that long
// would see its next segment dropped by the peer's PAWS (5.5's exception
// starts after 24 days, sized for a 1 ms clock). RTT samples do not lose
// that precision where it exists: the sender's own timed segment (RFC 6298
// 3) still gives a sample to the nanosecond; TSecr gives one on every
// other ACK of new data, including ACKs of retransmissions (see ackRTT).
//
// The clock runs at a per-connection offset (RFC 7323 5.4 and 7.1: "a
// random, per-connection offset"), a keyed hash of the 4-tuple
// (ISNGenerator.TSOffset), as RFC 6528 does for the ISN: it is the same
// for every incarnation of a 4-tuple, so TSvals keep increasing across
// them, which RFC 6191's TIME-WAIT reuse relies on, and a runtime
// answering with SYN cookies can stamp a SYN-ACK without state.

// optLenTS is the room the timestamps option takes in every segment once
// negotiated: NOP, NOP, kind, length, TSval, TSecr (RFC 7323 Appendix A).
const optLenTS = 12

// pawsIdle is RFC 7323 5.5's limit: "If a connection remains idle for
// more than 24 days ... TS.Recent is ... invalid".
const pawsIdle = 24 * 24 * time.Hour

// optOverhead is the option space every non-SYN segment carries: TSopt
// once negotiated. The send MSS is reduced by it (RFC 9293 3.7.1,
// RFC 6691).
func (c *Conn) optOverhead() int {
	if c.flags&flagTSOK != 0 {
		return optLenTS
	}
	return 0
}

// tsClock returns the timestamp clock at now: milliseconds since the Unix
// epoch plus offset, modulo 2^32.
func tsClock(now time.Time, offset uint32) uint32 {
	return uint32(now.UnixMilli()) + offset
}

// tsBefore reports a < b in the modular 32-bit timestamp space (RFC 7323
// 5.2: "s < t if 0 < (t - s) < 2^31").
func tsBefore(a, b uint32) bool { return int32(b-a) > 0 }

// tsVal is the TSval for a segment sent at now.
func (c *Conn) tsVal(now time.Time) uint32 { return tsClock(now, c.tsOffset) }

// stampOptions adds the options of a non-SYN segment: TSopt once
// negotiated, on every segment including RSTs (RFC 7323 3.2: "MUST be sent
// in every non-<RST> segment ... and SHOULD be sent in an <RST> segment"),
// with TSecr = TS.Recent (4.3 (1)); then SACK blocks (sackblocks.go). It
// records Last.ACK.sent (4.3).
func (c *Conn) stampOptions(now time.Time, o *segment.Segment) {
	if o.Flags&segment.FlagSYN != 0 {
		// The SYN's options come from synFields.
		if o.Flags&segment.FlagACK != 0 {
			c.lastAckSent = o.Ack
		}
		return
	}
	if c.flags&flagTSOK != 0 {
		o.Options.HasTimestamp = true
		o.Options.TSVal, o.Options.TSEcr = c.tsVal(now), c.tsRecent
		if o.Seq.LessThan(c.sndMax) && (len(o.Payload) > 0 || o.Flags&segment.FlagFIN != 0) {
			c.tsRtxVal, c.tsRtxSet = o.Options.TSVal, true // a retransmission (ackRTT)
		}
	}
	if o.Flags&segment.FlagACK != 0 {
		c.lastAckSent = o.Ack
		if c.flags&flagSackRcv != 0 && o.Flags&segment.FlagRST == 0 {
			c.putSACKBlocks(o)
		}
	}
}

// tsInit records the TSval of the peer's SYN as TS.Recent (RFC 7323 4.3:
// the SYN's TSval initialises it; 3.2: its TSecr is echoed in the
// SYN-ACK).
func (c *Conn) tsInit(now time.Time, o *segment.Options) {
	if o.HasTimestamp {
		c.tsRecent, c.tsRecentAt = o.TSVal, c.inst(now)
	}
}

// tsCheck applies the timestamp rules to a segment arriving in
// SYN-RECEIVED or a synchronized state, before the sequence number check.
// It reports whether the segment is to be dropped.
//
//   - RFC 7323 3.2: "If a non-<RST> segment is received without a TSopt, a
//     TCP SHOULD silently drop the segment. A received <RST> segment is
//     processed without further TSopt processing." A deliberate deviation,
//     as Linux: a segment without TSopt is processed without the timestamp
//     rules (no PAWS, no TS.Recent, no RTT sample) and counted. Dropping it
//     strands peers whose final handshake ACK lost its options (gVisor
//     #11536, TestSynReceived_RFC7323_FinalACKWithoutTimestamp).
//   - RFC 7323 5.3 R1: "If there is a Timestamps option in the arriving
//     segment, SEG.TSval < TS.Recent, TS.Recent is valid ..., and the RST
//     bit is not set, then treat the arriving segment as not acceptable:
//     Send an acknowledgment in reply ... and drop the segment." TS.Recent
//     is invalid after 24 days without an update (5.5); the segment is
//     then accepted and its TSval taken (tsUpdate). A duplicate ACK
//     overtaken by a later one is exempt (disorderedAck).
//
// It also notes the segment's TSecr for ackRTT, and clears rttAck: every
// segment in these states passes here first.
func (c *Conn) tsCheck(now time.Time, seg *segment.Segment) (drop bool) {
	c.ackTSecr, c.rttAck = 0, 0
	if c.flags&flagTSOK == 0 || seg.Flags&segment.FlagRST != 0 {
		return false
	}
	o := &seg.Options
	if !o.HasTimestamp {
		c.stats.tsMissing++
		return false
	}
	if tsBefore(o.TSVal, c.tsRecent) && c.since(now, c.tsRecentAt) <= pawsIdle && !c.disorderedAck(seg) {
		c.stats.pawsDrops++
		c.flags |= flagAckNow
		if n := uint32(len(seg.Payload)); n > 0 && seg.Seq.LessThan(c.RcvNxt) && seg.Flags&segment.FlagSYN == 0 {
			// Data already received (the delayed original of a
			// retransmission that came first): the ACK reports it as
			// a D-SACK (RFC 2883 4 (1)), as Linux's tcp_send_dupack
			// does here, so the sender sees the spurious
			// retransmission (RFC 8985 6.2 step 4).
			c.noteDup(seg.Seq, segment.Min(seg.Seq.Add(n), c.RcvNxt))
		}
		return true
	}
	if seg.Flags&segment.FlagACK != 0 {
		c.ackTSecr = o.TSEcr
	}
	return false
}

// disorderedAck reports whether seg, which fails RFC 7323 5.3 R1 (its TSval
// is older than TS.Recent), is a duplicate ACK that the path reordered
// behind a later one, to be processed all the same. A deliberate deviation
// from RFC 7323 5.3, as Linux (tcp_disordered_ack, net/ipv4/tcp_input.c):
// the peer stamps each ACK with its clock, so of two ACKs that overtake
// each other the second to arrive carries the older TSval, and R1 would
// drop it with its SACK and D-SACK blocks (RFC 2018, RFC 2883), which
// RFC 6675's loss detection and RACK's reordering window (RFC 8985 6.2
// step 4) live on. PAWS guards against old data being taken for new after
// the sequence space wraps; a segment that cannot change the connection's
// state but through its SACK information carries no such risk. (An older
// cumulative ACK, SEG.ACK < SND.UNA, is still dropped, as in Linux.) It is
// exempt only if:
//
//  1. it is a pure ACK (no data, SYN or FIN) at SEG.SEQ = RCV.NXT;
//  2. it is a duplicate ACK: SEG.ACK = SND.UNA;
//  3. it would not change the send window: the window update of RFC 9293
//     3.10.7.4 (ackArrived) would set SND.WND to SEG.WND, so SEG.WND must
//     be the current SND.WND (stricter than Linux, whose update rule
//     ignores a window no larger, so it lets through any such window);
//  4. its TSval is within one RTO of TS.Recent, counted at 1200 ticks a
//     second as Linux does (RFC 7323 5.4 allows 1 ms to 1 s a tick; some
//     stacks tick at 1200 Hz): older ones were not sent during the
//     current round trips.
//
// The ACK takes no RTT sample (it acknowledges nothing new, RFC 7323 4.2)
// and does not move TS.Recent back (tsUpdate).
func (c *Conn) disorderedAck(seg *segment.Segment) bool {
	if seg.Flags&(segment.FlagACK|segment.FlagSYN|segment.FlagFIN) != segment.FlagACK ||
		len(seg.Payload) != 0 || seg.Seq != c.RcvNxt {
		return false // 1
	}
	if seg.Ack != c.SndUna { // 2
		return false
	}
	if uint32(seg.Window)<<c.sndShift != c.SndWnd { // 3
		return false
	}
	replay := int64(c.rto.RTO() * 1200 / time.Second) // 4
	return int64(c.tsRecent-seg.Options.TSVal) <= replay
}

// tsUpdate is RFC 7323 5.3 R3 (4.3 (2)) for an acceptable segment: "If
// SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent then SEG.TSval is
// copied to TS.Recent; otherwise, it is ignored." Taking the TSval of the
// segment at the left window edge (and not of later ones a delayed ACK
// covers) makes the echoed TSecr measure the RTT the sender must wait for.
// A TS.Recent idle for more than 24 days is invalid (5.5) and is replaced.
func (c *Conn) tsUpdate(now time.Time, seg *segment.Segment) {
	o := &seg.Options
	if c.flags&flagTSOK == 0 || !o.HasTimestamp || seg.Flags&segment.FlagRST != 0 {
		return
	}
	if seg.Seq.GreaterThan(c.lastAckSent) {
		return
	}
	if !tsBefore(o.TSVal, c.tsRecent) || c.since(now, c.tsRecentAt) > pawsIdle {
		c.tsRecent, c.tsRecentAt = o.TSVal, c.inst(now)
	}
}

// tsRTT returns the RTT that TSecr ecr measures at now, or false when it
// measures none: zero (not an echo of ours; Linux ignores it too) or not
// in the past of our clock. The echoed TSval was sent at or after the
// start of its millisecond tick, so the sample is the time since then: an
// upper bound by less than one tick, never an underestimate.
func (c *Conn) tsRTT(now time.Time, ecr uint32) (time.Duration, bool) {
	if ecr == 0 {
		return 0, false
	}
	d := c.tsVal(now) - ecr
	if int32(d) < 0 || time.Duration(d) > time.Hour/time.Millisecond {
		return 0, false
	}
	tick := now.Sub(time.UnixMilli(now.UnixMilli()))
	return time.Duration(d)*time.Millisecond + tick, true
}

// ackRTT takes the RTT sample an ACK of new data (SND.UNA advanced to ack)
// gives. RFC 6298 3 (Karn): the segment the sender timed gives an exact
// sample if the ACK covers it and it was not retransmitted; otherwise,
// with timestamps, the TSecr of the ACK does (RFC 7323 4.1: "RTTM ...
// every ACK", and 4.2: only from an ACK that advances the left edge of the
// send window, as here) — including an ACK of retransmitted data, which
// TSecr disambiguates. Either is "a new RTT measurement" that removes the
// RTO's backoff (RFC 6298 5, the note after 5.7). rttLatest keeps the
// sample for loss detection (RACK) and congestion control.
//
// A TSecr older than our latest retransmission gives no sample: it echoes
// an earlier transmission whose ACK was lost, and the peer sent it again
// in answer to the retransmission (a duplicate does not update TS.Recent,
// RFC 7323 5.3 R2/R3), so "now - TSecr" spans the timeout, not a round
// trip. Taken, such samples feed back (a larger RTO, a later
// retransmission, a larger sample: TestLossyPipe seed 4 reached an SRTT of
// 20 s on an 8 ms path and timed out). An echo of the retransmission
// itself is a true sample.
func (c *Conn) ackRTT(now time.Time, ack Seq) {
	var r time.Duration
	switch {
	case c.flags&flagRTTTiming != 0 && c.rttSeq.LessThan(ack):
		r = c.since(now, c.rttStart)
		c.flags &^= flagRTTTiming
	case c.ackTSecr != 0 && !(c.tsRtxSet && tsBefore(c.ackTSecr, c.tsRtxVal)):
		var ok bool
		if r, ok = c.tsRTT(now, c.ackTSecr); !ok {
			return
		}
	default:
		return
	}
	c.rto.Sample(r)
	c.rttLatest, c.rttAck = r, r
	c.rto.ResetBackoff()
}
