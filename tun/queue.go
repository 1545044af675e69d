package tun

import (
	"sync"
	"sync/atomic"
)

// queue holds packets delivered to a receiving end until they are read. It
// is the sink of the line that feeds it. Buffers are recycled, so a warm
// queue does not allocate.
type queue struct {
	mtu    int
	limit  int
	notify atomic.Pointer[func()]

	mu     sync.Mutex // taken after line.mu, never before it
	cond   sync.Cond  // signalled on put, broadcast on close/fail
	ring   [][]byte
	head   int
	n      int
	free   [][]byte
	closed bool
	err    error // terminal error returned once the queue is drained
}

func newQueue(mtu, limit int) *queue {
	q := &queue{mtu: mtu, limit: limit}
	q.cond.L = &q.mu
	return q
}

func (q *queue) put(p []byte) bool {
	q.mu.Lock()
	if q.closed || q.err != nil || q.n >= q.limit {
		q.mu.Unlock()
		return false
	}
	var b []byte
	if k := len(q.free); k > 0 {
		b = q.free[k-1][:len(p)]
		q.free = q.free[:k-1]
	} else {
		b = make([]byte, len(p), q.mtu)
	}
	copy(b, p)
	if q.n == len(q.ring) {
		r := make([][]byte, max(16, 2*len(q.ring)))
		for i := range q.n {
			r[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = r, 0
	}
	q.ring[(q.head+q.n)%len(q.ring)] = b
	q.n++
	q.cond.Signal()
	q.mu.Unlock()
	return true
}

func (q *queue) delivered() {
	if f := q.notify.Load(); f != nil {
		(*f)()
	}
}

func (q *queue) setNotify(f func()) {
	if f == nil {
		q.notify.Store(nil)
		return
	}
	q.notify.Store(&f)
}

// popLocked copies the oldest packet into p.
func (q *queue) popLocked(p []byte) (int, error) {
	b := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	n := copy(p, b)
	q.free = append(q.free, b[:0])
	if n < len(b) {
		return n, ErrShortBuffer
	}
	return n, nil
}

// read blocks until a packet, Close or a terminal error.
func (q *queue) read(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == 0 && !q.closed && q.err == nil {
		q.cond.Wait()
	}
	switch {
	case q.closed:
		return 0, ErrClosed
	case q.n == 0:
		return 0, q.err
	}
	return q.popLocked(p)
}

// tryRead is read without blocking; ok is false if no packet was waiting
// (or the queue is closed). A packet longer than p is truncated.
func (q *queue) tryRead(p []byte) (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.n == 0 {
		return 0, false
	}
	n, _ := q.popLocked(p)
	return n, true
}

// close wakes blocked readers with ErrClosed and discards unread packets.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	for q.n > 0 {
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
		q.n--
	}
	q.free = nil
	q.cond.Broadcast()
	q.mu.Unlock()
}

// fail ends the queue with err once the packets already in it are read.
func (q *queue) fail(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	q.cond.Broadcast()
	q.mu.Unlock()
}
