package ipfrag

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// fuzzOp is the size of one operation in a fuzz program.
const fuzzOp = 6

// fuzzFragment builds the fragment one program step describes: op[0] picks
// the ID (low 3 bits), the source (next 2) and ECT(0) (bit 5); op[1:3] the
// offset in 8-byte units; op[3] and op[4]&7 the length; op[4]&8 MF. Data
// byte i of datagram (src, id) is always pattern(src, id, i), so that any
// completed datagram must hold the pattern and nothing else.
func fuzzFragment(v6 bool, op []byte) []byte {
	id := uint32(op[0] & 7)
	s := op[0] >> 3 & 3
	off := int(binary.BigEndian.Uint16(op[1:])&0x1fff) * 8
	n := int(op[3])*8 + int(op[4]&7)
	more := op[4]&8 != 0
	src := netip.AddrFrom4([4]byte{198, 18, 1, s})
	if v6 {
		src = netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 15: s})
	}
	var hl int
	var pkt []byte
	if v6 {
		hl = segment.IPv6HeaderLen + fragHeaderLen
		pkt = make([]byte, hl+n)
		// The destination carries the ID too, for checkComplete: the
		// reassembled packet has no fragment header left.
		dst := netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 15: 0x10 | byte(id)})
		h := segment.IPv6Header{NextHeader: segment.ProtocolFragment, HopLimit: 64, Src: src, Dst: dst}
		if op[0]&0x20 != 0 {
			h.TrafficClass = 2
		}
		segment.PutIPv6Header(pkt, &h, fragHeaderLen+n)
		fh := pkt[segment.IPv6HeaderLen:]
		fh[0] = segment.ProtocolUDP
		om := uint16(off)
		if more {
			om |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], om)
		binary.BigEndian.PutUint32(fh[4:], id)
	} else {
		hl = segment.IPv4MinHeaderLen
		if hl+n > segment.IPv4MaxTotalLen {
			n = segment.IPv4MaxTotalLen - hl
		}
		pkt = make([]byte, hl+n)
		h := segment.IPv4Header{ID: uint16(id), TTL: 64, Protocol: segment.ProtocolUDP, Src: src, Dst: dst4}
		if op[0]&0x20 != 0 {
			h.TOS = 2
		}
		segment.PutIPv4Header(pkt, &h, n)
		ff := uint16(off / 8)
		if more {
			ff |= v4FlagMF
		}
		binary.BigEndian.PutUint16(pkt[v4FlagsFrag:], ff)
		fixCsum4(pkt)
	}
	for i := range n {
		pkt[hl+i] = pattern(s, id, off+i)
	}
	return pkt
}

func pattern(s uint8, id uint32, i int) byte { return byte(i*7+int(id)*13+int(s)*31) ^ byte(i>>8) }

// checkComplete verifies a completed datagram: a valid, unfragmented packet
// whose data is the pattern of its source and ID.
func checkComplete(t *testing.T, v6 bool, pkt []byte) {
	t.Helper()
	var data []byte
	var s uint8
	var id uint32
	if v6 {
		var c segment.IPv6Chain
		if err := segment.WalkIPv6(pkt, &c); err != nil || c.HasFragment {
			t.Fatalf("reassembled IPv6 packet: %v, fragment header %v", err, c.HasFragment)
		}
		data, s, id = pkt[segment.IPv6HeaderLen:c.End], pkt[23], uint32(pkt[39]&7)
	} else {
		ip := segment.IPv4(pkt)
		if err := ip.Validate(); err != nil || int(ip.TotalLen()) != len(pkt) {
			t.Fatalf("reassembled IPv4 packet: %v", err)
		}
		data, s, id = ip.Payload(), pkt[15], uint32(ip.ID())
	}
	for i, b := range data {
		if b != pattern(s, id, i) {
			t.Fatalf("reassembled data differs from what was sent at byte %d", i)
		}
	}
}

// fuzzReassembler runs a program of fragments (and time steps: op[5] tenths
// of a second) through a small Reassembler, checking after every step that
// memory, per-source bytes and the datagram count stay under their bounds
// and add up, and that every completed datagram is exactly what was sent.
// Programs naturally make never-completing and overlapping storms.
func fuzzReassembler(t *testing.T, v6 bool, prog []byte) {
	r := New(Config{MaxMemory: MinMemory, MaxMemoryPerSource: MinMemory / 2, MaxDatagrams: 16, MaxFragments: 32})
	now := t0
	input := r.InputIPv4
	if v6 {
		input = r.InputIPv6
	}
	for ; len(prog) >= fuzzOp; prog = prog[fuzzOp:] {
		op := prog[:fuzzOp]
		now = now.Add(time.Duration(op[5]) * 100 * time.Millisecond)
		res := input(fuzzFragment(v6, op), now)
		if res.Verdict == Complete {
			checkComplete(t, v6, res.Packet)
		}
		checkMem(t, r)
		if r.InProgress() > 16 {
			t.Fatalf("%d datagrams in progress", r.InProgress())
		}
	}
	r.Expire(now.Add(time.Hour))
	if r.InProgress() != 0 || r.Memory() != r.pool.bytes+cap(r.out) {
		t.Fatalf("after expiry: %d in progress, %d bytes held", r.InProgress(), r.Memory())
	}
}

func fuzzSeeds(f *testing.F) {
	f.Add([]byte{})
	// In order, then reverse, a datagram of three fragments.
	f.Add([]byte{1, 0, 0, 4, 8, 0, 1, 0, 4, 4, 8, 0, 1, 0, 8, 4, 3, 0})
	f.Add([]byte{1, 0, 8, 4, 3, 0, 1, 0, 4, 4, 8, 0, 1, 0, 0, 4, 8, 0})
	// Overlap, then the rest.
	f.Add([]byte{2, 0, 0, 4, 8, 0, 2, 0, 2, 4, 8, 0, 2, 0, 4, 4, 3, 0})
	// Never completing, many IDs and sources, time passing.
	f.Add([]byte{3, 0, 0, 255, 8, 50, 12, 1, 0, 255, 8, 50, 21, 2, 0, 255, 8, 255, 30, 0, 0, 255, 8, 255})
}

func FuzzReassembleIPv4(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, prog []byte) { fuzzReassembler(t, false, prog) })
}

func FuzzReassembleIPv6(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, prog []byte) { fuzzReassembler(t, true, prog) })
}

// FuzzInput feeds arbitrary bytes to both inputs: no panic, and whatever
// completes is a valid packet.
func FuzzInput(f *testing.F) {
	whole := datagram6(src6, segment.ProtocolUDP, 100, 1)
	f.Add(frag6(whole, 40, 6, 0, 48, true, 1))
	f.Add(frag6(whole, 40, 6, 0, 100, false, 1))
	f.Add(frag4(datagram4(src4, segment.ProtocolTCP, 1, 100, 1), 0, 48, true))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		r := New(Config{})
		for _, v6 := range []bool{false, true} {
			input := r.InputIPv4
			if v6 {
				input = r.InputIPv6
			}
			if res := input(pkt, t0); res.Verdict == Complete {
				if v6 {
					var c segment.IPv6Chain
					if err := segment.WalkIPv6(res.Packet, &c); err != nil || c.HasFragment {
						t.Fatalf("atomic fragment result: %v", err)
					}
				} else {
					t.Fatal("a single IPv4 fragment completed")
				}
			}
			checkMem(t, r)
		}
	})
}
