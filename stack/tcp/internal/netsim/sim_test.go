package netsim

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

func symmetric(p Path) (ab, ba Path) {
	ba = p
	ba.Seed = p.Seed + 1
	return p, ba
}

// bigBuffers returns the default configuration with buffers of n bytes.
func bigBuffers(n int) *tcp.Config {
	cfg := tcp.DefaultConfig()
	cfg.SendBufferSize, cfg.RecvBufferSize = n, n
	return &cfg
}

// The handshake takes one round trip of the path: exactly the RTT without
// a bottleneck, plus the SYN's and SYN-ACK's serialisation with one.
func TestSimHandshakeDelay(t *testing.T) {
	for _, rtt := range []time.Duration{100 * time.Microsecond, 40 * time.Millisecond, 200 * time.Millisecond} {
		ab, ba := symmetric(Path{Delay: rtt / 2})
		r := Run(Options{AB: ab, BA: ba, Bytes: 1000, Close: true})
		if r.Err != nil || !r.Done {
			t.Fatalf("rtt %v: %v done=%v", rtt, r.Err, r.Done)
		}
		if r.Handshake != rtt {
			t.Errorf("rtt %v: handshake took %v", rtt, r.Handshake)
		}
		// 1000 bytes: one more round trip for the data; B reads it when
		// it arrives, half a round trip after that.
		if want := rtt + rtt/2; r.Elapsed != want {
			t.Errorf("rtt %v: 1000 bytes read after %v, want %v", rtt, r.Elapsed, want)
		}
		const rate = 1 * mbit
		ab, ba = symmetric(Path{Delay: rtt / 2, Rate: rate})
		r = Run(Options{AB: ab, BA: ba, Bytes: 1000})
		// A SYN's frame is 14 + 20 + 20 + at most 40 bytes of options.
		ser := time.Duration((14 + 80) * 8 * int64(time.Second) / rate)
		if r.Err != nil || r.Handshake <= rtt || r.Handshake > rtt+2*ser {
			t.Errorf("rtt %v at 1 Mbit/s: handshake took %v (%v), want in (%v, %v]", rtt, r.Handshake, r.Err, rtt, rtt+2*ser)
		}
	}
}

// Same options, same result, counters and timings included; another seed
// gives another run.
func TestSimDeterministic(t *testing.T) {
	ab, ba := symmetric(Path{Delay: 5 * time.Millisecond, Rate: 50 * mbit, Loss: 0.02, Reorder: 0.02, Seed: 5})
	o := Options{AB: ab, BA: ba, Bytes: 2 << 20, Close: true, Seed: 5, Config: bigBuffers(1 << 20)}
	r1, r2 := Run(o), Run(o)
	if r1.Err != nil || !r1.Done {
		t.Fatalf("run failed: %v", r1.Err)
	}
	if !reflect.DeepEqual(r1, r2) {
		t.Fatalf("same seed, different results:\n%+v\n%+v", r1, r2)
	}
	o.AB.Seed, o.BA.Seed = 6, 7
	if r3 := Run(o); r3.AB == r1.AB && r3.Elapsed == r1.Elapsed {
		t.Fatalf("another seed gave the same run: %+v", r3.AB)
	}
}

// Through a 100 Mbit/s bottleneck with a queue too large to overflow, the
// transfer completes near the rate and never above it: the frames on the
// link stay under the rate, the goodput under the payload's share of it.
func TestSimRateLimitedTransfer(t *testing.T) {
	const rate = 100 * mbit
	ab, ba := symmetric(Path{Delay: 5 * time.Millisecond, Rate: rate, QueueBytes: 64 << 20})
	r := Run(Options{AB: ab, BA: ba, Bytes: 16 << 20, Config: bigBuffers(8 << 20)})
	if r.Err != nil || !r.Done || r.Delivered != 16<<20 {
		t.Fatalf("%v done=%v delivered %d", r.Err, r.Done, r.Delivered)
	}
	if r.AB.QueueDrops != 0 {
		t.Fatalf("%d queue drops with a 64 MB queue", r.AB.QueueDrops)
	}
	if fr := float64(r.AB.FrameBytes*8) / r.Elapsed.Seconds(); fr > rate {
		t.Fatalf("frames crossed at %.2f Mbit/s, above the %d Mbit/s rate", fr/mbit, rate/mbit)
	}
	mss := float64(r.Sender.SndMSS)
	ceiling := rate * mss / (mss + FrameOverhead + 40)
	if g := r.Goodput(); g > ceiling || g < 0.8*ceiling {
		t.Fatalf("goodput %.2f Mbit/s, want at most and near the payload ceiling %.2f", g/mbit, ceiling/mbit)
	}
}

// The loss the engines see on their data path is the configured rate.
func TestSimLossObserved(t *testing.T) {
	const p = 0.03
	ab, ba := symmetric(Path{Delay: time.Millisecond, Loss: p, Seed: 11})
	r := Run(Options{AB: ab, BA: ba, Bytes: 8 << 20, Close: true, Seed: 11})
	if r.Err != nil || !r.Done || r.Delivered != 8<<20 {
		t.Fatalf("%v done=%v delivered %d", r.Err, r.Done, r.Delivered)
	}
	for name, st := range map[string]LinkStats{"A->B": r.AB, "B->A": r.BA} {
		obs := float64(st.Lost) / float64(st.Packets)
		if tol := 5 * math.Sqrt(p*(1-p)/float64(st.Packets)); math.Abs(obs-p) > tol {
			t.Errorf("%s: %d of %d packets lost (%.4f), want %.2f within %.4f", name, st.Lost, st.Packets, obs, p, tol)
		}
	}
	if r.Sender.Retransmits < r.AB.Lost {
		t.Errorf("the sender retransmitted %d segments, fewer than the %d lost", r.Sender.Retransmits, r.AB.Lost)
	}
}

// The stream check catches bytes at the wrong offset, changed or past the
// end.
func TestSimStreamCheck(t *testing.T) {
	s := newStream(1, 3*streamBlock+10)
	v := newStream(1, 3*streamBlock+10)
	p := append([]byte(nil), s.at(streamBlock-5)...) // the last 5 bytes of block 0
	p = append(p, s.at(streamBlock)[:100]...)
	if !v.matches(streamBlock-5, p) {
		t.Fatal("the stream's own bytes do not match")
	}
	if v.matches(2*streamBlock-5, p) || v.matches(streamBlock-4, p) {
		t.Fatal("bytes match at another offset")
	}
	p[50] ^= 1
	if v.matches(streamBlock-5, p) {
		t.Fatal("a flipped bit matches")
	}
	if v.matches(3*streamBlock+5, s.at(3*streamBlock)) {
		t.Fatal("bytes past the end match")
	}
	if other := newStream(2, 100); other.matches(0, newStream(1, 100).at(0)) {
		t.Fatal("another seed's stream matches")
	}
}

// Options.Trace only observes: a run that reads A's counters every 10 ms
// from before the first data segment is the same run, byte for byte and
// to the nanosecond, as one that does not. (Conn.Info used to create the
// congestion state when the Conn had not sent yet, at the zero time: BBR
// then started in ProbeRTT, 4 segments for 200 ms.)
func TestSimTraceOnlyObserves(t *testing.T) {
	for _, cc := range []string{"bbr", "cubic", "newreno"} {
		c := Cell{Rate: 100 * mbit, RTT: 40 * time.Millisecond}
		o := c.Options(Algo{Name: cc, CC: cc, SACK: true}, Budget{Seconds: 1, MaxBytes: 4 << 20}, 1)
		plain := Run(o)
		var calls int
		var first tcp.Info
		o.Trace = func(_ time.Duration, i tcp.Info, _ LinkStats) {
			if calls == 0 {
				first = i
			}
			calls++
		}
		o.TraceEvery = 10 * time.Millisecond
		traced := Run(o)
		if plain.Err != nil || !plain.Done || traced.Err != nil || !traced.Done {
			t.Fatalf("%s: plain %v done=%v, traced %v done=%v", cc, plain.Err, plain.Done, traced.Err, traced.Done)
		}
		if calls < 10 || first.CongestionControl != cc || first.Cwnd == 0 {
			t.Fatalf("%s: %d trace calls, first %s cwnd %d", cc, calls, first.CongestionControl, first.Cwnd)
		}
		if plain.Elapsed != traced.Elapsed || plain.Sender.SegsOut != traced.Sender.SegsOut ||
			plain.Sender.Cwnd != traced.Sender.Cwnd || plain.Sender.PacingRate != traced.Sender.PacingRate {
			t.Errorf("%s: tracing changed the run: %v, %d segments, cwnd %d, pacing %d; traced %v, %d, %d, %d", cc,
				plain.Elapsed, plain.Sender.SegsOut, plain.Sender.Cwnd, plain.Sender.PacingRate,
				traced.Elapsed, traced.Sender.SegsOut, traced.Sender.Cwnd, traced.Sender.PacingRate)
		}
	}
}
