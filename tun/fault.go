package tun

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tunstack/tunstack/timers"
)

// FaultConfig describes the impairments of one direction of a link. The
// zero value is a perfect link: no loss, no delay, unlimited rate.
//
// Each packet written goes through these stages, in order:
//
//   - Loss: dropped with probability Loss.
//   - Duplicate: with probability Duplicate a second copy follows it.
//   - Rate: each copy is serialised at Rate bytes per second behind the
//     previous ones (a FIFO transmit queue, like a slow wire).
//   - Delay and Jitter: each copy then arrives Delay ± a uniform random
//     amount of at most Jitter later (never before it was sent). Jitter
//     does not reorder: a packet never overtakes an earlier one, it waits
//     behind it (so Reorder is the only source of reordering and its
//     counter is exact).
//   - Reorder: with probability Reorder a packet is held back and delivered
//     immediately after the next packet of the same direction. If no later
//     packet is sent within ReorderHold of its arrival time it is delivered
//     alone at that point (and not counted as reordered).
//
// At most QueueLimit packets are in flight (delayed, rate-queued or held);
// more are dropped at the sender (tail drop). The receiving end buffers at
// most QueueLimit unread packets; more are dropped on arrival. Write never
// blocks.
//
// All randomness comes from math/rand/v2 seeded with Seed, with the same
// number of draws per packet whatever the settings: the same Seed, the
// same packets and the same clock schedule give the same outcome, and the
// loss pattern of a seed does not change when, say, Delay is added.
type FaultConfig struct {
	Seed      int64
	Loss      float64 // probability 0..1
	Duplicate float64 // probability 0..1
	Reorder   float64 // probability 0..1
	Delay     time.Duration
	Jitter    time.Duration
	// Rate limits the direction to this many bytes (of IP packet) per
	// second; 0 means unlimited.
	Rate int64
	// QueueLimit bounds packets in flight and packets waiting to be read;
	// 0 means DefaultQueueLimit.
	QueueLimit int
}

// DefaultQueueLimit is the queue bound when FaultConfig.QueueLimit is 0
// (the default packet limit of Linux netem).
const DefaultQueueLimit = 1000

// ReorderHold is the longest a packet picked for reordering waits for a
// later packet to overtake it.
const ReorderHold = 10 * time.Millisecond

func (c *FaultConfig) limit() int {
	if c.QueueLimit > 0 {
		return c.QueueLimit
	}
	return DefaultQueueLimit
}

// Stats counts what happened to the packets of one direction. At rest
// (nothing in flight), Delivered == Sent + Duplicated - Dropped.
type Stats struct {
	Sent       uint64 // packets given to Write (including rejected ones)
	Delivered  uint64 // packets (copies included) handed to the receiver
	Dropped    uint64 // lost, too big, over a queue limit, or discarded by Close
	Duplicated uint64 // extra copies made
	Reordered  uint64 // packets delivered after a packet sent later
}

// sink is where a line delivers packets: the receiving end's queue, or a
// real device's Write.
type sink interface {
	// put hands over one packet, which the sink must not retain. It
	// reports false if the packet was dropped. Called with line.mu held.
	put(p []byte) bool
	// delivered is called after one or more successful puts, with no
	// lock held.
	delivered()
}

type flight struct {
	buf []byte // from line.free; len is the packet length
	due time.Time
}

// line applies a FaultConfig to one direction of packets and delivers
// them to a sink. It is the only fault implementation: the pipe and the
// device wrapper both use it.
//
// Packets due now with nothing queued ahead of them are put to the sink
// synchronously inside send; the rest wait in fifo or in held, and one
// clock timer, armed for the earliest deadline, delivers them. fifo is
// strictly first-in first-out: a packet whose jittered due time is earlier
// than its predecessor's leaves right after it (flushLocked only looks at
// the head), which is how jitter never reorders. A stale timer firing is
// harmless: fire re-reads the clock and re-arms.
type line struct {
	clock timers.Clock
	mtu   int
	cfg   FaultConfig
	limit int
	out   sink
	fireF func()

	mu      sync.Mutex // guards everything below; taken before the sink's locks
	rng     *rand.Rand
	timer   timers.Timer
	armedAt time.Time // deadline the timer is set for; zero if not armed
	fifo    ring
	txFree  time.Time // when the rate-limited transmitter is free
	held    flight    // packet held back for reordering, if holding
	holding bool
	heldEnd time.Time // deliver held alone at this time
	free    [][]byte  // recycled packet buffers of cap mtu
	stats   Stats
	closed  bool
}

func newLine(clock timers.Clock, mtu int, cfg FaultConfig, out sink) *line {
	if clock == nil {
		panic("tun: nil timers.Clock")
	}
	if mtu <= 0 {
		panic("tun: MTU must be positive")
	}
	l := &line{
		clock: clock,
		mtu:   mtu,
		cfg:   cfg,
		limit: cfg.limit(),
		out:   out,
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x74756e737461636b)), // "tunstack"
	}
	l.fireF = l.fire
	return l
}

// send runs one packet through the faults. p is not retained.
func (l *line) send(p []byte) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.stats.Sent++
	if len(p) > l.mtu {
		l.stats.Dropped++
		l.mu.Unlock()
		return ErrTooBig
	}
	// Four draws per packet, always, so each fault's pattern depends on
	// the seed alone.
	lossR, dupR, reorderR, jitterR := l.rng.Float64(), l.rng.Float64(), l.rng.Float64(), l.rng.Uint64()
	now := l.clock.Now()
	n := l.flushLocked(now)
	if lossR < l.cfg.Loss {
		l.stats.Dropped++
	} else {
		copies := 1
		if dupR < l.cfg.Duplicate {
			copies = 2
			l.stats.Duplicated++
		}
		delay := l.cfg.Delay
		if j := int64(l.cfg.Jitter); j > 0 {
			delay += time.Duration(int64(jitterR%uint64(2*j+1)) - j)
		}
		delay = max(delay, 0)
		wasHolding, overtook := l.holding, false
		for i := range copies {
			due := now
			if l.cfg.Rate > 0 {
				start := now
				if l.txFree.After(start) {
					start = l.txFree
				}
				l.txFree = start.Add(time.Duration(int64(len(p)) * int64(time.Second) / l.cfg.Rate))
				due = l.txFree
			}
			due = due.Add(delay)
			if i == 0 && !l.holding && reorderR < l.cfg.Reorder {
				l.holdLocked(p, due)
				continue
			}
			put, ok := l.queueLocked(p, due, now)
			n += put
			overtook = overtook || ok
		}
		if wasHolding && overtook {
			// This packet overtook the held one: let it follow.
			l.holding = false
			l.stats.Reordered++
			n += l.queueBufLocked(l.held.buf, l.held.due, now)
		}
	}
	l.armLocked(now)
	l.mu.Unlock()
	if n > 0 {
		l.out.delivered()
	}
	return nil
}

// holdLocked keeps a copy of p back for reordering.
func (l *line) holdLocked(p []byte, due time.Time) {
	if l.fifo.n+1 > l.limit {
		l.stats.Dropped++
		return
	}
	b := l.getBuf(len(p))
	copy(b, p)
	l.held = flight{buf: b, due: due}
	l.holding = true
	l.heldEnd = due.Add(ReorderHold)
}

// queueLocked delivers p now if it is due and nothing is ahead of it, else
// queues a copy. It returns the number of packets put to the sink, and
// whether p was put or queued (not dropped).
func (l *line) queueLocked(p []byte, due, now time.Time) (int, bool) {
	if l.fifo.n == 0 && !due.After(now) {
		n := l.putLocked(p)
		return n, n > 0
	}
	if l.fifo.n+l.heldCount() >= l.limit {
		l.stats.Dropped++
		return 0, false
	}
	b := l.getBuf(len(p))
	copy(b, p)
	l.fifo.push(flight{buf: b, due: due})
	return 0, true
}

// queueBufLocked is queueLocked for a buffer the line already owns.
func (l *line) queueBufLocked(b []byte, due, now time.Time) int {
	if l.fifo.n == 0 && !due.After(now) {
		n := l.putLocked(b)
		l.putBuf(b)
		return n
	}
	l.fifo.push(flight{buf: b, due: due})
	return 0
}

func (l *line) heldCount() int {
	if l.holding {
		return 1
	}
	return 0
}

func (l *line) putLocked(p []byte) int {
	if l.out.put(p) {
		l.stats.Delivered++
		return 1
	}
	l.stats.Dropped++
	return 0
}

// flushLocked delivers, in time order, every queued packet due at or
// before now, and the held packet if its wait is over.
func (l *line) flushLocked(now time.Time) int {
	n := 0
	for {
		head, ok := l.fifo.peek()
		fifoDue := ok && !head.due.After(now)
		heldDue := l.holding && !l.heldEnd.After(now)
		switch {
		case fifoDue && (!heldDue || !l.heldEnd.Before(head.due)):
			l.fifo.pop()
			n += l.putLocked(head.buf)
			l.putBuf(head.buf)
		case heldDue:
			l.holding = false
			n += l.putLocked(l.held.buf)
			l.putBuf(l.held.buf)
		default:
			return n
		}
	}
}

// armLocked points the timer at the earliest pending deadline.
func (l *line) armLocked(now time.Time) {
	var next time.Time
	if head, ok := l.fifo.peek(); ok {
		next = head.due
	}
	if l.holding && (next.IsZero() || l.heldEnd.Before(next)) {
		next = l.heldEnd
	}
	if next.IsZero() || next.Equal(l.armedAt) {
		return
	}
	l.armedAt = next
	if l.timer == nil {
		l.timer = l.clock.AfterFunc(next.Sub(now), l.fireF)
	} else {
		l.timer.Reset(next.Sub(now))
	}
}

func (l *line) fire() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.armedAt = time.Time{}
	now := l.clock.Now()
	n := l.flushLocked(now)
	l.armLocked(now)
	l.mu.Unlock()
	if n > 0 {
		l.out.delivered()
	}
}

// close discards everything in flight; later sends fail with ErrClosed.
func (l *line) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	for l.fifo.n > 0 {
		f := l.fifo.pop()
		l.putBuf(f.buf)
		l.stats.Dropped++
	}
	if l.holding {
		l.holding = false
		l.putBuf(l.held.buf)
		l.stats.Dropped++
	}
	if l.timer != nil {
		l.timer.Stop()
	}
}

func (l *line) getStats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

func (l *line) getBuf(n int) []byte {
	if k := len(l.free); k > 0 {
		b := l.free[k-1]
		l.free = l.free[:k-1]
		return b[:n]
	}
	return make([]byte, n, l.mtu)
}

func (l *line) putBuf(b []byte) { l.free = append(l.free, b[:0]) }

// ring is a growable FIFO of flights.
type ring struct {
	q    []flight
	head int
	n    int
}

func (r *ring) push(f flight) {
	if r.n == len(r.q) {
		q := make([]flight, max(16, 2*len(r.q)))
		for i := range r.n {
			q[i] = r.q[(r.head+i)%len(r.q)]
		}
		r.q, r.head = q, 0
	}
	r.q[(r.head+r.n)%len(r.q)] = f
	r.n++
}

func (r *ring) peek() (flight, bool) {
	if r.n == 0 {
		return flight{}, false
	}
	return r.q[r.head], true
}

func (r *ring) pop() flight {
	f := r.q[r.head]
	r.q[r.head] = flight{}
	r.head = (r.head + 1) % len(r.q)
	r.n--
	return f
}
