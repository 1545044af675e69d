package netsim

import (
	"testing"
	"time"
)

// BBR on the benchmark's bottleneck path (100 Mbit/s, 20 ms, a 50 ms
// queue) with 1 ms of timing jitter on the ACKs, as a real host adds
// (the emulator's and the endpoints' wake-ups): the highest delivery-rate
// samples then read about 2 % above the bottleneck, and ProbeBW_CRUISE
// must not keep pacing at that rate until the queue holds a whole cwnd
// (cc_bbr_probebw.go resumeProbeBWDown; 10.5 ms mean queue wait before,
// 1.6 ms without jitter).
func TestSimBBRJitterQueue(t *testing.T) {
	c := Cell{Rate: 100 * mbit, RTT: 20 * time.Millisecond}
	ab, ba := c.Paths(1)
	ba.Jitter = time.Millisecond
	r := Run(Options{AB: ab, BA: ba, Config: c.Config(Algo{CC: "bbr", SACK: true, RACK: true}),
		Bytes: 200 << 20, Limit: 15 * time.Second, Seed: 1})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	const payload = 100e6 * 1448 / 1514 // the bottleneck's TCP payload rate
	wait := r.AB.MeanWait()
	t.Logf("goodput %.1f Mbit/s, mean queue wait %v, queue drops %d", r.Goodput()/1e6, wait, r.AB.QueueDrops)
	if wait > 5*time.Millisecond {
		t.Errorf("mean queue wait %v, want at most 5 ms", wait)
	}
	if g := r.Goodput(); g < 0.9*payload {
		t.Errorf("goodput %.1f Mbit/s, want at least 90 %% of %.1f", g/1e6, payload/1e6)
	}
}
