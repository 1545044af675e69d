package ipfrag

import (
	"bytes"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

// TestReassembledTCPParses: a TCP segment sent in fragments comes out of the
// Reassembler as a packet segment.Parse accepts, checksums and all, for both
// families.
func TestReassembledTCPParses(t *testing.T) {
	payload := bytes.Repeat([]byte("tunstack"), 500)
	for _, v6 := range []bool{false, true} {
		seg := segment.Segment{Src: src4, Dst: dst4, SrcPort: 40000, DstPort: 80, Seq: 1, Ack: 2,
			Flags: segment.FlagACK | segment.FlagPSH, Window: 1000, Payload: payload}
		if v6 {
			seg.Src, seg.Dst = src6, dst6
		}
		buf := make([]byte, 8000)
		var n int
		var err error
		if v6 {
			n, err = segment.BuildIPv6TCP(buf, &seg, 0, 64)
		} else {
			n, err = segment.BuildIPv4TCP(buf, &seg, 99, 64)
			buf[6] &^= 0x40 // clear DF, which the builder sets
			fixCsum4(buf[:n])
		}
		if err != nil {
			t.Fatal(err)
		}
		var frags [][]byte
		emit := func(f []byte) error { frags = append(frags, bytes.Clone(f)); return nil }
		scratch := make([]byte, 1280)
		if v6 {
			err = FragmentIPv6(buf[:n], 1280, 5, scratch, emit)
		} else {
			err = FragmentIPv4(buf[:n], 1280, scratch, emit)
		}
		if err != nil || len(frags) != 4 {
			t.Fatalf("v6 %v: %v, %d fragments", v6, err, len(frags))
		}
		r := New(Config{})
		for _, f := range frags {
			if segment.Parse(f, new(segment.Segment)) == nil {
				t.Fatalf("v6 %v: a fragment parses as a whole segment", v6)
			}
		}
		var res Result
		if v6 {
			res = feed6(t, r, t0, frags...)
		} else {
			res = feed4(t, r, t0, frags...)
		}
		var got segment.Segment
		if res.Verdict != Complete {
			t.Fatalf("v6 %v: %v %v", v6, res.Verdict, res.Reason)
		}
		if err := segment.Parse(res.Packet, &got); err != nil || !bytes.Equal(got.Payload, payload) || got.Seq != 1 || got.SrcPort != 40000 {
			t.Fatalf("v6 %v: parse %v, %d payload bytes", v6, err, len(got.Payload))
		}
	}
}
