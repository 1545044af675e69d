package tun

import "testing"

// spinHistory: spinning continues while at least a quarter of recent spins
// find a packet; once they mostly run out, reads park without spinning,
// except one in spinRetry, and spinning resumes when hits come back.
func TestSpinHistory(t *testing.T) {
	var h spinHistory
	for i := range spinWarmup {
		if !h.allow() {
			t.Fatalf("spin %d refused during warm-up", i)
		}
		h.record(false)
	}
	// Every spin missed: only one read in spinRetry spins.
	spun := 0
	for range 10 * spinRetry {
		if h.allow() {
			spun++
			h.record(false)
		}
	}
	if spun != 10 {
		t.Fatalf("%d of %d reads spun with every spin missing, want %d", spun, 10*spinRetry, 10)
	}
	// Dense traffic again: the retries hit, and spinning resumes for every
	// read once a quarter of the window is hits.
	for range 20 * spinRetry {
		if h.allow() {
			h.record(true)
		}
	}
	for i := range 100 {
		if !h.allow() {
			t.Fatalf("read %d refused a spin after hits came back (spins %d hits %d)", i, h.spins.Load(), h.hits.Load())
		}
		h.record(i%3 == 0) // a third of the spins hit: still worth it
	}
}
