package timers

import (
	"math"
	"time"
)

// entry is one timer as stored in a queue. It is both the heap node and the
// Timer handle given to callers, so a timer costs one allocation (at
// AfterFunc) and nothing afterwards.
//
// Two instants are kept. (when, kseq) is the heap key; (at, aseq) is the
// deadline the user asked for. The invariant while queued is
// key <= deadline (lexicographically). Reset to a later deadline — the common
// case: a retransmission or keepalive timer pushed back on every ACK — only
// writes at/aseq, O(1), and leaves the node where it is; when the node reaches
// the top and its key is due, the queue notices key != deadline and sifts it
// down to its real place instead of firing it. Reset to an earlier deadline
// rewrites the key and sifts up, O(log4 n).
type entry struct {
	when  int64  // heap key: nanoseconds on the owning clock's scale
	kseq  uint64 // heap key tie-break: scheduling order
	at    int64  // real deadline
	aseq  uint64 // scheduling order of the real deadline
	index int32  // position in queue.h, -1 when not queued
	f     func()
	owner owner
}

// owner is the clock an entry belongs to; it implements the Timer methods
// under its own lock.
type owner interface {
	stop(e *entry) bool
	reset(e *entry, d time.Duration) bool
}

// Stop implements Timer.
func (e *entry) Stop() bool { return e.owner.stop(e) }

// Reset implements Timer.
func (e *entry) Reset(d time.Duration) bool { return e.owner.reset(e, d) }

// keyLess orders heap keys: earlier first, ties by scheduling order.
func keyLess(a, b *entry) bool {
	if a.when != b.when {
		return a.when < b.when
	}
	return a.kseq < b.kseq
}

// settled reports whether the heap key equals the real deadline.
func (e *entry) settled() bool { return e.when == e.at && e.kseq == e.aseq }

// queue is a 4-ary min-heap of entries keyed by (when, kseq) with the index
// stored in the entry (intrusive), so removal of an arbitrary entry is
// O(log4 n) without a search. A 4-ary heap is half as deep as a binary one
// and its four children share a cache line or two of pointers, which makes
// sift-down (the pop path) cheaper in practice. queue does no locking; its
// owner does.
type queue struct {
	h   []*entry
	seq uint64 // next scheduling sequence number
}

func (q *queue) len() int { return len(q.h) }

// top returns the entry with the smallest key, or nil.
func (q *queue) top() *entry {
	if len(q.h) == 0 {
		return nil
	}
	return q.h[0]
}

// schedule sets e's deadline to at and makes sure it is queued. It reports
// whether e was queued before the call.
func (q *queue) schedule(e *entry, at int64) bool {
	q.seq++
	seq := q.seq
	e.at, e.aseq = at, seq
	if e.index < 0 {
		e.when, e.kseq = at, seq
		e.index = int32(len(q.h))
		q.h = append(q.h, e)
		q.up(int(e.index))
		return false
	}
	if at < e.when {
		// Earlier than the key: the key must move now.
		e.when, e.kseq = at, seq
		q.up(int(e.index))
	}
	// Otherwise later than (or equal to) the key: lazy, fixed up by settle.
	return true
}

// remove takes e out of the queue. It reports whether e was queued.
func (q *queue) remove(e *entry) bool {
	i := int(e.index)
	if i < 0 {
		return false
	}
	n := len(q.h) - 1
	if i != n {
		q.swap(i, n)
	}
	q.h[n] = nil
	q.h = q.h[:n]
	e.index = -1
	if i != n {
		if !q.down(i) {
			q.up(i)
		}
	}
	return true
}

// settleTop makes the key of the top entry equal to its deadline, sifting
// lazily-reset entries down until the top is settled. It returns the top
// (nil if empty).
func (q *queue) settleTop() *entry {
	for len(q.h) > 0 {
		t := q.h[0]
		if t.settled() {
			return t
		}
		t.when, t.kseq = t.at, t.aseq
		q.down(0)
	}
	return nil
}

// popDue removes and returns the earliest entry whose deadline is <= now, or
// nil if there is none.
func (q *queue) popDue(now int64) *entry {
	t := q.settleTop()
	if t == nil || t.at > now {
		return nil
	}
	q.remove(t)
	return t
}

func (q *queue) swap(i, j int) {
	h := q.h
	h[i], h[j] = h[j], h[i]
	h[i].index = int32(i)
	h[j].index = int32(j)
}

func (q *queue) up(i int) {
	h := q.h
	e := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !keyLess(e, h[p]) {
			break
		}
		h[i] = h[p]
		h[i].index = int32(i)
		i = p
	}
	h[i] = e
	e.index = int32(i)
}

// down sifts h[i] down and reports whether it moved.
func (q *queue) down(i int) bool {
	h := q.h
	n := len(h)
	e := h[i]
	start := i
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		// Smallest of up to four children.
		m := c
		end := c + 4
		if end > n {
			end = n
		}
		for k := c + 1; k < end; k++ {
			if keyLess(h[k], h[m]) {
				m = k
			}
		}
		if !keyLess(h[m], e) {
			break
		}
		h[i] = h[m]
		h[i].index = int32(i)
		i = m
	}
	h[i] = e
	e.index = int32(i)
	return i != start
}

// addSat returns now+d, saturating instead of overflowing.
func addSat(now, d int64) int64 {
	if d <= 0 {
		return now
	}
	if now > math.MaxInt64-d {
		return math.MaxInt64
	}
	return now + d
}
