package tcp_test

// The send side in ESTABLISHED: segmentation by MSS (RFC 9293 3.7.1),
// retransmission (RFC 6298, RFC 9293 3.8.1, 3.8.3), congestion control
// (RFC 5681, RFC 6582, RFC 6928), zero-window probing (RFC 9293 3.8.6.1),
// sender silly window avoidance (3.8.6.2.1), Nagle (3.7.4).

import (
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
)

// sentData sums the payload of the segments and checks that they are
// contiguous new data starting at relative seq from; it returns the bytes
// and the segment count.
func (h *harness) sentData(out []outSeg, from int64) (int, int) {
	h.t.Helper()
	n, k := 0, 0
	next := engISS.Add(uint32(from))
	for _, o := range out {
		if len(o.seg.Payload) == 0 {
			continue
		}
		if o.seg.Seq != next {
			h.fatalf("data segment %s not contiguous (want seq %d)", h.fmtOut(&o.seg), int32(next-engISS))
		}
		next = next.Add(uint32(len(o.seg.Payload)))
		n += len(o.seg.Payload)
		k++
	}
	return n, k
}

// RFC 9293 3.7.1: the SYN carries our MSS option (MTU - 40); the peer's MSS
// caps our segments; with no option 536 applies (MUST-15); our own MSS caps
// them too (the effective send MSS is the smaller).
func TestSynSent_RFC9293_3_7_1_MSSOptionSent(t *testing.T) {
	h := newHarness(t, buildOpts(nil))
	h.connect(0)
	h.expect(0, h.out("S", seq(0), mss(1460), wscale(int(h.cfg.RcvWindowShift()))))
	h2 := newHarness(t, buildOpts([]hopt{withConfig(func(c *tcp.Config) { c.MSS = 1200; c.WindowScale = false })}))
	h2.connect(0)
	h2.expect(0, h2.out("S", seq(0), mss(1200)))
}

func TestEstablished_RFC9293_3_7_1_MSSHonoured(t *testing.T) {
	for _, tc := range []struct {
		name    string
		peerMSS int
		ourMSS  uint16
		want    int
	}{
		{"peer500", 500, 0, 500},
		{"noOption536", 0, 0, 536},
		{"peer9000ours1460", 9000, 0, 1460},
		{"peer1460ours1000", 1460, 1000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []hopt{peerMSSOpt(tc.peerMSS)}
			if tc.ourMSS != 0 {
				opts = append(opts, withConfig(func(c *tcp.Config) { c.MSS = tc.ourMSS }))
			}
			h := newEstablished(t, opts...)
			h.write(10*ms, 3*tc.want+10)
			out := h.drainOut(10 * ms)
			for i, o := range out {
				l := len(o.seg.Payload)
				if l > tc.want || (i < 3 && l != tc.want) {
					h.fatalf("segment %d carries %d bytes, want segments of %d", i, l, tc.want)
				}
			}
			if n, _ := h.sentData(out, 1); n != 3*tc.want+10 {
				h.fatalf("sent %d bytes, want %d", n, 3*tc.want+10)
			}
		})
	}
}

// RFC 6928: the initial window is min(10*MSS, max(2*MSS, 14600)): ten
// 1460-byte segments, then nothing until an ACK (the peer's window is not
// the limit here).
func TestEstablished_RFC6928_InitialWindow10Segments(t *testing.T) {
	h := newEstablished(t, peerWScaleOpt(7), peerWindow(65535))
	h.write(10*ms, 64000)
	out := h.drainOut(10 * ms)
	n, k := h.sentData(out, 1)
	if n != 14600 || k != 10 {
		h.fatalf("initial flight %d bytes in %d segments, want 14600 in 10", n, k)
	}
	h.expectNothing(10*ms + 100*ms)
	// RFC 5681 3.1 slow start: an ACK for two segments grows cwnd by
	// min(N, SMSS) = 1460: 2 segments replaced + 1 more.
	h.send(120*ms, h.in(".", seq(1), ack(2921)))
	out = h.drainOut(120 * ms)
	if n, k := h.sentData(out, 14601); k != 3 || n != 3*1460 {
		h.fatalf("after an ACK of 2 segments in slow start sent %d segments (%d bytes), want 3 (RFC 5681 3.1: cwnd += min(N, SMSS))", k, n)
	}
}

// rfc6298Expect returns the RTO an RFC 6298 estimator gives after samples.
func rfc6298Expect(cfg timers.RTOConfig, samples ...time.Duration) time.Duration {
	e := timers.NewRTOEstimator(cfg)
	for _, s := range samples {
		e.Sample(s)
	}
	return e.RTO()
}

// handshakeRTO checks that the RTO after a handshake with the given RTT is
// what RFC 6298 gives with or without the handshake sample (whether to time
// the SYN is the implementation's choice) and reports which.
func (h *harness) handshakeRTO(rtt time.Duration) (rto time.Duration, synSampled bool) {
	h.t.Helper()
	got := h.c.Info().RTO
	with := rfc6298Expect(h.cfg.RTO, rtt)
	without := rfc6298Expect(h.cfg.RTO)
	switch got {
	case with:
		return got, true
	case without:
		return got, false
	}
	h.fatalf("RTO after the handshake %v, want %v (SYN timed) or %v (not timed), RFC 6298 2.1/2.2", got, with, without)
	return 0, false
}

// RFC 6298 2.2, 2.3, 5.5: the RTO follows the estimator's formulas over the
// samples the engine takes, and a retransmission timeout doubles it each
// time (exponential backoff), the segment retransmitted each time.
func TestEstablished_RFC6298_RetransmissionTimeoutBackoff(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms))
	_, synSampled := h.handshakeRTO(100 * ms)
	// Two data round trips of 100 ms and 200 ms (both below the RTO, so
	// no retransmission spoils the sample).
	samples := []time.Duration{}
	if synSampled {
		samples = append(samples, 100*ms)
	}
	h.write(1*s, 100)
	h.expect(1*s, h.out("P.", seq(1), ack(1), data(100)))
	h.send(1*s+100*ms, h.in(".", seq(1), ack(101)))
	h.write(2*s, 100)
	h.expect(2*s, h.out("P.", seq(101), ack(1), data(100)))
	h.send(2*s+200*ms, h.in(".", seq(1), ack(201)))
	samples = append(samples, 100*ms, 200*ms)
	rto := rfc6298Expect(h.cfg.RTO, samples...)
	if got := h.c.Info().RTO; got != rto {
		h.fatalf("RTO %v after samples %v, want %v (RFC 6298 2.3)", got, samples, rto)
	}
	// Lose the next segment every time.
	h.write(3*s, 100)
	h.expect(3*s, h.out("P.", seq(201), ack(1), data(100)))
	at := 3 * s
	for i := 0; i < 5; i++ {
		h.expectNothing(at + rto - 1)
		at += rto
		h.expect(at, h.out("P.", seq(201), ack(1), data(100)))
		rto *= 2
		if rto > h.cfg.RTO.Max {
			rto = h.cfg.RTO.Max
		}
	}
	h.send(at+50*ms, h.in(".", seq(1), ack(301)))
	h.expectNothing(at + 10*time.Minute)
	h.expectState(tcp.StateEstablished)
}

// RFC 6298 3 (Karn's algorithm): an ACK for a retransmitted segment gives no
// RTT sample; the next segment sent afresh does.
func TestEstablished_RFC6298_3_KarnsRule(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms))
	h.write(1*s, 100)
	h.expect(1*s, h.out("P.", seq(1), data(100)))
	h.send(1*s+100*ms, h.in(".", ack(101)))
	info := h.c.Info()
	rto := info.RTO
	h.write(2*s, 100)
	h.expect(2*s, h.out("P.", seq(101), data(100)))
	h.expect(2*s+rto, h.out("P.", seq(101), data(100)))
	// The ACK arrives just after the retransmission: were it sampled
	// against the original, SRTT would move.
	h.send(2*s+rto+10*ms, h.in(".", ack(201)))
	if got := h.c.Info(); got.SRTT != info.SRTT || got.RTTVar != info.RTTVar {
		h.fatalf("SRTT/RTTVAR %v/%v -> %v/%v from an ACK of a retransmitted segment (Karn)", info.SRTT, info.RTTVar, got.SRTT, got.RTTVar)
	}
	h.write(8*s, 100)
	h.expect(8*s, h.out("P.", seq(201), data(100)))
	h.send(8*s+200*ms, h.in(".", ack(301)))
	if got := h.c.Info(); got.SRTT == info.SRTT {
		h.fatalf("no RTT sample from a fresh segment after Karn's exclusion")
	}
}

// RFC 9293 3.8.3 (R2, here Config.MaxRetries consecutive timeouts): data
// never acknowledged ends the connection with ETIMEDOUT after the last
// retransmission's backed-off timeout; the application is told and no timer
// is left.
func TestEstablished_RFC9293_3_8_3_RetryLimitTimesOut(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms), withConfig(func(c *tcp.Config) { c.MaxRetries = 3 }))
	rto := h.c.Info().RTO
	h.write(1*s, 100)
	h.expect(1*s, h.out("P.", seq(1), data(100)))
	at := 1 * s
	for i := 0; i < 3; i++ {
		at += rto
		h.expect(at, h.out("P.", seq(1), data(100)))
		rto *= 2
	}
	h.expectNothing(at + rto - 1)
	h.expectState(tcp.StateEstablished)
	out := h.drainOut(at + rto)
	for _, o := range out {
		if o.seg.Flags&segment.FlagRST == 0 {
			h.fatalf("after the retry limit sent %s, want at most a RST", h.fmtOut(&o.seg))
		}
	}
	h.expectState(tcp.StateClosed)
	h.expectErr(syscall.ETIMEDOUT)
	h.expectEvent(tcp.EventClosed)
	h.expectNoTimer()
}

// RFC 9293 3.8.3 / RFC 5482 2: "The TCP user timeout controls how long
// transmitted data may remain unacknowledged before a connection is
// forcefully closed." Data sent at 1 s and never acknowledged, user timeout
// 5 s, retries left: the connection is still open just before 6 s and
// closed with ETIMEDOUT at 6 s (as Linux, which clamps its RTO to the user
// timeout), not at some later retransmission.
func TestEstablished_RFC9293_3_8_3_UserTimeout(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms), withConfig(func(c *tcp.Config) { c.UserTimeout = 5 * s }))
	h.write(1*s, 100)
	h.expect(1*s, h.out("P.", seq(1), data(100)))
	h.drainOut(6*s - 1)
	h.expectState(tcp.StateEstablished)
	h.drainOut(6 * s)
	h.expectState(tcp.StateClosed)
	h.expectErr(syscall.ETIMEDOUT)
	h.expectNoTimer()
}

// RFC 6582 fast retransmit and fast recovery without SACK, with limited
// transmit (RFC 3042) and PRR (RFC 6937) deciding how much goes out: the
// first two duplicate ACKs each send one new segment, the third
// retransmits the first segment with ssthresh = FlightSize/2 (the limited
// transmit segments not counted, RFC 6675 5 (4.2)), PRR sends in
// proportion to the data delivered, a partial ACK retransmits the next
// hole (RFC 6582 3.2 step 3), and the full ACK ends recovery with cwnd =
// ssthresh.
func TestEstablished_RFC5681_3_2_FastRetransmitNewReno(t *testing.T) {
	const mss = 1460
	// No window scaling: the duplicate ACKs must carry exactly the window
	// of the SYN-ACK to count as duplicates (RFC 5681 2, condition (e)).
	h := newEstablished(t)
	h.write(10*ms, 40*mss)
	out := h.drainOut(10 * ms)
	if _, k := h.sentData(out, 1); k != 10 {
		h.fatalf("initial flight %d segments, want 10", k)
	}
	// Segments 1 (seq 1) and 4 (seq 1+3*mss) are lost; 2, 3, 5..10 and
	// the two limited transmit segments arrive and each draws a duplicate
	// ACK of 1.
	dup := func(at time.Duration) { h.send(at, h.in(".", seq(1), ack(1))) }
	dup(100 * ms)
	h.expect(100*ms, h.out(".", seq(1+10*mss), data(mss))) // RFC 3042
	dup(101 * ms)
	h.expect(101*ms, h.out(".", seq(1+11*mss), data(mss)))
	dup(102 * ms)
	h.expect(102*ms, h.out(".", seq(1), data(mss)))
	info := h.c.Info()
	// ssthresh = 10 MSS / 2; PRR: pipe = 12 - 3 duplicates - 1 lost = 8
	// MSS, and the fast retransmit goes out on the first ACK: cwnd 9 MSS.
	if info.Ssthresh != 5*mss || info.Cwnd != 9*mss || !info.InRecovery || info.RenoRecoveries != 1 {
		h.fatalf("after fast retransmit ssthresh %d cwnd %d recovery %v (%d), want %d, %d, true (1)",
			info.Ssthresh, info.Cwnd, info.InRecovery, info.RenoRecoveries, 5*mss, 9*mss)
	}
	// Five more duplicates. PRR while pipe > ssthresh: sndcnt =
	// CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out in whole
	// segments, RecoverFS 12 MSS: one new segment for every 12/5 ACKs,
	// here at the 5th and 7th duplicate.
	for i, want := range []int{0, 1, 0, 1, 0} {
		at := time.Duration(103+i) * ms
		dup(at)
		o := h.drainOut(at)
		if _, k := h.sentData(o, 1+int64(12+i/2)*mss); k != want {
			h.fatalf("duplicate ACK %d in recovery sent %d new segments, want %d (RFC 6937)", 4+i, k, want)
		}
	}
	// The retransmission arrives: partial ACK up to the second hole, which
	// is resent at once (RFC 6582 3.2 step 3; pipe = 11 - 5 duplicates - 1
	// lost = ssthresh, so PRR alone would wait).
	h.send(200*ms, h.in(".", seq(1), ack(1+3*mss)))
	h.expect(200*ms, h.out(".", seq(1+3*mss), data(mss)))
	if info := h.c.Info(); info.Ssthresh != 5*mss || !info.InRecovery || info.Cwnd != 6*mss {
		h.fatalf("after the partial ACK ssthresh %d cwnd %d recovery %v, want %d, %d, true", info.Ssthresh, info.Cwnd, info.InRecovery, 5*mss, 6*mss)
	}
	// Everything arrives: the full ACK covers all sent and ends recovery
	// with cwnd = ssthresh (RFC 6937 3.1, RFC 6582 3.2 step 3 (1)).
	h.send(300*ms, h.in(".", seq(1), ack(1+14*mss)))
	info = h.c.Info()
	if info.Cwnd != 5*mss || info.InRecovery || info.FastRetransmits != 1 || info.RetransFast != 2 {
		h.fatalf("cwnd %d recovery %v fast retransmits %d segments %d after the full ACK, want %d, false, 1, 2",
			info.Cwnd, info.InRecovery, info.FastRetransmits, info.RetransFast, 5*mss)
	}
}

// RFC 5681 3.2: two duplicate ACKs are not enough (and RFC 5681 2: an ACK
// that carries data or changes the window is not a duplicate).
func TestEstablished_RFC5681_3_2_NoFastRetransmitOnTwoDupACKs(t *testing.T) {
	h := newEstablished(t)
	h.write(10*ms, 10*1460)
	h.drainOut(10 * ms)
	h.send(100*ms, h.in(".", seq(1), ack(1)))
	h.send(101*ms, h.in(".", seq(1), ack(1)))
	h.send(102*ms, h.in(".", seq(1), ack(1), win(60000))) // window change: not a dup
	h.send(103*ms, h.in("P.", seq(1), ack(1), data(10)))  // carries data: not a dup
	for _, o := range h.drainOut(103 * ms) {
		if len(o.seg.Payload) > 0 {
			h.fatalf("retransmission %s without three duplicate ACKs", h.fmtOut(&o.seg))
		}
	}
}

// RFC 9293 3.8.6.1: with a zero send window the sender probes on the
// persist timer, backing off exponentially, keeps the connection open as
// long as the peer answers, and sends the data when the window opens.
func TestEstablished_RFC9293_3_8_6_1_ZeroWindowProbing(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms))
	rto := h.c.Info().RTO
	h.send(1*s, h.in(".", win(0)))
	h.write(1*s, 1000)
	h.expectNothing(1 * s)
	// RFC 9293 3.8.6.1: the first probe after the window has been zero
	// for an RTO, then "increase exponentially the interval between
	// successive probes" (here capped at the RTO maximum, 60 s). The peer
	// answers every probe, still with a zero window (so MUST-35: keep
	// probing, do not give up).
	at, interval := 1*s, rto
	for i := 0; i < 14; i++ {
		at += interval
		h.expectNothing(at - 1)
		o := h.drainOut(at)
		if len(o) != 1 {
			h.fatalf("probe %d: %d segments at %v, want one probe", i, len(o), at)
		}
		p := &o[0].seg
		// One octet of new data, or (as Linux) an out-of-window
		// zero-length segment at SND.UNA-1.
		oneByte := len(p.Payload) == 1 && p.Seq == engISS.Add(1)
		linux := len(p.Payload) == 0 && p.Seq == engISS
		if !oneByte && !linux {
			h.fatalf("probe %s is neither one byte at SND.UNA nor an empty segment at SND.UNA-1", h.fmtOut(p))
		}
		h.send(at+10*ms, h.in(".", seq(1), ack(1), win(0)))
		h.expectNothing(at + 10*ms)
		interval = min(2*interval, h.cfg.RTO.Max)
	}
	h.expectState(tcp.StateEstablished)
	// The window opens: the data flows.
	at += 1 * s
	h.send(at, h.in(".", seq(1), ack(1), win(65535)))
	out := h.drainOut(at)
	var n int
	for _, o := range out {
		n += len(o.seg.Payload)
	}
	if n < 999 {
		h.fatalf("after the window opened %d bytes sent, want the rest of 1000", n)
	}
}

// RFC 9293 3.8.6.2.1 (sender SWS avoidance): with a usable window far below
// an MSS and below half the largest window the peer ever offered, and more
// data queued than fits, the sender waits rather than send a tiny segment.
func TestEstablished_RFC9293_3_8_6_2_1_SenderSWS(t *testing.T) {
	h := newEstablished(t)
	h.send(10*ms, h.in(".", win(300)))
	h.write(20*ms, 2000)
	h.expectNothing(20 * ms)
	// The window opens to a full MSS: a full segment goes.
	h.send(30*ms, h.in(".", win(1460)))
	h.expect(30*ms, h.out("P.", seq(1), data(1460)))
	// ... and the peer is slow to open it further: 300 bytes usable, 540
	// queued. Condition (4), the override timeout ("in the range 0.1 -
	// 1.0 seconds" in RFC 9293 3.8.6.2.1; here the persist timer): the
	// small segment goes out eventually, no later than a second.
	h.send(40*ms, h.in(".", ack(1461), win(300)))
	h.expectNothing(40 * ms)
	var out []outSeg
	for at := 40 * ms; at <= 1*s+40*ms && len(out) == 0; at += 10 * ms {
		out = h.drainOut(at)
	}
	if n, k := h.sentData(out, 1461); k != 1 || n != 300 {
		h.fatalf("override timeout: %d segments, %d bytes within a second; want one of 300", k, n)
	}
	// Unacknowledged, it is retransmitted on the RTO without growing past
	// the peer's window (RFC 5681 3: nothing above SND.UNA + min(cwnd,
	// rwnd), and those 240 bytes were never sent).
	at := out[0].at.Sub(t0)
	for i := 0; i < 3; i++ {
		var o []outSeg
		for at += 10 * ms; len(o) == 0 && at < time.Minute; at += 10 * ms {
			o = h.drainOut(at)
		}
		if len(o) != 1 || o[0].seg.Seq != engISS.Add(1461) || len(o[0].seg.Payload) != 300 {
			h.fatalf("retransmission %d: %d segments, want the 300 bytes at 1461 again", i, len(o))
		}
	}
}

// RFC 9293 3.8.6.2.1 condition (2): pushed data that fits entirely in the
// window is sent even if small.
func TestEstablished_RFC9293_3_8_6_2_1_SmallWriteFitsSent(t *testing.T) {
	h := newEstablished(t)
	h.send(10*ms, h.in(".", win(300)))
	h.write(20*ms, 100)
	h.expect(20*ms, h.out("P.", seq(1), data(100)))
}

// RFC 9293 3.7.4: Nagle off (the default, as Go's TCP_NODELAY): small writes
// go out at once with data in flight. Nagle on: a small segment waits while
// data is unacknowledged and goes when the ACK arrives.
func TestEstablished_RFC9293_3_7_4_NagleOff(t *testing.T) {
	h := newEstablished(t)
	h.write(10*ms, 10)
	h.expect(10*ms, h.out("P.", seq(1), data(10)))
	h.write(11*ms, 10)
	h.expect(11*ms, h.out("P.", seq(11), data(10)))
}

func TestEstablished_RFC9293_3_7_4_NagleOn(t *testing.T) {
	h := newEstablished(t, withConfig(func(c *tcp.Config) { c.Nagle = true }))
	h.write(10*ms, 10)
	h.expect(10*ms, h.out("P.", seq(1), data(10)))
	h.write(11*ms, 10)
	h.write(12*ms, 10)
	h.expectNothing(12 * ms)
	h.send(50*ms, h.in(".", ack(11)))
	h.expect(50*ms, h.out("P.", seq(11), data(20)))
	// A full-size segment is never held back.
	h.write(60*ms, 1460)
	h.expect(60*ms, h.out("P.", seq(31), data(1460)))
}

// RFC 9293 3.8.4: keep-alive (off by default): after the idle time a probe
// <SEQ=SND.NXT-1> (with or without one garbage octet); unanswered probes
// every interval; after the count the connection dies with ETIMEDOUT (and a
// RST, as Linux). An
// answer resets the idle timer.
func TestEstablished_RFC9293_3_8_4_Keepalive(t *testing.T) {
	cfg := withConfig(func(c *tcp.Config) {
		c.Keepalive = true
		c.KeepaliveIdle = 10 * s
		c.KeepaliveInterval = 2 * s
		c.KeepaliveCount = 3
	})
	isProbe := func(h *harness, o outSeg) bool {
		p := o.seg
		return p.Flags&^segment.FlagPSH == segment.FlagACK && p.Seq == engISS && len(p.Payload) <= 1 && p.Ack == peerISS.Add(1)
	}
	h := newEstablished(t, cfg)
	h.expectNothing(10*s - 1)
	o := h.drainOut(10 * s)
	if len(o) != 1 || !isProbe(h, o[0]) {
		h.fatalf("no keep-alive probe <SEQ=SND.NXT-1> at 10 s")
	}
	// Answered: the idle timer restarts from the answer.
	h.send(10*s+500*ms, h.in(".", seq(1), ack(1)))
	h.expectNothing(20*s + 500*ms - 1)
	for _, at := range []time.Duration{20*s + 500*ms, 22*s + 500*ms, 24*s + 500*ms} {
		o := h.drainOut(at)
		if len(o) != 1 || !isProbe(h, o[0]) || o[0].at != h.at(at) {
			h.fatalf("want exactly one keep-alive probe at %v", at)
		}
	}
	h.expectState(tcp.StateEstablished)
	// The count is reached: the connection dies with a RST <SEQ=SND.NXT>,
	// as Linux sends one.
	h.expect(26*s+500*ms, h.out("R", seq(1)))
	h.expectState(tcp.StateClosed)
	h.expectErr(syscall.ETIMEDOUT)
	h.expectNoTimer()

	// Off by default: nothing for three hours.
	h2 := newEstablished(t)
	h2.expectNothing(3 * time.Hour)
	h2.expectState(tcp.StateEstablished)
}

// RFC 9293 3.8.6.1: a receiver whose window has reopened may accept the
// probe's octet and acknowledge it; that ACK is acceptable (it acknowledges
// data that was sent) and the rest of the data follows from there, every
// byte once.
func TestEstablished_RFC9293_3_8_6_1_ProbeByteAccepted(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms))
	rto := h.c.Info().RTO
	h.send(1*s, h.in(".", win(0)))
	h.write(1*s, 1000)
	o := h.drainOut(1*s + rto)
	if len(o) != 1 {
		h.fatalf("%d segments at the first probe time, want 1", len(o))
	}
	next := int64(1)
	if len(o[0].seg.Payload) == 1 {
		next = 2 // the peer takes the byte
	}
	h.send(1*s+rto+10*ms, h.in(".", seq(1), ack(next), win(65535)))
	out := h.drainOut(1*s + rto + 10*ms)
	if h.c.SndUna != engISS.Add(uint32(next)) {
		h.fatalf("SND.UNA %d after the probe's ACK, want %d", int32(h.c.SndUna-engISS), next)
	}
	if n, _ := h.sentData(out, next); int64(n) != 1001-next {
		h.fatalf("after the window reopened sent %d bytes from %d, want %d", n, next, 1001-next)
	}
}

// RFC 5681 3.1, equation (4) and "LW": when the retransmission timer
// expires, ssthresh = max(FlightSize/2, 2*SMSS) and cwnd = 1 SMSS: one
// segment is retransmitted, not the window; each ACK then grows cwnd again
// (slow start).
func TestEstablished_RFC5681_3_1_RTOCollapsesWindow(t *testing.T) {
	const mss = 1460
	h := newEstablished(t, handshakeRTT(100*ms))
	rto := h.c.Info().RTO
	h.write(1*s, 10*mss)
	if _, k := h.sentData(h.drainOut(1*s), 1); k != 10 {
		h.fatalf("initial flight %d segments, want 10", k)
	}
	out := h.drainOut(1*s + rto)
	if len(out) != 1 || out[0].seg.Seq != engISS.Add(1) || len(out[0].seg.Payload) != mss {
		h.fatalf("RTO expiry sent %d segments, want exactly the first one again", len(out))
	}
	if info := h.c.Info(); info.Cwnd != mss || info.Ssthresh != 5*mss {
		h.fatalf("after RTO cwnd %d ssthresh %d, want %d and %d (RFC 5681 3.1 (4))", info.Cwnd, info.Ssthresh, mss, 5*mss)
	}
	// The retransmission is acknowledged: cwnd 2 MSS, two segments go.
	h.send(1*s+rto+100*ms, h.in(".", ack(1+mss)))
	o := h.drainOut(1*s + rto + 100*ms)
	if n, k := h.sentData(o, 1+mss); k != 2 || n != 2*mss {
		h.fatalf("after the first ACK in slow start: %d segments, want 2", k)
	}
}

// RFC 5681 3.1 congestion avoidance: above ssthresh cwnd grows by at most
// one SMSS per round trip ("MUST NOT increment cwnd by more than SMSS
// bytes"), and it does grow.
func TestEstablished_RFC5681_3_1_CongestionAvoidance(t *testing.T) {
	const mss = 1460
	h := newEstablished(t, handshakeRTT(100*ms))
	rto := h.c.Info().RTO
	// An RTO sets ssthresh to 5 MSS; slow start back up past it.
	h.write(1*s, 150*mss)
	h.drainOut(1 * s)
	h.drainOut(1*s + rto)
	at := 1*s + rto
	acked := int64(1)
	// Each round: the peer ACKs everything outstanding, one ACK per
	// segment, 100 ms later.
	var cwnds []uint32
	for round := 0; round < 8; round++ {
		at += 100 * ms
		end := int64(int32(h.c.SndNxt - engISS))
		for acked < end {
			acked = min(acked+mss, end)
			h.send(at, h.in(".", ack(acked)))
		}
		h.drainOut(at)
		cwnds = append(cwnds, h.c.Info().Cwnd)
	}
	ss := h.c.Info().Ssthresh
	for i := 1; i < len(cwnds); i++ {
		if cwnds[i-1] >= ss && cwnds[i]-cwnds[i-1] > mss {
			h.fatalf("cwnd per round %v (ssthresh %d): grew by more than SMSS in one round trip in congestion avoidance", cwnds, ss)
		}
	}
	if last := cwnds[len(cwnds)-1]; last <= ss {
		h.fatalf("cwnd per round %v never grew above ssthresh %d", cwnds, ss)
	}
	if cwnds[len(cwnds)-1] == cwnds[len(cwnds)-2] {
		h.fatalf("cwnd per round %v: no growth in congestion avoidance", cwnds)
	}
	t.Logf("cwnd per round %v, ssthresh %d", cwnds, ss)
}

// The send buffer is bounded (Config.SendBufferSize, with auto-tuning
// capped at the same size by SendBufferMax): Write takes what fits and
// returns (0, nil) when full; an ACK frees space and reports
// EventWritable; Writable tracks the free space.
func TestEstablished_SendBufferBounded(t *testing.T) {
	h := newEstablished(t, withConfig(func(c *tcp.Config) { c.SendBufferSize, c.SendBufferMax = 4096, 4096 }))
	if w := h.c.Writable(); w != 4096 {
		h.fatalf("Writable %d, want 4096", w)
	}
	if k := h.tryWrite(10*ms, 10000); k != 4096 {
		h.fatalf("Write(10000) took %d, want 4096", k)
	}
	if k := h.tryWrite(10*ms, 100); k != 0 {
		h.fatalf("Write into a full buffer took %d, want 0", k)
	}
	if w := h.c.Writable(); w != 0 {
		h.fatalf("Writable %d with a full buffer", w)
	}
	h.drainOut(10 * ms)
	h.events()
	h.send(50*ms, h.in(".", ack(1461)))
	h.expectEvent(tcp.EventWritable)
	if w := h.c.Writable(); w != 1460 {
		h.fatalf("Writable %d after 1460 bytes were acknowledged, want 1460", w)
	}
}

// Send-buffer auto-tuning: the buffer starts at Config.SendBufferSize and
// grows to twice the congestion window as that grows (up to
// SendBufferMax); SetSendBufferSize pins it.
func TestEstablished_SendBufferAutoTuning(t *testing.T) {
	h := newEstablished(t, withConfig(func(c *tcp.Config) { c.SendBufferSize, c.SendBufferMax = 4096, 64<<10 }))
	if w, cw := h.c.Writable(), int(h.c.Info().Cwnd); w != 2*cw {
		h.fatalf("Writable %d with cwnd %d, want twice the window", w, cw)
	}
	// Slow start doubles cwnd per round trip: the buffer follows, up to
	// SendBufferMax.
	at := 10 * ms
	for range 6 {
		h.tryWrite(at, 1<<20)
		h.drainOut(at)
		at += 10 * ms
		end := int64(int32(h.c.SndNxt - engISS))
		for a := min(int64(1461), end); ; a = min(a+1460, end) {
			h.send(at, h.in(".", ack(a)))
			if a == end {
				break
			}
		}
		h.drainOut(at)
	}
	if cw := int(h.c.Info().Cwnd); cw < 32<<10 {
		h.fatalf("cwnd %d after six round trips of slow start", cw)
	}
	if w, q := h.c.Writable(), h.c.Info().SendQueued; w+q != 64<<10 {
		h.fatalf("Writable %d + queued %d with cwnd %d, want SendBufferMax 65536", w, q, h.c.Info().Cwnd)
	}
	h.c.SetSendBufferSize(8192)
	if w, q := h.c.Writable(), h.c.Info().SendQueued; w+q != 8192 {
		h.fatalf("Writable %d + queued %d after SetSendBufferSize(8192)", w, q)
	}
}

// Readable/EventReadable: data in order raises EventReadable and Readable
// counts it; out-of-order data is not readable yet.
func TestEstablished_ReadableEvents(t *testing.T) {
	h := newEstablished(t)
	h.send(10*ms, h.in(".", seq(1001), data(500)))
	if h.c.Readable() != 0 {
		h.fatalf("out-of-order bytes counted as readable")
	}
	if ev := h.events(); ev&tcp.EventReadable != 0 {
		h.fatalf("EventReadable for out-of-order data")
	}
	h.send(20*ms, h.in(".", seq(1), data(1000)))
	h.expectEvent(tcp.EventReadable)
	if n := h.c.Readable(); n != 1500 {
		h.fatalf("Readable %d, want 1500", n)
	}
	h.readN(30*ms, 1500)
	if n, err := h.read(30*ms, 10); n != 0 || err != nil {
		h.fatalf("Read on an empty buffer = %d, %v; want 0, nil", n, err)
	}
}

// RFC 6298 5.3: "When an ACK is received that acknowledges new data,
// restart the retransmission timer so that it will expire after RTO
// seconds"; 5.2: when all outstanding data is acknowledged, turn it off.
func TestEstablished_RFC6298_5_3_TimerRestartsOnNewACK(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms))
	rto := h.c.Info().RTO
	h.write(1*s, 2000)
	h.drainOut(1 * s)
	// The first segment is acknowledged 150 ms later; the second is lost.
	h.send(1*s+150*ms, h.in(".", ack(1461)))
	rto = h.c.Info().RTO // a sample may have been taken
	h.expectNothing(1*s + 150*ms + rto - 1)
	h.expect(1*s+150*ms+rto, h.out("P.", seq(1461), data(540)))
	h.send(1*s+150*ms+rto+50*ms, h.in(".", ack(2001)))
	h.expectNoTimer()
}

// RFC 9293 3.10.7.4 (fifth check, window update): "If SND.WL1 < SEG.SEQ or
// (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK), set SND.WND <- SEG.WND":
// an older segment (reordered) does not overwrite the window a newer one
// set.
func TestEstablished_RFC9293_3_10_7_4_WindowUpdateOrdering(t *testing.T) {
	h := newEstablished(t, noDelAck())
	h.write(10*ms, 100)
	h.expect(10*ms, h.out("P.", seq(1), data(100)))
	// Newer: data at seq 1..10 acknowledging 100, window 30000.
	h.send(20*ms, h.in("P.", seq(1), ack(101), win(30000), data(10)))
	h.drainOut(20 * ms)
	if got := h.c.Info().SndWnd; got != 30000 {
		h.fatalf("SND.WND %d, want 30000", got)
	}
	// Older (lower SEG.SEQ, reordered): window 1000 must be ignored.
	h.send(30*ms, h.in(".", seq(1), ack(101), win(1000)))
	h.drainOut(30 * ms)
	if got := h.c.Info().SndWnd; got != 30000 {
		h.fatalf("SND.WND %d after a reordered older segment, want 30000 (SND.WL1 rule)", got)
	}
	// Same SEG.SEQ, older SEG.ACK: ignored too.
	h.write(40*ms, 100)
	h.drainOut(40 * ms)
	h.send(50*ms, h.in(".", seq(11), ack(201), win(20000)))
	h.send(60*ms, h.in(".", seq(11), ack(101), win(500)))
	h.drainOut(60 * ms)
	if got := h.c.Info().SndWnd; got != 20000 {
		h.fatalf("SND.WND %d after a segment with an older ACK, want 20000 (SND.WL2 rule)", got)
	}
}

// RFC 6928 2: IW = min(10*MSS, max(2*MSS, 14600)) for other MSS values: 10
// segments of 536; 2 segments of 8960 (jumbo frames: 2*MSS > 14600).
func TestEstablished_RFC6928_InitialWindowFormula(t *testing.T) {
	for _, tc := range []struct {
		mss        int
		segs, byts int
	}{
		{536, 10, 5360},
		{8960, 2, 17920},
	} {
		h := newEstablished(t, peerMSSOpt(tc.mss), peerWScaleOpt(7), withConfig(func(c *tcp.Config) { c.MSS = 9000 }))
		h.write(10*ms, 60000)
		out := h.drainOut(10 * ms)
		if n, k := h.sentData(out, 1); n != tc.byts || k != tc.segs {
			h.fatalf("MSS %d: initial flight %d bytes in %d segments, want %d in %d", tc.mss, n, k, tc.byts, tc.segs)
		}
	}
}

// RFC 6582 3.2 step 1 and step "retransmit timeouts": after an RTO, recover
// is the highest sequence number sent, and duplicate ACKs that do not
// acknowledge beyond it (late ACKs of the original flight) must not start a
// fast retransmit or halve ssthresh again.
func TestEstablished_RFC6582_3_2_NoFastRetransmitAfterRTO(t *testing.T) {
	const mss = 1460
	h := newEstablished(t, handshakeRTT(100*ms))
	rto := h.c.Info().RTO
	h.write(1*s, 10*mss)
	h.drainOut(1 * s)
	h.expect(1*s+rto, h.out(".", seq(1), data(mss)))
	ss := h.c.Info().Ssthresh
	at := 1*s + rto + 5*ms
	for i := 0; i < 4; i++ {
		h.send(at, h.in(".", seq(1), ack(1)))
	}
	for _, o := range h.drainOut(at) {
		if len(o.seg.Payload) > 0 {
			h.fatalf("duplicate ACKs below recover after an RTO triggered %s", h.fmtOut(&o.seg))
		}
	}
	if got := h.c.Info(); got.Ssthresh != ss || got.InRecovery {
		h.fatalf("ssthresh %d -> %d, recovery %v: fast retransmit entered below recover", ss, got.Ssthresh, got.InRecovery)
	}
}

// RFC 5681 3.2 step 2 with a small flight: ssthresh = max(FlightSize/2,
// 2*SMSS): four segments out, the first lost, three duplicates: ssthresh
// 2 SMSS, and PRR's cwnd 2 SMSS.
func TestEstablished_RFC5681_3_2_FastRetransmitSmallFlight(t *testing.T) {
	const mss = 1460
	h := newEstablished(t)
	h.write(10*ms, 4*mss)
	h.drainOut(10 * ms)
	for i := 0; i < 3; i++ {
		h.send(100*ms, h.in(".", seq(1), ack(1)))
	}
	h.expect(100*ms, h.out(".", seq(1), data(mss)))
	// PRR (RFC 6937): pipe = 4 - 3 duplicates - 1 lost = 0, below
	// ssthresh: PRR-SSRB, sndcnt = min(ssthresh - pipe, MAX(prr_delivered
	// - prr_out, DeliveredData) + MSS) = 2 MSS; cwnd = pipe + sndcnt.
	if info := h.c.Info(); info.Ssthresh != 2*mss || info.Cwnd != 2*mss {
		h.fatalf("ssthresh %d cwnd %d, want %d and %d", info.Ssthresh, info.Cwnd, 2*mss, 2*mss)
	}
}

// RFC 9293 3.8.6.2.1 condition (3), "Fs * Max(SND.WND)" with the
// recommended Fs = 1/2: the peer never offered more than 2000 bytes; after
// a full segment, 540 usable bytes (< 1000) with 1540 queued wait; when the
// window reopens, a full segment and then the 80-byte tail (all queued data
// fits, condition (2)) go.
func TestEstablished_RFC9293_3_8_6_2_1_SenderSWSFraction(t *testing.T) {
	h := newEstablished(t, peerWindow(2000))
	h.write(10*ms, 3000)
	h.expect(10*ms, h.out(".", seq(1), data(1460)))
	h.expectNothing(20 * ms)
	h.send(30*ms, h.in(".", ack(1461), win(2000)))
	out := h.drainOut(30 * ms)
	if n, k := h.sentData(out, 1461); n != 1540 || k != 2 || len(out[0].seg.Payload) != 1460 {
		h.fatalf("after the window reopened: %d bytes in %d segments, want 1460 then 80", n, k)
	}
}

// RFC 9293 3.8.6.1 allows giving up on a zero window only when the probes
// go unanswered (MUST-35 forbids it while the peer keeps acknowledging
// them): with Config.MaxRetries = 3 and a silent peer, the connection ends
// with ETIMEDOUT after its probes; no earlier than the third probe.
func TestEstablished_RFC9293_3_8_6_1_UnansweredProbesTimeOut(t *testing.T) {
	h := newEstablished(t, handshakeRTT(100*ms), withConfig(func(c *tcp.Config) { c.MaxRetries = 3 }))
	h.send(1*s, h.in(".", win(0)))
	h.write(1*s, 1000)
	probes := 0
	var third time.Duration
	for at := 1 * s; at < 10*time.Minute && h.c.State() == tcp.StateEstablished; at += 10 * ms {
		for _, o := range h.drainOut(at) {
			if len(o.seg.Payload) <= 1 && o.seg.Flags&segment.FlagRST == 0 {
				probes++
				if probes == 3 {
					third = o.at.Sub(t0)
				}
			}
		}
	}
	h.expectState(tcp.StateClosed)
	h.expectErr(syscall.ETIMEDOUT)
	h.expectNoTimer()
	if probes < 3 || h.trans[len(h.trans)-1].Time.Sub(t0) < third {
		h.fatalf("gave up after %d probes (third at %v)", probes, third)
	}
}
