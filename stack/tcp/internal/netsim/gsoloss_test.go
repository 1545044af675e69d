package netsim

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack/tcp"
)

// Issue 9's nftables case in the simulation: with Config.GSOMaxSize both
// engines hand the link super-segments of up to 44 MSS, and the link drops
// each one whole, so a 3 % packet loss each way is a loss of bursts. RACK
// with SACK must repair them in fast recovery (the tail ones by a loss
// probe): fast recoveries outnumber RTO expiries at least 10 to 1, as the
// integration test (TestLossRecoveryNftables) asks of the kernel peer. Seeds
// are fixed: each run is one deterministic trace.
func TestSimGSOBurstLossRecoveredFast(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.GSOMaxSize = 65000
	var fast, rto uint64
	for seed := uint64(1); seed <= 4; seed++ {
		ab, ba := symmetric(Path{Delay: 5 * time.Millisecond, Loss: 0.03, Seed: seed})
		r := Run(Options{AB: ab, BA: ba, Bytes: 16 << 20, Seed: seed, Config: &cfg})
		if r.Err != nil || !r.Done || r.Delivered != 16<<20 {
			t.Fatalf("seed %d: %v done=%v delivered %d", seed, r.Err, r.Done, r.Delivered)
		}
		s := r.Sender
		t.Logf("seed %d: %d packets lost of %d; %d fast recoveries, %d RTO expiries, %d RACK losses, %d TLP probes, %.1f Mbit/s",
			seed, r.AB.Lost, r.AB.Packets, s.FastRetransmits, s.RTOExpiries, s.RACKLosses, s.TLPProbes, r.Goodput()/1e6)
		fast += s.FastRetransmits
		rto += s.RTOExpiries
	}
	if fast == 0 || fast < 10*rto {
		t.Errorf("%d fast recoveries and %d RTO expiries over the seeds: want at least 10 to 1", fast, rto)
	}
}
