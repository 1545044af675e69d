package tcp_test

import (
	"testing"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// A GSO link (Config.GSOMaxSize): the initial window leaves as one
// super-segment, and the network drops it whole, ten segments. The tail
// loss probe sends the next piece of new data; its SACK makes RACK mark the
// ten lost (RFC 8985 6.2) and fast recovery starts. The retransmissions
// leave one MSS per segment, not as one super-segment: each is dropped or
// delivered on its own and draws its own ACK (the receiver ACKs at once
// while it holds out-of-order data, RFC 5681 4.2). When the first of them
// is lost again, the second one's SACK shows it (RFC 8985 6.2: a record
// sent before a delivered one), and it is resent without an RTO; had both
// gone in one super-segment, one drop would have lost both and left
// nothing in flight to reveal it.
func TestRACK_GSO_RetransmissionsOnePerSegment(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), handshakeRTT(10*ms), withConfig(func(c *tcp.Config) { c.GSOMaxSize = 65000 }))
	h.write(10*ms, 1460) // one exchange: RACK.min_RTT 10 ms
	h.expect(10*ms, h.out("P.", seq(1), data(1460)))
	h.send(20*ms, h.in(".", ack(1461)))
	h.write(30*ms, 20*1460)
	h.expect(30*ms, h.out(".", seq(1461), data(11*1460))) // cwnd 11 pieces after the ACK: lost whole
	pto := 30*ms + 2*h.c.Info().SRTT + tlpSlack
	h.expect(pto, h.out(".", seq(1461+11*1460), data(1460))) // the probe: new data
	h.send(pto+10*ms, h.in(".", ack(1461), sackBlock(1461+11*1460, 1461+12*1460)))
	out := h.drainOut(pto + 10*ms)
	if len(out) < 2 {
		h.fatalf("fast recovery sent %d segments, want at least 2", len(out))
	}
	for i, o := range out {
		if want := 1461 + int64(i)*1460; len(o.seg.Payload) != 1460 || o.seg.Seq != engISS+segment.Seq(want) {
			h.fatalf("retransmission %d: %s, want seq %d len 1460", i, h.fmtOut(&o.seg), want)
		}
	}
	if i := h.c.Info(); i.RACKLosses != 11 || !i.InRecovery {
		h.fatalf("RACKLosses %d, InRecovery %v; want 11, true", i.RACKLosses, i.InRecovery)
	}
	// The first retransmission is lost, the second delivered 10 ms later:
	// the first is lost again and resent at once, in recovery, no RTO.
	h.send(pto+20*ms, h.in(".", ack(1461), sackBlock(2921, 4381), sackBlock(1461+11*1460, 1461+12*1460)))
	out = h.drainOut(pto + 20*ms)
	if len(out) == 0 || out[0].seg.Seq != engISS+1461 || len(out[0].seg.Payload) != 1460 {
		h.fatalf("after the second retransmission's SACK: %d segments, want the first resent (seq 1461, 1460 bytes)", len(out))
	}
	if i := h.c.Info(); i.RACKLosses != 12 || i.RTOExpiries != 0 {
		h.fatalf("RACKLosses %d, RTOExpiries %d; want 12, 0", i.RACKLosses, i.RTOExpiries)
	}
}
