package stack

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// queueLink is a ReadAheadLink over a slice of waiting packets.
type queueLink struct {
	OffloadLink
	q [][]byte
}

func (l *queueLink) TryReadPacket(p []byte) (int, bool, bool, error) {
	if len(l.q) == 0 {
		return 0, false, false, nil
	}
	n := copy(p, l.q[0])
	l.q = l.q[1:]
	return n, n%2 == 0, true, nil
}

// TestReadAheadArenaFIFO drives the arena with random packet sizes (up to
// the largest a read may return), random arrivals and random processing,
// on a small arena so that it fills and wraps thousands of times: every
// packet comes out once, whole, in arrival order, with its checksum flag.
func TestReadAheadArenaFIFO(t *testing.T) {
	for _, tc := range []struct{ size, slots, max int }{
		{1 << 14, 64, 1500},    // bound by bytes
		{1 << 16, 8, 1500},     // bound by records
		{200_000, 1024, 65536}, // super-segments: few fit
	} {
		r := readAhead{max: tc.max, mtu: tc.max, segSize: max(tc.size/4, 2*tc.max), maxSegs: 4, recs: make([]raRec, tc.slots)}
		rng := rand.New(rand.NewPCG(1, uint64(tc.size)))
		l := &queueLink{}
		var want [][]byte // arrived, not yet processed, in order
		next := 0
		wraps := 0
		for step := 0; step < 4000; step++ {
			for k := rng.IntN(6); k > 0; k-- { // arrivals
				n := 1 + rng.IntN(tc.max)
				if rng.IntN(4) == 0 {
					n = 40 + rng.IntN(60) // small ones: ACKs
				}
				p := make([]byte, n)
				for i := range p {
					p[i] = byte(next*7 + i)
				}
				next++
				l.q = append(l.q, p)
				want = append(want, p)
			}
			before := r.cur
			r.fill(l, &counters{})
			if r.cur != before {
				wraps++ // the next segment
			}
			inArena := len(want) - len(l.q)
			if r.count != inArena {
				t.Fatalf("%+v step %d: %d packets held, %d moved", tc, step, r.count, inArena)
			}
			for k := rng.IntN(5); k > 0 && r.count > 0; k-- { // processing
				got, csum := r.front()
				if !bytes.Equal(got, want[0]) || csum != (len(want[0])%2 == 0) {
					t.Fatalf("%+v step %d: packet of %d bytes came out as %d bytes (csum %v)", tc, step, len(want[0]), len(got), csum)
				}
				r.pop()
				want = want[1:]
			}
		}
		if wraps < 20 {
			t.Errorf("%+v: the arena wrapped only %d times", tc, wraps)
		}
	}
}

// TestReadAheadFull: a full arena takes nothing more, and the device keeps
// what it could not take; a segment is taken again once every packet in
// it was processed.
func TestReadAheadFull(t *testing.T) {
	r := readAhead{max: 1500, mtu: 1500, segSize: 5 * 1500, maxSegs: 2, recs: make([]raRec, 100)}
	l := &queueLink{}
	for range 30 {
		l.q = append(l.q, make([]byte, 1500))
	}
	var ctr counters
	if n := r.fill(l, &ctr); n != 10 || len(l.q) != 20 {
		t.Fatalf("moved %d, %d left in the device; want 10 and 20", n, len(l.q))
	}
	if ctr.readAhead.Load() != 10 || ctr.readAheadFull.Load() != 1 || ctr.readAheadPeak.Load() != 10 {
		t.Fatalf("counters: %d read ahead, %d full, peak %d; want 10, 1, 10", ctr.readAhead.Load(), ctr.readAheadFull.Load(), ctr.readAheadPeak.Load())
	}
	for range 4 {
		r.pop()
	}
	if n := r.fill(l, &counters{}); n != 0 || len(l.q) != 20 {
		t.Fatalf("after four processed: moved %d, %d left; want 0 and 20 (their segment still holds one)", n, len(l.q))
	}
	r.pop()
	if n := r.fill(l, &counters{}); n != 5 || len(l.q) != 15 {
		t.Fatalf("after five processed: moved %d, %d left; want 5 and 15", n, len(l.q))
	}
}

// TestReadAheadStopsAtSuperSegment: a packet longer than the MTU (the
// device coalesced it) ends the look ahead: its queue holds 64 KiB per
// packet, and the arena would only fill with them.
func TestReadAheadStopsAtSuperSegment(t *testing.T) {
	r := readAhead{max: 65536, mtu: 1500}
	l := &queueLink{q: [][]byte{make([]byte, 100), make([]byte, 1500), make([]byte, 30000), make([]byte, 100)}}
	if n := r.fill(l, &counters{}); n != 3 || len(l.q) != 1 {
		t.Fatalf("moved %d, %d left; want 3 (up to the super-segment) and 1", n, len(l.q))
	}
}

// TestReadAheadStaysLow: a backlog that never drains (one packet in, one
// out) cycles through two segments of the arena, never allocating more.
func TestReadAheadStaysLow(t *testing.T) {
	r := readAhead{max: 65536, mtu: 1500}
	l := &queueLink{}
	most := 0
	for i := range 100000 {
		l.q = append(l.q, make([]byte, 100+i%1400))
		if i < 5 {
			continue // a standing backlog of five
		}
		r.fill(l, &counters{})
		most = max(most, r.segs)
		r.pop()
	}
	if most > 2 {
		t.Fatalf("a standing backlog of five packets used %d segments of the arena", most)
	}
}
