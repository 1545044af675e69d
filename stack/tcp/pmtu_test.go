package tcp_test

import (
	"testing"
)

// RFC 1191 3 and 6.1: a path MTU of 1000 (an ICMP fragmentation-needed
// message the runtime validated) lowers the send MSS to 960 and what was in
// flight is resent at once in 960-byte segments, without waiting for the
// RTO; later data uses the new size too, and a larger MTU later does not
// raise it again. Below 576 the MSS stays at 536.
func TestEstablished_RFC1191_PathMTU(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms))
	h.write(1*s, 3000)
	h.expect(1*s, h.out(".", seq(1), data(1460)), h.out(".", seq(1461), data(1460)), h.out("P.", seq(2921), data(80)))
	h.advance(1*s + 10*ms)
	if !h.c.PathMTU(h.now, 1000) {
		h.fatalf("PathMTU(1000) with MSS 1460 reported no change")
	}
	h.expect(1*s+10*ms,
		h.out(".", seq(1), data(960)), h.out(".", seq(961), data(960)),
		h.out(".", seq(1921), data(960)), h.out("P.", seq(2881), data(120)))
	if got := h.c.SendMSS(); got != 960 {
		h.fatalf("SendMSS %d after a path MTU of 1000, want 960", got)
	}
	h.send(1*s+110*ms, h.in(".", ack(3001)))
	h.write(2*s, 2000)
	h.expect(2*s, h.out(".", seq(3001), data(960)), h.out(".", seq(3961), data(960)), h.out("P.", seq(4921), data(80)))
	h.send(2*s+100*ms, h.in(".", ack(5001)))
	h.advance(3 * s)
	if h.c.PathMTU(h.now, 1400) || h.c.SendMSS() != 960 {
		h.fatalf("a larger path MTU raised the MSS to %d", h.c.SendMSS())
	}
	h.c.PathMTU(h.now, 300)
	if got := h.c.SendMSS(); got != 536 {
		h.fatalf("SendMSS %d after a path MTU of 300, want the 536 floor", got)
	}
	h.expectNothing(3 * s)
}
