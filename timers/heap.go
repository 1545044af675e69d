package timers

import (
	"math"
	"time"
)

// entry is one timer as stored in a queue. It is the Timer handle given to
// callers, so a timer costs one allocation (at AfterFunc) and nothing
// afterwards.
//
// Two instants are kept. The heap key (when, seq) lives in the entry's queue
// slot; (at, aseq) in the entry is the deadline the user asked for. The
// invariant while queued is key <= deadline (lexicographically). Reset to a
// later deadline — the common case: a retransmission or keepalive timer
// pushed back on every ACK — only writes at/aseq, O(1), and leaves the slot
// where it is; when the slot reaches the top and its key is due, the queue
// notices key != deadline and sifts it down to its real place instead of
// firing it. Reset to an earlier deadline rewrites the key and sifts up,
// O(log4 n).
type entry struct {
	at    int64  // deadline: nanoseconds on the owning clock's scale
	aseq  uint64 // scheduling order of the deadline (tie-break)
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

// slot is one heap position. The key is stored inline so that sifting
// compares keys in the contiguous slot array and never dereferences the
// entries it passes over (at 100k timers those would be cache misses: the
// first version, with keys in the entries, spent most of its pop time
// there). Only entries that actually move have their index written.
type slot struct {
	when int64  // heap key: earlier first
	seq  uint64 // heap key tie-break: scheduling order
	e    *entry
}

func (a *slot) less(b *slot) bool {
	if a.when != b.when {
		return a.when < b.when
	}
	return a.seq < b.seq
}

// settled reports whether the slot's key equals its entry's deadline.
func (a *slot) settled() bool { return a.when == a.e.at && a.seq == a.e.aseq }

// queue is a 4-ary min-heap of entries keyed by (when, seq) with each
// entry's position stored in the entry (intrusive), so removal of an
// arbitrary entry is O(log4 n) without a search. A 4-ary heap is half as
// deep as a binary one and a node's four children are adjacent (96 bytes),
// which makes sift-down (the pop path) cheaper in practice. queue does no
// locking; its owner does.
type queue struct {
	h   []slot
	seq uint64 // last scheduling sequence number handed out
}

func (q *queue) len() int { return len(q.h) }

// schedule sets e's deadline to at and makes sure it is queued. It reports
// whether e was queued before the call.
func (q *queue) schedule(e *entry, at int64) bool {
	q.seq++
	seq := q.seq
	e.at, e.aseq = at, seq
	if e.index < 0 {
		e.index = int32(len(q.h))
		q.h = append(q.h, slot{when: at, seq: seq, e: e})
		q.up(int(e.index))
		return false
	}
	if s := &q.h[e.index]; at < s.when {
		// Earlier than the key: the key must move now.
		s.when, s.seq = at, seq
		q.up(int(e.index))
	}
	// Otherwise later than (or equal to) the key: lazy, fixed up by settleTop.
	return true
}

// remove takes e out of the queue. It reports whether e was queued.
func (q *queue) remove(e *entry) bool {
	i := int(e.index)
	if i < 0 {
		return false
	}
	n := len(q.h) - 1
	e.index = -1
	if i != n {
		q.h[i] = q.h[n]
		q.h[i].e.index = int32(i)
	}
	q.h[n] = slot{}
	q.h = q.h[:n]
	if i != n {
		if !q.down(i) {
			q.up(i)
		}
	}
	return true
}

// settleTop makes the key of the top slot equal to its entry's deadline,
// sifting lazily-reset entries down until the top is settled. It returns the
// top entry (nil if empty).
func (q *queue) settleTop() *entry {
	for len(q.h) > 0 {
		s := &q.h[0]
		if s.settled() {
			return s.e
		}
		s.when, s.seq = s.e.at, s.e.aseq
		q.down(0)
	}
	return nil
}

// popDue removes and returns the earliest entry whose deadline is <= now, or
// nil if there is none.
func (q *queue) popDue(now int64) *entry {
	e := q.settleTop()
	if e == nil || e.at > now {
		return nil
	}
	q.remove(e)
	return e
}

// topKey returns the key of the top slot (which may be earlier than its
// entry's deadline) and false if the queue is empty.
func (q *queue) topKey() (int64, bool) {
	if len(q.h) == 0 {
		return 0, false
	}
	return q.h[0].when, true
}

func (q *queue) up(i int) {
	h := q.h
	x := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !x.less(&h[p]) {
			break
		}
		h[i] = h[p]
		h[i].e.index = int32(i)
		i = p
	}
	h[i] = x
	x.e.index = int32(i)
}

// down sifts h[i] down and reports whether it moved.
func (q *queue) down(i int) bool {
	h := q.h
	n := len(h)
	x := h[i]
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
			if h[k].less(&h[m]) {
				m = k
			}
		}
		if !h[m].less(&x) {
			break
		}
		h[i] = h[m]
		h[i].e.index = int32(i)
		i = m
	}
	h[i] = x
	x.e.index = int32(i)
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
