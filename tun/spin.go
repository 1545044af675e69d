package tun

import "sync/atomic"

// spinHistory decides whether busy polling (Config.BusyPoll) is worth it
// for the traffic the device sees now. A spin pays off when the next packet
// tends to arrive within the polling budget: request/response exchanges
// and bulk transfers on a fast path. On a slow or long path (a 100 Mbit/s
// bottleneck delivers a packet every ~120 us, a WAN path's ACKs come in
// bursts a round trip apart) almost every spin runs its budget out and
// then parks anyway: through the benchmark's emulated 100 Mbit/s path
// (run.sh --path 'rate=100mbit,queue=50ms,rtt=20ms', 10 s each way) the
// server used 8.0 / 4.9 CPU-s for upload / download spinning so, 4.6 / 3.1
// with this rule and 4.5 / 2.9 with --busy-poll 0, at the same rate; on
// the clean local path nothing changed (echo p50 20 us, 17 / 21 Gbit/s). So the device keeps a decayed
// count of recent spins and of those that found a packet, and once fewer
// than a quarter of them did, a read that finds the device empty parks at
// once; one read in every spinRetry still spins, so that polling resumes
// when traffic becomes dense again. Safe for concurrent readers (the
// counts are approximate then).
type spinHistory struct {
	spins, hits atomic.Uint32 // recent spins, and those that found a packet
	skipped     atomic.Uint32 // reads that parked without spinning since the last spin
}

const (
	spinWarmup = 8  // spins before the hit rate is trusted
	spinWindow = 32 // the counts halve when spins reach this: a moving window
	spinRetry  = 16 // while spinning does not pay, one read in this many still spins
)

// allow reports whether a read that found the device empty should spin.
func (h *spinHistory) allow() bool {
	spins := h.spins.Load()
	if spins < spinWarmup || 4*h.hits.Load() >= spins {
		return true
	}
	if h.skipped.Add(1) >= spinRetry {
		h.skipped.Store(0)
		return true
	}
	return false
}

// record notes how a spin ended: hit if it found a packet, not if it ran
// its budget out.
func (h *spinHistory) record(hit bool) {
	s := h.spins.Add(1)
	if hit {
		h.hits.Add(1)
	}
	if s >= spinWindow {
		h.spins.Store(s / 2)
		h.hits.Store(h.hits.Load() / 2)
	}
}
