package tcp

import (
	"bytes"
	"io"
	"math/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// A minimal back-to-back harness for the engine author's own tests: two
// Conns whose sinks queue copies of their segments, a fake clock, and a
// pump that delivers queued segments (optionally dropping some).

type uSink struct {
	out []segment.Segment
	ev  Event
}

func (s *uSink) Output(seg *segment.Segment) {
	cp := *seg
	cp.Payload = append([]byte(nil), seg.Payload...)
	s.out = append(s.out, cp)
}

func (s *uSink) Notify(ev Event) { s.ev |= ev }

type uPair struct {
	t      *testing.T
	now    time.Time
	a, b   *Conn
	sa, sb *uSink
	drop   func(fromA bool, seg *segment.Segment) bool
	// mangle, if set, may reorder or duplicate a batch before delivery.
	mangle func([]segment.Segment) []segment.Segment
	trace  []Transition
}

var (
	uAddrA = netip.MustParseAddr("198.18.0.1")
	uAddrB = netip.MustParseAddr("198.18.0.2")
)

func uNewPair(t *testing.T, cfgA, cfgB *Config) *uPair {
	p := &uPair{t: t, now: time.Unix(1000, 0), sa: &uSink{}, sb: &uSink{}}
	p.a = NewConn(cfgA, Tuple{uAddrA, 40000, uAddrB, 80}, p.sa)
	p.b = NewConn(cfgB, Tuple{uAddrB, 80, uAddrA, 40000}, p.sb)
	return p
}

// deliver moves queued segments across once; the first SYN to a CLOSED b
// goes through AcceptSYN.
func (p *uPair) deliver() int {
	n := 0
	outA, outB := p.sa.out, p.sb.out
	p.sa.out, p.sb.out = nil, nil
	if p.mangle != nil {
		outA, outB = p.mangle(outA), p.mangle(outB)
	}
	for i := range outA {
		s := &outA[i]
		n++
		if p.drop != nil && p.drop(true, s) {
			continue
		}
		if p.b.State() == StateClosed && p.b.ISS == 0 && s.Flags == segment.FlagSYN {
			p.b.AcceptSYN(p.now, 5000, s)
			continue
		}
		p.b.HandleSegment(p.now, s)
	}
	for i := range outB {
		s := &outB[i]
		n++
		if p.drop != nil && p.drop(false, s) {
			continue
		}
		p.a.HandleSegment(p.now, s)
	}
	return n
}

func (p *uPair) pump() {
	for i := 0; i < 100000; i++ {
		if p.deliver() == 0 {
			return
		}
	}
	p.t.Fatal("pump: no quiescence")
}

// step advances the clock to the earliest deadline (at most max ahead),
// runs timers and pumps.
func (p *uPair) step(max time.Duration) {
	next := p.now.Add(max)
	for _, c := range []*Conn{p.a, p.b} {
		if d := c.Deadline(); !d.IsZero() && d.Before(next) {
			next = d
		}
	}
	if next.After(p.now) {
		p.now = next
	}
	p.a.HandleTimer(p.now)
	p.b.HandleTimer(p.now)
	p.pump()
}

func (p *uPair) connect() {
	p.a.Connect(p.now, 1000)
	p.pump()
	if p.a.State() != StateEstablished || p.b.State() != StateEstablished {
		p.t.Fatalf("handshake: a=%v b=%v", p.a.State(), p.b.State())
	}
}

func TestUnitHandshake(t *testing.T) {
	cfg := DefaultConfig()
	var tr []Transition
	cfg.Trace = func(x Transition) { tr = append(tr, x) }
	p := uNewPair(t, &cfg, &cfg)
	p.connect()
	if p.a.sndShift != cfg.RcvWindowShift() || p.b.sndShift != cfg.RcvWindowShift() {
		t.Fatalf("window scale not negotiated: %d %d", p.a.sndShift, p.b.sndShift)
	}
	// Timestamps and SACK are on by default on both sides (RFC 7323 3.2,
	// RFC 2018 2); every segment then carries 12 option bytes, which come
	// off the payload of a full-sized segment (RFC 9293 3.7.1, RFC 6691).
	for _, c := range []*Conn{p.a, p.b} {
		if c.flags&(flagTSOK|flagSackRcv) != flagTSOK|flagSackRcv {
			t.Fatalf("SACK/TS not negotiated: flags %#x", c.flags)
		}
	}
	if p.a.sndMSS != DefaultMSS-12 || p.b.sndMSS != DefaultMSS-12 {
		t.Fatalf("mss %d %d, want %d", p.a.sndMSS, p.b.sndMSS, DefaultMSS-12)
	}
	want := []struct{ from, to State }{
		{StateClosed, StateSynSent}, {StateListen, StateSynReceived},
		{StateSynSent, StateEstablished}, {StateSynReceived, StateEstablished},
	}
	if len(tr) != len(want) {
		t.Fatalf("transitions %v", tr)
	}
	for i, w := range want {
		if tr[i].From != w.from || tr[i].To != w.to {
			t.Errorf("transition %d: %v->%v, want %v->%v", i, tr[i].From, tr[i].To, w.from, w.to)
		}
	}
	if p.a.Deadline() != (time.Time{}) || p.b.Deadline() != (time.Time{}) {
		t.Errorf("timers left: %v %v", p.a.Deadline(), p.b.Deadline())
	}
}

// transfer sends n random bytes each way and checks they arrive intact.
func uTransfer(t *testing.T, p *uPair, n int, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	da, db := make([]byte, n), make([]byte, n)
	rng.Read(da)
	rng.Read(db)
	var ga, gb bytes.Buffer
	wa, wb := 0, 0
	buf := make([]byte, 7000)
	for iter := 0; ga.Len() < n || gb.Len() < n; iter++ {
		if iter > 200000 {
			t.Fatalf("stuck: a got %d b got %d; a=%+v b=%+v", ga.Len(), gb.Len(), p.a.Info(), p.b.Info())
		}
		if wa < n {
			k, err := p.a.Write(p.now, da[wa:min(n, wa+rng.Intn(9000)+1)])
			if err != nil {
				t.Fatalf("%v: a=%+v b=%+v", err, p.a.Info(), p.b.Info())
			}
			wa += k
		}
		if wb < n {
			k, err := p.b.Write(p.now, db[wb:min(n, wb+rng.Intn(9000)+1)])
			if err != nil {
				t.Fatalf("b: %v: a=%+v b=%+v", err, p.a.Info(), p.b.Info())
			}
			wb += k
		}
		p.pump()
		for {
			k, _ := p.b.Read(p.now, buf[:rng.Intn(len(buf))+1])
			if k == 0 {
				break
			}
			gb.Write(buf[:k])
		}
		for {
			k, _ := p.a.Read(p.now, buf[:rng.Intn(len(buf))+1])
			if k == 0 {
				break
			}
			ga.Write(buf[:k])
		}
		p.pump()
		if iter%4 == 3 {
			p.step(time.Second)
		}
	}
	if !bytes.Equal(gb.Bytes(), da) || !bytes.Equal(ga.Bytes(), db) {
		t.Fatal("data corrupted")
	}
}

func uCloseBoth(t *testing.T, p *uPair) {
	if err := p.a.Close(p.now); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000 && !(p.b.flags&flagRcvFin != 0); i++ {
		p.step(time.Second)
	}
	if _, err := p.b.Read(p.now, make([]byte, 10)); err != io.EOF {
		t.Fatalf("b read after FIN: %v", err)
	}
	if err := p.b.Close(p.now); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10000 && (p.a.State() != StateClosed || p.b.State() != StateClosed); i++ {
		p.step(time.Minute)
	}
	if p.a.State() != StateClosed || p.b.State() != StateClosed {
		t.Fatalf("not closed: a=%v b=%v", p.a.State(), p.b.State())
	}
	if p.a.Err() != nil || p.b.Err() != nil {
		t.Fatalf("errors: %v %v", p.a.Err(), p.b.Err())
	}
	if !p.a.Deadline().IsZero() || !p.b.Deadline().IsZero() {
		t.Fatalf("timers left behind")
	}
}

func TestUnitTransferAndClose(t *testing.T) {
	cfg := DefaultConfig()
	p := uNewPair(t, &cfg, &cfg)
	p.connect()
	uTransfer(t, p, 1<<20, 1)
	uCloseBoth(t, p)
}

func TestUnitTransferLossy(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		cfg := DefaultConfig()
		cfg.SendBufferSize = 64 << 10
		cfg.RecvBufferSize = 32 << 10
		p := uNewPair(t, &cfg, &cfg)
		rng := rand.New(rand.NewSource(seed))
		p.drop = func(bool, *segment.Segment) bool { return rng.Intn(100) < 15 }
		p.a.Connect(p.now, 1000)
		for i := 0; i < 100 && (p.a.State() != StateEstablished || p.b.State() != StateEstablished); i++ {
			p.step(10 * time.Second)
		}
		if p.a.State() != StateEstablished || p.b.State() != StateEstablished {
			t.Fatalf("seed %d: handshake a=%v b=%v", seed, p.a.State(), p.b.State())
		}
		uTransfer(t, p, 200<<10, seed)
		uCloseBoth(t, p)
	}
}

func TestUnitConnectTimeout(t *testing.T) {
	cfg := DefaultConfig()
	p := uNewPair(t, &cfg, &cfg)
	p.a.Connect(p.now, 1)
	start := p.now
	n := 0
	for p.a.State() == StateSynSent && n < 100 {
		p.sa.out = nil
		p.now = p.a.Deadline()
		p.a.HandleTimer(p.now)
		n++
	}
	if p.a.Err() == nil || p.a.Err().Error() != "connection timed out" {
		t.Fatalf("err %v", p.a.Err())
	}
	// 1+2+4+8+16+32+60+60 s = 183 s: 1 s initial RTO, doubling, capped at
	// 60 s, 7 retransmissions (RFC 9293 3.8.3: at least 3 minutes).
	if got := p.now.Sub(start); got != 183*time.Second {
		t.Fatalf("timed out after %v", got)
	}
}

func TestUnitSimultaneousOpen(t *testing.T) {
	cfg := DefaultConfig()
	var tr []Transition
	cfg.Trace = func(x Transition) { tr = append(tr, x) }
	p := uNewPair(t, &cfg, &cfg)
	p.a.Connect(p.now, 1000)
	p.b.Connect(p.now, 7000)
	p.pump()
	if p.a.State() != StateEstablished || p.b.State() != StateEstablished {
		t.Fatalf("a=%v b=%v", p.a.State(), p.b.State())
	}
	if !p.a.Deadline().IsZero() || !p.b.Deadline().IsZero() {
		t.Fatal("SYN timer still armed: the handshake waited for a retransmission")
	}
	uTransfer(t, p, 10000, 3)
	uCloseBoth(t, p)
}

func TestUnitAcceptCookie(t *testing.T) {
	cfg := DefaultConfig()
	sink := &uNopSink{}
	now := time.Unix(1000, 0)
	c := NewConn(&cfg, Tuple{uAddrB, 80, uAddrA, 40000}, sink)
	ack := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 0xfffffff0,
		Ack: 5001, Flags: segment.FlagACK | segment.FlagPSH, Window: 100, Payload: []byte("hello")}
	c.AcceptCookie(now, 5000, SynParams{IRS: 0xffffffef, MSS: 1000, WScale: 2}, &ack)
	if c.State() != StateEstablished {
		t.Fatalf("state %v", c.State())
	}
	if c.SndWnd != 400 || c.sndMSS != 1000 || c.sndShift != 2 || c.rcvShift != cfg.RcvWindowShift() {
		t.Fatalf("wnd %d mss %d shifts %d/%d", c.SndWnd, c.sndMSS, c.sndShift, c.rcvShift)
	}
	buf := make([]byte, 10)
	if n, _ := c.Read(now, buf); string(buf[:n]) != "hello" {
		t.Fatalf("read %q", buf[:n])
	}
	if n, err := c.Write(now, []byte("x")); n != 1 || err != nil || sink.last.Seq != 5001 || len(c.out.Payload) != 0 {
		t.Fatalf("write %d %v seq %d", n, err, sink.last.Seq)
	}
	// A cookie whose SYN offered SACK and timestamps: both in use, TS.Recent
	// from the ACK's TSval, the RTT from its TSecr (our SYN-ACK's TSval,
	// sent 3 ms before), and the send MSS less the 12 option bytes.
	cookieSynAckTS := tsClock(now.Add(-3*time.Millisecond), cfg.tsOffset(Tuple{uAddrB, 80, uAddrA, 40000}))
	tsAck := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 0x100, Ack: 5001,
		Flags: segment.FlagACK, Window: 100, Options: segment.Options{HasTimestamp: true, TSVal: 777, TSEcr: cookieSynAckTS}}
	c = NewConn(&cfg, Tuple{uAddrB, 80, uAddrA, 40000}, sink)
	c.AcceptCookie(now, 5000, SynParams{IRS: 0xff, MSS: 1000, WScale: 2, SACK: true, TS: true}, &tsAck)
	if c.flags&(flagSackRcv|flagTSOK) != flagSackRcv|flagTSOK || c.tsRecent != 777 || c.sndMSS != 1000-12 || c.rttLatest != 3*time.Millisecond {
		t.Fatalf("cookie with SACK/TS: flags %#x TS.Recent %d MSS %d RTT %v", c.flags, c.tsRecent, c.sndMSS, c.rttLatest)
	}
	if _, err := c.Write(now, []byte("y")); err != nil || !sink.last.Options.HasTimestamp || sink.last.Options.TSEcr != 777 {
		t.Fatalf("write after a TS cookie: %v, options %+v", err, sink.last.Options)
	}
	var syn, out segment.Segment
	syn = segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 9, Flags: segment.FlagSYN}
	syn.Options.HasWScale = true
	SynAckFor(&cfg, now, 77, &syn, &out)
	if out.Flags != segment.FlagSYN|segment.FlagACK || out.Seq != 77 || out.Ack != 10 || !out.Options.HasMSS ||
		!out.Options.HasWScale || out.Options.WScale != cfg.RcvWindowShift() || out.Dst != uAddrA || out.DstPort != 40000 {
		t.Fatalf("SynAckFor: %+v", out)
	}
	// RFC 2018 2, RFC 7323 3.2: SACK-permitted and TSopt only in answer to
	// a SYN that carried them; the TSval is the connection's clock and the
	// TSecr echoes the SYN's TSval.
	if out.Options.SACKPermitted || out.Options.HasTimestamp {
		t.Fatalf("SynAckFor offers SACK/TS to a SYN without them: %+v", out.Options)
	}
	syn.Options.SACKPermitted, syn.Options.HasTimestamp, syn.Options.TSVal = true, true, 4242
	SynAckFor(&cfg, now, 77, &syn, &out)
	wantTS := tsClock(now, cfg.tsOffset(Tuple{uAddrB, 80, uAddrA, 40000}))
	if !out.Options.SACKPermitted || !out.Options.HasTimestamp || out.Options.TSEcr != 4242 || out.Options.TSVal != wantTS {
		t.Fatalf("SynAckFor options %+v, want SACK-permitted and TS %d/4242", out.Options, wantTS)
	}
}

// CloseWrite in SYN-RECEIVED sends the FIN at once (RFC 9293 3.10.4), even
// though our SYN-ACK is not acknowledged yet; with the first SYN-ACK lost the
// SYN-ACK and then the FIN are retransmitted and both sides close cleanly.
func TestUnitCloseInSynReceived(t *testing.T) {
	for _, lose := range []bool{false, true} {
		cfg := DefaultConfig()
		p := uNewPair(t, &cfg, &cfg)
		p.a.Connect(p.now, 1000)
		p.b.Connect(p.now, 7000)
		// Cross the SYNs: both go to SYN-RECEIVED and send SYN-ACKs.
		sa, sb := p.sa.out, p.sb.out
		p.sa.out, p.sb.out = nil, nil
		p.b.HandleSegment(p.now, &sa[0])
		p.a.HandleSegment(p.now, &sb[0])
		if p.a.State() != StateSynReceived || p.b.State() != StateSynReceived {
			t.Fatalf("a=%v b=%v", p.a.State(), p.b.State())
		}
		if lose {
			p.sa.out = nil // a's SYN-ACK is lost
		}
		if err := p.a.CloseWrite(p.now); err != nil || p.a.State() != StateFinWait1 {
			t.Fatalf("CloseWrite: %v %v", err, p.a.State())
		}
		if last := p.sa.out[len(p.sa.out)-1]; last.Flags != segment.FlagFIN|segment.FlagACK || last.Seq != 1001 {
			t.Fatalf("no FIN: %+v", last)
		}
		if lose {
			p.sa.out = nil // and so is the FIN
		}
		for i := 0; i < 50 && p.b.flags&flagRcvFin == 0; i++ {
			p.step(5 * time.Second)
		}
		if p.b.State() != StateCloseWait {
			t.Fatalf("lose=%v: b=%v a=%v", lose, p.b.State(), p.a.State())
		}
		p.b.Close(p.now)
		for i := 0; i < 100 && (p.a.State() != StateClosed || p.b.State() != StateClosed); i++ {
			p.step(time.Minute)
		}
		if p.a.State() != StateClosed || p.b.State() != StateClosed || p.a.Err() != nil || p.b.Err() != nil {
			t.Fatalf("lose=%v: a=%v %v b=%v %v", lose, p.a.State(), p.a.Err(), p.b.State(), p.b.Err())
		}
	}
}

// Loss up to 20 %, reordering within a batch and duplication, many seeds,
// small buffers (zero windows) and odd MSS: every byte arrives once, in
// order, and both sides close cleanly with no timer left.
func TestUnitTransferMangled(t *testing.T) {
	for seed := int64(1); seed <= 60; seed++ {
		cfg := DefaultConfig()
		rng := rand.New(rand.NewSource(seed))
		cfg.SendBufferSize = []int{8 << 10, 64 << 10, 256 << 10}[rng.Intn(3)]
		cfg.RecvBufferSize = []int{4 << 10, 16 << 10, 100 << 10, 256 << 10}[rng.Intn(4)]
		cfg.MSS = uint16(500 + rng.Intn(1000))
		cfg.Nagle = rng.Intn(2) == 0
		loss := int(seed % 5 * 5)
		p := uNewPair(t, &cfg, &cfg)
		p.drop = func(bool, *segment.Segment) bool { return rng.Intn(100) < loss }
		p.mangle = func(b []segment.Segment) []segment.Segment {
			if len(b) > 1 && rng.Intn(4) == 0 {
				rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
			}
			if len(b) > 0 && rng.Intn(10) == 0 {
				b = append(b, b[rng.Intn(len(b))])
			}
			return b
		}
		p.a.Connect(p.now, segment.Seq(rng.Uint32()))
		for i := 0; i < 100 && (p.a.State() != StateEstablished || p.b.State() != StateEstablished); i++ {
			p.step(10 * time.Second)
		}
		if p.a.State() != StateEstablished || p.b.State() != StateEstablished {
			t.Fatalf("seed %d: handshake a=%v b=%v", seed, p.a.State(), p.b.State())
		}
		uTransfer(t, p, 100<<10+rng.Intn(1000), seed)
		uCloseBoth(t, p)
	}
}
