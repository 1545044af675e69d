package tcp_test

// A second reading of the SACK, timestamps and loss recovery code against
// RFC 2018, RFC 2883, RFC 6675, RFC 7323 and RFC 8985, with the hostile or
// unusual inputs a conformance suite sends: options that were not
// negotiated, the timestamp clock wrapping, malformed SACK blocks.

import (
	"syscall"
	"testing"

	"github.com/tunstack/tunstack/stack/tcp"
)

// RFC 7323 3.2: "If a TSopt is received on a connection where TSopt was
// not negotiated in the initial three-way handshake, the TSopt MUST be
// ignored and the packet processed normally." No PAWS (a TSval going
// back is no reason to drop), and no TSopt in our answers.
func TestReview_RFC7323_3_2_TSoptNotNegotiatedIgnored(t *testing.T) {
	h := newEstablished(t, handshakeRTT(10*ms))
	h.send(20*ms, h.in("P.", seq(1), data(100), ts(5000, 1)))
	h.send(21*ms, h.in("P.", seq(101), data(100), ts(4000, 1)))
	h.expectWithin(21*ms, 250*ms, h.out(".", ack(201)))
	h.expectRead(250*ms, 200)
	if in := h.c.Info(); in.PAWSDrops != 0 || in.TimestampsOK {
		h.fatalf("PAWS drops %d, timestamps %v; want 0, false", in.PAWSDrops, in.TimestampsOK)
	}
}

// RFC 2018 2: SACK blocks on a connection that did not negotiate SACK are
// not used: the sender keeps no scoreboard, and the duplicate ACKs are
// RFC 5681's.
func TestReview_RFC2018_2_SACKNotNegotiatedIgnored(t *testing.T) {
	h := newEstablished(t)
	h.write(10*ms, 10*smss)
	h.drainOut(10 * ms)
	h.send(100*ms, h.in(".", seq(1), ack(1), sackBlock(sk(2), sk(5))))
	if in := h.c.Info(); in.SackedOut != 0 || in.InRecovery || in.LostOut != 0 {
		h.fatalf("SACKed %d, recovery %v, lost %d; want 0, false, 0", in.SackedOut, in.InRecovery, in.LostOut)
	}
}

// RFC 7323 5.2: timestamps compare modulo 2^32 ("s < t if 0 < (t - s) <
// 2^31"): a TSval that wrapped past zero is newer than TS.Recent near
// 2^32, passes PAWS and becomes TS.Recent (5.3 R3); one just below
// TS.Recent is still old.
func TestReview_RFC7323_5_2_TSvalWraps(t *testing.T) {
	const base uint32 = 0xffff_fff0
	h := newEstablished(t, handshakeRTT(10*ms), peerSYNMods(ts(base, 0)))
	info := h.c.Info()
	if !info.TimestampsOK || info.TSRecent != base {
		h.fatalf("timestamps %v, TS.Recent %#x; want true, %#x", info.TimestampsOK, info.TSRecent, uint32(base))
	}
	h.send(20*ms, h.in("P.", seq(1), data(100), ts(wrap(base, 0x20), h.engTSVal))) // wrapped: 0x10
	h.expectWithin(20*ms, 60*ms, h.out(".", ack(101), echo(wrap(base, 0x20))))
	h.send(100*ms, h.in("P.", seq(101), data(100), ts(wrap(base, 0x10), h.engTSVal))) // 0x0: older
	h.expect(100*ms, h.out(".", ack(101), echo(wrap(base, 0x20))))
	if in := h.c.Info(); in.PAWSDrops != 1 || in.RecvQueued != 100 {
		h.fatalf("PAWS drops %d, queued %d; want 1, 100", in.PAWSDrops, in.RecvQueued)
	}
	h.expectState(tcp.StateEstablished)
}

// wrap adds d to a timestamp modulo 2^32.
func wrap(v, d uint32) uint32 { return v + d }

// RFC 9293 3.8.6.1 (MUST-36): "As long as the receiving TCP peer continues
// to send acknowledgments in response to the probe segments, the sending
// TCP peer MUST allow the connection to stay open", and 3.8.6 (MUST-34):
// the sender must be robust against a peer that shrinks its window. Here
// the peer closes its window on data already in flight; the retransmission
// timer's resends are then its window probes, and the peer answers each
// with a zero-window ACK. The connection stays open (Linux alike:
// tcp_retransmit_timer's "Receiver dastardly shrinks window" case) for far
// longer than MaxRetries timeouts (~9 minutes), and the data goes once the
// window opens. A peer that stops answering is still given up on.
func TestReview_RFC9293_3_8_6_1_ShrunkWindowStaysOpen(t *testing.T) {
	const seg = 1448 // the MSS less TSopt
	h := newEstablished(t, peerSACKOpt(), peerTSOpt(), handshakeRTT(10*ms))
	h.write(10*ms, 4*seg)
	h.drainOut(10 * ms)
	h.send(20*ms, h.in(".", seq(1), ack(1+seg), win(0)))
	at := 20 * ms
	probes := 0
	for at < 30*60*s {
		at += 30 * s
		h.advance(at)
		for _, o := range h.drainOut(at) {
			if len(o.seg.Payload) > 0 {
				probes++
			}
		}
		h.send(at, h.in(".", seq(1), ack(1+seg), win(0)))
		if err := h.c.Err(); err != nil {
			h.fatalf("at %v, after %d retransmissions answered with a zero window: %v", at, probes, err)
		}
	}
	if probes < 20 {
		h.fatalf("%d retransmissions in 30 minutes, want more than MaxRetries (15)", probes)
	}
	h.send(at+ms, h.in(".", seq(1), ack(1+seg), win(65535)))
	h.advance(at + 2*s)
	h.send(at+2*s, h.in(".", seq(1), ack(1+4*seg)))
	if in := h.c.Info(); in.State != tcp.StateEstablished || in.SndUna != in.SndMax {
		h.fatalf("state %v, SND.UNA %d SND.MAX %d: want ESTABLISHED with everything acknowledged", in.State, in.SndUna, in.SndMax)
	}
	// A silent peer behind a zero window: given up on.
	h.write(at+3*s, seg)
	h.drainOut(at + 3*s)
	h.send(at+3*s+10*ms, h.in(".", seq(1), ack(1+4*seg), win(0)))
	h.advance(at + 3*s + 60*60*s)
	h.expectState(tcp.StateClosed)
	h.expectErr(syscall.ETIMEDOUT)
}

// RFC 7323 5.3 R3 records the TSval of an acceptable segment in TS.Recent;
// a segment whose ACK RFC 9293 3.10.7.4 and RFC 5961 5.2 then reject (it
// acknowledges data never sent, or is older than SND.UNA - MAX.SND.WND) is
// dropped and must leave TS.Recent alone, as must an in-window SYN (RFC
// 5961 4.2) — as Linux, which updates ts_recent only once the ACK is
// validated (tcp_ack, FLAG_UPDATE_TS_RECENT). Otherwise a blind segment
// that only needs an in-window sequence number (RFC 5961's threat) with a
// TSval far ahead poisons TS.Recent, and PAWS (5.3 R1) then drops every
// genuine segment of the peer.
func TestReview_RFC7323_5_3_InvalidAckLeavesTSRecent(t *testing.T) {
	h := newEstablished(t, peerTSOpt(), handshakeRTT(10*ms))
	h.send(20*ms, h.in("P.", seq(1), data(100)))
	h.expectWithin(20*ms, 60*ms, h.out(".", ack(101), echo(pTSBase+20)))
	h.expectRead(60*ms, 100)
	far := uint32(pTSBase + 1<<30)
	// An ACK of data never sent: challenge ACK with the old TS.Recent.
	h.send(100*ms, h.in(".", seq(101), ack(5000), ts(far, h.engTSVal)))
	h.expect(100*ms, h.out(".", ack(101), echo(pTSBase+20)))
	// An ACK far older than SND.UNA - MAX.SND.WND.
	h.send(1100*ms, h.in(".", seq(101), ack(-1<<20), ts(far, h.engTSVal)))
	h.expect(1100*ms, h.out(".", ack(101), echo(pTSBase+20)))
	// An in-window SYN.
	h.send(2100*ms, h.in("S.", seq(101), ack(1), ts(far, h.engTSVal)))
	h.expect(2100*ms, h.out(".", ack(101), echo(pTSBase+20)))
	if in := h.c.Info(); in.TSRecent != pTSBase+20 {
		h.fatalf("TS.Recent %d after rejected segments, want %d", in.TSRecent, pTSBase+20)
	}
	// The peer's next genuine segment passes PAWS.
	h.send(3100*ms, h.in("P.", seq(101), data(100)))
	h.expectWithin(3100*ms, 3200*ms, h.out(".", ack(201), echo(pTSBase+3100)))
	h.expectRead(3200*ms, 100)
	if in := h.c.Info(); in.PAWSDrops != 0 {
		h.fatalf("PAWS drops %d, want 0", in.PAWSDrops)
	}
}

// RFC 2018 3: a block's right edge is "the sequence number immediately
// following the last sequence number of this block"; a FIN held beyond a
// gap occupies the block's last sequence number (RFC 9293 3.4), and Linux
// reports it so (the queued segment's end_seq counts the FIN). Without it
// a Linux sender never sees its data+FIN segment SACKed whole (its
// tcp_match_skb_to_sack requires the block to cover end_seq) and keeps
// it in flight as unSACKed, to be resent as lost.
func TestReview_RFC2018_3_BlockCoversHeldFIN(t *testing.T) {
	h := newEstablished(t, peerSACKOpt())
	h.send(10*ms, h.in("P.", seq(1), data(100)))
	h.send(20*ms, h.in("FP.", seq(201), data(100)))
	h.expect(20*ms, h.out(".", ack(101), sacks(201, 302)))
	h.send(30*ms, h.in("P.", seq(101), data(100)))
	h.expect(30*ms, h.out(".", ack(302), sacks()))
	h.expectState(tcp.StateCloseWait)
	h.expectRead(30*ms, 300)
}

// RFC 2883 4 (1) with RFC 7323 5.3 R1: a duplicate of data already
// received that PAWS rejects (its TSval is older than TS.Recent: the
// delayed original of a segment whose retransmission arrived first) is
// answered with an ACK that reports it as a D-SACK, as Linux does
// (tcp_send_dupack from its PAWS check). That D-SACK is how the sender
// learns its retransmission was spurious and widens RACK's reordering
// window (RFC 8985 6.2 step 4); without it, timestamps hide every such
// reordering from it.
func TestReview_RFC2883_4_DSACKForPAWSRejectedDuplicate(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), peerTSOpt(), handshakeRTT(10*ms))
	// The retransmission (TSval 30) arrives before the original (TSval 20).
	h.send(30*ms, h.in("P.", seq(1), data(100)))
	h.expectWithin(30*ms, 70*ms, h.out(".", ack(101), echo(pTSBase+30), sacks()))
	h.send(100*ms, h.in("P.", seq(1), data(100), ts(pTSBase+20, h.engTSVal)))
	h.expect(100*ms, h.out(".", ack(101), echo(pTSBase+30), sacks(1, 101)))
	if in := h.c.Info(); in.PAWSDrops != 1 {
		h.fatalf("PAWS drops %d, want 1", in.PAWSDrops)
	}
	// A PAWS-rejected segment above RCV.NXT is no duplicate: no D-SACK.
	h.send(110*ms, h.in("P.", seq(201), data(100), ts(pTSBase+20, h.engTSVal)))
	h.expect(110*ms, h.out(".", ack(101), echo(pTSBase+30), sacks()))
	h.expectRead(110*ms, 100)
}

// RFC 2883 4 (1): a retransmitted FIN that was already received is a
// duplicate segment and is reported as a D-SACK of the FIN's sequence
// number, as Linux does (its end_seq counts the FIN): the peer learns its
// FIN retransmission was spurious.
func TestReview_RFC2883_4_DSACKForDuplicateFIN(t *testing.T) {
	h := newEstablished(t, peerSACKOpt())
	h.send(10*ms, h.in("FP.", seq(1), data(100)))
	h.expect(10*ms, h.out(".", ack(102), sacks()))
	h.expectState(tcp.StateCloseWait)
	h.send(300*ms, h.in("F.", seq(101)))
	h.expect(300*ms, h.out(".", ack(102), sacks(101, 102)))
}
