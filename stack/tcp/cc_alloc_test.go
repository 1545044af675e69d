//go:build !race

package tcp

import (
	"testing"
	"time"
)

// The algorithms run on every ACK: they must not allocate (cc.go).

// ccAckLoop returns a function that delivers one more ACK on an ACK clock
// (a 1 ms RTT, the window kept full), for AllocsPerRun and benchmarks.
func ccAckLoop(cc CongestionControl) func() {
	s := &CCState{MSS: ccMSS, Now: ccT0, SRTT: time.Millisecond, MinRTT: time.Millisecond}
	cc.Init(s)
	rs := &RateSample{}
	n := 0
	return func() {
		n++
		s.Now = s.Now.Add(10 * time.Microsecond)
		s.SndUna = s.SndUna.Add(ccMSS)
		s.SndNxt = s.SndUna.Add(s.Cwnd)
		s.Delivered += ccMSS
		s.Inflight = s.Cwnd
		s.RTT = time.Millisecond + time.Duration(n%7)*time.Microsecond
		*rs = RateSample{
			PriorDelivered: s.Delivered - 100*ccMSS, Delivered: 100 * ccMSS, Interval: time.Millisecond,
			TxInFlight: s.Cwnd, RTT: s.RTT, AckedSacked: ccMSS, PriorInFlight: s.Cwnd,
		}
		cc.OnAck(s, rs)
		_ = cc.PacingRate(s)
		if n%5000 == 0 {
			cc.OnCongestionEvent(s)
			s.Cwnd = s.Ssthresh
			cc.OnRecoveryExit(s)
		}
	}
}

func testCCZeroAllocs(t *testing.T, name string) {
	cc, err := NewCongestionControl(name)
	if err != nil {
		t.Fatal(err)
	}
	step := ccAckLoop(cc)
	if a := testing.AllocsPerRun(20000, step); a != 0 {
		t.Fatalf("%s: OnAck allocates %.2f times per ACK, want 0", name, a)
	}
}

func TestCubicOnAckZeroAllocs(t *testing.T) { testCCZeroAllocs(t, "cubic") }

func benchCCOnAck(b *testing.B, name string) {
	cc, err := NewCongestionControl(name)
	if err != nil {
		b.Fatal(err)
	}
	step := ccAckLoop(cc)
	b.ReportAllocs()
	for b.Loop() {
		step()
	}
}

func BenchmarkCubicOnAck(b *testing.B) { benchCCOnAck(b, "cubic") }

func TestBBROnAckZeroAllocs(t *testing.T) { testCCZeroAllocs(t, "bbr") }

func BenchmarkBBROnAck(b *testing.B) { benchCCOnAck(b, "bbr") }
