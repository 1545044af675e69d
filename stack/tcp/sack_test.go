package tcp_test

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// The sender's SACK scoreboard and RFC 6675 recovery against a scripted
// peer that negotiates SACK (peerSACKOpt). Segments are numbered from 1 as
// the peer would see them: segment k carries seq 1+(k-1)*mss.

const smss = 1460

// sk is the relative sequence number of the start of segment k.
func sk(k int64) int64 { return 1 + (k-1)*smss }

// noRACK turns RACK-TLP off: RFC 6675's DupThresh rules alone detect loss.
func noRACK(c *tcp.Config) { c.RACK = false }

// sackAck is the peer's ACK of ack with the given SACK blocks (pairs of
// segment numbers [from, to], inclusive).
func (h *harness) sackAck(at time.Duration, a int64, segs ...int64) {
	h.t.Helper()
	m := []mod{seq(1), ack(a)}
	for i := 0; i+1 < len(segs); i += 2 {
		m = append(m, sackBlock(sk(segs[i]), sk(segs[i+1]+1)))
	}
	h.send(at, h.in(".", m...))
}

// sentSegs returns the relative start of every data segment sent.
func sentSegs(out []outSeg) []int64 {
	var s []int64
	for _, o := range out {
		if len(o.seg.Payload) > 0 {
			s = append(s, int64(int32(o.seg.Seq-engISS)))
		}
	}
	return s
}

func (h *harness) expectSegs(at time.Duration, what string, want ...int64) {
	h.t.Helper()
	got := sentSegs(h.drainOut(at))
	if len(got) != len(want) {
		h.fatalf("%s: sent %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			h.fatalf("%s: sent %v, want %v", what, got, want)
		}
	}
}

// RFC 6675 with limited transmit and PRR: ten segments out, 1, 4 and 7
// lost. The first two duplicate ACKs send new data (RFC 3042, RFC 6675 5
// (3)); the one that SACKs three segments above the first makes IsLost(1)
// true and starts recovery with its retransmission (5 (4)); segment 4 is
// deemed lost once more than 2*SMSS is SACKed above it, segment 7 once
// three segments are; exactly the holes are resent, in order, as PRR's
// budget allows, then new data. Pipe follows RFC 6675's SetPipe.
func TestSACK_RFC6675_RetransmitsExactlyTheHoles(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), withConfig(noRACK))
	h.write(10*ms, 40*smss)
	h.expectSegs(10*ms, "initial window", sk(1), sk(2), sk(3), sk(4), sk(5), sk(6), sk(7), sk(8), sk(9), sk(10))
	h.sackAck(100*ms, 1, 2, 2)
	h.expectSegs(100*ms, "first duplicate ACK (limited transmit)", sk(11))
	h.sackAck(101*ms, 1, 2, 3)
	h.expectSegs(101*ms, "second duplicate ACK (limited transmit)", sk(12))
	if in := h.c.Info(); in.InRecovery || in.SackedOut != 2*smss || in.Pipe != 10*smss {
		h.fatalf("after two SACKs: recovery %v, SACKed %d, pipe %d; want false, %d, %d", in.InRecovery, in.SackedOut, in.Pipe, 2*smss, 10*smss)
	}
	h.sackAck(102*ms, 1, 5, 5, 2, 3)
	h.expectSegs(102*ms, "three segments SACKed above the first: fast retransmit", sk(1))
	in := h.c.Info()
	// ssthresh = FlightSize/2 without the limited transmit segments (RFC
	// 6675 5 (4.2)); pipe = 12 sent - 3 SACKed - 1 lost, + 1 resent;
	// PRR's first sndcnt is the fast retransmit.
	if !in.InRecovery || in.SACKRecoveries != 1 || in.Ssthresh != 5*smss || in.Pipe != 9*smss || in.Cwnd != 9*smss {
		h.fatalf("recovery %v (%d), ssthresh %d, pipe %d, cwnd %d; want true (1), %d, %d, %d",
			in.InRecovery, in.SACKRecoveries, in.Ssthresh, in.Pipe, in.Cwnd, 5*smss, 9*smss, 9*smss)
	}
	h.sackAck(103*ms, 1, 5, 6, 2, 3)
	h.expectSegs(103*ms, "segment 6 SACKed: PRR holds back")
	// PRR: sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out
	// (in whole segments) while pipe > ssthresh, RecoverFS 12 segments.
	h.sackAck(104*ms, 1, 8, 8, 5, 6, 2, 3)
	h.expectSegs(104*ms, "segment 8 SACKed: 4 is lost, CEIL(3*5/12) - 1 = 1", sk(4))
	if in := h.c.Info(); in.LostOut != 0 || in.Pipe != 7*smss || in.Cwnd != 7*smss {
		h.fatalf("lost %d, pipe %d, cwnd %d; want 0, %d, %d", in.LostOut, in.Pipe, in.Cwnd, 7*smss, 7*smss)
	}
	h.sackAck(105*ms, 1, 8, 9, 5, 6, 2, 3)
	h.expectSegs(105*ms, "segment 9 SACKed: CEIL(4*5/12) - 2 = 0")
	h.sackAck(106*ms, 1, 8, 10, 5, 6, 2, 3)
	h.expectSegs(106*ms, "segment 10 SACKed: 7 is lost, pipe 4: PRR-SSRB sends ssthresh - pipe", sk(7))
	h.sackAck(107*ms, 1, 8, 11, 5, 6, 2, 3)
	h.expectSegs(107*ms, "segment 11 SACKed", sk(13))
	h.sackAck(108*ms, 1, 8, 12, 5, 6, 2, 3)
	h.expectSegs(108*ms, "segment 12 SACKed", sk(14))
	// The retransmissions arrive: partial ACKs, then the full one.
	h.sackAck(200*ms, sk(4), 8, 12, 5, 6)
	h.sackAck(206*ms, sk(7), 8, 12)
	h.sackAck(207*ms, sk(15))
	for _, s := range sentSegs(h.drainOut(207 * ms)) {
		if s < sk(15) {
			h.fatalf("segment at %d resent after the holes were filled", s)
		}
	}
	in = h.c.Info()
	if in.InRecovery || in.RetransFast != 3 || in.Retransmits != 3 || in.RTOExpiries != 0 || in.SackedOut != 0 || in.LostOut != 0 {
		h.fatalf("after the full ACK: recovery %v, fast retransmissions %d of %d, RTOs %d, SACKed %d, lost %d; want false, 3, 3, 0, 0, 0",
			in.InRecovery, in.RetransFast, in.Retransmits, in.RTOExpiries, in.SackedOut, in.LostOut)
	}
	if in.Cwnd != in.Ssthresh {
		h.fatalf("cwnd %d at the end of recovery, want ssthresh %d (RFC 6937)", in.Cwnd, in.Ssthresh)
	}
}

// RFC 6675 5.1: after an RTO everything not SACKed is lost and resent in
// order as the window opens again, and the SACK information is kept:
// SACKed segments are not sent again.
func TestSACK_RFC6675_5_1_RTOResendsHolesOnly(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), withConfig(noRACK), handshakeRTT(50*ms))
	rto := h.c.Info().RTO
	h.write(10*ms+50*ms, 10*smss)
	h.drainOut(60 * ms)
	// Segments 2 and 5 arrive: two duplicates, no recovery.
	h.sackAck(110*ms, 1, 2, 2)
	h.sackAck(111*ms, 1, 5, 5, 2, 2)
	h.expectSegs(111*ms, "two duplicate ACKs, nothing left to send")
	if in := h.c.Info(); in.InRecovery {
		h.fatalf("recovery entered with two segments SACKed")
	}
	at := 60*ms + rto
	h.expectSegs(at, "RTO: the first segment", sk(1))
	if in := h.c.Info(); in.RTOExpiries != 1 || in.LostOut != 7*smss || in.SackedOut != 2*smss || in.Cwnd != smss {
		h.fatalf("after the RTO: %d expiries, lost %d, SACKed %d, cwnd %d; want 1, %d, %d, %d", in.RTOExpiries, in.LostOut, in.SackedOut, in.Cwnd, 7*smss, 2*smss, smss)
	}
	// Slow start over the holes: 3 and 4, then 6, 7, 8 (5 is SACKed),
	// then 9 and 10.
	h.sackAck(at+50*ms, sk(3), 5, 5)
	h.expectSegs(at+50*ms, "first ACK after the RTO", sk(3), sk(4))
	h.sackAck(at+100*ms, sk(4), 5, 5)
	h.sackAck(at+100*ms, sk(6))
	h.expectSegs(at+100*ms, "second round", sk(6), sk(7), sk(8), sk(9))
	h.sackAck(at+150*ms, sk(10))
	h.expectSegs(at+150*ms, "third round", sk(10))
	h.sackAck(at+200*ms, sk(11))
	if in := h.c.Info(); in.RetransRTO != 8 || in.Retransmits != 8 || in.InLossRTO {
		h.fatalf("after the recovery: %d segments resent after the RTO (%d in all), loss state %v; want 8, 8, false", in.RetransRTO, in.Retransmits, in.InLossRTO)
	}
}

// With RACK-TLP (the default) the same losses are found by time (RFC 8985
// 6.2) and again exactly the holes are resent, without an RTO.
func TestSACK_RACKRetransmitsExactlyTheHoles(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), handshakeRTT(50*ms))
	h.write(50*ms, 30*smss)
	h.drainOut(50 * ms)
	// 1, 4 and 7 are lost; the others arrive 50 ms after they were sent,
	// and the two limited transmit segments (11, 12) 50 ms later.
	var rtx []int64
	high := sk(11)
	collect := func(at time.Duration) {
		for _, s := range sentSegs(h.drainOut(at)) {
			if s < high {
				rtx = append(rtx, s)
			}
			high = max(high, s+smss)
		}
	}
	h.sackAck(100*ms, 1, 2, 3)
	collect(100 * ms)
	h.sackAck(101*ms, 1, 5, 6, 2, 3)
	collect(101 * ms)
	h.sackAck(102*ms, 1, 8, 10, 5, 6, 2, 3)
	collect(102 * ms)
	for i := int64(11); i <= 12; i++ {
		h.sackAck(150*ms+time.Duration(i)*ms, 1, 8, i, 5, 6, 2, 3)
		collect(150*ms + time.Duration(i)*ms)
	}
	if len(rtx) != 3 || rtx[0] != sk(1) || rtx[1] != sk(4) || rtx[2] != sk(7) {
		h.fatalf("resent %v, want exactly the holes %v", rtx, []int64{sk(1), sk(4), sk(7)})
	}
	if in := h.c.Info(); in.RTOExpiries != 0 || in.SACKRecoveries != 1 || in.RACKLosses != 3 {
		h.fatalf("RTOs %d, SACK recoveries %d, RACK losses %d; want 0, 1, 3", in.RTOExpiries, in.SACKRecoveries, in.RACKLosses)
	}
}

// RFC 2018 / RFC 6675 5: blocks outside [SND.UNA, snd.max] are ignored;
// RFC 2883: a first block below the cumulative ACK is a D-SACK, reported
// (RACK's reordering window input) and not taken as SACKing anything.
func TestSACK_RFC2018_BlocksOutsideTheWindowIgnored(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), withConfig(noRACK))
	h.write(10*ms, 4*smss)
	h.drainOut(10 * ms)
	h.send(50*ms, h.in(".", seq(1), ack(sk(2)), sackBlock(sk(1), sk(2))))      // D-SACK
	h.send(51*ms, h.in(".", seq(1), ack(sk(2)), sackBlock(sk(5), sk(6))))      // beyond snd.max
	h.send(52*ms, h.in(".", seq(1), ack(sk(2)), sackBlock(sk(3), sk(2))))      // empty
	h.send(53*ms, h.in(".", seq(1), ack(sk(2)), sackBlock(sk(3)+1, sk(4)+10))) // covers no record whole
	if in := h.c.Info(); in.SackedOut != 0 || in.SACKedBytes != 0 || in.SpuriousRetrans != 1 || in.InRecovery {
		h.fatalf("SACKed %d (%d), D-SACKs %d, recovery %v; want 0, 0, 1, false", in.SackedOut, in.SACKedBytes, in.SpuriousRetrans, in.InRecovery)
	}
	h.send(54*ms, h.in(".", seq(1), ack(sk(2)), sackBlock(sk(3), sk(5))))
	if in := h.c.Info(); in.SackedOut != 2*smss || in.Pipe != smss {
		h.fatalf("SACKed %d, pipe %d; want %d, %d", in.SackedOut, in.Pipe, 2*smss, smss)
	}
}

// RFC 3042 without SACK: the first two duplicate ACKs each send one new
// segment, the congestion window unchanged; the third starts recovery.
func TestEstablished_RFC3042_LimitedTransmit(t *testing.T) {
	h := newEstablished(t)
	h.write(10*ms, 20*smss)
	h.drainOut(10 * ms)
	cwnd := h.c.Info().Cwnd
	h.send(100*ms, h.in(".", seq(1), ack(1)))
	h.expectSegs(100*ms, "first duplicate", sk(11))
	h.send(101*ms, h.in(".", seq(1), ack(1)))
	h.expectSegs(101*ms, "second duplicate", sk(12))
	if in := h.c.Info(); in.Cwnd != cwnd || in.InRecovery {
		h.fatalf("cwnd %d -> %d, recovery %v: limited transmit must not change them", cwnd, in.Cwnd, in.InRecovery)
	}
	h.send(102*ms, h.in(".", seq(1), ack(1)))
	h.expectSegs(102*ms, "third duplicate", sk(1))
	if in := h.c.Info(); !in.InRecovery || in.RenoRecoveries != 1 || in.Ssthresh != 5*smss {
		h.fatalf("recovery %v (%d), ssthresh %d; want true (1), %d", in.InRecovery, in.RenoRecoveries, in.Ssthresh, 5*smss)
	}
}

// RFC 2018 8: a receiver may drop data it SACKed (reneging). When the
// cumulative ACK stops at a SACKed segment, the sender forgets the SACK
// marks: the data counts as outstanding again, to be resent if lost.
func TestSACK_RFC2018_8_Reneging(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), withConfig(noRACK))
	h.write(10*ms, 4*smss)
	h.drainOut(10 * ms)
	h.sackAck(50*ms, 1, 2, 4)
	if in := h.c.Info(); in.SackedOut != 3*smss || in.Pipe != smss {
		h.fatalf("SACKed %d, pipe %d; want %d, %d", in.SackedOut, in.Pipe, 3*smss, smss)
	}
	h.sackAck(60*ms, sk(2)) // segment 1 arrived; 2-4 were dropped
	if in := h.c.Info(); in.SackedOut != 0 || in.Pipe != 3*smss {
		h.fatalf("after reneging: SACKed %d, pipe %d; want 0, %d", in.SackedOut, in.Pipe, 3*smss)
	}
}

// RFC 6675 NextSeg rule 4, the rescue retransmission: with no lost data
// left to resend, no new data and nothing unSACKed below the highest
// SACKed segment that was not resent, one segment holding the highest
// unSACKed sequence number goes out once per recovery (a tail loss that no
// later segment can reveal).
func TestSACK_RFC6675_NextSegRule4Rescue(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), withConfig(noRACK))
	h.write(10*ms, 10*smss)
	h.drainOut(10 * ms)
	// 1 and 10 are lost; 2..9 arrive one by one.
	h.sackAck(50*ms, 1, 2, 2)
	h.sackAck(51*ms, 1, 2, 3)
	h.sackAck(52*ms, 1, 2, 4)
	h.expectSegs(52*ms, "three SACKed: fast retransmit", sk(1))
	h.sackAck(53*ms, 1, 2, 5)
	h.sackAck(54*ms, 1, 2, 6)
	h.expectSegs(54*ms, "pipe down to ssthresh")
	h.sackAck(55*ms, 1, 2, 7)
	h.expectSegs(55*ms, "rule 4: the highest unSACKed segment", sk(10))
	h.sackAck(56*ms, 1, 2, 8)
	h.sackAck(57*ms, 1, 2, 9)
	h.expectSegs(57*ms, "one rescue per recovery")
	h.sackAck(80*ms, sk(11))
	if in := h.c.Info(); in.InRecovery || in.RetransFast != 2 || in.RTOExpiries != 0 {
		h.fatalf("recovery %v, fast retransmissions %d, RTOs %d; want false, 2, 0", in.InRecovery, in.RetransFast, in.RTOExpiries)
	}
}

// RFC 6675 NextSeg rule 3: with no segment deemed lost and no new data,
// an unSACKed segment below the highest SACKed one that was not resent yet
// goes out (here segment 8, with only one segment SACKed above it, which
// IsLost does not call lost).
func TestSACK_RFC6675_NextSegRule3(t *testing.T) {
	h := newEstablished(t, peerSACKOpt(), withConfig(noRACK))
	h.write(10*ms, 10*smss)
	h.drainOut(10 * ms)
	// 1 and 8 are lost.
	h.sackAck(50*ms, 1, 2, 2)
	h.sackAck(51*ms, 1, 2, 3)
	h.sackAck(52*ms, 1, 2, 4)
	h.expectSegs(52*ms, "three SACKed: fast retransmit", sk(1))
	h.sackAck(53*ms, 1, 2, 5)
	h.sackAck(54*ms, 1, 2, 6)
	h.sackAck(55*ms, 1, 2, 7)
	h.expectSegs(55*ms, "rule 4 first (nothing below the highest SACKed)", sk(10))
	h.sackAck(56*ms, 1, 9, 9, 2, 7)
	h.expectSegs(56*ms, "rule 3: segment 8", sk(8))
	if in := h.c.Info(); in.LostOut != 0 || in.RetransFast != 3 {
		h.fatalf("lost %d, fast retransmissions %d; want 0 (8 not deemed lost), 3", in.LostOut, in.RetransFast)
	}
}
