package tcp

import (
	"math/rand/v2"
	"testing"
)

// TestRcvRingModel drives the receive ring as the receiver does — text
// written at its offset in order and out of order, RCV.NXT advanced over
// what is contiguous, the application reading in random amounts, the ring
// released when it runs empty — against a model of the byte stream, across
// the switch from one small block to blocks and through many wraps: every
// byte read is the byte written at its position, and the blocks read past
// are given back.
func TestRcvRingModel(t *testing.T) {
	pat := func(abs int) byte { return byte(abs*7 + abs>>9) }
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 9))
		var r rcvRing
		window := []int{3000, 60000, 700000, 3 << 20, 128 << 10, 1 << 20}[seed]
		consumed := 0             // absolute position of logical offset 0
		written := map[int]bool{} // absolute positions at or beyond consumed+n
		extent := 0               // logical offsets [0, extent) may hold content
		buf := make([]byte, window)
		for step := range 4000 {
			switch op := rng.IntN(10); {
			case op < 6: // a segment arrives
				off := r.n
				if rng.IntN(3) == 0 {
					off += rng.IntN(window / 2)
				}
				l := 1 + rng.IntN(min(1448*4, window/4))
				if off+l > window {
					continue
				}
				if !r.reserve(off+l, extent, pow2Ceil(window)) {
					t.Fatalf("seed %d step %d: reserve %d refused", seed, step, off+l)
				}
				p := make([]byte, l)
				for i := range p {
					p[i] = pat(consumed + off + i)
					written[consumed+off+i] = true
				}
				r.writeAt(off, p)
				extent = max(extent, off+l)
				for written[consumed+r.n] { // RCV.NXT moves over what is contiguous
					delete(written, consumed+r.n)
					r.n++
				}
			default: // the application reads
				k := r.read(buf[:rng.IntN(len(buf))+1])
				for i := range k {
					if buf[i] != pat(consumed+i) {
						t.Fatalf("seed %d step %d: byte %d read as %d, want %d", seed, step, consumed+i, buf[i], pat(consumed+i))
					}
				}
				consumed += k
				extent = max(extent-k, 0)
				if r.n == 0 && len(written) == 0 {
					r.release()
					extent = 0
					if r.blocks != nil {
						t.Fatalf("seed %d: release kept memory", seed)
					}
				}
			}
			if r.chunked() {
				// Only blocks from the start's to the extent's are held.
				if max := (r.start&(rcvChunk-1) + extent + rcvChunk - 1) / rcvChunk; r.allocated() > max*rcvChunk {
					t.Fatalf("seed %d step %d: %d bytes allocated for an extent of %d", seed, step, r.allocated(), extent)
				}
			}
		}
	}
}

// TestRcvRingGrowsWithoutCopying: once the ring is made of blocks, growing
// it keeps every block where it was (no byte is copied), and a small ring
// stays one small block.
func TestRcvRingGrowsWithoutCopying(t *testing.T) {
	var r rcvRing
	r.reserve(100, 0, 1<<23)
	r.writeAt(0, make([]byte, 100))
	if r.chunked() || r.allocated() != 1<<minBufShift {
		t.Fatalf("100 bytes: %d blocks, %d bytes allocated; want one 4 KiB block", len(r.blocks), r.allocated())
	}
	r.reserve(1<<20, 100, 1<<23)
	r.writeAt(0, make([]byte, 1<<20))
	first := &r.blocks[0][0]
	r.reserve(5<<20, 1<<20, 1<<23)
	if &r.blocks[0][0] != first || r.allocated() != 1<<20 {
		t.Fatalf("growing to 5 MiB moved the first block or allocated %d bytes", r.allocated())
	}
}
