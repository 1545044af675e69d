package stack_test

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// TestAckCoalescing_FinAckedWhenEnteringTimeWait: on a link that coalesces
// ACKs (an OffloadLink, as *tun.Device is in every mode), the ACK of the
// peer's FIN must leave even though the connection enters TIME-WAIT, and
// so leaves the demux table, while that ACK is held for the end of the
// input burst. It was dropped: the peer sat in LAST-ACK until its
// retransmission timeout (RFC 9293 3.10.7.4, eighth step: in FIN-WAIT-2 a
// FIN is acknowledged and TIME-WAIT entered; in FIN-WAIT-1 a FIN whose ACK
// covers our FIN does the same).
func TestAckCoalescing_FinAckedWhenEnteringTimeWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		// separate: the ACK of our FIN arrives in a burst of its own
		// before the peer's FIN (FIN-WAIT-2); otherwise the peer's FIN
		// carries it (FIN-WAIT-1 straight to TIME-WAIT).
		separate bool
	}{{"FinWait2", true}, {"FinWait1FinAck", false}} {
		t.Run(tc.name, func(t *testing.T) {
			bl := newBurstLink()
			s, ln, syn, sa := burstHandshake(t, bl, bl)
			from := func(seq, ack segment.Seq, f segment.Flags) []byte {
				return tcpPacket(t, &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 80,
					Seq: seq, Ack: ack, Flags: f, Window: 65535})
			}
			peer := syn.Seq.Add(1)
			bl.release(from(peer, sa.Seq.Add(1), segment.FlagACK))
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil { // server closes first: FIN
				t.Fatal(err)
			}
			var fin segment.Segment
			if p := bl.next(t, 2*time.Second); p == nil || segment.ParseIPv4TCP(p, &fin) != nil || fin.Flags&segment.FlagFIN == 0 {
				t.Fatalf("no FIN after Close: %x", p)
			}
			finAcked := fin.Seq.Add(1)
			if tc.separate {
				bl.release(from(peer, finAcked, segment.FlagACK))
				if p := bl.next(t, 100*time.Millisecond); p != nil {
					var x segment.Segment
					segment.ParseIPv4TCP(p, &x)
					t.Fatalf("the bare ACK of our FIN drew %v", &x)
				}
			}
			// The peer's FIN in a burst with two segments for closed
			// ports, so that the ACK is held while the burst lasts.
			other := *synTo(81)
			bl.release(from(peer, finAcked, segment.FlagFIN|segment.FlagACK), tcpPacket(t, &other))
			want := peer.Add(1)
			deadline := time.Now().Add(2 * time.Second)
			for {
				p := bl.next(t, time.Until(deadline))
				if p == nil {
					t.Fatalf("the peer's FIN was never acknowledged (want a pure ACK of %v); stats %+v", want, s.Stats())
				}
				var x segment.Segment
				if err := segment.ParseIPv4TCP(p, &x); err != nil {
					t.Fatal(err)
				}
				if x.SrcPort != 80 || x.DstPort != 40000 {
					continue // the RST for port 81
				}
				if x.Flags != segment.FlagACK || x.Ack != want || x.Seq != finAcked {
					t.Fatalf("the peer's FIN drew %v, want a pure ACK seq=%v ack=%v", &x, finAcked, want)
				}
				break
			}
			for p := bl.next(t, 100*time.Millisecond); p != nil; p = bl.next(t, 100*time.Millisecond) {
				var x segment.Segment
				segment.ParseIPv4TCP(p, &x)
				if x.SrcPort == 80 {
					t.Fatalf("unexpected segment after the ACK of the FIN: %v", &x)
				}
			}
		})
	}
}
