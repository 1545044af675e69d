package tcp

import (
	"sync"

	"github.com/tunstack/tunstack/segment"
)

// The out-of-order queue's bookkeeping (the bytes themselves sit in the
// receive ring at their sequence offsets, see receiveText).

// seqRange is a half-open range [start, end) of sequence numbers.
type seqRange struct{ start, end Seq }

// assembler tracks the out-of-order ranges held in the receive ring,
// sorted, disjoint and not touching, in a fixed-size array that the
// connection holds only while it holds out-of-order data: it comes from a
// free list (no allocation in steady state) and goes back when the queue
// empties, so an idle connection carries no range array (TestUnitIdleConnHeap)
// and a lossy one has room for maxOOORanges holes.
type assembler struct {
	r *[maxOOORanges]seqRange // nil while n == 0
	n int
}

var rangePool = sync.Pool{New: func() any { return new([maxOOORanges]seqRange) }}

func (a *assembler) reset() {
	a.n = 0
	if a.r != nil {
		rangePool.Put(a.r)
		a.r = nil
	}
}

// extent returns how far beyond nxt the held ranges reach.
func (a *assembler) extent(nxt Seq) int {
	if a.n == 0 {
		return 0
	}
	return int(uint32(a.r[a.n-1].end.Sub(nxt)))
}

// add records [s, e), merging with ranges it overlaps or touches. When the
// range would need a new slot and limit slots are in use, it is dropped
// (the sender retransmits it) and add returns false.
func (a *assembler) add(s, e Seq, limit int) bool {
	i := 0
	for i < a.n && a.r[i].end.LessThan(s) {
		i++
	}
	j := i
	for j < a.n && a.r[j].start.LessThanEq(e) {
		s = segment.Min(s, a.r[j].start)
		e = segment.Max(e, a.r[j].end)
		j++
	}
	if i == j {
		if a.n >= limit {
			return false
		}
		if a.r == nil {
			a.r = rangePool.Get().(*[maxOOORanges]seqRange)
		}
		copy(a.r[i+1:a.n+1], a.r[i:a.n])
		a.r[i] = seqRange{s, e}
		a.n++
		return true
	}
	a.r[i] = seqRange{s, e}
	copy(a.r[i+1:], a.r[j:a.n])
	a.n -= j - i - 1
	return true
}

// advance consumes the ranges that start at or before nxt and returns the
// new RCV.NXT.
func (a *assembler) advance(nxt Seq) Seq {
	k := 0
	for k < a.n && a.r[k].start.LessThanEq(nxt) {
		nxt = segment.Max(nxt, a.r[k].end)
		k++
	}
	if k > 0 {
		copy(a.r[:], a.r[k:a.n])
		a.n -= k
		if a.n == 0 {
			a.reset()
		}
	}
	return nxt
}

// ranges returns a copy of the held ranges (Info).
func (a *assembler) ranges() Ranges {
	r := Ranges{n: a.n}
	if a.r != nil {
		r.r = *a.r
	}
	return r
}
