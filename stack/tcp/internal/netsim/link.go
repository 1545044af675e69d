// Package netsim is a deterministic network simulator for two tunstack TCP
// engines (package stack/tcp): no goroutines, no sleeps, no real time. Each
// direction of the path is a Link that applies, like the userspace WAN
// emulator of the benchmark contract (../shared/bench/CONTRACT.md section
// 6), in this order: random loss, a drop-tail queue in front of a
// bottleneck, serialisation at the bottleneck rate, one-way delay, and
// reordering (a share of packets held back a little longer, so later ones
// overtake them). Segments cross it as segment.Segment values with their
// payload copied (the engine reuses its output scratch). Run drives a bulk
// transfer between two engines over such a path on a manual clock, byte-
// exact; matrix.go defines the loss/RTT/bandwidth matrix that cmd/simtable
// turns into docs/simtable.md.
package netsim

import (
	"math/rand/v2"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// Path describes one direction of a simulated path. The zero value is a
// perfect link: no loss, no delay, no rate limit.
type Path struct {
	// Delay is the one-way propagation delay (rtt/2 for a symmetric path).
	Delay time.Duration
	// Rate is the bottleneck in bits per second, counting whole Ethernet
	// frames (FrameOverhead + IP packet) as tbf, netem and the contract's
	// emulator do; 0 means no bottleneck (and no queue).
	Rate int64
	// Queue bounds the drop-tail queue in front of the bottleneck as time
	// at Rate (a packet is dropped if the backlog would exceed it);
	// QueueBytes, if > 0, bounds it in frame bytes instead. With neither
	// set the queue is DefaultQueue.
	Queue      time.Duration
	QueueBytes int
	// Loss is the probability (0..1) that a packet is lost before the
	// bottleneck (a lost packet uses no capacity).
	Loss float64
	// Reorder is the share (0..1) of packets held back ReorderDelay (0:
	// DefaultReorderDelay) more than the rest after the delay stage.
	Reorder      float64
	ReorderDelay time.Duration
	// Jitter adds a uniformly random extra delay in [0, Jitter) to each
	// packet after the delay stage, never reordering (a packet leaves no
	// earlier than the one before it), as the contract's emulator's
	// wake-up lateness and the endpoints' own.
	Jitter time.Duration
	// Seed seeds the loss and reordering draws.
	Seed uint64
}

const (
	// DefaultQueue is the bottleneck queue when Path sets none: 50 ms at
	// Rate, the contract's `queue=` default.
	DefaultQueue = 50 * time.Millisecond
	// DefaultReorderDelay is how much longer a reordered packet is held:
	// 2 ms, as the contract's `reorder=`.
	DefaultReorderDelay = 2 * time.Millisecond
	// FrameOverhead is the Ethernet header counted against Rate with each
	// IP packet.
	FrameOverhead = 14
)

// LinkStats counts what happened to the packets of one direction.
type LinkStats struct {
	Packets    uint64        // packets given to Send
	SACKSegs   uint64        // of them, segments carrying SACK blocks (RFC 2018)
	Lost       uint64        // dropped by random loss
	QueueDrops uint64        // dropped because the queue was full
	Reordered  uint64        // held back ReorderDelay longer
	Delivered  uint64        // handed to the receiver
	FrameBytes uint64        // frame bytes (FrameOverhead + IP packet) accepted onto the bottleneck
	QueueWait  time.Duration // total time accepted packets waited behind earlier ones for the bottleneck
	MaxWait    time.Duration // the longest such wait
}

// MeanWait is the mean time a packet accepted onto the bottleneck waited
// for it.
func (s LinkStats) MeanWait() time.Duration {
	n := s.Packets - s.Lost - s.QueueDrops
	if n == 0 {
		return 0
	}
	return s.QueueWait / time.Duration(n)
}

type packet struct {
	seg segment.Segment
	buf []byte    // owns seg.Payload's storage
	at  time.Time // arrival at the far end
	id  uint64    // send order, breaks ties between equal arrival times
}

// Link is one direction of a path. It is not safe for concurrent use (the
// simulator is single-threaded by design).
type Link struct {
	p      Path
	limit  time.Duration // queue bound as time at Rate; 0 without Rate
	rng    *rand.Rand
	txFree time.Time // when the bottleneck finishes serialising what it was given
	lastAt time.Time // the latest arrival time given to a packet (Jitter keeps order)
	q      []*packet // min-heap on (at, id)
	free   []*packet
	nextID uint64
	stats  LinkStats
}

// NewLink returns an empty link for p.
func NewLink(p Path) *Link {
	l := &Link{p: p, rng: rand.New(rand.NewPCG(p.Seed, 0x6e657473696d))} // "netsim"
	if p.Rate > 0 {
		switch {
		case p.QueueBytes > 0:
			l.limit = l.serialise(p.QueueBytes)
		case p.Queue > 0:
			l.limit = p.Queue
		default:
			l.limit = DefaultQueue
		}
	}
	if l.p.ReorderDelay <= 0 {
		l.p.ReorderDelay = DefaultReorderDelay
	}
	return l
}

// Stats returns the counters so far.
func (l *Link) Stats() LinkStats { return l.stats }

// serialise returns how long n frame bytes take at the bottleneck rate,
// rounded up so that the link never exceeds its rate.
func (l *Link) serialise(n int) time.Duration {
	bits := int64(n) * 8 * int64(time.Second)
	return time.Duration((bits + l.p.Rate - 1) / l.p.Rate)
}

// Send puts a copy of seg (payload included) on the link at now.
func (l *Link) Send(now time.Time, seg *segment.Segment) {
	l.stats.Packets++
	if seg.Options.NumSACK > 0 {
		l.stats.SACKSegs++
	}
	// Two draws per packet, always, so the loss pattern of a seed does not
	// depend on the reordering setting and vice versa.
	lossR, reorderR := l.rng.Float64(), l.rng.Float64()
	if lossR < l.p.Loss {
		l.stats.Lost++
		return
	}
	at := now
	if l.p.Rate > 0 {
		frame := FrameOverhead + segment.IPv4TCPHeaderLen(seg) + len(seg.Payload)
		start := now
		if l.txFree.After(now) {
			start = l.txFree
		}
		done := start.Add(l.serialise(frame))
		// Drop-tail: the backlog, including this packet, may not exceed
		// the queue bound.
		if done.Sub(now) > l.limit {
			l.stats.QueueDrops++
			return
		}
		wait := start.Sub(now)
		l.stats.QueueWait += wait
		l.stats.MaxWait = max(l.stats.MaxWait, wait)
		l.stats.FrameBytes += uint64(frame)
		l.txFree = done
		at = done
	}
	at = at.Add(l.p.Delay)
	if l.p.Jitter > 0 {
		// A third draw only with jitter: the other draws of a seed stay
		// those of a path without it.
		at = at.Add(time.Duration(l.rng.Float64() * float64(l.p.Jitter)))
		if at.Before(l.lastAt) {
			at = l.lastAt
		}
		l.lastAt = at
	}
	if reorderR < l.p.Reorder {
		l.stats.Reordered++
		at = at.Add(l.p.ReorderDelay)
	}
	pk := l.get(len(seg.Payload))
	pk.seg = *seg
	pk.seg.Payload = pk.buf[:copy(pk.buf[:len(seg.Payload)], seg.Payload)]
	pk.at = at
	pk.id = l.nextID
	l.nextID++
	l.push(pk)
}

// Next returns when the earliest packet in flight arrives; false if none
// is in flight.
func (l *Link) Next() (time.Time, bool) {
	if len(l.q) == 0 {
		return time.Time{}, false
	}
	return l.q[0].at, true
}

// Deliver hands every packet due at or before now to recv, in arrival
// order, and returns how many it delivered. The segment is valid only
// during the call. recv may Send on any link, this one included.
func (l *Link) Deliver(now time.Time, recv func(*segment.Segment)) int {
	n := 0
	for len(l.q) > 0 && !l.q[0].at.After(now) {
		pk := l.pop()
		l.stats.Delivered++
		n++
		recv(&pk.seg)
		pk.seg = segment.Segment{}
		l.free = append(l.free, pk)
	}
	return n
}

// InFlight returns the number of packets on the link.
func (l *Link) InFlight() int { return len(l.q) }

func (l *Link) get(n int) *packet {
	var pk *packet
	if k := len(l.free); k > 0 {
		pk, l.free = l.free[k-1], l.free[:k-1]
	} else {
		pk = new(packet)
	}
	if cap(pk.buf) < n {
		pk.buf = make([]byte, max(n, 2048))
	}
	pk.buf = pk.buf[:cap(pk.buf)]
	return pk
}

func (l *Link) less(i, j int) bool {
	a, b := l.q[i], l.q[j]
	return a.at.Before(b.at) || (a.at.Equal(b.at) && a.id < b.id)
}

func (l *Link) push(pk *packet) {
	l.q = append(l.q, pk)
	for i := len(l.q) - 1; i > 0; {
		p := (i - 1) / 2
		if !l.less(i, p) {
			break
		}
		l.q[i], l.q[p] = l.q[p], l.q[i]
		i = p
	}
}

func (l *Link) pop() *packet {
	top := l.q[0]
	last := len(l.q) - 1
	l.q[0] = l.q[last]
	l.q[last] = nil
	l.q = l.q[:last]
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(l.q) {
			break
		}
		if c+1 < len(l.q) && l.less(c+1, c) {
			c++
		}
		if !l.less(c, i) {
			break
		}
		l.q[i], l.q[c] = l.q[c], l.q[i]
		i = c
	}
	return top
}
