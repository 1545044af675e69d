package tcp

import "testing"

// TestTrimBuffers: a block parked on the free list survives a trim if it
// was taken since the previous trim, and is dropped by the first trim after
// a whole interval unused; the usage figures follow.
func TestTrimBuffers(t *testing.T) {
	TrimBuffers()
	// Whatever earlier tests parked is gone now; what their unclosed
	// Conns hold (h) stays.
	h := TrimBuffers().Held
	const size = 64 << 10
	a, b := getBuf(size), getBuf(size)
	if u := TrimBuffers(); u.Held != h+2*size || u.Peak != h+2*size || u.Parked != 0 || u.Freed != 0 {
		t.Fatalf("two blocks out: %+v", u)
	}
	putBuf(a)
	putBuf(b)
	// Interval 2: both blocks came back after the last trim: kept.
	if u := TrimBuffers(); u.Held != h || u.Peak != h+2*size || u.Parked != 2*size || u.Freed != 0 {
		t.Fatalf("two blocks back: %+v", u)
	}
	// Interval 3: one block is taken and returned, the other never moves.
	putBuf(getBuf(size))
	if u := TrimBuffers(); u.Held != h || u.Peak != h+size || u.Parked != size || u.Freed != size {
		t.Fatalf("one block reused: %+v", u)
	}
	// Interval 4: nothing used; the last block goes.
	if u := TrimBuffers(); u.Peak != h || u.Parked != 0 || u.Freed != size {
		t.Fatalf("idle interval: %+v", u)
	}
	if l := pool.free[classOf(size)]; l != nil {
		t.Fatalf("free list still has %d blocks and its array", len(l))
	}
	// Blocks outside the classes are counted while held, never parked.
	odd := getBuf(3 << 20)
	if u := TrimBuffers(); u.Held != h+3<<20 {
		t.Fatalf("odd-sized block out: %+v", u)
	}
	putBuf(odd)
	if u := TrimBuffers(); u.Held != h || u.Parked != 0 {
		t.Fatalf("odd-sized block back: %+v", u)
	}
}
