package ipfrag

import (
	"encoding/binary"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// IPv4 header fields this file rewrites (RFC 791 3.1).
const (
	v4TotalLen  = 2
	v4FlagsFrag = 6
	v4Checksum  = 10
	v4FlagDF    = 0x4000
	v4FlagMF    = 0x2000
	v4OffMask   = 0x1fff
)

// InputIPv4 takes one IPv4 packet as read from the link at time now (which
// also drives expiry, as Expire does). A packet that is no fragment returns
// NotFragment and is not touched; a malformed header returns Dropped with
// ReasonMalformed. A fragment is copied (pkt is not retained) and returns
// Held, Dropped, or Complete with the reassembled datagram in Packet.
// Never panics, whatever pkt holds.
func (r *Reassembler) InputIPv4(pkt []byte, now time.Time) Result {
	r.Expire(now)
	ip := segment.IPv4(pkt)
	switch ip.Validate() {
	case nil:
		return Result{Verdict: NotFragment}
	case segment.ErrFragment:
	default:
		r.stats.Malformed++
		return drop(ReasonMalformed)
	}
	hl := ip.HeaderLen()
	f := frag{
		pkt:    pkt[:ip.TotalLen()],
		hdrLen: hl,
		off:    int(ip.FragOffset()) * 8,
		more:   ip.MoreFragments(),
		ecn:    ip.TOS() & 3,
		maxEnd: segment.IPv4MaxTotalLen - hl,
	}
	f.key.fam = fam4
	f.key.src = ip.Src().As16()
	f.key.dst = ip.Dst().As16()
	f.key.proto = ip.Protocol()
	f.key.id = uint32(ip.ID())
	if f.key.proto == segment.ProtocolTCP && tinyTCP(f.off, f.pkt[hl:]) {
		r.stats.FragmentsIn++
		r.stats.Tiny++
		return drop(ReasonTiny)
	}
	return r.insert(&f, now)
}

// tinyTCP applies RFC 1858's defences to a TCP fragment with data at byte
// offset off. RFC 1858 3.2: a fragment at offset 8 bytes (FO=1) can only be
// there to overwrite the TCP flags, "if FO=1 and PROTOCOL=TCP then drop
// packet". RFC 1858 3.1 (tiny fragments): the first fragment must hold the
// whole TCP header, up to the length its data offset field gives, so that a
// filter sees the flags and the ports in it.
func tinyTCP(off int, data []byte) bool {
	switch off {
	case 8:
		return true
	case 0:
		const doff = 12 // TCP data offset byte (RFC 9293 3.1)
		if len(data) < segment.TCPMinHeaderLen {
			return true
		}
		return len(data) < max(int(data[doff]>>4)*4, segment.TCPMinHeaderLen)
	}
	return false
}

// finish4 builds the reassembled IPv4 datagram: the first fragment's header
// (with its options: RFC 791 3.2, the options not copied into later fragments
// are in the first), total length set, MF and offset cleared, the header
// checksum recomputed.
func (r *Reassembler) finish4(d *datagram) Result {
	first := &d.spans[0]
	hl := first.hdrLen
	if hl+d.total > segment.IPv4MaxTotalLen {
		// The first fragment's options made the datagram longer than
		// the later fragments allowed for.
		r.stats.TooBig++
		return drop(ReasonTooBig)
	}
	out := r.assemble(d, first.pkt[:hl])
	if out == nil {
		r.stats.MemoryEvictions++
		return drop(ReasonMemory)
	}
	binary.BigEndian.PutUint16(out[v4TotalLen:], uint16(len(out)))
	ff := binary.BigEndian.Uint16(out[v4FlagsFrag:])
	binary.BigEndian.PutUint16(out[v4FlagsFrag:], ff&^(v4FlagMF|v4OffMask))
	if d.ecn&(1<<ecnCE) != 0 {
		out[1] |= ecnCE // RFC 3168 5.3
	}
	out[v4Checksum], out[v4Checksum+1] = 0, 0
	binary.BigEndian.PutUint16(out[v4Checksum:], segment.Checksum(out[:hl], 0))
	return Result{Verdict: Complete, Packet: out}
}
