package tcp

// nextSize returns the block size to hold need bytes: a power of two of at
// least 4 KiB, or max itself when that is smaller than the power of two.
func nextSize(need, max int) int {
	s := 1 << minBufShift
	for s < need {
		s <<= 1
	}
	if s > max {
		s = max
	}
	return s
}

// pow2Ceil returns the smallest power of two >= n (n > 0).
func pow2Ceil(n int) int {
	s := 1
	for s < n {
		s <<= 1
	}
	return s
}

// ring is a byte ring buffer. The n bytes at logical offsets [0, n) from
// head are committed (readable, or queued for sending); the receive side
// also parks out-of-order bytes at offsets beyond n (see assembler). buf is
// nil while the ring holds nothing.
type ring struct {
	buf  []byte
	head int
	n    int
	// rel, if set, takes the blocks the ring lets go of instead of the
	// free list (the send ring of a Conn whose Sink is a BufferReleaser).
	rel BufferReleaser
}

// free lets go of a block that held (or copied) ring content.
func (r *ring) free(b []byte) {
	if r.rel != nil {
		r.rel.ReleaseBuffer(b)
		return
	}
	putBuf(b)
}

func (r *ring) idx(off int) int {
	i := r.head + off
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return i
}

// reserve makes room for logical offsets [0, need), preserving the content
// at [0, keep). It returns false if need exceeds max.
func (r *ring) reserve(need, keep, max int) bool {
	if need <= len(r.buf) {
		return true
	}
	if need > max {
		return false
	}
	nb := getBuf(nextSize(need, max))
	if keep > 0 {
		a, b := r.peek(0, keep)
		copy(nb[copy(nb, a):], b)
	}
	if r.buf != nil {
		r.free(r.buf)
	}
	r.buf = nb
	r.head = 0
	return true
}

// peek returns the bytes at logical offsets [off, off+n) as one or two
// slices aliasing the ring. The caller guarantees the range is reserved.
func (r *ring) peek(off, n int) (a, b []byte) {
	if n <= 0 {
		return nil, nil
	}
	i := r.idx(off)
	if i+n <= len(r.buf) {
		return r.buf[i : i+n], nil
	}
	return r.buf[i:], r.buf[:n-(len(r.buf)-i)]
}

// writeAt copies p to logical offset off; the range must be reserved.
func (r *ring) writeAt(off int, p []byte) {
	a, b := r.peek(off, len(p))
	copy(b, p[copy(a, p):])
}

// read moves up to len(p) committed bytes into p and consumes them.
func (r *ring) read(p []byte) int {
	n := min(len(p), r.n)
	a, b := r.peek(0, n)
	copy(p[copy(p, a):], b)
	r.discard(n)
	return n
}

// discard consumes n committed bytes.
func (r *ring) discard(n int) {
	if n <= 0 {
		return
	}
	r.head = r.idx(n)
	r.n -= n
}

// release returns the memory if nothing at all is held (the caller checks
// there are no out-of-order bytes either).
func (r *ring) release() {
	if r.n == 0 && r.buf != nil {
		r.free(r.buf)
		r.buf = nil
		r.head = 0
	}
}
