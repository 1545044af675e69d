package tcp

import (
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Path MTU discovery (RFC 1191; RFC 9293 3.7.2). Every segment goes out
// with DF set, so a link on the path narrower than our MTU drops it and
// its router answers with an ICMP "fragmentation needed and DF set"
// carrying the next-hop MTU. The runtime validates the message against
// the connection (RFC 5927 4.1) and calls PathMTU; without it such a path
// is a black hole in which full-sized segments are retransmitted until the
// connection times out.

// minPathMSS is the smallest send MSS a fragmentation-needed message can
// impose: 536, the MSS of the 576-byte datagram every IPv4 host accepts
// (RFC 9293 3.7.1, RFC 1122 3.3.3). RFC 1191 3 only forbids estimates
// below 68 octets; the higher floor limits what a forged message can do to
// a connection (RFC 5927 7.2), as Linux's 552-byte min_pmtu does.
const minPathMSS = MinMSS

// minPathMSS6 is the smallest send MSS over IPv6: that of the 1280-byte
// minimum link MTU, below which RFC 8201 4 forbids lowering the path MTU
// estimate ("A node MUST NOT reduce its estimate of the Path MTU below
// the IPv6 minimum link MTU").
const minPathMSS6 = segment.IPv6MinMTU - segment.IPv6HeaderLen - segment.TCPMinHeaderLen

// PathMTU applies a path MTU of mtu octets (an IP datagram size, from an
// ICMP fragmentation-needed or ICMPv6 Packet Too Big message (RFC 8201)
// quoting a segment of this connection that is in flight): the send MSS drops to fit it ("MUST reduce its
// estimate of the Path MTU", RFC 1191 3; TCP segments to fit, 6.1) and
// never grows back here. What is in flight was dropped by the path, not by
// congestion, so it is resent at once in the new size, from SND.UNA,
// without backing off the RTO or shrinking cwnd (RFC 1191 6.5; Linux's
// tcp_simple_retransmit). It returns whether the MSS changed.
func (c *Conn) PathMTU(now time.Time, mtu int) bool {
	if !c.synchronized() {
		return false
	}
	// The payload of a full-sized segment: the options every segment
	// carries (TSopt) come off too (RFC 9293 3.7.1, RFC 6691).
	ipHdr, floor := segment.IPv4MinHeaderLen, minPathMSS
	if c.cfg.IPHeaderLen == segment.IPv6HeaderLen {
		ipHdr, floor = segment.IPv6HeaderLen, minPathMSS6
	}
	mss := max(mtu-ipHdr-segment.TCPMinHeaderLen, floor) - c.optOverhead()
	if mss >= int(c.sndMSS) {
		return false
	}
	c.sndMSS = uint16(mss)
	if c.SndUna != c.sndMax {
		c.flags &^= flagRTTTiming // Karn: resent data gives no RTT sample
		c.SndNxt = c.SndUna       // go back N in the new size
		c.resetScoreboard()
	}
	c.flush(now)
	return true
}
