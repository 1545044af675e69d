package tcp

// Undoing a spurious fast recovery: when D-SACKs (RFC 2883) report that
// every segment the recovery retransmitted had arrived already, the
// reduction was spurious (RFC 3708 3, DSACK-based detection) and the
// congestion window and slow start threshold go back to what they were
// before it (RFC 4015's response: restore the congestion state). Without
// it a path that reorders (RACK's reordering window is 0 until reordering
// has been seen, RFC 8985 6.2 step 4) cut the window at every reordering
// and never got it back. As Linux (tcp_try_undo_dsack,
// tcp_undo_cwnd_reduction): the window returns to at least its value
// before the recovery, ssthresh to at least its old value; an algorithm's
// own state (CUBIC's W_max and epoch) is not restored, as Linux's cubic
// restores only cwnd (cubictcp_undo_cwnd) where RFC 9438 4.9 allows more.
// An algorithm that owns recovery (BBR) is left alone: it keeps its model.

// undoState is one fast recovery's record for the undo.
type undoState struct {
	cwnd, ssthresh uint32 // before the recovery's reduction
	marker         Seq    // SND.UNA when it began: D-SACKs below are of earlier data
	retrans        int32  // segments it retransmitted that no D-SACK reported yet
	on             bool
}

// undoStart records the congestion state at the start of a fast recovery,
// before the algorithm reduces it (enterRecovery).
func (c *Conn) undoStart(s *CCState) {
	if c.ownsRecovery() {
		c.undo = undoState{}
		return
	}
	c.undo = undoState{cwnd: s.Cwnd, ssthresh: s.Ssthresh, marker: c.SndUna, on: true}
}

// undoRetransmitted counts the segments of a retransmission of n bytes made
// during the fast recovery.
func (c *Conn) undoRetransmitted(n uint32) {
	if c.undo.on && c.lossState == lossFast {
		mss := max(uint32(c.sndMSS), 1)
		c.undo.retrans += int32((n + mss - 1) / mss)
	}
}

// undoOnDSACK takes a D-SACK block [start, end): once the recovery's
// retransmissions are all reported, the reduction is undone.
func (c *Conn) undoOnDSACK(start, end Seq) {
	u := &c.undo
	if !u.on || !end.GreaterThan(u.marker) || u.retrans <= 0 {
		return
	}
	mss := max(uint32(c.sndMSS), 1)
	u.retrans -= int32((uint32(end.Sub(start)) + mss - 1) / mss)
	if u.retrans > 0 {
		return
	}
	u.on = false
	c.lstats.undos++
	s := &c.ccs
	if c.lossState == lossFast {
		// The recovery ends here (Linux: back to the Open state): its
		// exit would set cwnd = ssthresh (RFC 6937), the restored
		// ssthresh of a slow start being "infinite".
		c.lossState = lossNone
		c.sb.renoSacked = 0
		c.rackRecoveryExited()
		c.cc.OnRecoveryExit(s)
	}
	s.Cwnd = max(s.Cwnd, u.cwnd)
	s.Ssthresh = max(s.Ssthresh, u.ssthresh)
}
