package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// receiver is the receiving half of a Conn: the receive sequence variables
// of RFC 9293 3.3.1 (Figure 4), the receive buffer with its out-of-order
// ranges, and the delayed ACK (RFC 9293 3.8.6.3). It is embedded in Conn,
// so its fields read as c.RcvNxt and so on; the methods that use it are in
// receive.go.
type receiver struct {
	// Receive sequence variables (RFC 9293 3.3.1).
	IRS    Seq
	RcvNxt Seq
	rcvAdv Seq // RCV.NXT+RCV.WND as last advertised (see Conn)

	rcvShift  uint8  // shift applied to our window field
	dsackSet  bool   // dsack is valid (with the other small fields: no padding)
	rcvMSSEst uint16 // largest payload seen, for "full-sized" (delayed ACK)

	rcvBuf     rcvRing
	ooo        assembler
	rcvFinSeq  Seq   // valid when flagRcvFinPending
	delackSegs int32 // full-sized segments received since our last ACK
	delackAt   instant

	// Timestamps (RFC 7323 4.3, timestamps.go), valid while flagTSOK.
	tsOffset    uint32  // per-connection offset of our timestamp clock (RFC 7323 5.4)
	tsRecent    uint32  // TS.Recent: the TSval to echo and to check PAWS against
	tsRecentAt  instant // when TS.Recent was last set (RFC 7323 5.5)
	lastAckSent Seq     // Last.ACK.sent: the ACK field of our last segment
	ackTSecr    uint32  // TSecr of the segment being processed (0: none), for the RTT

	// SACK blocks to report (RFC 2018 4, RFC 2883; sackblocks.go).
	sackHist  [segment.MaxSACKBlocks]Seq // a sequence number in each recently reported block, most recent first
	sackHistN int
	dsack     seqRange // a duplicate to report once (D-SACK), valid while dsackSet

	// Receive-buffer auto-tuning (autotune.go).
	rcvRTT       time.Duration // receiver's RTT estimate, from TSecr of arriving data
	rcvCopied    uint64        // bytes the application has read
	rcvSpaceMark uint64        // rcvCopied when the current round began
	rcvSpaceAt   instant       // when it began
	rcvSpace     int           // bytes read in the last round that grew
}
