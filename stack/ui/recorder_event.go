package ui

import (
	"net/netip"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// ring keeps the last max values pushed. It grows on demand up to max and
// then overwrites the oldest: no allocation once full.
type ring[T any] struct {
	buf     []T
	head    int    // the oldest value, once len(buf) == max
	max     int    // capacity bound
	dropped uint64 // values overwritten
}

func (r *ring[T]) push(v T) {
	if len(r.buf) < r.max {
		if len(r.buf) == cap(r.buf) {
			// Grow by doubling, but never past max: append's own
			// growth could overshoot the bound by a quarter.
			b := make([]T, len(r.buf), min(max(2*cap(r.buf), 16), r.max))
			copy(b, r.buf)
			r.buf = b
		}
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.head] = v
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.dropped++
}

// last returns the newest value, if any.
func (r *ring[T]) last() (T, bool) {
	var zero T
	if len(r.buf) == 0 {
		return zero, false
	}
	i := r.head - 1
	if len(r.buf) < r.max || i < 0 {
		i = len(r.buf) - 1
	}
	return r.buf[i], true
}

// newest returns the i-th newest value (0: the last pushed), i < len(buf).
func (r *ring[T]) newest(i int) *T {
	j := r.head - 1 - i
	if len(r.buf) < r.max {
		j = len(r.buf) - 1 - i
	}
	if j < 0 {
		j += len(r.buf)
	}
	return &r.buf[j]
}

// copyOut appends the values, oldest first, to dst.
func (r *ring[T]) copyOut(dst []T) []T {
	dst = append(dst, r.buf[r.head:]...)
	return append(dst, r.buf[:r.head]...)
}

// Event kinds.
const (
	kindIn    = iota // a segment the stack read
	kindOut          // a segment the stack wrote
	kindState        // a state transition
)

// Event bits.
const (
	bitRetrans = 1 << iota // out: its sequence space was sent before
	bitMSS                 // SYN: the options (mss, wscale, sackOK) below are set
	bitWScale
	bitSACKOK
	bitTS      // tsval, tsecr are set
	bitCause   // state: a segment caused it (flags, seq, ack are its)
	bitCauseIn // state: and the peer sent that segment
	bitGSO     // a super-segment: wire segments of mss payload bytes each
)

// event is one recorded happening: a segment (header fields only) or a
// state transition. 40 bytes.
type event struct {
	at           int64 // recorder clock, ns
	seq, ack     uint32
	tsval, tsecr uint32
	n            uint32 // payload bytes
	win          uint16 // the raw window field
	mss          uint16
	kind         uint8
	flags        segment.Flags
	bits         uint8
	wscale       uint8
	from, to     uint8 // tcp.State, for kindState
	mark         uint8 // markPending, markDropped, markInjected (WireTap)
}

// hdr is the part of a TCP packet the recorder keeps, with the addresses
// that say whose connection it is.
type hdr struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
	e                event
}

// tuple returns the connection's tuple as the stack sees it: for a segment
// read (in) the stack is the destination, for a segment written the source.
func (h *hdr) tuple(out bool) tcp.Tuple {
	src, dst := h.src, h.dst
	if out {
		return tcp.Tuple{LocalAddr: src, LocalPort: h.srcPort, RemoteAddr: dst, RemotePort: h.dstPort}
	}
	return tcp.Tuple{LocalAddr: dst, LocalPort: h.dstPort, RemoteAddr: src, RemotePort: h.srcPort}
}

// record records the TCP segment(s) of a packet that crossed the link.
// pieces is the number of wire segments of mss payload bytes a
// super-segment stands for (1 for a plain segment): it is kept as one
// record, which expand cuts as the kernel or the device does.
func (r *Recorder) record(h *hdr, out bool, pieces, mss int) {
	at := r.clock()
	h.e.at = at
	if out {
		h.e.kind = kindOut
	} else {
		h.e.kind = kindIn
	}
	f := h.e.flags
	synIn := !out && f&segment.FlagSYN != 0 && f&segment.FlagACK == 0
	if r.wireOn.Load() {
		if out {
			h.e.mark |= markPending
		} else if !r.matchIn(h) {
			h.e.mark |= markInjected
		}
	}
	k := h.tuple(out)
	cache := &r.lastIn
	if out {
		cache = &r.lastOut
	}
	c := cache.Load()
	if c == nil || c.key != k || c.gone.Load() || synIn {
		if c = r.lookup(k, synIn, at); c == nil {
			return
		}
		cache.Store(c)
	}
	if pieces > 1 {
		// One record for the super-segment, cut into its wire segments
		// when read (expand): the data path pays one ring write.
		h.e.bits |= bitGSO
		h.e.mss = uint16(mss)
	}
	c.mu.Lock()
	if out {
		c.markRetrans(&h.e)
	}
	c.events.push(h.e)
	c.lastAt = at
	// A RST on a connection the stack never had (no state reported)
	// ends it: there is no TCB to wait for (RFC 9293 3.10.7.1).
	stray := f&segment.FlagRST != 0 && !c.stateKnown
	c.mu.Unlock()
	r.version.Add(1)
	if stray {
		r.mu.Lock()
		r.closeLocked(c)
		r.mu.Unlock()
	}
}

// markRetrans flags an out segment whose sequence space starts below the
// highest sent (SND.MAX), and advances SND.MAX. Called with c.mu held.
func (c *connRec) markRetrans(e *event) {
	n := e.n
	if e.flags&segment.FlagSYN != 0 {
		n++
	}
	if e.flags&segment.FlagFIN != 0 {
		n++
	}
	if n == 0 {
		return // a pure ACK occupies no sequence space
	}
	end := e.seq + n
	if c.sentAny && int32(e.seq-c.sndMax) < 0 {
		e.bits |= bitRetrans
	}
	if !c.sentAny || int32(end-c.sndMax) > 0 {
		c.sndMax, c.sentAny = end, true
	}
}

// wireSegments returns how many wire segments a record stands for.
func (e *event) wireSegments() int {
	if e.bits&bitGSO == 0 {
		return 1
	}
	return segment.GSOSegments(int(e.n), int(e.mss))
}

// expand returns the records as the wire segments they stand for, the
// newest max of them (dropped says older ones were left out). A
// super-segment is cut as the kernel or the device cuts it (RFC 9293
// sequence arithmetic; CWR on the first segment only, FIN and PSH on the
// last only, as Linux's tcp_gso_segment).
func expand(recs []event, max int) (out []event, dropped bool) {
	total, first := 0, len(recs)
	for first > 0 && total+recs[first-1].wireSegments() <= max {
		first--
		total += recs[first].wireSegments()
	}
	skip := 0
	if first > 0 && total < max {
		// Part of an older super-segment still fits: its newest pieces.
		first--
		skip = recs[first].wireSegments() - (max - total)
		total = max
	}
	out = make([]event, 0, total)
	for i := first; i < len(recs); i++ {
		e := recs[i]
		n := e.wireSegments()
		if n == 1 {
			e.bits &^= bitGSO
			out = append(out, e)
			continue
		}
		mss, size := uint32(e.mss), e.n
		for p := 0; p < n; p++ {
			if i == first && p < skip {
				continue
			}
			w := e
			w.bits &^= bitGSO
			w.mss = 0
			w.seq += uint32(p) * mss
			w.n = min(mss, size-uint32(p)*mss)
			if p > 0 {
				w.flags &^= segment.FlagCWR
			}
			if p < n-1 {
				w.flags &^= segment.FlagFIN | segment.FlagPSH
			}
			out = append(out, w)
		}
	}
	return out, first > 0 || skip > 0
}
