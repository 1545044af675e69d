package tcp

import (
	"testing"
	"time"
)

// A fast recovery whose every retransmission a D-SACK (RFC 2883) reports
// as a duplicate was spurious (RFC 3708 3): cwnd and ssthresh go back to
// their values before it (RFC 4015's response, as Linux's undo), whether
// the D-SACK comes after the recovery ended or during it (which then ends
// it, instead of RFC 6937's cwnd = ssthresh with the restored ssthresh).
func TestUndo_RFC3708_SpuriousRecoveryRestoresTheWindow(t *testing.T) {
	const rtt = 10 * time.Millisecond
	for _, during := range []bool{false, true} {
		k := newRK(t, rtt)
		k.write(10000) // ten segments, the initial window
		cwnd0, ssthresh0 := k.c.ccs.Cwnd, k.c.ccs.Ssthresh
		k.at(k.now, rtt)
		// All but the first SACKed: RACK (reordering window 0 before
		// reordering is seen) deems it lost; NewReno halves.
		k.ack(0, 1000, 10000)
		if k.c.lossState != lossFast || k.c.ccs.Ssthresh >= ssthresh0 || k.c.stats.retransSegs != 1 {
			t.Fatalf("during=%v: loss state %v, ssthresh %d, %d retransmitted: no recovery", during, k.c.lossState, k.c.ccs.Ssthresh, k.c.stats.retransSegs)
		}
		reduced := k.c.ccs.Ssthresh
		k.at(k.now, time.Millisecond)
		if during {
			// The original arrives: the ACK covers it and D-SACKs the
			// retransmission while the recovery point is still ahead.
			k.ack(4000, 0, 1000, 4000, 10000)
		} else {
			k.ack(10000) // the original arrived: the recovery ends
			if k.c.lossState != lossNone || k.c.ccs.Cwnd != reduced {
				t.Fatalf("after the full ACK: loss state %v, cwnd %d, want %d", k.c.lossState, k.c.ccs.Cwnd, reduced)
			}
			k.ack(10000, 0, 1000) // the retransmission's D-SACK
		}
		if in := k.c.Info(); in.RecoveryUndos != 1 || k.c.lossState != lossNone ||
			k.c.ccs.Cwnd < cwnd0 || k.c.ccs.Ssthresh != ssthresh0 {
			t.Fatalf("during=%v after the D-SACK: %d undos, loss state %v, cwnd %d (was %d), ssthresh %d (was %d)",
				during, in.RecoveryUndos, k.c.lossState, k.c.ccs.Cwnd, cwnd0, k.c.ccs.Ssthresh, ssthresh0)
		}
	}
}

// A D-SACK of data from before the recovery began, or one that leaves a
// retransmission unreported, undoes nothing.
func TestUndo_OnlyWhenEveryRetransmissionIsReported(t *testing.T) {
	const rtt = 10 * time.Millisecond
	k := newRK(t, rtt)
	k.write(10000)
	k.at(k.now, rtt)
	k.ack(0, 1000, 2000, 3000, 10000) // the first and the third lost
	if k.c.lossState != lossFast || k.c.stats.retransSegs != 2 {
		t.Fatalf("loss state %v, %d retransmitted, want recovery with 2", k.c.lossState, k.c.stats.retransSegs)
	}
	reduced := k.c.ccs.Ssthresh
	k.at(k.now, time.Millisecond)
	k.ack(1000, 0, 1000, 3000, 10000) // one of the two reported
	if k.c.Info().RecoveryUndos != 0 || k.c.ccs.Ssthresh != reduced {
		t.Fatalf("one D-SACK of two retransmissions undid the recovery: ssthresh %d, was %d", k.c.ccs.Ssthresh, reduced)
	}
}

// With timestamps, an ACK whose TSecr echoes a retransmitted segment's
// original transmission shows that the original filled the hole: the
// segment was reordered, not lost, and RACK.reordering_seen is set (RFC
// 8985 6.2 step 3 counts only segments never retransmitted, as a sender
// without timestamps cannot tell which copy arrived). Without this, the
// retransmission of a reordered segment always came first (RACK.reo_wnd
// is 0 until reordering is seen) and reordering was never seen.
func TestRACK_ReorderingSeenWhenTheOriginalFillsTheHole(t *testing.T) {
	const rtt = 10 * time.Millisecond
	for _, original := range []bool{true, false} {
		k := newRK(t, rtt)
		k.c.flags |= flagTSOK
		t0 := k.now
		k.write(10000)
		k.at(t0, rtt)
		k.ack(0, 1000, 10000)
		if k.c.stats.retransSegs != 1 {
			t.Fatalf("%d retransmitted, want the first segment", k.c.stats.retransSegs)
		}
		tr := k.now
		k.at(tr, 2*time.Millisecond)
		a := k.ackSeg(seq(10000))
		echo := k.c.tsVal(tr) // the retransmission filled the hole
		if original {
			echo = k.c.tsVal(t0)
		}
		a.Options.HasTimestamp, a.Options.TSVal, a.Options.TSEcr = true, 100, echo
		k.c.HandleSegment(k.now, a)
		if k.c.SndUna != seq(10000) || k.c.rack.reorderingSeen != original {
			t.Fatalf("TSecr of the original %v: SND.UNA %d, reordering seen %v", original, k.c.SndUna.Sub(seq(0)), k.c.rack.reorderingSeen)
		}
	}
}
