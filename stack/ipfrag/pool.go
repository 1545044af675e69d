package ipfrag

import "math/bits"

// pool recycles fragment buffers by power-of-two size class, so that steady
// reassembly does not allocate. The bytes it keeps count as held memory
// (Reassembler.mem) and are the first to go when a bound is hit.
type pool struct {
	classes [numClasses][][]byte
	bytes   int // total capacity of the buffers kept
	max     int // bound on bytes
}

const (
	minClassShift = 6  // 64 bytes
	maxClassShift = 17 // 128 KiB: an IPv6 packet with a 65535-byte payload
	numClasses    = maxClassShift - minClassShift + 1
	perClass      = 16 // buffers kept per class
)

// classOf returns the size class of an n-byte buffer (n <= 1<<maxClassShift).
func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// get returns a buffer of length n (n <= 1<<maxClassShift), recycled if one of
// its class is kept, and whether it came from the pool.
func (p *pool) get(n int) ([]byte, bool) {
	c := classOf(n)
	if k := len(p.classes[c]); k > 0 {
		b := p.classes[c][k-1]
		p.classes[c][k-1] = nil
		p.classes[c] = p.classes[c][:k-1]
		p.bytes -= cap(b)
		return b[:n], true
	}
	return make([]byte, n, 1<<(c+minClassShift)), false
}

// put keeps b for reuse if there is room and reports whether it did.
func (p *pool) put(b []byte) bool {
	c := classOf(cap(b))
	if cap(b) != 1<<(c+minClassShift) || len(p.classes[c]) >= perClass || p.bytes+cap(b) > p.max {
		return false
	}
	p.classes[c] = append(p.classes[c], b[:0])
	p.bytes += cap(b)
	return true
}

// drain drops every kept buffer and returns the bytes released.
func (p *pool) drain() int {
	n := p.bytes
	for c := range p.classes {
		clear(p.classes[c])
		p.classes[c] = p.classes[c][:0]
	}
	p.bytes = 0
	return n
}
