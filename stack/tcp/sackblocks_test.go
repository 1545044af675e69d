package tcp_test

import (
	"testing"
	"time"
)

// The SACK blocks the data receiver reports (RFC 2018 4) and D-SACK
// (RFC 2883 4). Sequence numbers in sacks() are relative to the peer's ISS.

// RFC 2018 4: every ACK while out-of-order data is held carries blocks, the
// block holding the segment that triggered the ACK first, then the most
// recently reported others, at most 4 without timestamps; a segment that
// advances the ACK needs no block of its own.
func TestSACK_RFC2018_4_BlockOrder(t *testing.T) {
	h := newEstablished(t, peerSACKOpt())
	h.send(10*ms, h.in("P.", seq(1), data(100)))
	h.send(20*ms, h.in("P.", seq(201), data(100)))
	h.expect(20*ms, h.out(".", ack(101), sacks(201, 301)))
	h.send(30*ms, h.in("P.", seq(401), data(100)))
	h.expect(30*ms, h.out(".", ack(101), sacks(401, 501, 201, 301)))
	h.send(40*ms, h.in("P.", seq(601), data(100)))
	h.expect(40*ms, h.out(".", ack(101), sacks(601, 701, 401, 501, 201, 301)))
	h.send(50*ms, h.in("P.", seq(801), data(100)))
	h.expect(50*ms, h.out(".", ack(101), sacks(801, 901, 601, 701, 401, 501, 201, 301)))
	h.send(60*ms, h.in("P.", seq(1001), data(100)))
	h.expect(60*ms, h.out(".", ack(101), sacks(1001, 1101, 801, 901, 601, 701, 401, 501)))
	// An older block comes first again when its segment arrives: the
	// merged block [201,501).
	h.send(70*ms, h.in("P.", seq(301), data(100)))
	h.expect(70*ms, h.out(".", ack(101), sacks(201, 501, 1001, 1101, 801, 901, 601, 701)))
	// The hole at RCV.NXT fills: the ACK advances, the rest is reported in
	// recency order.
	h.send(80*ms, h.in("P.", seq(101), data(100)))
	h.expect(80*ms, h.out(".", ack(501), sacks(1001, 1101, 801, 901, 601, 701)))
	h.expectRead(80*ms, 500)
	h.send(90*ms, h.in("P.", seq(701), data(100)))
	h.expect(90*ms, h.out(".", ack(501), sacks(601, 901, 1001, 1101)))
	h.send(100*ms, h.in("P.", seq(501), data(100)))
	h.expect(100*ms, h.out(".", ack(901), sacks(1001, 1101)))
	h.send(110*ms, h.in("P.", seq(901), data(100)))
	h.expect(110*ms, h.out(".", ack(1101), sacks())) // everything in: no blocks
	h.expectRead(110*ms, 600)
}

// RFC 2883 4: a duplicate below RCV.NXT is reported as the first block,
// once; a duplicate of held data is reported first, followed by the block
// holding it.
func TestSACK_RFC2883_4_DSACK(t *testing.T) {
	h := newEstablished(t, peerSACKOpt())
	h.send(10*ms, h.in("P.", seq(1), data(100)))
	h.send(20*ms, h.in("P.", seq(201), data(100)))
	h.expect(20*ms, h.out(".", ack(101), sacks(201, 301)))
	// (1) A duplicate of acknowledged data.
	h.send(30*ms, h.in("P.", seq(1), data(100)))
	h.expect(30*ms, h.out(".", ack(101), sacks(1, 101, 201, 301)))
	h.send(40*ms, h.in("P.", seq(401), data(100)))
	h.expect(40*ms, h.out(".", ack(101), sacks(401, 501, 201, 301)))
	// (2) A duplicate of part of a held block: D-SACK, then that block.
	h.send(50*ms, h.in("P.", seq(221), data(50)))
	h.expect(50*ms, h.out(".", ack(101), sacks(221, 271, 201, 301, 401, 501)))
	// A segment overlapping RCV.NXT: the old part is the duplicate.
	h.send(60*ms, h.in("P.", seq(51), data(100)))
	h.expect(60*ms, h.out(".", ack(151), sacks(51, 101, 201, 301, 401, 501)))
}

// With timestamps, 3 blocks fit (RFC 2018 3); a data segment carries the
// blocks that fit beside its payload within a full-sized segment, so a
// full-sized one carries none.
func TestSACK_RFC2018_3_ThreeBlocksWithTimestamps(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), peerTSOpt())
	for i, at := range []int64{201, 401, 601, 801} {
		d := time.Duration(i+1) * 10 * ms
		h.send(d, h.in("P.", seq(at), data(100)))
		h.drainOut(d)
	}
	h.send(50*ms, h.in("P.", seq(1001), data(100)))
	h.expect(50*ms, h.out(".", ack(1), sacks(1001, 1101, 801, 901, 601, 701)))
	h.write(60*ms, 10)
	h.expect(60*ms, h.out("P.", ack(1), data(10), sacks(1001, 1101, 801, 901, 601, 701)))
	h.write(70*ms, 1448)
	h.expect(70*ms, h.out("P.", ack(1), data(1448), sacks()))
}
