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
// bounded (readAheadBytes, readAheadPackets): when it is full the input
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
	// readAheadBytes is the arena's size: room for about 2,700 MTU-sized
	// packets (five times the TUN's default queue), or 63 super-segments
	// of 64 KiB. Allocated at the first burst, so an idle stack does not
	// pay for it.
	readAheadBytes = 4 << 20
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
// its bytes are. A read needs max contiguous free bytes (the largest
// packet the link may return) and uses only what the packet took, so the
// live packets occupy one region, or two when the region has wrapped
// around the end of buf. Input goroutine only.
type readAhead struct {
	buf         []byte
	recs        []raRec
	head, count int
	w           int // where the next packet goes
	max         int // bytes a read must be offered
}

type raRec struct {
	off, n int32
	csumOK bool
}

// reserve returns the space the next read may fill, nil when the arena is
// full.
func (r *readAhead) reserve() []byte {
	if r.buf == nil {
		r.buf = make([]byte, readAheadBytes)
		r.recs = make([]raRec, readAheadPackets)
	}
	if r.count == 0 {
		r.w = 0
		return r.buf[:r.max]
	}
	if r.count == len(r.recs) {
		return nil
	}
	h := int(r.recs[r.head].off)
	if r.w > h { // one region, [h, w): free space after it, then before it
		if len(r.buf)-r.w >= r.max {
			return r.buf[r.w : r.w+r.max]
		}
		if h < r.max {
			return nil
		}
		r.w = 0 // wrap: the packets behind h come first, then [0, w)
		return r.buf[:r.max]
	}
	// Wrapped: the free space is [w, h).
	if h-r.w >= r.max {
		return r.buf[r.w : r.w+r.max]
	}
	return nil
}

// commit records the n bytes just read into the space reserve returned.
func (r *readAhead) commit(n int, csumOK bool) {
	r.recs[(r.head+r.count)%len(r.recs)] = raRec{off: int32(r.w), n: int32(n), csumOK: csumOK}
	r.count++
	r.w += n
}

// front is the oldest packet held; count must be > 0.
func (r *readAhead) front() ([]byte, bool) {
	rec := r.recs[r.head]
	return r.buf[rec.off : rec.off+rec.n], rec.csumOK
}

// pop releases the oldest packet.
func (r *readAhead) pop() {
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
	}
	if moved > 0 {
		ctr.readAhead.Add(uint64(moved))
		if c := uint64(r.count); c > ctr.readAheadPeak.Load() {
			ctr.readAheadPeak.Store(c) // the input goroutine is the only writer
		}
	}
	return moved
}
