package stack

// Reading ahead of processing. A TUN device queues the packets the kernel
// routes to it (txqueuelen of them, 500 by default) and drops the next one
// when that queue is full. The input goroutine empties it one read per
// packet and processes each packet before the next read, so during a burst
// the queue drains only as fast as packets are processed. A burst arriving
// faster than that — a peer's slow-start flight of MTU-sized segments
// forwarded into the TUN, one read each since nothing coalesces them — then
// overflows the queue, and the peer sees losses that no path caused (one
// kernel CUBIC sender at 40 ms lost 540 packets at the TUN in its first
// half second, against 24 on the emulated path, and cut its window from
// 1,233 to 203 segments).
//
// So while the input goroutine works through a burst it also reads ahead:
// every packet already waiting in the device is moved into readAhead, an
// arena in the stack's memory, with reads that never block
// (ReadAheadLink.TryReadPacket, one syscall and a copy each, a fraction of
// the cost of processing), and then processed from there in arrival order.
// The device's queue then stays short and the arena absorbs the burst, as
// the kernel's own per-CPU backlog does for its receiver. The arena is
// bounded (readAheadSegments, readAheadPackets): when it is full the input
// goroutine stops reading ahead and the device's queue takes the rest, as
// it did before. Nothing changes for a packet that arrives on its own: it
// is read with ReadPacket (blocking, busy-polling, flushing held ACKs
// before it waits) and processed at once.

// ReadAheadLink is an optional extension of OffloadLink (*tun.Device
// implements it): TryReadPacket is ReadPacket for a packet that is already
// waiting. It never blocks and calls nothing; ok is false (with a nil error)
// when nothing is waiting.
type ReadAheadLink interface {
	OffloadLink
	TryReadPacket(p []byte) (n int, csumOK, ok bool, err error)
}

const (
	// The arena is made of segments of readAheadSegment bytes, taken as
	// the backlog needs them, at most readAheadSegments: 4 MiB, room for
	// about 2,000 MTU-sized packets (four times the TUN's default queue).
	// A stack whose input never backs up holds one segment.
	readAheadSegment  = 256 << 10
	readAheadSegments = 16
	// readAheadSpare segments are kept for the next burst once free; the
	// others go back to the garbage collector.
	readAheadSpare = 2
	// readAheadPackets bounds the packets held (the record ring).
	readAheadPackets = 4096
	// readAheadEvery: while packets wait in the arena, the input goroutine
	// looks for more in the device after every this many it processed, so
	// that the device's queue stays short without a wasted read per
	// packet when the burst has ended.
	readAheadEvery = 8
	// readAheadProbe: outside a burst, one packet in this many read the
	// ordinary way is followed by a look for more (a read that finds none
	// costs a syscall; a packet that arrives on its own is not delayed by
	// it). While looks find packets, every read is followed by one.
	readAheadProbe = 4
)

// readAhead is the arena: packets in arrival order, each a record of where
// its bytes are. A read is offered max contiguous bytes (the largest packet
// the link may return) in the current segment and uses only what the packet
// took; when the segment has less room left the next one is taken. A
// segment goes back to the free list when the last packet in it has been
// processed. Input goroutine only.
type readAhead struct {
	recs        []raRec
	head, count int
	cur         *raSegment // the segment being filled
	w           int        // where in cur the next packet goes
	segs        int        // segments allocated and not dropped
	free        []*raSegment
	max         int // bytes a read must be offered
	mtu         int // the link's MTU: a longer packet is a super-segment
	segSize     int // readAheadSegment (smaller in tests)
	maxSegs     int // readAheadSegments (likewise)
}

// raSegment is one piece of the arena; refs counts the records in it, plus
// one while it is the segment being filled.
type raSegment struct {
	b    []byte
	refs int
}

type raRec struct {
	seg    *raSegment
	off, n int32
	csumOK bool
}

// reserve returns the space the next read may fill, nil when the arena is
// full.
func (r *readAhead) reserve() []byte {
	if r.recs == nil {
		r.recs = make([]raRec, readAheadPackets)
	}
	if r.segSize == 0 {
		r.segSize, r.maxSegs = readAheadSegment, readAheadSegments
	}
	if r.count == len(r.recs) {
		return nil
	}
	if r.cur != nil && r.cur.refs == 1 {
		r.w = 0 // nothing left in it: start over at its first bytes
	}
	if r.cur == nil || len(r.cur.b)-r.w < r.max {
		seg := r.takeSegment()
		if seg == nil {
			return nil
		}
		if r.cur != nil {
			r.release(r.cur)
		}
		r.cur, r.w = seg, 0
	}
	return r.cur.b[r.w : r.w+r.max]
}

// takeSegment returns a free segment (held once, as the one being
// filled), or nil when all that may exist are in use.
func (r *readAhead) takeSegment() *raSegment {
	var seg *raSegment
	if n := len(r.free); n > 0 {
		seg = r.free[n-1]
		r.free[n-1] = nil
		r.free = r.free[:n-1]
	} else if r.segs < r.maxSegs {
		seg = &raSegment{b: make([]byte, r.segSize)}
		r.segs++
	} else {
		return nil
	}
	seg.refs = 1
	return seg
}

// release drops one hold on seg; a segment held by nothing is kept for
// reuse, or dropped when readAheadSpare are kept already.
func (r *readAhead) release(seg *raSegment) {
	if seg.refs--; seg.refs > 0 {
		return
	}
	if len(r.free) < readAheadSpare {
		r.free = append(r.free, seg)
		return
	}
	r.segs--
}

// commit records the n bytes just read into the space reserve returned.
func (r *readAhead) commit(n int, csumOK bool) {
	r.recs[(r.head+r.count)%len(r.recs)] = raRec{seg: r.cur, off: int32(r.w), n: int32(n), csumOK: csumOK}
	r.cur.refs++
	r.count++
	r.w += n
}

// front is the oldest packet held; count must be > 0.
func (r *readAhead) front() ([]byte, bool) {
	rec := &r.recs[r.head]
	return rec.seg.b[rec.off : rec.off+rec.n], rec.csumOK
}

// pop releases the oldest packet.
func (r *readAhead) pop() {
	rec := &r.recs[r.head]
	r.release(rec.seg)
	rec.seg = nil
	r.head = (r.head + 1) % len(r.recs)
	r.count--
}

// fill moves the packets waiting in the link into the arena until the link
// has none or the arena is full, counts them (and a full arena) in ctr, and
// reports how many it moved. A read error ends it: the next blocking read
// sees it again and handles it.
func (r *readAhead) fill(l ReadAheadLink, ctr *counters) int {
	moved := 0
	for {
		p := r.reserve()
		if p == nil {
			ctr.readAheadFull.Add(1)
			break
		}
		n, csumOK, ok, err := l.TryReadPacket(p)
		if !ok || err != nil {
			break
		}
		if n == 0 {
			continue
		}
		r.commit(n, csumOK)
		moved++
		if n > r.mtu {
			// A super-segment: the device coalesces what it queues, and its
			// queue holds 64 KiB per packet; reading further ahead would
			// only fill the arena with them.
			break
		}
	}
	if moved > 0 {
		ctr.readAhead.Add(uint64(moved))
		if c := uint64(r.count); c > ctr.readAheadPeak.Load() {
			ctr.readAheadPeak.Store(c) // the input goroutine is the only writer
		}
	}
	return moved
}
