package tcp

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// RFC 6937 6's example: a single loss in a window of 20 segments, a Reno
// sender (ssthresh 10); each duplicate ACK delivers one segment. While
// pipe > ssthresh PRR sends one segment for every second ACK
// (ssthresh/RecoverFS = 1/2), the first being the fast retransmit, so
// pipe comes down to ssthresh evenly, not in one step as RFC 6675 would;
// then PRR-SSRB holds it there.
func TestPRR_RFC6937_ProportionalReduction(t *testing.T) {
	const mss = 1000
	p := prrState{recoverFS: 20 * mss}
	pipe := uint32(19 * mss) // one segment lost
	total := uint32(0)
	for k := uint32(1); k <= 19; k++ {
		pipe -= mss // the ACK's segment left the network
		p.delivered += mss
		proportional := pipe > 10*mss
		n := prrSndcnt(&p, mss, pipe, 10*mss, mss) / mss * mss // whole segments
		p.out += n
		pipe += n
		total += n / mss
		if proportional && total != (k+1)/2 {
			t.Fatalf("after %d ACKs %d segments sent, want %d (one per two ACKs)", k, total, (k+1)/2)
		}
		if pipe < 10*mss {
			t.Fatalf("after %d ACKs pipe %d below ssthresh", k, pipe)
		}
	}
	if pipe != 10*mss {
		t.Fatalf("pipe %d at the end, want ssthresh %d", pipe, 10*mss)
	}
}

// RFC 6937 3.1, PRR-SSRB: with pipe below ssthresh (further losses), sndcnt
// = MIN(ssthresh - pipe, MAX(prr_delivered - prr_out, DeliveredData) +
// MSS): slow start back towards ssthresh, at most one MSS more than was
// delivered.
func TestPRR_RFC6937_SlowStartReductionBound(t *testing.T) {
	const mss = 1000
	p := prrState{recoverFS: 20 * mss, delivered: 4 * mss, out: 2 * mss}
	if got := prrSndcnt(&p, mss, 5*mss, 10*mss, mss); got != 3*mss {
		t.Fatalf("sndcnt %d, want %d (prr_delivered - prr_out + MSS)", got, 3*mss)
	}
	if got := prrSndcnt(&p, mss, 9*mss, 10*mss, mss); got != mss {
		t.Fatalf("sndcnt %d, want %d (ssthresh - pipe)", got, mss)
	}
	p.out = 6 * mss // sent more than delivered: DeliveredData + MSS bounds it
	if got := prrSndcnt(&p, 2*mss, 5*mss, 10*mss, mss); got != 3*mss {
		t.Fatalf("sndcnt %d, want %d (DeliveredData + MSS)", got, 3*mss)
	}
}

// ccRecorder is a congestion control for tests: a fixed window, an
// optional pacing rate, and the last rate sample it was given.
type ccRecorder struct {
	rate uint64
	rs   RateSample
	n    int
}

func (r *ccRecorder) Name() string { return "test-recorder" }
func (r *ccRecorder) Init(s *CCState) {
	s.Cwnd, s.Ssthresh = 20*s.MSS, 1<<30
}
func (r *ccRecorder) OnAck(s *CCState, rs *RateSample) { r.rs, r.n = *rs, r.n+1 }
func (r *ccRecorder) OnCongestionEvent(s *CCState)     { s.Ssthresh = s.Cwnd / 2 }
func (r *ccRecorder) OnRecoveryExit(s *CCState)        {}
func (r *ccRecorder) OnRTO(s *CCState)                 { s.Cwnd = s.MSS }
func (r *ccRecorder) OnIdleRestart(s *CCState)         {}
func (r *ccRecorder) OnHandshakeLoss(s *CCState)       {}
func (r *ccRecorder) PacingRate(s *CCState) uint64     { return r.rate }

func init() { registerCC("test-recorder", func() CongestionControl { return new(ccRecorder) }) }

// newRecConn is an ESTABLISHED Conn (MSS 1460) using ccRecorder.
func newRecConn(t *testing.T, mod func(*Config)) (*Conn, *ccRecorder, *uSink, time.Time) {
	cfg := DefaultConfig()
	cfg.CongestionControl = "test-recorder"
	if mod != nil {
		mod(&cfg)
	}
	sink := &uSink{}
	c, now := uEstablished(t, &cfg, sink)
	sink.out = nil
	return c, c.ccSync(now).cc(c), sink, now
}

func (s *CCState) cc(c *Conn) *ccRecorder { return c.cc.(*ccRecorder) }

func ackAt(c *Conn, now time.Time, ack Seq) {
	seg := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: c.RcvNxt, Ack: ack,
		Flags: segment.FlagACK, Window: 2048}
	c.HandleSegment(now, &seg)
}

// Delivery-rate samples (draft-cheng-iccrg-delivery-rate-estimation 3):
// the data delivered between the send of the newest delivered packet and
// its ACK, over the longer of the send and ACK intervals; application-
// limited once the sender ran out of data with room in the window (3.4).
func TestRateSample_DeliveryRateAndAppLimited(t *testing.T) {
	c, rec, _, t1 := newRecConn(t, nil)
	c.Write(t1, make([]byte, 4*1460))
	ackAt(c, t1.Add(10*time.Millisecond), c.sndMax)
	rs := rec.rs
	if rec.n != 1 || rs.Delivered != 4*1460 || rs.Interval != 10*time.Millisecond || rs.RTT != 10*time.Millisecond ||
		rs.PriorDelivered != 0 || rs.AckedSacked != 4*1460 || rs.IsAppLimited || rs.PriorInFlight != 4*1460 {
		t.Fatalf("first sample %+v (%d calls)", rs, rec.n)
	}
	if s := &c.ccs; s.Delivered != 4*1460 || s.MinRTT != 10*time.Millisecond || !s.AppLimited {
		t.Fatalf("CCState delivered %d, min RTT %v, app-limited %v; want %d, 10ms, true", s.Delivered, s.MinRTT, s.AppLimited, 4*1460)
	}
	// The next flight is sent while application-limited (the first
	// ACK delivered no more than was in flight when the sender ran dry).
	t2 := t1.Add(10 * time.Millisecond)
	c.Write(t2, make([]byte, 2*1460))
	ackAt(c, t2.Add(15*time.Millisecond), c.sndMax)
	rs = rec.rs
	if rs.Delivered != 2*1460 || rs.PriorDelivered != 4*1460 || rs.Interval != 15*time.Millisecond || !rs.IsAppLimited || rs.RTT != 15*time.Millisecond {
		t.Fatalf("second sample %+v", rs)
	}
	if c.ccs.MinRTT != 10*time.Millisecond {
		t.Fatalf("min RTT %v, want 10ms", c.ccs.MinRTT)
	}
}

// Pacing: with a rate of 1 MB/s a send carries 2 segments (1 ms worth,
// at least 2 MSS), the next one going 2.92 ms later on the pacing
// deadline (Deadline, HandleTimer); nothing is sent early.
func TestPacing_SpacesBursts(t *testing.T) {
	c, rec, sink, now := newRecConn(t, func(cfg *Config) { cfg.GSOMaxSize = 65536 })
	rec.rate = 1000000
	c.Write(now, make([]byte, 16*1460))
	if len(sink.out) != 1 || len(sink.out[0].Payload) != 2*1460 {
		t.Fatalf("first send: %d segments, want one of 2 MSS", len(sink.out))
	}
	gap := time.Duration(2*1460) * time.Second / 1000000
	if d := c.Deadline(); !d.Equal(now.Add(gap)) {
		t.Fatalf("deadline %v after the burst, want %v", d.Sub(now), gap)
	}
	c.HandleTimer(now.Add(gap - time.Nanosecond))
	if len(sink.out) != 1 {
		t.Fatalf("sent before the pacing deadline")
	}
	for i := 1; i < 5; i++ {
		at := now.Add(time.Duration(i) * gap)
		c.HandleTimer(at)
		if len(sink.out) != i+1 || len(sink.out[i].Payload) != 2*1460 {
			t.Fatalf("burst %d: %d sends", i, len(sink.out))
		}
	}
	// A timer that fires late is caught up with: the next deadline counts
	// from the schedule, not from the late send.
	late := now.Add(5*gap + 500*time.Microsecond)
	c.HandleTimer(late)
	if d := c.Deadline(); len(sink.out) != 6 || !d.Equal(now.Add(6*gap)) {
		t.Fatalf("after a send 0.5 ms late: %d sends, deadline %v, want 6 and %v", len(sink.out), d.Sub(now), 6*gap)
	}
	// Without a rate the whole window goes at once, as one GSO segment.
	c2, _, sink2, now2 := newRecConn(t, func(cfg *Config) { cfg.GSOMaxSize = 65536 })
	c2.Write(now2, make([]byte, 10*1460))
	if len(sink2.out) != 1 || len(sink2.out[0].Payload) != 10*1460 {
		t.Fatalf("unpaced: %d sends", len(sink2.out))
	}
}

// Pacing keeps its schedule when every timer fires late, even later than
// 1 ms (the runtime's short timers fire up to about 1.1 ms late): each
// burst goes at its deadline plus the lateness, and the next deadline
// counts from the schedule. Counting from the late send instead (as for
// any send more than 1 ms late before) paced 10 bursts over 9 x (gap +
// 1.2 ms): 0.71 of the rate at 1 MB/s.
func TestPacing_LateTimersKeepTheRate(t *testing.T) {
	c, rec, sink, now := newRecConn(t, func(cfg *Config) { cfg.GSOMaxSize = 65536 })
	rec.rate = 1000000
	c.Write(now, make([]byte, 20*1460))
	gap := time.Duration(2*1460) * time.Second / 1000000 // one burst of 2 MSS at the rate
	const late = 1200 * time.Microsecond
	at := now
	for i := 1; i <= 9; i++ {
		d := c.Deadline()
		c.HandleTimer(d.Add(late))
		at = d.Add(late)
		if len(sink.out) != i+1 || len(sink.out[i].Payload) != 2*1460 {
			t.Fatalf("burst %d: %d sends", i, len(sink.out))
		}
	}
	if got := at.Sub(now); got != 9*gap+late {
		t.Fatalf("10 bursts took %v, want %v (9 x %v + %v)", got, 9*gap+late, gap, late)
	}
	// A sender that waited long (here for the application) catches up at
	// most paceCatchUp: the burst after the wait is followed paceCatchUp early, not by a window.
	c2, rec2, sink2, now2 := newRecConn(t, func(cfg *Config) { cfg.GSOMaxSize = 65536 })
	rec2.rate = 1000000
	c2.Write(now2, make([]byte, 2*1460))
	idle := now2.Add(50 * time.Millisecond)
	c2.HandleTimer(idle)
	c2.Write(idle, make([]byte, 16*1460))
	if len(sink2.out) != 2 || c2.Deadline().Sub(idle) != gap-paceCatchUp {
		t.Fatalf("after 50 ms: %d sends, next deadline in %v, want 2 and %v", len(sink2.out), c2.Deadline().Sub(idle), gap-paceCatchUp)
	}
}

// A Conn that has sent nothing carries no congestion or loss recovery
// state, and Info (which the runtime's statistics call for every Conn)
// reports the algorithm's initial window without creating it.
func TestIdleConnHasNoSenderState(t *testing.T) {
	cfg := DefaultConfig()
	c, _ := uEstablished(t, &cfg, &uSink{})
	in := c.Info()
	if c.ccBox != nil || c.ackState != nil {
		t.Fatalf("congestion state %v, loss recovery state %v after the handshake and Info", c.ccBox != nil, c.ackState != nil)
	}
	cc, _ := NewCongestionControl("")
	s := CCState{MSS: uint32(c.sndMSS)}
	cc.Init(&s)
	if in.Cwnd != s.Cwnd || in.Cwnd == 0 || in.CongestionControl != cc.Name() {
		t.Fatalf("Info: cwnd %d, algorithm %q; want the initial window %d, %q", in.Cwnd, in.CongestionControl, s.Cwnd, cc.Name())
	}
}
