package stack

import (
	"encoding/binary"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// pathMTU applies an ICMP "fragmentation needed and DF set" (RFC 1191) to
// c, if seq, the sequence number quoted from our segment, is one we have
// sent and not seen acknowledged (RFC 5927 4.1). It is not a soft error:
// the connection adapts, as Linux's tcp_v4_err does for ICMP_FRAG_NEEDED.
func (c *Conn) pathMTU(now time.Time, seq segment.Seq, mtu int) bool {
	c.mu.Lock()
	defer c.unlock()
	if c.gone || !c.sentUnackedLocked(seq) {
		return false
	}
	c.tc.PathMTU(now, mtu)
	c.afterLocked(now)
	return true
}

// icmpHardError applies an ICMP protocol or port unreachable to c (RFC
// 1122 4.2.3.9, hard errors: the engine aborts a connection still opening
// and keeps a synchronized one, see tcp.Conn.HardError), if seq is one we
// have sent and not seen acknowledged (RFC 5927 4.1).
func (c *Conn) icmpHardError(now time.Time, seq segment.Seq, err error) bool {
	c.mu.Lock()
	defer c.unlock()
	if c.gone || !c.sentUnackedLocked(seq) {
		return false
	}
	c.tc.HardError(now, err) // its events reach afterLocked through the sink
	c.afterLocked(now)
	return true
}

// sentUnackedLocked reports whether seq, the sequence number an ICMP
// message quotes from one of our segments, lies in the data we have sent
// and not seen acknowledged: SND.UNA =< seq < the highest sequence number
// sent (RFC 5927 4.1). c.mu must be held.
func (c *Conn) sentUnackedLocked(seq segment.Seq) bool {
	in := c.tc.Info()
	return !(seq.LessThan(in.SndUna) || seq.GreaterThanEq(in.SndMax))
}

// mtuPlateaus are RFC 1191 7's table of common MTUs, for routers that send
// no next-hop MTU.
var mtuPlateaus = [...]int{32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// fragNeededMTU returns the path MTU a fragmentation-needed message
// implies: its next-hop MTU field, or, when that is zero (a router older
// than RFC 1191) or not below the size of the quoted datagram, the next
// plateau below that size (RFC 1191 5 and 7).
func fragNeededMTU(m segment.ICMPv4, q *segment.Quoted) int {
	size := 0
	if len(q.Header) >= 4 {
		size = int(binary.BigEndian.Uint16(q.Header[2:4]))
	}
	if mtu := int(m.NextHopMTU()); mtu > 0 && (size == 0 || mtu < size) {
		return mtu
	}
	for _, p := range mtuPlateaus {
		if p < size {
			return p
		}
	}
	return 68
}
