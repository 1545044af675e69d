package stack

import (
	"encoding/binary"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

// RFC 1191 5 and 7: the next-hop MTU of a fragmentation-needed message is
// used when it is below the quoted datagram's size; zero (a pre-RFC 1191
// router) or a nonsensical value falls back to the plateau below the quoted
// size.
func TestFragNeededMTU_RFC1191_7_Plateaus(t *testing.T) {
	for _, c := range []struct{ nextHop, quotedLen, want int }{
		{1000, 1500, 1000},
		{0, 1500, 1492},
		{0, 1492, 1006},
		{1500, 1500, 1492},
		{9000, 1500, 1492},
		{0, 576, 508},
		{0, 60, 68},
	} {
		m := make(segment.ICMPv4, 8)
		m[0], m[1] = segment.ICMPv4TypeDestUnreach, segment.ICMPv4FragNeeded
		binary.BigEndian.PutUint16(m[6:], uint16(c.nextHop))
		hdr := make([]byte, 20)
		binary.BigEndian.PutUint16(hdr[2:], uint16(c.quotedLen))
		if got := fragNeededMTU(m, &segment.Quoted{Header: hdr}); got != c.want {
			t.Errorf("next-hop MTU %d, quoted length %d: path MTU %d, want %d", c.nextHop, c.quotedLen, got, c.want)
		}
	}
}
