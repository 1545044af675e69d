package tcp_test

// Window scaling (RFC 7323 2), SACK and timestamp options from peers that
// did not negotiate them, unknown kinds, odd flags on a SYN, the RFC 6528
// ISN generator and the state-transition hook (negotiation itself:
// timestamps_test.go).

import (
	"math/bits"
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// RFC 7323 2.2: our SYN offers the shift that lets the largest receive
// buffer be advertised: 7 for auto-tuning's 6 MiB, 3 for a 256 KiB buffer
// that does not grow; the window field of a SYN is never scaled.
func TestSynSent_RFC7323_2_2_WindowScaleOffered(t *testing.T) {
	h := newHarness(t, buildOpts(nil))
	h.connect(0)
	if sh := h.cfg.RcvWindowShift(); sh != 7 {
		t.Fatalf("RcvWindowShift() = %d for a 6 MiB buffer limit, want 7", sh)
	}
	h.expect(0, h.out("S", seq(0), mss(1460), wscale(7), win(65535)))
	h = newHarness(t, buildOpts([]hopt{withConfig(func(c *tcp.Config) { c.RecvBufferMax = -1 })}))
	h.connect(0)
	if sh := h.cfg.RcvWindowShift(); sh != 3 {
		t.Fatalf("RcvWindowShift() = %d for a 256 KiB buffer, want 3", sh)
	}
	h.expect(0, h.out("S", seq(0), mss(1460), wscale(3), win(65535)))
}

// RFC 7323 2.2/2.3: when both offer, the peer's windows are shifted by its
// shift (except in its SYN-ACK) and ours by ours.
func TestEstablished_RFC7323_2_3_ScalingAppliedWhenBothOffer(t *testing.T) {
	h := newEstablished(t, peerWScaleOpt(2), peerWindow(1000))
	info := h.c.Info()
	if info.SndWndShift != 2 || info.RcvWndShift != 7 {
		h.fatalf("shifts snd %d rcv %d, want 2 and 7", info.SndWndShift, info.RcvWndShift)
	}
	// RFC 7323 2.2: "The window field in a SYN (i.e., a <SYN> or
	// <SYN,ACK>) segment itself is never scaled."
	if info.SndWnd != 1000 {
		h.fatalf("SND.WND %d from a SYN-ACK window of 1000, want 1000 (unscaled)", info.SndWnd)
	}
	// Now the peer's 1460 means 5840 bytes: four full segments fit (and
	// nothing more: sender SWS avoidance has no reason to send less).
	h.send(10*ms, h.in(".", win(1460)))
	if got := h.c.Info().SndWnd; got != 5840 {
		h.fatalf("SND.WND %d from window 1460 << 2, want 5840", got)
	}
	h.write(20*ms, 10000)
	out := h.drainOut(20 * ms)
	if n, _ := h.sentData(out, 1); n != 5840 {
		h.fatalf("sent %d bytes into a 5840-byte window", n)
	}
	// Our windows are shifted by 7: 256 KiB free is advertised as 2048.
	for _, o := range out {
		if o.seg.Window != 2048 {
			h.fatalf("window field %d with 256 KiB free and shift 7, want 2048", o.seg.Window)
		}
	}
}

// RFC 7323 2.2: scaling is used only if both sides offer it. Peer silent:
// our window fields are plain byte counts (at most 65535), the peer's too.
func TestEstablished_RFC7323_2_2_NoScalingUnlessBothOffer(t *testing.T) {
	h := newEstablished(t, peerWindow(1000))
	if info := h.c.Info(); info.SndWndShift != 0 || info.RcvWndShift != 0 {
		h.fatalf("shifts %d/%d without the peer's option, want 0/0", info.SndWndShift, info.RcvWndShift)
	}
	h.write(10*ms, 100)
	h.expect(10*ms, h.out("P.", seq(1), data(100), win(65535)))
	h.send(20*ms, h.in(".", win(1000), ack(101)))
	if got := h.c.Info().SndWnd; got != 1000 {
		h.fatalf("SND.WND %d, want 1000 (unscaled)", got)
	}

	// We do not offer (Config.WindowScale off): the peer's option is
	// ignored.
	h2 := newEstablished(t, peerWScaleOpt(7), peerWindow(1000), withConfig(func(c *tcp.Config) { c.WindowScale = false }))
	h2.send(10*ms, h2.in(".", win(1000)))
	if got := h2.c.Info(); got.SndWnd != 1000 || got.SndWndShift != 0 || got.RcvWndShift != 0 {
		h2.fatalf("SND.WND %d shifts %d/%d with scaling off on our side, want 1000 and 0/0", got.SndWnd, got.SndWndShift, got.RcvWndShift)
	}
}

// RFC 7323 2.2 on the passive side: "A TCP MUST NOT send a Window Scale option
// in a <SYN,ACK> segment unless it has received one in the initial <SYN>".
func TestListen_RFC7323_2_2_SYNACKScaleOnlyIfOffered(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460)))
	h.expect(0, h.out("S.", seq(0), ack(1), mss(1460)))
	h3 := newListen(t, withConfig(func(c *tcp.Config) { c.WindowScale = false }))
	h3.send(0, h3.in("S", seq(0), mss(1460), wscale(5)))
	h3.expect(0, h3.out("S.", seq(0), ack(1), mss(1460)))
	h2 := newListen(t)
	h2.send(0, h2.in("S", seq(0), mss(1460), wscale(5)))
	h2.expect(0, h2.out("S.", seq(0), ack(1), mss(1460), wscale(7)))
	h2.send(10*ms, h2.in(".", seq(1), ack(1), win(100)))
	if got := h2.c.Info(); got.SndWnd != 100<<5 || got.SndWndShift != 5 {
		h2.fatalf("SND.WND %d shift %d, want %d and 5", got.SndWnd, got.SndWndShift, 100<<5)
	}
}

// RFC 7323 2.3: a shift above 14 "MUST" be used as 14.
func TestEstablished_RFC7323_2_3_ShiftClampedTo14(t *testing.T) {
	h := newEstablished(t, peerWScaleOpt(15))
	if got := h.c.Info().SndWndShift; got != 14 {
		h.fatalf("peer shift 15 used as %d, want 14", got)
	}
}

// RFC 7323 2.4 / RFC 9293 3.8.6.2.2: the right edge of our advertised window
// never moves left, even with a shift that rounds.
func TestEstablished_RFC7323_2_4_RightEdgeNeverRecedes(t *testing.T) {
	h := newEstablished(t, peerWScaleOpt(7), noDelAck())
	shift := uint(h.c.Info().RcvWndShift)
	var edge segment.Seq
	haveEdge := false
	check := func(o outSeg) {
		e := o.seg.Ack.Add(uint32(o.seg.Window) << shift)
		if haveEdge && e.LessThan(edge) {
			h.fatalf("right edge moved left: %d -> %d (%s)", int32(edge-peerISS), int32(e-peerISS), h.fmtOut(&o.seg))
		}
		edge, haveEdge = e, true
	}
	next := int64(1)
	for i := 0; i < 200; i++ {
		n := 1 + (i*37)%1460 // odd sizes, so free space is rarely a multiple of 8
		h.send(time.Duration(10+i)*ms, h.in(".", seq(next), data(n)))
		next += int64(n)
		for _, o := range h.drainOut(time.Duration(10+i) * ms) {
			check(o)
		}
		if i%7 == 0 {
			h.readN(time.Duration(10+i)*ms, min(h.c.Readable(), 3001))
			for _, o := range h.drainOut(time.Duration(10+i) * ms) {
				check(o)
			}
		}
	}
	// Now fill the window without reading, always sending up to the
	// right edge last advertised: the edge never recedes, and the buffer
	// stays bounded: RecvBufferSize plus at most 256 window units of
	// round-up overcommit (receive.go rcvSlack, as Linux).
	limit := h.cfg.RecvBufferSize + 256<<shift
	for i := 0; i < 2000 && h.c.Info().RcvWnd > 0; i++ {
		room := int64(int32(edge-peerISS)) - next
		n := int(min(room, int64(1+(i*53)%1460)))
		if n <= 0 {
			break
		}
		h.send(time.Second, h.in(".", seq(next), data(n)))
		next += int64(n)
		for _, o := range h.drainOut(time.Second) {
			check(o)
		}
		if r := h.c.Readable(); r > limit {
			h.fatalf("Readable %d beyond the bound %d", r, limit)
		}
	}
	if h.c.Info().RcvWnd != 0 {
		h.fatalf("window never closed while filling")
	}
}

// SACK-permitted, timestamps and unknown options on the peer's SYN-ACK and
// on data are parsed and ignored: the handshake completes, data is
// delivered, and the engine never sends SACK or timestamp options (the
// harness fails any segment that carries them). Issue: "parse those options
// now, do not negotiate them yet, never choke on them".
func TestSynSent_RFC9293_3_1_SACKAndTimestampsIgnored(t *testing.T) {
	h := newEstablished(t, peerSYNMods(sackOK(), ts(1000, 0), unknownOpts(2)))
	h.send(10*ms, h.in("P.", seq(1), data(100), ts(1010, 5), sackBlock(1, 50)))
	h.expectWithin(10*ms, 210*ms, h.out(".", seq(1), ack(101)))
	h.expectRead(300*ms, 100)
	h.write(300*ms, 100)
	h.expect(300*ms, h.out("P.", seq(1), data(100)))
	h.send(400*ms, h.in(".", ack(101), ts(1100, 7), sackBlock(1, 101), sackBlock(200, 300)))
	h.expectNothing(400 * ms)
	if h.c.SndUna != engISS.Add(101) {
		h.fatalf("ACK with SACK blocks not processed")
	}
}

// gVisor #11536: a passive open whose SYN had timestamps completes with a
// final ACK that has none.
func TestSynReceived_RFC7323_FinalACKWithoutTimestamp(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("S", seq(0), mss(1460), sackOK(), ts(1, 0), wscale(7)))
	h.expect(0, h.out("S.", seq(0), ack(1), mss(1460), wscale(7)))
	h.send(10*ms, h.in(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
}

// gVisor #7075: ECN (and reserved-ish) flags on a SYN must not provoke a
// RST; we do not negotiate ECN (RFC 3168 6.1.1: the SYN-ACK then carries no
// ECE).
func TestListen_RFC3168_ECNSYNAccepted(t *testing.T) {
	h := newListen(t)
	h.send(0, h.in("SEW", seq(0), mss(1460)))
	h.expect(0, h.out("S.", seq(0), ack(1), mss(1460)))
	h.send(10*ms, h.in(".", seq(1), ack(1)))
	h.expectState(tcp.StateEstablished)
}

// RFC 6528 3: ISN = M + F(4-tuple, secret), M a 4 µs clock. Different
// 4-tuples get unrelated ISNs; for one tuple the ISN advances with time at
// 250,000 per second; without the key the value is not predictable (another
// key gives an unrelated value; the bits look uniform).
func TestISN_RFC6528(t *testing.T) {
	key := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	g := tcp.NewISNGenerator(key)
	now := t0
	tup := testTuple
	// Increases with time, at the 4 µs rate.
	a := g.ISN(tup, now)
	for _, d := range []time.Duration{4 * time.Microsecond, time.Millisecond, time.Second, time.Minute} {
		b := g.ISN(tup, now.Add(d))
		if want := uint32(d / (4 * time.Microsecond)); uint32(b-a) != want {
			t.Fatalf("ISN advanced by %d over %v, want %d (4 µs ticks)", uint32(b-a), d, want)
		}
	}
	// Per tuple: 2000 tuples that differ in one field each give distinct,
	// well-mixed ISNs at the same instant.
	seen := map[segment.Seq]bool{}
	var ones [32]int
	n := 0
	for i := 0; i < 500; i++ {
		vars := []tcp.Tuple{tup, tup, tup, tup}
		vars[0].RemotePort = uint16(1024 + i)
		vars[1].LocalPort = uint16(1024 + i)
		vars[2].RemoteAddr = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		vars[3].LocalAddr = netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		for _, v := range vars {
			isn := g.ISN(v, now)
			if seen[isn] {
				t.Fatalf("ISN collision for %+v", v)
			}
			seen[isn] = true
			for b := 0; b < 32; b++ {
				ones[b] += int(uint32(isn) >> b & 1)
			}
			n++
		}
	}
	for b, c := range ones {
		if c < n*40/100 || c > n*60/100 {
			t.Fatalf("bit %d set in %d of %d ISNs: not uniform", b, c, n)
		}
	}
	// Adjacent ports do not give adjacent ISNs (F is a hash, not a sum).
	t1, t2 := tup, tup
	t2.RemotePort++
	if d := uint32(g.ISN(t2, now) - g.ISN(t1, now)); d < 1<<16 || d > 1<<32-1<<16 {
		t.Fatalf("ISNs of neighbouring ports differ by only %d", int32(d))
	}
	// Another key: unrelated values (Hamming distance around 16 bits).
	g2 := tcp.NewISNGenerator([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17})
	dist := 0
	for i := 0; i < 200; i++ {
		v := tup
		v.RemotePort = uint16(i)
		dist += bits.OnesCount32(uint32(g.ISN(v, now) ^ g2.ISN(v, now)))
	}
	if avg := float64(dist) / 200; avg < 12 || avg > 20 {
		t.Fatalf("mean Hamming distance between keys %.1f bits, want about 16", avg)
	}
}

// The state-transition hook (Config.Trace): every change reports time,
// tuple, old and new state and the segment that caused it (nil for
// application calls and timers), in order, through a full active open and
// close.
func TestTrace_TransitionHook(t *testing.T) {
	h := newEstablished(t, handshakeRTT(30*ms))
	h.close(100 * ms)
	h.send(120*ms, h.in(".", ack(2)))
	h.send(130*ms, h.in("F.", seq(1), ack(2)))
	h.advance(130*ms + 240*s)
	type step struct {
		from, to tcp.State
		at       time.Duration
		cause    segment.Flags // 0: no segment
	}
	want := []step{
		{tcp.StateClosed, tcp.StateSynSent, 0, 0},
		{tcp.StateSynSent, tcp.StateEstablished, 30 * ms, segment.FlagSYN | segment.FlagACK},
		{tcp.StateEstablished, tcp.StateFinWait1, 100 * ms, 0},
		{tcp.StateFinWait1, tcp.StateFinWait2, 120 * ms, segment.FlagACK},
		{tcp.StateFinWait2, tcp.StateTimeWait, 130 * ms, segment.FlagFIN | segment.FlagACK},
		{tcp.StateTimeWait, tcp.StateClosed, 130*ms + 240*s, 0},
	}
	if len(h.trans) != len(want) {
		h.fatalf("%d transitions, want %d", len(h.trans), len(want))
	}
	for i, w := range want {
		g := h.trans[i]
		if g.From != w.from || g.To != w.to || !g.Time.Equal(h.at(w.at)) || g.Tuple != testTuple {
			h.fatalf("transition %d: %v -> %v at %s (tuple %+v), want %v -> %v at %s", i, g.From, g.To, h.ts(g.Time), g.Tuple, w.from, w.to, h.ts(h.at(w.at)))
		}
		if (g.Seg == nil) != (w.cause == 0) || (g.Seg != nil && g.Seg.Flags&^segment.FlagPSH != w.cause) {
			h.fatalf("transition %d (%v -> %v) caused by %v, want a segment with flags %v", i, g.From, g.To, g.Seg, w.cause)
		}
	}
}

// The hook on the passive side: the SYN causes the first transition and the
// handshake ACK the second.
func TestTrace_PassiveOpen(t *testing.T) {
	h := newEstablishedPassive(t)
	if len(h.trans) != 2 {
		h.fatalf("%d transitions for a passive open, want 2", len(h.trans))
	}
	first, second := h.trans[0], h.trans[1]
	if first.To != tcp.StateSynReceived || first.Seg == nil || first.Seg.Flags != segment.FlagSYN {
		h.fatalf("first transition %v -> %v caused by %v, want -> SYN-RECEIVED by the SYN", first.From, first.To, first.Seg)
	}
	if first.From != tcp.StateListen && first.From != tcp.StateClosed {
		h.fatalf("passive open starts from %v", first.From)
	}
	if second.From != tcp.StateSynReceived || second.To != tcp.StateEstablished || second.Seg == nil || second.Seg.Flags != segment.FlagACK {
		h.fatalf("second transition %v -> %v by %v, want SYN-RECEIVED -> ESTABLISHED by the ACK", second.From, second.To, second.Seg)
	}
}
