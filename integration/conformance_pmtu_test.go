package integration

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// icmpFragNeeded builds the ICMP destination unreachable, fragmentation
// needed and DF set (type 3 code 4) message a router on the path would
// send for orig, a packet the stack sent, advertising next-hop MTU mtu (RFC
// 1191 4). It quotes the IP header and the first 20 bytes of TCP.
func icmpFragNeeded(orig []byte, mtu uint16) []byte {
	q := orig[:min(len(orig), 40)]
	b := make([]byte, 20+8+len(q))
	segment.PutIPv4Header(b, &segment.IPv4Header{TTL: rawTTL, Protocol: segment.ProtocolICMP, Src: hostIP, Dst: stackIP}, 8+len(q))
	m := b[20:]
	m[0], m[1] = 3, 4
	binary.BigEndian.PutUint16(m[6:], mtu)
	copy(m[8:], q)
	binary.BigEndian.PutUint16(m[2:], segment.Checksum(m, 0))
	return b
}

// confRFC1191_PathMTU (TestConformance/RFC1191_PathMTU): the stack sends
// every packet with DF set and so relies on path MTU discovery (RFC 9293
// 3.7.2: PMTUD "relies both on avoiding source fragmentation and setting
// the IPv4 DF (don't fragment) flag ... It relies on ICMP errors from
// routers along the path whenever a segment is too large"). Here a path of
// MTU 1000 drops the stack's larger packets and answers each with a
// fragmentation-needed message, as a router does. RFC 1191 3: the host
// "MUST reduce its estimate of the Path MTU" to the next-hop MTU, and TCP
// then segments to fit (RFC 1191 6.1, 6.5), so the echo completes in
// segments of at most 960 bytes. Ignoring the message leaves the
// connection retransmitting full-size segments into a black hole.
//
// Over IPv6 (TestConformanceIPv6) the path is 1280 bytes and the router's
// message a Packet Too Big (RFC 8201 4: the node "MUST reduce the size of
// the packets it is sending along the path").
func confRFC1191_PathMTU(t *testing.T, n *rawNet) {
	mtu := n.pathTestMTU()
	p := established(t, n, linuxSyn)
	d := pattern(6000, 23)
	// Chunks of the path's MTU: the echo of each one alone already needs
	// a packet larger than the path, whether or not the echo joins them.
	for off := 0; off < len(d); off += mtu {
		p.sendData(d[off:min(off+mtu, len(d))])
	}
	base := p.rcvNxt
	got := make([]byte, len(d))
	have := make([]bool, len(d))
	contiguous := func() int {
		for i, h := range have {
			if !h {
				return i
			}
		}
		return len(have)
	}
	tooBig := 0
	deadline := time.Now().Add(4 * time.Second)
	for contiguous() < len(d) {
		r := p.next(time.Until(deadline))
		if r == nil {
			t.Fatalf("echo stalled at %d of %d bytes after %d packets too big for the %d-byte path were answered with fragmentation-needed (RFC 1191): the stack keeps sending them",
				contiguous(), len(d), tooBig, mtu)
		}
		if len(r.raw) > mtu {
			// The path drops it and tells the stack.
			tooBig++
			n.write(t, n.tooBig(t, r.raw, mtu))
			continue
		}
		if len(r.seg.Payload) == 0 {
			continue
		}
		off := int(r.seg.Seq.Sub(base))
		if off < 0 || off+len(r.seg.Payload) > len(d) {
			t.Fatalf("data outside the echo: %v", p.show(r))
		}
		copy(got[off:], r.seg.Payload)
		for i := range len(r.seg.Payload) {
			have[off+i] = true
		}
		p.send(segment.FlagACK, p.nxt, base.Add(uint32(contiguous())), nil)
	}
	p.rcvNxt = base.Add(uint32(len(d)))
	p.ack()
	if !bytes.Equal(got, d) {
		t.Fatalf("echo differs at %d", firstDiff(got, d))
	}
	t.Logf("%d packets exceeded the path MTU before the stack adapted", tooBig)
	if tooBig == 0 {
		t.Fatalf("no packet exceeded the %d-byte path: the test did not exercise PMTUD", mtu)
	}
}
