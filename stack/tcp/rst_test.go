package tcp_test

// RST handling and the blind-attack defences of RFC 5961; RST generation
// for segments that reach no connection (RFC 9293 3.10.7.1).

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// RFC 5961 3.2: an RST whose sequence number is in the window but not
// exactly RCV.NXT draws a challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
// and changes nothing; the peer's (legitimate) exact RST then works.
func TestEstablished_RFC5961_3_2_InexactResetChallengeACK(t *testing.T) {
	h := newEstablished(t)
	for i, off := range []int64{1, 100, 30000} {
		at := time.Duration(10+i) * ms
		h.send(at, h.in("R", seq(1+off)))
		h.expect(at, h.out(".", seq(1), ack(1)))
		h.expectState(tcp.StateEstablished)
	}
	// RST+ACK in window, inexact: the same.
	h.send(20*ms, h.in("R.", seq(5), ack(1)))
	h.expect(20*ms, h.out(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
	h.send(30*ms, h.in("R", seq(1)))
	h.expectNothing(30 * ms)
	h.expectState(tcp.StateClosed)
}

// RFC 9293 3.10.7.4 / RFC 5961 3.2: an RST outside the window is dropped
// silently (no ACK: "unless the RST bit is set, if so drop the segment").
func TestEstablished_RFC5961_3_2_OutOfWindowResetIgnored(t *testing.T) {
	h := newEstablished(t)
	for i, off := range []int64{-1, -70000, 70000, 1 << 30} {
		at := time.Duration(10+i) * ms
		h.send(at, h.in("R", seq(1+off)))
		h.expectNothing(at)
		h.expectState(tcp.StateEstablished)
	}
}

// RFC 5961 4.2 (RFC 9293 3.10.7.4 fourth check): a SYN in a synchronized
// state, in or out of the window, draws a challenge ACK and nothing else: no
// RST, no state change; the data stream is unaffected.
func TestEstablished_RFC5961_4_2_SYNChallengeACK(t *testing.T) {
	h := newEstablished(t)
	for i, off := range []int64{0, 10, -5000, 1 << 20} {
		at := time.Duration(10+i) * ms
		h.send(at, h.in("S", seq(1+off)))
		h.expect(at, h.out(".", seq(1), ack(1)))
		h.expectState(tcp.StateEstablished)
	}
	h.send(20*ms, h.in("S.", seq(1), ack(1)))
	h.expect(20*ms, h.out(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
	h.pNxt = 1
	h.send(30*ms, h.in("P.", seq(1), data(10)))
	h.expectWithin(30*ms, 230*ms, h.out(".", seq(1), ack(11)))
	h.expectRead(300*ms, 10)
}

// RFC 5961 4.2 applies in the other synchronized states too (a SYN in
// CLOSE-WAIT or FIN-WAIT-2 is challenged, not obeyed).
func TestFinWait2_RFC5961_4_2_SYNChallengeACK(t *testing.T) {
	h := newEstablished(t)
	h.closeWrite(10 * ms)
	h.expect(10*ms, h.out("F.", seq(1), ack(1)))
	h.send(20*ms, h.in(".", seq(1), ack(2)))
	h.expectState(tcp.StateFinWait2)
	h.send(30*ms, h.in("S", seq(1000)))
	h.expect(30*ms, h.out(".", seq(2), ack(1)))
	h.expectState(tcp.StateFinWait2)
}

// RFC 5961 5.2: an ACK is acceptable only if SND.UNA - MAX.SND.WND =< SEG.ACK
// =< SND.NXT. One too old is dropped with an ACK in reply (its data is not
// delivered); one acknowledging unsent data is dropped with an ACK
// (RFC 9293 3.10.7.4 fifth check).
func TestEstablished_RFC5961_5_2_ACKAcceptability(t *testing.T) {
	h := newEstablished(t, noDelAck())
	h.write(10*ms, 100)
	h.expect(10*ms, h.out("P.", seq(1), data(100)))
	h.send(20*ms, h.in(".", ack(101)))
	// MAX.SND.WND is 65535 (unscaled): ack 101-70000 is too old.
	h.send(30*ms, h.in("P.", seq(1), ack(101-70000), data(10)))
	h.expect(30*ms, h.out(".", seq(101), ack(1)))
	if h.c.Readable() != 0 {
		h.fatalf("data of a segment with an unacceptable (too old) ACK was delivered")
	}
	h.pNxt = 1
	h.send(40*ms, h.in("P.", seq(1), ack(5000), data(10)))
	h.expect(40*ms, h.out(".", seq(101), ack(1)))
	if h.c.Readable() != 0 {
		h.fatalf("data of a segment acknowledging unsent data was delivered")
	}
	if h.c.SndUna != engISS.Add(101) {
		h.fatalf("SND.UNA moved to %d", int32(h.c.SndUna-engISS))
	}
	// An old but acceptable ACK (a duplicate) with data is processed.
	h.pNxt = 1
	h.send(50*ms, h.in("P.", seq(1), ack(50), data(10)))
	h.expect(50*ms, h.out(".", seq(101), ack(11)))
	h.expectRead(50*ms, 10)
	h.expectState(tcp.StateEstablished)
}

// RFC 5961 7: challenge ACKs are rate limited (Config.ChallengeACKLimit per
// second): a burst of inexact RSTs gets at most the limit of ACKs, and the
// budget comes back a second later.
func TestEstablished_RFC5961_7_ChallengeACKRateLimit(t *testing.T) {
	h := newEstablished(t, withConfig(func(c *tcp.Config) { c.ChallengeACKLimit = 5 }))
	for i := 0; i < 20; i++ {
		h.send(10*ms, h.in("R", seq(int64(2+i))))
	}
	out := h.drainOut(10 * ms)
	if len(out) != 5 {
		h.fatalf("%d challenge ACKs for 20 inexact RSTs at once, want the limit 5", len(out))
	}
	for _, o := range out {
		if o.seg.Flags != segment.FlagACK || o.seg.Ack != peerISS.Add(1) {
			h.fatalf("challenge %s, want a bare ACK of 1", h.fmtOut(&o.seg))
		}
	}
	// SYNs share the budget.
	h.send(20*ms, h.in("S", seq(1)))
	h.expectNothing(20 * ms)
	h.send(1*s+20*ms, h.in("S", seq(1)))
	h.expect(1*s+20*ms, h.out(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
}

// RFC 9293 3.10.7.1: a segment that reaches no connection gets a RST:
// with ACK set, <SEQ=SEG.ACK><CTL=RST>; without, <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
// <CTL=RST,ACK>; an RST is never answered; addresses and ports are swapped.
func TestClosed_RFC9293_3_10_7_1_ResetFor(t *testing.T) {
	base := segment.Segment{Src: remoteAddr, Dst: localAddr, SrcPort: 40000, DstPort: 80, Window: 1000}
	cases := []struct {
		name   string
		flags  segment.Flags
		seq    segment.Seq
		ack    segment.Seq
		n      int
		want   bool
		flags2 segment.Flags
		seq2   segment.Seq
		ack2   segment.Seq
	}{
		{"SYN", segment.FlagSYN, 1000, 0, 0, true, segment.FlagRST | segment.FlagACK, 0, 1001},
		{"SYNWithData", segment.FlagSYN, 1000, 0, 10, true, segment.FlagRST | segment.FlagACK, 0, 1011},
		{"FINNoACK", segment.FlagFIN, 0xFFFFFFFF, 0, 5, true, segment.FlagRST | segment.FlagACK, 0, 5},
		{"DataNoACK", segment.FlagPSH, 7, 0, 100, true, segment.FlagRST | segment.FlagACK, 0, 107},
		{"ACK", segment.FlagACK, 1000, 5000, 0, true, segment.FlagRST, 5000, 0},
		{"DataACK", segment.FlagACK | segment.FlagPSH, 1000, 0xFFFFFFF0, 100, true, segment.FlagRST, 0xFFFFFFF0, 0},
		{"FINACK", segment.FlagACK | segment.FlagFIN, 1000, 42, 0, true, segment.FlagRST, 42, 0},
		{"SYNACK", segment.FlagACK | segment.FlagSYN, 1000, 42, 0, true, segment.FlagRST, 42, 0},
		{"RST", segment.FlagRST, 1000, 0, 0, false, 0, 0, 0},
		{"RSTACK", segment.FlagRST | segment.FlagACK, 1000, 42, 0, false, 0, 0, 0},
		{"ECNSYN", segment.FlagSYN | segment.FlagECE | segment.FlagCWR, 1000, 0, 0, true, segment.FlagRST | segment.FlagACK, 0, 1001},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.Flags, in.Seq, in.Ack = tc.flags, tc.seq, tc.ack
			in.Payload = make([]byte, tc.n)
			var out segment.Segment
			out.Payload = []byte("stale")
			got := tcp.ResetFor(&in, &out)
			if got != tc.want {
				t.Fatalf("ResetFor(%v) = %v, want %v", &in, got, tc.want)
			}
			if !got {
				return
			}
			if out.Flags != tc.flags2 || out.Seq != tc.seq2 || (tc.flags2&segment.FlagACK != 0 && out.Ack != tc.ack2) {
				t.Fatalf("ResetFor(%v) = %v, want flags %v seq %d ack %d", &in, &out, tc.flags2, tc.seq2, tc.ack2)
			}
			if len(out.Payload) != 0 || out.Options.HasMSS || out.Options.HasWScale {
				t.Fatalf("RST carries payload or options: %v", &out)
			}
			if out.Src != localAddr || out.Dst != remoteAddr || out.SrcPort != 80 || out.DstPort != 40000 {
				t.Fatalf("RST addressed %v:%d > %v:%d, want the reverse of the segment", out.Src, out.SrcPort, out.Dst, out.DstPort)
			}
		})
	}
}

// RFC 9293 3.10.7.1 for a connection the application has closed: a CLOSED
// Conn ignores segments and never answers with anything (the runtime uses
// ResetFor once the Conn is gone).
func TestClosed_RFC9293_3_10_7_1_ClosedConnSilent(t *testing.T) {
	h := newEstablished(t)
	h.abort(10 * ms)
	h.drainOut(10 * ms)
	h.send(20*ms, h.in("P.", seq(1), data(10)))
	h.send(21*ms, h.in("R", seq(11)))
	h.send(22*ms, h.in("S", seq(1000)))
	h.expectNothing(time.Minute)
	h.expectState(tcp.StateClosed)
}
