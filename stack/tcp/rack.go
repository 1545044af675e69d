package tcp

import "time"

// RACK: Recent ACKnowledgment loss detection (RFC 8985 6), used when SACK
// is in use and Config.RACK is set. A record (txq.go) is deemed lost when
// a record sent after it has been delivered and it is older than the
// latest RTT plus a reordering window.
//
// Entry points for the ACK path (send.go), in the order RFC 8985 6.2
// processes an ACK:
//   - rackDelivered(now, r) for every record newly delivered by the ACK,
//     cumulatively (recordsAcked does it before dropping the record) or
//     selectively (the SACK scoreboard, when it sets txSacked): RFC 8985
//     6.2 steps 1-2 (RACK.min_RTT, RACK.rtt, RACK.xmit_ts, RACK.end_seq).
//   - onDSACK(start, end) for every D-SACK block (RFC 2883) the ACK
//     carries: step 4 (reordering window adaptation).
//   - rackDetect(now) once per ACK, after the scoreboard update and before
//     recovery entry: steps 3 and 5 (reordering detection, the loss
//     marking and the reordering timer). It marks records lost with
//     markLost; the sender's recovery then retransmits them.

// rackState is RACK's per-connection state (RFC 8985 6.1), kept in the
// sender.
type rackState struct {
	xmitTime   time.Time     // RACK.xmit_ts: latest transmission time of a delivered record
	endSeq     Seq           // RACK.end_seq: its end
	segsSacked int           // RACK.segs_sacked
	fack       Seq           // RACK.fack: highest sequence number selectively or cumulatively acknowledged
	rtt        time.Duration // RACK.rtt
	minRTT     time.Duration // RACK.min_RTT
	// Reordering window adaptation (RFC 8985 6.2 step 4).
	reoWndMult     int  // RACK.reo_wnd_mult
	reoWndPersist  int  // RACK.reo_wnd_persist
	dsackRound     Seq  // RACK.dsack_round
	dsackRoundOn   bool // dsackRound is valid
	reorderingSeen bool // RACK.reordering_seen
	valid          bool // xmitTime and endSeq hold a delivered record

	rackAt time.Time // the reordering timer (RFC 8985 6.2 step 5); zero: not armed
}

// rackEnabled reports whether RACK does the loss detection: SACK is in
// use and the configuration has not turned RACK off.
func (c *Conn) rackEnabled() bool { return c.flags&flagSackOK != 0 && c.cfg.RACK }

// rackDelivered is RFC 8985 6.2 steps 1-2 for a record newly delivered
// (cumulatively acknowledged or SACKed) by the ACK being processed at now.
// The caller calls it before it drops the record.
func (c *Conn) rackDelivered(now time.Time, r *txRecord) {}

// onDSACK takes a D-SACK block [start, end) (RFC 2883): RFC 8985 6.2
// step 4.
func (c *Conn) onDSACK(start, end Seq) {}

// rackDetect is RFC 8985 6.2 steps 3 and 5: it marks lost the records
// RACK deems lost and (re)arms the reordering timer.
func (c *Conn) rackDetect(now time.Time) {}

// markLost marks a record lost (RFC 6675 IsLost, RFC 8985 6.2 step 5): the
// sender retransmits lost records before new data. Owner: the SACK
// scoreboard ("sack"), who may add accounting here.
func (c *Conn) markLost(r *txRecord) {
	if r.flags&(txLost|txSacked) == 0 {
		r.flags |= txLost
	}
}
