package ipfrag

import (
	"encoding/binary"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// IPv6 fixed-header fields this file rewrites (RFC 8200 3).
const (
	v6PayloadLen = 4
	v6ECNMask    = 0x30 // the ECN bits of the traffic class, in byte 1
)

// InputIPv6 takes one IPv6 packet as read from the link at time now (which
// also drives expiry, as Expire does). It walks the extension headers with
// segment.WalkIPv6:
//   - no fragment header: NotFragment if the walk succeeded (pkt is not
//     touched), else Dropped with ReasonMalformed and the walk's Parameter
//     Problem, if any, in the Result;
//   - an atomic fragment (RFC 6946): Complete at once with the fragment
//     header spliced out, whatever is queued under its ID;
//   - a fragment: copied (pkt is not retained), and Held, Dropped or
//     Complete. A fragment whose data is not a multiple of 8 while M is set
//     (ReasonBadLength) or that would take the payload past 65535 bytes
//     (ReasonTooBig) asks for Parameter Problem code 0 (RFC 8200 4.5); a
//     first fragment without the whole header chain (ReasonTiny) asks for
//     code 3 (RFC 7112 5).
//
// Never panics, whatever pkt holds.
func (r *Reassembler) InputIPv6(pkt []byte, now time.Time) Result {
	r.Expire(now)
	var c segment.IPv6Chain
	err := segment.WalkIPv6(pkt, &c)
	if !c.HasFragment {
		if err == nil {
			return Result{Verdict: NotFragment}
		}
		r.stats.Malformed++
		return problem(drop(ReasonMalformed), &c)
	}
	switch err {
	case nil:
	case segment.ErrFragmentLength:
		r.stats.FragmentsIn++
		if c.Pointer == v6PayloadLen {
			r.stats.BadLength++
			return problem(drop(ReasonBadLength), &c)
		}
		r.stats.TooBig++
		return problem(drop(ReasonTooBig), &c)
	case segment.ErrIncompleteChain:
		r.stats.FragmentsIn++
		r.stats.Tiny++
		return problem(drop(ReasonTiny), &c)
	default:
		r.stats.Malformed++
		return problem(drop(ReasonMalformed), &c)
	}
	fh := &c.Fragment
	ip := segment.IPv6(pkt)
	pkt = pkt[:c.End]
	if fh.Atomic() {
		return r.atomic(pkt, fh)
	}
	f := frag{
		pkt:    pkt,
		hdrLen: fh.DataOffset(),
		off:    fh.Offset,
		more:   fh.More,
		ecn:    ip.TrafficClass() & 3,
		maxEnd: segment.IPv6MaxPayloadLen - (fh.HeaderOffset - segment.IPv6HeaderLen),
		fhOff:  fh.HeaderOffset,
		nhOff:  fh.PrevField,
	}
	f.key.fam = fam6
	f.key.src = ip.Src().As16()
	f.key.dst = ip.Dst().As16()
	f.key.id = fh.ID
	return r.insert(&f, now)
}

// problem copies the walk's Parameter Problem, if any, into res.
func problem(res Result, c *segment.IPv6Chain) Result {
	if c.Problem {
		res.ParamProblem, res.ParamCode, res.ParamPointer = true, c.ProblemCode, c.Pointer
	}
	return res
}

// atomic returns the atomic fragment pkt as a whole datagram. RFC 6946 4: "A
// host that receives an IPv6 packet that includes a Fragment Header with the
// "Fragment Offset" equal to 0 and the "M" flag equal to 0 MUST process such
// packet in isolation from any other packets/fragments, even if such
// packets/fragments contain the same set {IPv6 Source Address, IPv6
// Destination Address, Fragment Identification}."
func (r *Reassembler) atomic(pkt []byte, fh *segment.IPv6Fragment) Result {
	data := pkt[fh.DataOffset():]
	out := r.outBuffer(fh.HeaderOffset+len(data), nil)
	if out == nil {
		r.stats.MemoryEvictions++
		return drop(ReasonMemory)
	}
	copy(out, pkt[:fh.HeaderOffset])
	copy(out[fh.HeaderOffset:], data)
	splice6(out, fh.PrevField, fh.NextHeader)
	r.stats.Atomic++
	return Result{Verdict: Complete, Packet: out}
}

// splice6 finishes an IPv6 packet whose fragment header was cut out: the
// header that named it names what followed it (RFC 8200 4.5, "the Next Header
// field of the last header of the Unfragmentable Part is obtained from the
// Next Header field of the first fragment's Fragment header"), and the
// payload length is recomputed.
func splice6(out []byte, prevField int, next uint8) {
	out[prevField] = next
	binary.BigEndian.PutUint16(out[v6PayloadLen:], uint16(len(out)-segment.IPv6HeaderLen))
}

// finish6 builds the reassembled IPv6 datagram from the first fragment's
// Unfragmentable Part and every fragment's data (RFC 8200 4.5).
func (r *Reassembler) finish6(d *datagram) Result {
	first := &d.spans[0]
	if first.fhOff-segment.IPv6HeaderLen+d.total > segment.IPv6MaxPayloadLen {
		// The first fragment's Unfragmentable Part is longer than the
		// later fragments allowed for.
		r.stats.TooBig++
		return drop(ReasonTooBig)
	}
	out := r.assemble(d, first.pkt[:first.fhOff])
	if out == nil {
		r.stats.MemoryEvictions++
		return drop(ReasonMemory)
	}
	splice6(out, first.nhOff, first.pkt[first.fhOff])
	if d.ecn&(1<<ecnCE) != 0 {
		out[1] |= v6ECNMask // RFC 3168 5.3
	}
	return Result{Verdict: Complete, Packet: out}
}
