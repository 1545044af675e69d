package tcp

import (
	"math/bits"
	"sync"
)

// rcvRing is the receive buffer: a byte ring like ring, in which the n
// bytes at logical offsets [0, n) from the start are readable and
// out-of-order bytes sit at their offsets beyond n (see assembler).
//
// Small, it is one block of a power of two of at least 4 KiB, grown by
// copying, as ring is. From rcvChunk bytes on it is a ring of blocks of
// rcvChunk bytes each, addressed through a power-of-two array of block
// pointers: growing it copies pointers, never bytes; a block is taken from
// the pool (pool.go) when the first byte is written into it, and given back
// as soon as the application has read past it. A bulk receiver's buffer
// grows to megabytes in slow start (autotune.go), and one contiguous ring
// grew by allocating the next power of two and copying everything held:
// 1.3 ms for the step to 2 MiB (allocation, page faults, the copy), during
// which the input goroutine read nothing and the TUN's queue overflowed
// (issue 9: a kernel CUBIC sender at 40 ms lost hundreds of packets at the
// TUN that way).
type rcvRing struct {
	blocks [][]byte  // len a power of two; nil entries are not allocated yet
	one    [1][]byte // blocks while the ring is one block
	shift  uint      // the block size is 1 << shift
	start  int       // position of logical offset 0 in [0, len(blocks) << shift)
	n      int       // readable bytes
}

// rcvChunkShift: 16 KiB blocks once the buffer is larger than that. A 6 MiB
// buffer is 384 of them (a 4 KiB pointer array); an echo connection's few
// bytes still take one small block.
const (
	rcvChunkShift = 14
	rcvChunk      = 1 << rcvChunkShift
)

// size is the address space of the ring (not all of it allocated).
func (r *rcvRing) size() int { return len(r.blocks) << r.shift }

// chunked reports whether the ring is made of rcvChunk blocks.
func (r *rcvRing) chunked() bool { return len(r.blocks) > 1 }

// allocated is the memory the ring holds (Info.RecvBufCap).
func (r *rcvRing) allocated() int {
	k := 0
	for _, b := range r.blocks {
		if b != nil {
			k++
		}
	}
	return k << r.shift
}

// reserve makes room for logical offsets [0, need), preserving the content
// at [0, keep) (all content is preserved once the ring is chunked). It
// returns false if need exceeds max.
func (r *rcvRing) reserve(need, keep, max int) bool {
	if r.chunked() {
		// The range must not come round to the start's own block.
		if need+r.start&(rcvChunk-1) <= r.size() {
			return true
		}
	} else if need <= r.size() {
		return true
	}
	if need > max {
		return false
	}
	if !r.chunked() && need <= rcvChunk {
		r.regrowBlock(nextSize(need, rcvChunk), keep)
		return true
	}
	if !r.chunked() {
		// Into blocks: the content moves to the start of a full-sized
		// first block (at most rcvChunk bytes to copy).
		r.regrowBlock(rcvChunk, keep)
	}
	k := pow2Ceil((need + rcvChunk - 1 + rcvChunk) >> rcvChunkShift)
	nb := getBlockArray(k)
	old := len(r.blocks)
	first := r.start >> rcvChunkShift
	for j := range old {
		nb[j] = r.blocks[(first+j)&(old-1)]
	}
	r.start &= rcvChunk - 1
	r.dropBlockArray()
	r.blocks, r.shift = nb, rcvChunkShift
	return true
}

// dropBlockArray lets go of the array of block pointers (not the blocks).
func (r *rcvRing) dropBlockArray() {
	if len(r.blocks) > 1 {
		clear(r.blocks)
		putBlockArray(r.blocks)
	}
	r.one[0] = nil
	r.blocks = nil
}

// regrowBlock replaces the one block (if any) by one of size bytes holding
// the content at [0, keep) from its start.
func (r *rcvRing) regrowBlock(size, keep int) {
	nb := getBuf(size)
	if keep > 0 {
		r.copyOut(nb[:keep], 0)
	}
	if len(r.blocks) == 1 {
		putBuf(r.blocks[0])
	}
	r.one[0] = nb
	r.blocks = r.one[:]
	r.shift = uint(bits.TrailingZeros(uint(size))) // size is a power of two
	r.start = 0
}

// span returns the bytes of the ring at logical offset off up to the end of
// its block (at most n), allocating the block when it has none yet (only
// writes find one missing: every readable byte was written).
func (r *rcvRing) span(off, n int) []byte {
	p := (r.start + off) & (r.size() - 1)
	i, o := p>>r.shift, p&(1<<r.shift-1)
	b := r.blocks[i]
	if b == nil {
		b = getBuf(1 << r.shift)
		r.blocks[i] = b
	}
	return b[o:min(len(b), o+n)]
}

// writeAt copies p to logical offset off; the range must be reserved.
func (r *rcvRing) writeAt(off int, p []byte) {
	for len(p) > 0 {
		k := copy(r.span(off, len(p)), p)
		off, p = off+k, p[k:]
	}
}

// copyOut copies the bytes at logical offsets [off, off+len(p)) into p.
func (r *rcvRing) copyOut(p []byte, off int) {
	for len(p) > 0 {
		k := copy(p, r.span(off, len(p)))
		off, p = off+k, p[k:]
	}
}

// read moves up to len(p) readable bytes into p and consumes them.
func (r *rcvRing) read(p []byte) int {
	n := min(len(p), r.n)
	r.copyOut(p[:n], 0)
	r.discard(n)
	return n
}

// discard consumes n readable bytes; in a chunked ring the blocks read past
// go back to the pool.
func (r *rcvRing) discard(n int) {
	if n <= 0 {
		return
	}
	if r.chunked() {
		first, last := r.start>>rcvChunkShift, (r.start+n)>>rcvChunkShift
		for i := first; i < last; i++ {
			j := i & (len(r.blocks) - 1)
			if b := r.blocks[j]; b != nil {
				putBuf(b)
				r.blocks[j] = nil
			}
		}
	}
	r.start = (r.start + n) & (r.size() - 1)
	r.n -= n
}

// release returns the memory if nothing at all is held (the caller checks
// there are no out-of-order bytes either).
func (r *rcvRing) release() {
	if r.n != 0 || r.blocks == nil {
		return
	}
	for _, b := range r.blocks {
		if b != nil {
			putBuf(b)
		}
	}
	r.dropBlockArray()
	r.start, r.shift = 0, 0
}

// The arrays of block pointers are reused too (a bulk receiver's ring
// runs empty and is released often, and grows back into blocks): a free
// list per power-of-two length, at most blockArraysPerClass each.
const blockArraysPerClass = 64

var blockArrays struct {
	mu   sync.Mutex
	free [32][][][]byte
}

func getBlockArray(k int) [][]byte {
	c := bits.TrailingZeros(uint(k))
	blockArrays.mu.Lock()
	if l := blockArrays.free[c]; len(l) > 0 {
		a := l[len(l)-1]
		l[len(l)-1] = nil
		blockArrays.free[c] = l[:len(l)-1]
		blockArrays.mu.Unlock()
		return a
	}
	blockArrays.mu.Unlock()
	return make([][]byte, k)
}

// putBlockArray takes back a cleared array from getBlockArray.
func putBlockArray(a [][]byte) {
	c := bits.TrailingZeros(uint(len(a)))
	blockArrays.mu.Lock()
	if len(blockArrays.free[c]) < blockArraysPerClass {
		blockArrays.free[c] = append(blockArrays.free[c], a)
	}
	blockArrays.mu.Unlock()
}
