package ipfrag

import (
	"bytes"
	"time"
)

// frag is one incoming fragment, parsed by the family's Input function.
type frag struct {
	key    key
	pkt    []byte // the fragment, bounded by its IP length
	hdrLen int    // bytes of pkt before the data
	off    int    // data offset in bytes
	more   bool   // MF / M flag
	ecn    uint8  // ECN codepoint (RFC 3168 5)
	maxEnd int    // largest data end that keeps the datagram within 65535 bytes
	fhOff  int    // IPv6: fragment header offset
	nhOff  int    // IPv6: offset of the next-header field naming it
}

// ECN codepoints (RFC 3168 5).
const (
	ecnNotECT = 0
	ecnCE     = 3
)

// insert adds f to its datagram and returns the outcome; on completion the
// family's finish function builds the datagram into r.out.
func (r *Reassembler) insert(f *frag, now time.Time) Result {
	r.stats.FragmentsIn++
	n := len(f.pkt) - f.hdrLen
	end := f.off + n
	switch {
	case n == 0:
		// An empty fragment carries nothing; Linux drops it too.
		r.stats.BadLength++
		return drop(ReasonBadLength)
	case f.more && n%8 != 0:
		// RFC 791 3.2 and RFC 8200 4.5: every fragment but the last
		// carries a multiple of 8 octets. Linux trims an IPv4 one to
		// the multiple; we drop it as RFC 8200 requires for IPv6.
		r.stats.BadLength++
		return drop(ReasonBadLength)
	case end > f.maxEnd:
		r.stats.TooBig++
		return drop(ReasonTooBig)
	}
	d := r.table[f.key]
	if d != nil && d.dead {
		r.stats.Discarded++
		return drop(ReasonDiscarded)
	}
	if d != nil {
		// A last fragment that moves a known end, or data beyond it,
		// is dropped (the fragment, not the datagram, as Linux does in
		// ip_frag_queue).
		if f.more && d.last && end > d.total || !f.more && (d.last && end != d.total || end < d.maxEnd) {
			r.stats.Inconsistent++
			return drop(ReasonInconsistent)
		}
	}
	i := 0
	if d != nil {
		i = d.position(f.off)
		switch d.collides(i, f, end) {
		case collideDuplicate:
			r.stats.Duplicates++
			return drop(ReasonDuplicate)
		case collideOverlap:
			r.stats.Overlaps++
			r.kill(d)
			return drop(ReasonOverlap)
		}
		if len(d.spans) >= r.cfg.MaxFragments {
			r.stats.TooManyFragments++
			r.kill(d)
			return drop(ReasonTooManyFragments)
		}
	} else if d = r.create(f.key, now); d == nil {
		r.stats.MemoryEvictions++
		return drop(ReasonMemory)
	}
	if !r.store(d, i, f, end) {
		r.stats.MemoryEvictions++
		r.remove(d)
		return drop(ReasonMemory)
	}
	if !d.last || d.received != d.total {
		return Result{Verdict: Held}
	}
	return r.complete(d)
}

// store copies f into a buffer charged to d and inserts it at span index i.
// It reports false if the memory bounds leave no room for it.
func (r *Reassembler) store(d *datagram, i int, f *frag, end int) bool {
	buf, recycled := r.pool.get(len(f.pkt))
	if recycled {
		r.mem -= cap(buf)
	}
	need := cap(buf)
	grow := 0
	if len(d.spans) == cap(d.spans) {
		grow = min(max(4, 2*cap(d.spans)), r.cfg.MaxFragments) - cap(d.spans)
		need += grow * spanCost
	}
	if !r.makeRoom(need, d.key.src, d) {
		return false
	}
	if grow > 0 {
		spans := make([]span, len(d.spans), cap(d.spans)+grow)
		copy(spans, d.spans)
		d.spans = spans
	}
	r.charge(d, need)
	copy(buf, f.pkt)
	d.spans = d.spans[:len(d.spans)+1]
	copy(d.spans[i+1:], d.spans[i:])
	d.spans[i] = span{pkt: buf, hdrLen: f.hdrLen, off: f.off, end: end, fhOff: f.fhOff, nhOff: f.nhOff}
	d.received += end - f.off
	d.maxEnd = max(d.maxEnd, end)
	if !f.more {
		d.last, d.total = true, end
	}
	d.ecn |= 1 << f.ecn
	return true
}

// complete checks the whole datagram d, builds it and removes d.
func (r *Reassembler) complete(d *datagram) Result {
	// RFC 3168 5.3: if some fragments are not-ECT and others ECT or CE,
	// the datagram MUST be dropped; if any is CE, the result is CE
	// (finish applies that).
	if d.ecn&(1<<ecnNotECT) != 0 && d.ecn != 1<<ecnNotECT {
		r.stats.ECN++
		r.remove(d)
		return drop(ReasonECN)
	}
	var res Result
	if d.key.fam == fam6 {
		res = r.finish6(d)
	} else {
		res = r.finish4(d)
	}
	if res.Verdict == Complete {
		r.stats.Reassembled++
	}
	r.remove(d)
	return res
}

// assemble copies the first fragment's header bytes hdr and then every
// fragment's data into the assembly buffer and returns the packet, or nil if
// there is no room for it.
func (r *Reassembler) assemble(d *datagram, hdr []byte) []byte {
	out := r.outBuffer(len(hdr)+d.total, d)
	if out == nil {
		return nil
	}
	copy(out, hdr)
	for i := range d.spans {
		s := &d.spans[i]
		copy(out[len(hdr)+s.off:], s.pkt[s.hdrLen:])
	}
	return out
}

// outBuffer returns the assembly buffer cut to n bytes, growing it within
// MaxMemory (evicting datagrams other than keep), or nil. It is the
// Reassembler's, not a source's: only the total is charged.
func (r *Reassembler) outBuffer(n int, keep *datagram) []byte {
	if cap(r.out) < n {
		c := max(n, min(2*cap(r.out), 1<<maxClassShift))
		if !r.reserve(c-cap(r.out), keep) {
			return nil
		}
		r.mem += c - cap(r.out)
		r.out = make([]byte, 0, c)
	}
	return r.out[:n]
}

// position returns the index of the first span whose offset is >= off.
func (d *datagram) position(off int) int {
	lo, hi := 0, len(d.spans)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if d.spans[m].off < off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

type collision uint8

const (
	collideNone collision = iota
	collideDuplicate
	collideOverlap
)

// collides tells how f's range [f.off, end) meets the spans around index i.
//
// RFC 5722 4 (and erratum 3089) discards a datagram with overlapping
// fragments; we do the same for IPv4, as Linux does (IPFRAG_OVERLAP kills the
// queue). A fragment identical to one held, same range and same bytes, is a
// copy the network made, not an overlap: it is dropped and the datagram kept,
// like Linux's IPFRAG_DUP. Linux also lets through a fragment lying inside a
// run of held ones without comparing bytes; we are stricter: any other
// intersection, or a same-range fragment with different bytes, is an overlap.
func (d *datagram) collides(i int, f *frag, end int) collision {
	if i < len(d.spans) && d.spans[i].off == f.off && d.spans[i].end == end {
		s := &d.spans[i]
		if bytes.Equal(s.pkt[s.hdrLen:], f.pkt[f.hdrLen:]) {
			return collideDuplicate
		}
		return collideOverlap
	}
	if i > 0 && d.spans[i-1].end > f.off || i < len(d.spans) && d.spans[i].off < end {
		return collideOverlap
	}
	return collideNone
}

func drop(r Reason) Result { return Result{Verdict: Dropped, Reason: r} }
