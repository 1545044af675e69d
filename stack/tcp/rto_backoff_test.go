package tcp_test

import (
	"testing"
	"time"
)

// RFC 8961 4 (4)(a): "The backoff SHOULD be removed after ... the
// subsequent successful transmission of non-retransmitted data". Issue 8
// section 2: under sustained loss each loss episode is repaired by one
// retransmission whose ACK also covers data sent only once (the peer held
// it out of order), yet no RTT sample comes in between (the timed segment
// is the lost one, Karn). If that ACK leaves the backoff in place, it
// carries into the next episode and the RTO ratchets up episode after
// episode (here 2^5 times the estimate by the sixth) while the RTT stays
// 100 ms: the stalls of tens of seconds that looked like a wedge from the
// kernel side (TestLossWedge's dumps: rto 6.4 s with srtt 0.1 ms and no
// retransmission pending for the data in flight). Every episode must time
// out after the estimate, not after the estimate doubled once per earlier
// episode.
func TestEstablished_RFC8961_4_BackoffRemovedByAckOfDataSentOnce(t *testing.T) {
	h, rto := establishedWithRTTSample(t)
	const mss = 1460
	next := int64(101)
	for ep := range 6 {
		at := time.Duration(2+2*ep) * s
		// Two full-sized segments (all the window allows after a
		// timeout); the first is lost, the peer holds the second.
		for i := range 2 {
			h.write(at, mss)
			h.expect(at, h.out("P.", seq(next+int64(mss*i)), data(mss)))
		}
		h.expectNothing(at + rto - 1)
		h.expect(at+rto, h.out(".", seq(next), data(mss)))
		// The retransmission fills the hole: the ACK covers both, the
		// second sent only once.
		h.send(at+rto+100*ms, h.in(".", ack(next+2*mss)))
		if got := h.c.Info().RTO; got != rto {
			h.fatalf("episode %d: RTO %v after an ACK of data sent only once, want the estimate %v (RFC 8961 4 (4)(a))", ep, got, rto)
		}
		next += 2 * mss
	}
}

// The other side of the rule: an ACK that covers only retransmitted data
// is no evidence about the RTT (RFC 6298 3, Karn), and the backoff stays
// for the next segment (RFC 6298 5.5, the note after 5.7): had the path's
// RTT grown past the RTO, dropping it would time every segment out
// spuriously and never take a sample. Here the whole flight is lost and
// retransmitted; the ACK of both retransmissions leaves the RTO doubled.
func TestEstablished_RFC6298_5_BackoffKeptWhenOnlyRetransmittedDataAcked(t *testing.T) {
	h, rto := establishedWithRTTSample(t)
	const mss = 1460
	h.write(2*s, mss)
	h.expect(2*s, h.out("P.", seq(101), data(mss)))
	h.write(2*s, mss)
	h.expect(2*s, h.out("P.", seq(101+mss), data(mss)))
	h.expect(2*s+rto, h.out(".", seq(101), data(mss)))
	h.send(2*s+rto+100*ms, h.in(".", ack(101+mss)))
	h.expect(2*s+rto+100*ms, h.out("P.", seq(101+mss), data(mss)))
	h.send(2*s+rto+200*ms, h.in(".", ack(101+2*mss)))
	if got := h.c.Info().RTO; got != 2*rto {
		h.fatalf("RTO %v after ACKs of retransmitted data only, want the backed-off %v (Karn)", got, 2*rto)
	}
}

// The go-back-N ratchet (issue 8 section 2, TestLossWedge against the
// kernel: RTO 25.6 s with an SRTT of 91 us). Loss episode after loss
// episode, the segment sent afresh is lost and its retransmission is
// acknowledged: every ACK covers only retransmitted data, so neither an
// RTT sample nor RFC 8961's rule (a) removes the backoff. It may keep two
// doublings (a path whose RTT quadrupled is still learned, Karn), not one
// more per episode: the sixth episode's timeout comes after 4 RTOs, not 32.
func TestEstablished_Issue8_BackoffCarriedAcrossEpisodesIsCapped(t *testing.T) {
	h, rto := establishedWithRTTSample(t)
	at, next := 2*s, int64(101)
	for ep := range 6 {
		wait := rto << min(ep, 2)
		h.write(at, 100)
		h.expect(at, h.out("P.", seq(next), data(100)))
		h.expectNothing(at + wait - 1)
		h.expect(at+wait, h.out("P.", seq(next), data(100)))
		h.send(at+wait+10*ms, h.in(".", ack(next+100)))
		next += 100
		at += wait + 1*s
	}
	if got := h.c.Info().RTO; got != 4*rto {
		h.fatalf("RTO %v after six episodes, want %v (two doublings carried)", got, 4*rto)
	}
}

// establishedWithRTTSample is an established connection (handshake RTT
// 100 ms) that has sent 100 bytes at 1 s and had them acknowledged 100 ms
// later, a clean RTT sample; it returns the harness and the RTO that left.
// SND.NXT is then 101.
func establishedWithRTTSample(t *testing.T) (*harness, time.Duration) {
	t.Helper()
	h := newEstablished(t, handshakeRTT(100*ms))
	h.write(1*s, 100)
	h.expect(1*s, h.out("P.", seq(1), data(100)))
	h.send(1*s+100*ms, h.in(".", ack(101)))
	return h, h.c.Info().RTO
}
