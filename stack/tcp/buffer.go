package tcp

import (
	"math/bits"
	"sync"
)

// Buffer memory.
//
// An idle connection should cost little: a Conn holds no buffer memory while
// its send and receive buffers are empty. Memory is taken from a small,
// bounded, package-wide free list of power-of-two blocks (4 KiB .. 1 MiB)
// when data arrives or is written, grows by doubling up to the configured
// bound, and goes back to the free list as soon as the buffer is empty
// again. The free list makes the empty/non-empty cycle of a streaming
// connection allocation-free; it is guarded by a mutex (taken only on those
// transitions, never per byte) rather than sync.Pool so that reuse is
// deterministic (sync.Pool drops items at random under the race detector).

const (
	minBufShift = 12 // 4 KiB
	maxBufShift = 20 // 1 MiB; larger blocks are left to the GC
	numClasses  = maxBufShift - minBufShift + 1
	// poolBytesPerClass bounds the memory parked in each class.
	poolBytesPerClass = 2 << 20
)

type bufPool struct {
	mu   sync.Mutex
	free [numClasses][][]byte
}

var pool bufPool

// classOf returns the class of a block of exactly size bytes, or -1.
func classOf(size int) int {
	if size < 1<<minBufShift || size > 1<<maxBufShift || size&(size-1) != 0 {
		return -1
	}
	return bits.TrailingZeros(uint(size)) - minBufShift
}

func getBuf(size int) []byte {
	if c := classOf(size); c >= 0 {
		pool.mu.Lock()
		l := pool.free[c]
		if n := len(l); n > 0 {
			b := l[n-1]
			l[n-1] = nil
			pool.free[c] = l[:n-1]
			pool.mu.Unlock()
			return b
		}
		pool.mu.Unlock()
	}
	return make([]byte, size)
}

func putBuf(b []byte) {
	c := classOf(cap(b))
	if c < 0 {
		return
	}
	b = b[:cap(b)]
	pool.mu.Lock()
	if (len(pool.free[c])+1)*len(b) <= poolBytesPerClass {
		pool.free[c] = append(pool.free[c], b)
	}
	pool.mu.Unlock()
}

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

// ring is a byte ring buffer. The n bytes at logical offsets [0, n) from
// head are committed (readable, or queued for sending); the receive side
// also parks out-of-order bytes at offsets beyond n (see assembler). buf is
// nil while the ring holds nothing.
type ring struct {
	buf  []byte
	head int
	n    int
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
		putBuf(r.buf)
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
		putBuf(r.buf)
		r.buf = nil
		r.head = 0
	}
}
