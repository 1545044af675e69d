package tcp_test

import (
	"testing"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// Config.GSOMaxSize: with a link that segments, new data leaves in segments
// of whole MSS-sized pieces, up to the congestion window; only the segment
// that ends the queued data may end in a short piece (and it carries the
// PSH). Bytes follow the stream exactly.
func TestEstablished_GSO_SegmentsOfWholeMSSPieces(t *testing.T) {
	h := newEstablished(t, peerWScaleOpt(7), peerWindow(65535), withConfig(func(c *tcp.Config) { c.GSOMaxSize = 65000 }))
	if got := h.c.SendMSS(); got != 1460 {
		h.fatalf("SendMSS() = %d, want 1460", got)
	}
	h.write(10*ms, 20000)
	// RFC 6928 initial window 14600 = 10 pieces, in one segment.
	h.expect(10*ms, h.out(".", seq(1), data(14600)))
	// The ACK grows cwnd to 16060 (RFC 5681 3.1); the 5400 bytes left are
	// the end of the data: one segment, short last piece, PSH.
	h.send(20*ms, h.in(".", seq(1), ack(14601)))
	out := h.drainOut(20 * ms)
	if len(out) != 1 || len(out[0].seg.Payload) != 5400 || out[0].seg.Flags&segment.FlagPSH == 0 {
		h.fatalf("after the ACK sent %d segments, want one of 5400 bytes with PSH", len(out))
	}
	if n, k := h.sentData(out, 14601); n != 5400 || k != 1 {
		h.fatalf("sent %d bytes in %d segments", n, k)
	}
}

// A window that cuts a GSO segment short rounds it down to whole pieces;
// the remainder waits (RFC 9293 3.8.6.2.1, sender SWS avoidance) as it
// would without GSO.
func TestEstablished_GSO_WindowLimitedRoundsToPieces(t *testing.T) {
	h := newEstablished(t, peerWindow(5000), withConfig(func(c *tcp.Config) { c.GSOMaxSize = 65000 }))
	h.write(10*ms, 8000)
	out := h.drainOut(10 * ms)
	if n, k := h.sentData(out, 1); n != 3*1460 || k != 1 {
		h.fatalf("with a 5000-byte window sent %d bytes in %d segments, want 4380 in 1 (three whole pieces)", n, k)
	}
	if out[0].seg.Flags&segment.FlagPSH != 0 {
		h.fatalf("PSH on a segment that does not end the data: %s", h.fmtOut(&out[0].seg))
	}
}

// A received segment longer than the MSS we announced (a link's receive
// offload merged several) is acknowledged at once, and does not change what
// counts as full-sized afterwards: single full-sized segments still get the
// delayed-ACK treatment, an ACK for every second one (RFC 5681 4.2).
func TestEstablished_GSO_SuperSegmentAckedAtOnce(t *testing.T) {
	h := newEstablished(t)
	h.send(10*ms, h.in(".", seq(1), data(10*1460)))
	h.expect(10*ms, h.out(".", ack(1+10*1460)))
	h.send(20*ms, h.in(".", seq(1+10*1460), data(1460)))
	h.expectNothing(20 * ms)
	h.send(21*ms, h.in(".", seq(1+11*1460), data(1460)))
	h.expect(21*ms, h.out(".", ack(1+12*1460)))
}
