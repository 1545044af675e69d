package integration

import (
	"bytes"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Conformance tests: the sender. Retransmission timeout and backoff (RFC
// 6298), fast retransmit (RFC 5681 3.2), zero-window probing (RFC 9293
// 3.8.6.1) and window scaling in both directions (RFC 7323 2).

// confRFC6298_5_5_RTOBackoff (TestConformance/RFC6298_5_5_RTOBackoff): data that is not acknowledged is
// retransmitted (same sequence number, same bytes) after the RTO, and each
// further timeout doubles the interval (RFC 6298 5.4, 5.5). With a
// sub-millisecond RTT the RTO is the minimum: 200 ms like Linux (RFC 6298
// 2.4 would say 1 s; the stack documents the deviation).
func confRFC6298_5_5_RTOBackoff(t *testing.T, n *rawNet) {
	p := established(t, n, linuxSynNoSACK)
	msg := []byte("retransmit me\n")
	p.sendData(msg)
	first := p.expect(prompt, want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt, n: len(msg)}, "the echo")
	prev := first
	var gaps []time.Duration
	for i := range 4 {
		r := p.next(5 * time.Second)
		if r == nil {
			t.Fatalf("retransmission %d not seen", i+1)
		}
		s := r.seg
		s.Flags &^= segment.FlagPSH
		if s.Flags != segment.FlagACK || s.Seq != first.seg.Seq || s.Ack != p.nxt || !bytes.Equal(s.Payload, msg) {
			t.Fatalf("retransmission %d is %v, want the original %v again", i+1, p.show(r), p.show(first))
		}
		gaps = append(gaps, r.at.Sub(prev.at))
		prev = r
	}
	t.Logf("retransmissions after %v", gaps)
	if gaps[0] < 180*time.Millisecond || gaps[0] > 1200*time.Millisecond {
		t.Errorf("first retransmission after %v, want the RTO: between the 200 ms minimum and the 1 s initial value", gaps[0])
	}
	for i := 1; i < len(gaps); i++ {
		if r := float64(gaps[i]) / float64(gaps[i-1]); r < 1.7 || r > 2.4 {
			t.Errorf("interval %d is %v after %v: ratio %.2f, want 2 (RFC 6298 5.5: RTO <- RTO * 2)", i+1, gaps[i], gaps[i-1], r)
		}
	}
	p.rcvNxt = p.rcvNxt.Add(uint32(len(msg)))
	p.ack()
	p.expectNone(quiet, "after the ACK")
	p.echoRoundTrip([]byte("recovered\n"))
}

// confRFC5681_3_2_FastRetransmit (TestConformance/RFC5681_3_2_FastRetransmit): the third duplicate ACK (no
// data, same window, ACK = SND.UNA, data outstanding: RFC 5681 2) makes the
// stack retransmit the missing segment at once, long before the RTO, and
// not earlier than the third. The handshake's ACK is held back 400 ms so
// that the RTT sample makes the RTO about 1.2 s and the two cannot be
// confused.
func confRFC5681_3_2_FastRetransmit(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portEcho)
	p.wnd = 64240 >> 7
	p.syn(linuxSynNoSACK)
	p.expectSynAck(prompt)
	time.Sleep(400 * time.Millisecond)
	p.ack()
	p.echoRoundTrip([]byte("warm up\n"))

	d := pattern(12000, 77)
	for off := 0; off < len(d); off += 1460 {
		p.sendData(d[off:min(off+1460, len(d))])
	}
	base := p.rcvNxt
	got := make([]byte, len(d))
	have := make([]bool, len(d))
	store := func(r *rawPkt) {
		off := int(r.seg.Seq.Sub(base))
		if off < 0 || off+len(r.seg.Payload) > len(d) {
			t.Fatalf("data outside the echo: %v", p.show(r))
		}
		copy(got[off:], r.seg.Payload)
		for i := range len(r.seg.Payload) {
			have[off+i] = true
		}
	}
	var lost *rawPkt
	var third time.Time
	for dups := 0; dups < 3; {
		r := p.next(prompt)
		if r == nil {
			t.Fatalf("only %d data segments after the first; need 3 for the duplicate ACKs", dups)
		}
		if len(r.seg.Payload) == 0 {
			continue // an ACK of our data
		}
		if lost == nil {
			if r.seg.Seq != base {
				t.Fatalf("first data segment %v, want seq=%d", p.show(r), uint32(base))
			}
			lost = r // "lost": never acknowledged until retransmitted
			continue
		}
		if r.seg.Seq == base {
			t.Fatalf("the first segment was retransmitted after %d duplicate ACKs, %v after it was sent (RFC 5681 3.2: on the third)",
				dups, r.at.Sub(lost.at))
		}
		store(r)
		if dups == 2 {
			third = time.Now() // before sending: see lossyReceiver.run
		}
		p.send(segment.FlagACK, p.nxt, base, nil) // duplicate ACK
		dups++
	}
	var rtx *rawPkt
	for rtx == nil {
		r := p.next(3 * time.Second)
		if r == nil {
			t.Fatal("no retransmission after three duplicate ACKs")
		}
		if len(r.seg.Payload) == 0 {
			continue
		}
		if r.seg.Seq == base {
			rtx = r
		}
		store(r)
	}
	if !bytes.Equal(rtx.seg.Payload, lost.seg.Payload[:len(rtx.seg.Payload)]) {
		t.Fatalf("the retransmission differs from the original")
	}
	t.Logf("retransmitted %v after the third duplicate ACK, %v after the original", rtx.at.Sub(third).Round(100*time.Microsecond), rtx.at.Sub(lost.at).Round(time.Millisecond))
	if rtx.at.Sub(third) > 150*time.Millisecond {
		t.Fatalf("the retransmission came %v after the third duplicate ACK: not a fast retransmit (RFC 5681 3.2)", rtx.at.Sub(third))
	}
	// Acknowledge as a receiver would and take the rest of the echo.
	contiguous := func() int {
		for i, h := range have {
			if !h {
				return i
			}
		}
		return len(have)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c := contiguous(); c < len(d); c = contiguous() {
		p.send(segment.FlagACK, p.nxt, base.Add(uint32(c)), nil)
		r := p.next(time.Until(deadline))
		if r == nil {
			t.Fatalf("echo stalled at %d of %d bytes", c, len(d))
		}
		if len(r.seg.Payload) > 0 {
			store(r)
		}
	}
	p.rcvNxt = base.Add(uint32(len(d)))
	p.ack()
	if !bytes.Equal(got, d) {
		t.Fatalf("echo differs at byte %d", firstDiff(got, d))
	}
}

// chargenByte is byte i of the chargen stream (RFC 864 lines of 72
// characters plus CR LF, line k starting with character k mod 95), for a
// single probe byte; checkChargen (serve_test.go) checks whole streams.
func chargenByte(i int) byte {
	line, col := (i/74)%95, i%74
	switch col {
	case 72:
		return '\r'
	case 73:
		return '\n'
	}
	return byte(' ' + (line+col)%95)
}

// confRFC9293_3_8_6_1_ZeroWindowProbe (TestConformance/RFC9293_3_8_6_1_ZeroWindowProbe): when we advertise a
// zero window the stack probes it, the first probe after about one RTO
// (SHLD-29) and then at exponentially growing intervals (SHLD-30; RFC 1122
// 4.2.2.17); a probe is one byte at SND.UNA or an empty segment at
// SND.UNA-1. When the window opens, transmission resumes exactly where the
// acknowledged data ended: the chargen stream arrives without a gap or a
// duplicated byte.
func confRFC9293_3_8_6_1_ZeroWindowProbe(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portChargen)
	p.handshake(synOpts{mss: 1460, wscale: -1, window: 2920})
	var stream []byte
	for len(stream) < 2920 {
		r := p.next(prompt)
		if r == nil {
			t.Fatalf("chargen sent %d of the 2920 bytes our window allows", len(stream))
		}
		if end := r.seg.Seq.Add(uint32(len(r.seg.Payload))); end.GreaterThan(p.irs.Add(1 + 2920)) {
			t.Fatalf("%v goes beyond our 2920-byte window", p.show(r))
		}
		if r.seg.Seq == p.rcvNxt {
			stream = append(stream, r.seg.Payload...)
			p.rcvNxt = p.rcvNxt.Add(uint32(len(r.seg.Payload)))
		}
	}
	// Acknowledge it all, closing the window.
	p.wnd = 0
	p.ack()
	prev := time.Now()
	var gaps []time.Duration
	for i := range 4 {
		r := p.next(5 * time.Second)
		if r == nil {
			t.Fatalf("zero-window probe %d not seen", i+1)
		}
		s := &r.seg
		byteProbe := len(s.Payload) == 1 && s.Seq == p.rcvNxt && s.Payload[0] == chargenByte(len(stream))
		emptyProbe := len(s.Payload) == 0 && s.Seq == back(p.rcvNxt, 1)
		if !(byteProbe || emptyProbe) || s.Flags&^segment.FlagPSH != segment.FlagACK || s.Ack != p.nxt {
			t.Fatalf("got %v, want a zero-window probe (one byte at seq=%d or none at seq=%d)", p.show(r), uint32(p.rcvNxt), uint32(back(p.rcvNxt, 1)))
		}
		gaps = append(gaps, r.at.Sub(prev))
		prev = r.at
		p.ack() // still zero: the probe's byte is not accepted
	}
	t.Logf("zero-window probes after %v", gaps)
	if gaps[0] < 150*time.Millisecond || gaps[0] > 1500*time.Millisecond {
		t.Errorf("first probe %v after the window closed, want about one RTO", gaps[0])
	}
	for i := 1; i < len(gaps); i++ {
		if r := float64(gaps[i]) / float64(gaps[i-1]); r < 1.6 || r > 2.6 {
			t.Errorf("probe interval %d is %v after %v: ratio %.2f, want exponential backoff (doubling)", i+1, gaps[i], gaps[i-1], r)
		}
	}
	// Open the window: the stream continues at RCV.NXT.
	p.wnd = 8192
	p.ack()
	more, _ := p.read(16384, false, true, 3*time.Second)
	stream = append(stream, more...)
	if err := checkChargen(stream, 0); err != nil {
		t.Fatalf("after the window opened: %v (a byte lost, duplicated or misplaced)", err)
	}
}

// windowRound acknowledges what the previous round received, one ACK per
// segment as a receiver without delayed ACKs would (so that slow start
// grows the congestion window by one segment per ACK, RFC 5681 3.1), each
// with the window field field, which the stack must scale by shift. Then it
// collects what the stack sends for at most wait, failing if anything goes
// beyond the right edge of the last ACK (RFC 9293 3.8.6: never beyond
// SND.UNA+SND.WND). It returns how many new bytes arrived and whether they
// filled the window.
func (p *peer) windowRound(field uint16, shift uint8, wait time.Duration) (int, bool) {
	p.t.Helper()
	p.wnd = field
	for _, end := range p.unacked {
		p.send(segment.FlagACK, p.nxt, end, nil)
	}
	p.unacked = p.unacked[:0]
	p.ack()
	start := p.rcvNxt
	edge := p.rcvNxt.Add(uint32(field) << shift)
	deadline := time.Now().Add(wait)
	for p.rcvNxt != edge {
		r := p.next(time.Until(deadline))
		if r == nil {
			break
		}
		s := &r.seg
		if end := s.Seq.Add(uint32(len(s.Payload))); end.GreaterThan(edge) {
			p.t.Fatalf("%v ends at %d, beyond the right edge %d of a window field %d scaled by %d (RFC 7323 2.3)",
				p.show(r), uint32(end), uint32(edge), field, shift)
		}
		if s.Seq == p.rcvNxt && len(s.Payload) > 0 {
			p.rcvNxt = p.rcvNxt.Add(uint32(len(s.Payload)))
			p.unacked = append(p.unacked, p.rcvNxt)
		}
	}
	return int(p.rcvNxt.Sub(start)), p.rcvNxt == edge
}

// confRFC7323_2_WindowScaling (TestConformance/RFC7323_2_WindowScaling): with window scaling negotiated
// (we offer 7) the stack applies our shift to every window field after the
// SYN (RFC 7323 2.3: "The window field in a segment where the SYN bit is
// set MUST NOT be scaled"), so a field of 16 lets it send exactly 2048
// bytes; it scales its own advertised window (its 256 KiB buffer does not
// fit 16 bits); a shift above 14 is used as 14 (RFC 7323 2.3); without the
// option nothing is scaled.
func confRFC7323_2_WindowScaling(t *testing.T, n *rawNet) {
	const mss = 1024

	t.Run("shift7", func(t *testing.T) {
		p := n.newPeer(t, portChargen)
		p.syn(synOpts{mss: mss, wscale: 7, window: 65535})
		sa := p.expectSynAck(prompt)
		if !sa.seg.Options.HasWScale {
			t.Fatal("no window scale option in the SYN-ACK")
		}
		for round := range 3 {
			got, full := p.windowRound(16, 7, time.Second)
			if !full {
				t.Fatalf("round %d: %d bytes sent into a window field of 16 << 7 = 2048 bytes (the stack does not scale our window?)", round, got)
			}
		}
		// The stack's own window field is scaled by its shift: its buffer
		// (256 KiB, nothing received) shows as about 256 KiB, not 64 KiB.
		if w := int(p.lastWnd) << p.stackShift; w < 250<<10 || w > 260<<10 {
			t.Errorf("the stack advertises field %d << %d = %d bytes, want about its 256 KiB buffer", p.lastWnd, p.stackShift, w)
		}
	})

	t.Run("shift15-clamped-to-14", func(t *testing.T) {
		p := n.newPeer(t, portChargen)
		p.syn(synOpts{mss: mss, wscale: 15, window: 65535})
		p.expectSynAck(prompt)
		// Field 1 means 16 KiB with shift 14, 32 KiB with 15. The initial
		// window (10 segments, RFC 6928) is below both; ten ACKs later slow
		// start allows 20 segments, more than 16 KiB. A round that is not
		// full ends after 100 ms, below the 200 ms minimum RTO.
		full := false
		for round := 0; round < 4 && !full; round++ {
			got, f := p.windowRound(1, 14, 100*time.Millisecond)
			t.Logf("round %d: %d bytes", round, got)
			full = f
		}
		if !full {
			t.Fatal("the stack never filled a 16 KiB window (field 1, shift 15 used as 14)")
		}
	})

	t.Run("not-offered", func(t *testing.T) {
		p := n.newPeer(t, portChargen)
		p.syn(synOpts{mss: mss, wscale: -1, window: 65535})
		sa := p.expectSynAck(prompt)
		if sa.seg.Options.HasWScale {
			t.Fatal("window scale option in the SYN-ACK to a SYN without it (RFC 7323 1.3)")
		}
		for round := range 3 {
			got, full := p.windowRound(2048, 0, time.Second)
			if !full {
				t.Fatalf("round %d: %d bytes sent into an unscaled 2048-byte window", round, got)
			}
		}
		if p.lastWnd != 0xffff {
			t.Errorf("the stack advertises %d unscaled, want 65535 (its buffer is 256 KiB)", p.lastWnd)
		}
	})
}

// lossyReceiver plays a receiver behind a lossy path: it drops the data
// segments whose arrival index is in drop (their first transmission only),
// stores the rest by sequence number and answers every data segment at once
// with a cumulative ACK, as a receiver without delayed ACKs does (duplicate
// ACKs included). It records when each ACK value was first sent and when a
// dropped segment came again.
type lossyReceiver struct {
	p       *peer
	base    segment.Seq
	buf     []byte
	have    []bool
	drop    map[int]bool
	arrived int
	lost    map[segment.Seq]*rawPkt // dropped first transmissions
	rtx     map[segment.Seq]*rawPkt // their retransmissions
	ackSent map[segment.Seq][]time.Time
}

func newLossyReceiver(p *peer, n int, drop ...int) *lossyReceiver {
	l := &lossyReceiver{p: p, base: p.rcvNxt, buf: make([]byte, n), have: make([]bool, n), drop: map[int]bool{},
		lost: map[segment.Seq]*rawPkt{}, rtx: map[segment.Seq]*rawPkt{}, ackSent: map[segment.Seq][]time.Time{}}
	for _, i := range drop {
		l.drop[i] = true
	}
	return l
}

func (l *lossyReceiver) contiguous() int {
	for i, h := range l.have {
		if !h {
			return i
		}
	}
	return len(l.have)
}

// run receives until all n bytes are in or timeout.
func (l *lossyReceiver) run(timeout time.Duration) {
	p := l.p
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for l.contiguous() < len(l.buf) {
		r := p.next(time.Until(deadline))
		if r == nil {
			p.t.Fatalf("stalled at %d of %d bytes", l.contiguous(), len(l.buf))
		}
		if len(r.seg.Payload) == 0 {
			continue
		}
		idx := l.arrived
		l.arrived++
		if l.drop[idx] {
			l.lost[r.seg.Seq] = r
			continue
		}
		if _, ok := l.lost[r.seg.Seq]; ok && l.rtx[r.seg.Seq] == nil {
			l.rtx[r.seg.Seq] = r
		}
		off := int(r.seg.Seq.Sub(l.base))
		if off < 0 || off+len(r.seg.Payload) > len(l.buf) {
			p.t.Fatalf("data outside the expected range: %v", p.show(r))
		}
		copy(l.buf[off:], r.seg.Payload)
		for i := range len(r.seg.Payload) {
			l.have[off+i] = true
		}
		ack := l.base.Add(uint32(l.contiguous()))
		// Stamped before sending: the answer may be read (and stamped by
		// the reader) before send returns.
		l.ackSent[ack] = append(l.ackSent[ack], time.Now())
		p.send(segment.FlagACK, p.nxt, ack, nil)
	}
	p.rcvNxt = l.base.Add(uint32(len(l.buf)))
}

// slowRTOEcho returns an echo connection whose RTO is about 1.2 s: the
// handshake's ACK is held back 400 ms, and that RTT sample sets SRTT 400 ms,
// RTTVAR 200 ms (RFC 6298 2.2). Recovery that waits for the RTO then shows.
func slowRTOEcho(t *testing.T, n *rawNet) *peer {
	p := n.newPeer(t, portEcho)
	p.wnd = 64240 >> 7
	p.syn(linuxSynNoSACK)
	p.expectSynAck(prompt)
	time.Sleep(400 * time.Millisecond)
	p.ack()
	p.echoRoundTrip([]byte("warm up\n"))
	return p
}

// confRFC6582_3_2_PartialAck (TestConformance/RFC6582_3_2_PartialAck): two segments of one window are
// lost. Three duplicate ACKs bring the first back by fast retransmit; the
// ACK that then covers it is partial (it stops at the second hole), and
// NewReno retransmits the next unacknowledged segment at once instead of
// waiting for the RTO (RFC 6582 3.2 step 5).
func confRFC6582_3_2_PartialAck(t *testing.T, n *rawNet) {
	p := slowRTOEcho(t, n)
	d := pattern(14000, 5)
	for off := 0; off < len(d); off += 1460 {
		p.sendData(d[off:min(off+1460, len(d))])
	}
	l := newLossyReceiver(p, len(d), 0, 2)
	l.run(10 * time.Second)
	if !bytes.Equal(l.buf, d) {
		t.Fatalf("echo differs at %d", firstDiff(l.buf, d))
	}
	if len(l.lost) != 2 {
		t.Fatalf("%d segments dropped, want 2", len(l.lost))
	}
	for seq, orig := range l.lost {
		r := l.rtx[seq]
		// The ACK that asked for it: three duplicates of seq for the first
		// hole, the first (partial) ACK of seq for the second.
		acks := l.ackSent[seq]
		var asked time.Time
		switch {
		case seq == l.base && len(acks) >= 3:
			asked = acks[2]
		case seq != l.base && len(acks) >= 1:
			asked = acks[0]
		default:
			t.Fatalf("no ACK of %d was sent (%d)", uint32(seq), len(acks))
		}
		d := r.at.Sub(asked)
		t.Logf("segment %d retransmitted %v after the ACK asking for it, %v after the original",
			uint32(seq-l.base), d.Round(100*time.Microsecond), r.at.Sub(orig.at).Round(time.Millisecond))
		if d < 0 {
			t.Errorf("segment at %d retransmitted before the ACK that should trigger it (%v early)", uint32(seq-l.base), -d)
		} else if d > 150*time.Millisecond {
			t.Errorf("segment at %d retransmitted %v after the ACK asking for it: waited for the RTO (RFC 5681 3.2 / RFC 6582 3.2)", uint32(seq-l.base), d)
		}
	}
}

// confRFC5681_3_1_LossWindow (TestConformance/RFC5681_3_1_LossWindow): when the retransmission timer
// expires, cwnd MUST be set to no more than one full-sized segment (RFC 5681
// 3.1, "loss window"): the stack retransmits exactly one segment, then,
// once that is acknowledged, two (slow start).
func confRFC5681_3_1_LossWindow(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portChargen)
	p.handshake(synOpts{mss: 1460, wscale: 7, window: 64240})
	base := p.rcvNxt
	var flight []*rawPkt
	for len(flight) < 10 {
		r := p.next(prompt)
		if r == nil {
			t.Fatalf("only %d segments of the initial window (RFC 6928: 10)", len(flight))
		}
		flight = append(flight, r)
	}
	// Lose all of them. The RTO fires once: one segment.
	r := p.next(2 * time.Second)
	if r == nil || r.seg.Seq != base || len(r.seg.Payload) != 1460 {
		t.Fatalf("after the RTO got %v, want the first segment again (seq=%d, 1460 bytes)", r, uint32(base))
	}
	t.Logf("RTO retransmission %v after the original", r.at.Sub(flight[0].at).Round(time.Millisecond))
	p.expectNone(150*time.Millisecond, "after the RTO retransmission, with cwnd = 1 segment (RFC 5681 3.1)")
	p.rcvNxt = base.Add(1460)
	p.ack()
	for i := range 2 {
		r := p.next(prompt)
		if r == nil || r.seg.Seq != base.Add(uint32(1460*(i+1))) || len(r.seg.Payload) != 1460 {
			t.Fatalf("segment %d after the first ACK: got %v, want seq=%d with 1460 bytes", i+1, r, uint32(base.Add(uint32(1460*(i+1)))))
		}
	}
	p.expectNone(100*time.Millisecond, "a third segment with cwnd = 2 (slow start after one ACK)")
}

// confRFC6298_2_2_FirstSampleRTO (TestConformance/RFC6298_2_2_FirstSampleRTO):
// the first RTT measurement R sets SRTT = R, RTTVAR = R/2 and RTO = SRTT +
// max(G, 4*RTTVAR) = 3R (RFC 6298 2.2). The handshake's ACK is held back
// 400 ms (the SYN-ACK is timed, RFC 6298 3), so unacknowledged data is
// retransmitted after about 1.2 s, not after the 200 ms minimum.
func confRFC6298_2_2_FirstSampleRTO(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portEcho)
	p.wnd = 64240 >> 7
	p.syn(linuxSynNoSACK)
	sa := p.expectSynAck(prompt)
	time.Sleep(400 * time.Millisecond)
	rtt := time.Since(sa.at) // as the stack measures it, give or take the link
	p.ack()
	msg := []byte("time me\n")
	p.sendData(msg)
	first := p.expectData(len(msg), "the echo")
	r := p.next(3 * time.Second)
	if r == nil || r.seg.Seq != first.seg.Seq || len(r.seg.Payload) != len(msg) {
		t.Fatalf("got %v, want the echo retransmitted", r)
	}
	d := r.at.Sub(first.at)
	t.Logf("retransmitted after %v (RTT sample %v)", d.Round(time.Millisecond), rtt.Round(time.Millisecond))
	if want := 3 * rtt; d < want-100*time.Millisecond || d > want+300*time.Millisecond {
		t.Fatalf("retransmitted after %v, want RTO = 3 * %v = %v (RFC 6298 2.2)", d, rtt, want)
	}
	p.rcvNxt = p.rcvNxt.Add(uint32(len(msg)))
	p.ack()
}

// confRFC6298_5_7_RTOAfterSynAckTimeout (TestConformance/RFC6298_5_7_RTOAfterSynAckTimeout):
// "If the timer expires awaiting the ACK of a SYN segment and the TCP
// implementation is using an RTO less than 3 seconds, the RTO MUST be
// re-initialized to 3 seconds when data transmission begins" (RFC 6298
// 5.7; Linux's TCP_TIMEOUT_FALLBACK). The SYN-ACK is retransmitted once
// (the handshake then yields no RTT sample, Karn), so the first data
// retransmission comes 3 s after the data, not after the backed-off 2 s.
func confRFC6298_5_7_RTOAfterSynAckTimeout(t *testing.T, n *rawNet) {
	p := n.newPeer(t, portEcho)
	p.wnd = 64240 >> 7
	p.syn(linuxSynNoSACK)
	sa := p.expectSynAck(prompt)
	r := p.next(2 * time.Second)
	if r == nil || r.seg.Seq != sa.seg.Seq || !r.seg.Flags.Has(segment.FlagSYN) {
		t.Fatalf("got %v, want the SYN-ACK retransmitted", r)
	}
	p.ack()
	msg := []byte("after a SYN-ACK timeout\n")
	p.sendData(msg)
	first := p.expectData(len(msg), "the echo")
	r = p.next(5 * time.Second)
	if r == nil || r.seg.Seq != first.seg.Seq || len(r.seg.Payload) != len(msg) {
		t.Fatalf("got %v, want the echo retransmitted", r)
	}
	d := r.at.Sub(first.at)
	t.Logf("retransmitted after %v", d.Round(time.Millisecond))
	if d < 2900*time.Millisecond || d > 3500*time.Millisecond {
		t.Fatalf("first data retransmission %v after the data, want the RTO re-initialized to 3 s (RFC 6298 5.7)", d)
	}
	p.rcvNxt = p.rcvNxt.Add(uint32(len(msg)))
	p.ack()
}

// expectData waits for the stack's next data segment, which must carry n
// bytes at p.rcvNxt and acknowledge everything we sent; pure ACKs of our
// data may come first (the stack may acknowledge before its application
// answers).
func (p *peer) expectData(n int, why string) *rawPkt {
	p.t.Helper()
	deadline := time.Now().Add(prompt)
	for {
		r := p.next(time.Until(deadline))
		if r == nil {
			p.t.Fatalf("%s: no data within %v", why, prompt)
		}
		s := r.seg
		s.Flags &^= segment.FlagPSH
		if s.Flags == segment.FlagACK && len(s.Payload) == 0 && s.Seq == p.rcvNxt && s.Ack.LessThanEq(p.nxt) {
			continue
		}
		if w := (want{flags: segment.FlagACK, seq: p.rcvNxt, ack: p.nxt, n: n}); !w.matches(&s) {
			p.t.Fatalf("%s: got %v, want %v", why, p.show(r), w)
		}
		return r
	}
}
