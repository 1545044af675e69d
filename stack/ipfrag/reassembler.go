package ipfrag

import (
	"time"
	"unsafe"
)

// family selects the per-family list and rules.
type family uint8

const (
	fam4 family = iota
	fam6
)

// key identifies a datagram being reassembled: RFC 791 2.3 (source,
// destination, protocol, identification) for IPv4, RFC 8200 4.5 (source,
// destination, identification) for IPv6, where proto is 0.
type key struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	fam      family
}

// span is one fragment held: its packet as received (a pool buffer) and where
// its data lies in the datagram.
type span struct {
	pkt      []byte // header and data, as received
	hdrLen   int    // bytes of pkt before the data
	off, end int    // the data's byte range in the datagram
	fhOff    int    // IPv6: offset of the fragment header in pkt
	nhOff    int    // IPv6: offset of the next-header field that names it
}

// datagram is one datagram in progress, or a discarded one (dead) kept until
// its timeout so its remaining fragments are dropped too (RFC 5722 4).
type datagram struct {
	key        key
	created    time.Time
	deadline   time.Time
	prev, next *datagram // the family's list, oldest first
	spans      []span    // sorted by off, never overlapping
	received   int       // data bytes held (spans do not overlap)
	maxEnd     int       // largest end seen
	total      int       // data length, once the last fragment arrived
	last       bool      // the last fragment (MF=0) arrived
	dead       bool      // discarded; drop its fragments until deadline
	ecn        uint8     // bit 1<<codepoint for every ECN codepoint seen
	charge     int       // bytes charged to Reassembler.mem for it
}

// dlist is a doubly linked list of datagrams in arrival order. As a family's
// timeout is fixed, it is also in deadline order.
type dlist struct{ head, tail *datagram }

func (l *dlist) push(d *datagram) {
	d.prev, d.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = d
	} else {
		l.head = d
	}
	l.tail = d
}

func (l *dlist) unlink(d *datagram) {
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		l.head = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		l.tail = d.prev
	}
	d.prev, d.next = nil, nil
}

// Bookkeeping charged per datagram and per span, besides fragment buffers.
const (
	datagramCost = int(unsafe.Sizeof(datagram{}))
	spanCost     = int(unsafe.Sizeof(span{}))
	freeStructs  = 16 // datagram structs kept for reuse
	keptSpans    = 8  // span capacity a recycled struct keeps
)

// Reassembler reassembles IPv4 and IPv6 datagrams from their fragments. It is
// not safe for concurrent use; it never blocks, starts no goroutine and reads
// no clock: every call takes the current time from the caller's monotonic
// clock (a now earlier than a previous one only delays expiry).
type Reassembler struct {
	cfg    Config
	table  map[key]*datagram
	lists  [2]dlist
	perSrc map[[16]byte]int // bytes charged per source address
	mem    int              // bytes held: datagrams, pool, out
	pool   pool
	out    []byte // assembly buffer for completed datagrams
	free   []*datagram
	stats  Stats
}

// New returns a Reassembler with the limits of cfg (zero fields take their
// defaults).
func New(cfg Config) *Reassembler {
	cfg = cfg.withDefaults()
	return &Reassembler{
		cfg:    cfg,
		table:  make(map[key]*datagram),
		perSrc: make(map[[16]byte]int),
		pool:   pool{max: cfg.MaxMemory / 16},
	}
}

// Config returns the limits in force (defaults filled in).
func (r *Reassembler) Config() Config { return r.cfg }

// Stats returns the counters.
func (r *Reassembler) Stats() Stats { return r.stats }

// Memory returns the bytes held now; it never exceeds Config().MaxMemory.
func (r *Reassembler) Memory() int { return r.mem }

// InProgress returns the number of datagrams in the table (discarded ones
// waiting out their timeout included).
func (r *Reassembler) InProgress() int { return len(r.table) }

// NextDeadline returns the earliest time at which Expire has work, and false
// if no datagram is in progress.
func (r *Reassembler) NextDeadline() (time.Time, bool) {
	var t time.Time
	ok := false
	for _, l := range r.lists {
		if l.head != nil && (!ok || l.head.deadline.Before(t)) {
			t, ok = l.head.deadline, true
		}
	}
	return t, ok
}

// Expire abandons the datagrams whose timeout has passed at now and returns
// how many. For each incomplete one whose first fragment had arrived it calls
// Config.TimeExceeded (RFC 792, RFC 8200 4.5). Input calls it too.
func (r *Reassembler) Expire(now time.Time) int {
	n := 0
	for f := range r.lists {
		l := &r.lists[f]
		for l.head != nil && !now.Before(l.head.deadline) {
			d := l.head
			if !d.dead {
				r.stats.Timeouts++
				if len(d.spans) > 0 && d.spans[0].off == 0 {
					r.stats.TimeExceeded++
					if r.cfg.TimeExceeded != nil {
						r.cfg.TimeExceeded(d.spans[0].pkt)
					}
				}
			}
			r.remove(d)
			n++
		}
	}
	return n
}

// timeout returns the family's reassembly timeout.
func (r *Reassembler) timeout(f family) time.Duration {
	if f == fam6 {
		return r.cfg.TimeoutIPv6
	}
	return r.cfg.TimeoutIPv4
}

// create adds a datagram for k, evicting the oldest one if the table is full.
// It returns nil if the bookkeeping cannot be charged.
func (r *Reassembler) create(k key, now time.Time) *datagram {
	if len(r.table) >= r.cfg.MaxDatagrams {
		if v := r.oldest(nil); v != nil {
			r.stats.DatagramEvictions++
			r.remove(v)
		}
	}
	// Recycled structs keep at most keptSpans spans of capacity.
	if !r.makeRoom(datagramCost+keptSpans*spanCost, k.src, nil) {
		return nil
	}
	var d *datagram
	if n := len(r.free); n > 0 {
		d = r.free[n-1]
		r.free[n-1] = nil
		r.free = r.free[:n-1]
	} else {
		d = new(datagram)
	}
	spans := d.spans[:0]
	*d = datagram{key: k, created: now, deadline: now.Add(r.timeout(k.fam)), spans: spans}
	r.charge(d, datagramCost+cap(spans)*spanCost)
	r.table[k] = d
	r.lists[k.fam].push(d)
	return d
}

// charge adds delta bytes to d's account, its source's and the total.
func (r *Reassembler) charge(d *datagram, delta int) {
	d.charge += delta
	r.mem += delta
	if v := r.perSrc[d.key.src] + delta; v != 0 {
		r.perSrc[d.key.src] = v
	} else {
		delete(r.perSrc, d.key.src)
	}
}

// release frees d's fragment buffers (into the pool when it has room).
func (r *Reassembler) release(d *datagram) {
	for i := range d.spans {
		b := d.spans[i].pkt
		r.charge(d, -cap(b))
		if r.pool.put(b) {
			r.mem += cap(b)
		}
		d.spans[i] = span{}
	}
	d.spans = d.spans[:0]
	d.received = 0
}

// kill discards d's fragments but keeps d until its deadline, so that later
// fragments of it are dropped too (RFC 5722 4 with erratum 3089: "the entire
// datagram (and any constituent fragments, including those not yet received)
// MUST be silently discarded"). Linux frees the queue instead, so a late
// fragment starts a new one that can only time out; we keep the record, which
// costs its bookkeeping only.
func (r *Reassembler) kill(d *datagram) {
	r.release(d)
	d.dead = true
}

// remove takes d out of the table for good.
func (r *Reassembler) remove(d *datagram) {
	r.release(d)
	r.lists[d.key.fam].unlink(d)
	delete(r.table, d.key)
	r.charge(d, -d.charge)
	if len(r.free) < freeStructs {
		spans := d.spans[:0]
		if cap(spans) > keptSpans {
			spans = nil
		}
		*d = datagram{spans: spans}
		r.free = append(r.free, d)
	}
}

// oldest returns the oldest datagram other than keep, or nil.
func (r *Reassembler) oldest(keep *datagram) *datagram {
	var best *datagram
	for f := range r.lists {
		d := r.lists[f].head
		if d != nil && d == keep {
			d = d.next
		}
		if d != nil && (best == nil || d.created.Before(best.created)) {
			best = d
		}
	}
	return best
}

// oldestFrom returns the oldest datagram from src other than keep, or nil.
func (r *Reassembler) oldestFrom(src [16]byte, keep *datagram) *datagram {
	var best *datagram
	for f := range r.lists {
		for d := r.lists[f].head; d != nil; d = d.next {
			if d != keep && d.key.src == src {
				if best == nil || d.created.Before(best.created) {
					best = d
				}
				break
			}
		}
	}
	return best
}

// makeRoom makes room for need more bytes charged to src, under MaxMemory
// (reserve) and MaxMemoryPerSource, evicting the oldest datagrams from src
// other than keep. It reports whether they fit.
func (r *Reassembler) makeRoom(need int, src [16]byte, keep *datagram) bool {
	if !r.reserve(need, keep) {
		return false
	}
	for r.perSrc[src]+need > r.cfg.MaxMemoryPerSource {
		v := r.oldestFrom(src, keep)
		if v == nil {
			return false
		}
		r.stats.MemoryEvictions++
		r.remove(v)
	}
	return true
}

// reserve frees recycled buffers, then evicts the oldest datagrams other
// than keep, until need more bytes fit under MaxMemory. It reports whether
// they fit.
func (r *Reassembler) reserve(need int, keep *datagram) bool {
	for r.mem+need > r.cfg.MaxMemory {
		if r.pool.bytes > 0 {
			r.mem -= r.pool.drain()
			continue
		}
		v := r.oldest(keep)
		if v == nil {
			return false
		}
		r.stats.MemoryEvictions++
		r.remove(v)
	}
	return true
}
