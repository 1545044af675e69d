package ipfrag

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

func TestIPv4Orders(t *testing.T) {
	whole := datagram4(src4, segment.ProtocolUDP, 0x1234, 4000, 1)
	frags := split4(whole, 1480)
	rng := rand.New(rand.NewPCG(3, 4))
	orders := map[string][][]byte{
		"in-order": frags,
		"reverse":  reversed(frags),
	}
	for i := range 5 {
		p := slices.Clone(frags)
		rng.Shuffle(len(p), func(a, b int) { p[a], p[b] = p[b], p[a] })
		orders["random"+string(rune('0'+i))] = p
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			r := New(Config{})
			wantComplete(t, feed4(t, r, t0, order...), whole)
			if s := r.Stats(); s.Reassembled != 1 || s.FragmentsIn != uint64(len(frags)) {
				t.Fatalf("stats %+v", s)
			}
			if r.InProgress() != 0 {
				t.Fatalf("%d datagrams left in progress", r.InProgress())
			}
			checkMem(t, r)
		})
	}
}

func reversed(s [][]byte) [][]byte {
	s = slices.Clone(s)
	slices.Reverse(s)
	return s
}

func TestIPv4NotFragmentAndMalformed(t *testing.T) {
	r := New(Config{})
	whole := datagram4(src4, segment.ProtocolUDP, 1, 100, 1)
	if res := r.InputIPv4(whole, t0); res.Verdict != NotFragment {
		t.Fatalf("whole packet: %v", res.Verdict)
	}
	bad := frag4(whole, 0, 16, true)
	bad[10] ^= 0xff // checksum
	wantDrop(t, r.InputIPv4(bad, t0), ReasonMalformed)
	wantDrop(t, r.InputIPv4(nil, t0), ReasonMalformed)
	wantDrop(t, r.InputIPv4(bad[:10], t0), ReasonMalformed)
	if s := r.Stats(); s.Malformed != 3 || s.FragmentsIn != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestIPv4Duplicates: an exact copy of a held fragment is dropped and the
// datagram completes; a same-range fragment with other bytes is an overlap.
func TestIPv4Duplicates(t *testing.T) {
	whole := datagram4(src4, segment.ProtocolUDP, 7, 3000, 2)
	frags := split4(whole, 1000)
	r := New(Config{})
	feed4(t, r, t0, frags[0], frags[2])
	wantDrop(t, r.InputIPv4(frags[0], t0), ReasonDuplicate)
	wantDrop(t, r.InputIPv4(frags[2], t0), ReasonDuplicate)
	wantComplete(t, r.InputIPv4(frags[1], t0), whole)
	if s := r.Stats(); s.Duplicates != 2 || s.Reassembled != 1 || s.Overlaps != 0 {
		t.Fatalf("stats %+v", s)
	}

	r = New(Config{})
	feed4(t, r, t0, frags[0])
	other := slices.Clone(frags[0])
	other[len(other)-1] ^= 1
	fixCsum4(other)
	wantDrop(t, r.InputIPv4(other, t0), ReasonOverlap)
	if s := r.Stats(); s.Overlaps != 1 || s.Duplicates != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestIPv4Overlaps: every way a fragment can overlap held ones discards the
// whole datagram, and its later fragments too until it times out (RFC 5722
// 4, applied to IPv4 as Linux does); after the timeout the same key
// reassembles afresh.
func TestIPv4Overlaps(t *testing.T) {
	whole := datagram4(src4, segment.ProtocolUDP, 9, 64, 3)
	held := [][]byte{frag4(whole, 16, 16, true), frag4(whole, 40, 8, true)} // [16,32) [40,48)
	cases := []struct {
		name      string
		off, n    int
		more      bool
		afterLast bool // send the last fragment [48,64) first
	}{
		{"left edge", 8, 16, true, false},
		{"right edge", 24, 16, true, false},
		{"inside", 16, 8, true, false},
		{"inside-tail", 24, 8, true, false},
		{"covering", 8, 32, true, false},
		{"covering two", 16, 32, true, false},
		{"same start longer", 16, 24, true, false},
		{"same end earlier start", 8, 24, true, false},
		{"into the last", 40, 16, true, true},
		{"last over held", 24, 40, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New(Config{})
			feed4(t, r, t0, held...)
			last := frag4(whole, 48, 16, false)
			if c.afterLast {
				feed4(t, r, t0, last)
			}
			wantDrop(t, r.InputIPv4(frag4(whole, c.off, c.n, c.more), t0), ReasonOverlap)
			// The rest of the datagram, non-overlapping, is dropped.
			for _, f := range [][]byte{frag4(whole, 0, 16, true), frag4(whole, 32, 8, true), last} {
				wantDrop(t, r.InputIPv4(f, t0.Add(r.cfg.TimeoutIPv4-1)), ReasonDiscarded)
			}
			s := r.Stats()
			if s.Overlaps != 1 || s.Discarded != 3 || s.Reassembled != 0 {
				t.Fatalf("stats %+v", s)
			}
			checkMem(t, r)
			// Discarded datagrams time out silently; then the key is free.
			later := t0.Add(r.cfg.TimeoutIPv4)
			if n := r.Expire(later); n != 1 || r.Stats().Timeouts != 0 {
				t.Fatalf("expired %d, timeouts %d", n, r.Stats().Timeouts)
			}
			wantComplete(t, feed4(t, r, later, split4(whole, 16)...), whole)
		})
	}
}

// TestIPv4BadLengths covers RFC 791's multiple-of-8 rule, empty fragments,
// and the end of the datagram as fixed by the last fragment.
func TestIPv4BadLengths(t *testing.T) {
	whole := datagram4(src4, segment.ProtocolUDP, 11, 100, 4)
	type step struct {
		off, n int
		more   bool
		want   Reason // ReasonNone: held
	}
	cases := []struct {
		name    string
		steps   []step
		counter func(Stats) uint64
	}{
		{"not multiple of 8", []step{{0, 12, true, ReasonBadLength}}, func(s Stats) uint64 { return s.BadLength }},
		{"empty", []step{{8, 0, true, ReasonBadLength}}, func(s Stats) uint64 { return s.BadLength }},
		{"empty last", []step{{8, 0, false, ReasonBadLength}}, func(s Stats) uint64 { return s.BadLength }},
		{"second last, other end", []step{{80, 20, false, 0}, {72, 20, false, ReasonInconsistent}}, func(s Stats) uint64 { return s.Inconsistent }},
		{"data beyond the end", []step{{40, 20, false, 0}, {56, 8, true, ReasonInconsistent}}, func(s Stats) uint64 { return s.Inconsistent }},
		{"last before held data", []step{{80, 8, true, 0}, {40, 20, false, ReasonInconsistent}}, func(s Stats) uint64 { return s.Inconsistent }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New(Config{})
			for _, s := range c.steps {
				res := r.InputIPv4(frag4(whole, s.off, s.n, s.more), t0)
				if s.want == ReasonNone {
					if res.Verdict != Held {
						t.Fatalf("step %+v: %v %v", s, res.Verdict, res.Reason)
					}
					continue
				}
				wantDrop(t, res, s.want)
			}
			if c.counter(r.Stats()) != 1 {
				t.Fatalf("stats %+v", r.Stats())
			}
			checkMem(t, r)
		})
	}
	// The datagram survives a rejected fragment: it still completes.
	r := New(Config{})
	feed4(t, r, t0, frag4(whole, 80, 20, false))
	wantDrop(t, r.InputIPv4(frag4(whole, 72, 20, false), t0), ReasonInconsistent)
	wantComplete(t, feed4(t, r, t0, frag4(whole, 0, 80, true)), whole)
}

// TestIPv4TooBig: data that would take the datagram past 65535 bytes.
func TestIPv4TooBig(t *testing.T) {
	r := New(Config{})
	whole := datagram4(src4, segment.ProtocolUDP, 12, 65515, 5)
	f := frag4(whole, 65496, 16, true) // ends at 65512: 20+65512 fits
	if res := r.InputIPv4(f, t0); res.Verdict != Held {
		t.Fatalf("fitting fragment: %v %v", res.Verdict, res.Reason)
	}
	big := make([]byte, 20+24)
	copy(big, frag4(whole, 65496, 16, true)[:20])
	big[2], big[3] = 0, 44
	binary.BigEndian.PutUint16(big[6:], v4FlagMF|65512/8) // offset 65512, 24 bytes: ends at 65536
	fixCsum4(big)
	wantDrop(t, r.InputIPv4(big, t0), ReasonTooBig)
	// Reassembling the largest legal datagram works.
	wantComplete(t, feed4(t, New(Config{}), t0, split4(whole, 1480)...), whole)
}

// TestIPv4Tiny: RFC 1858's defences for TCP, and that other protocols are
// not affected.
func TestIPv4Tiny(t *testing.T) {
	tcp := datagram4(src4, segment.ProtocolTCP, 13, 200, 6)
	r := New(Config{})
	wantDrop(t, r.InputIPv4(frag4(tcp, 8, 16, true), t0), ReasonTiny) // FO=1
	wantDrop(t, r.InputIPv4(frag4(tcp, 0, 16, true), t0), ReasonTiny) // shorter than 20
	tcp[20+12] = 15 << 4                                              // 60-byte TCP header
	wantDrop(t, r.InputIPv4(frag4(tcp, 0, 56, true), t0), ReasonTiny) // header cut
	if r.Stats().Tiny != 3 || r.InProgress() != 0 {
		t.Fatalf("stats %+v, %d in progress", r.Stats(), r.InProgress())
	}
	wantComplete(t, feed4(t, r, t0, frag4(tcp, 0, 64, true), frag4(tcp, 64, 136, false)), tcp)

	udp := datagram4(src4, segment.ProtocolUDP, 13, 24, 6)
	wantComplete(t, feed4(t, New(Config{}), t0, frag4(udp, 8, 16, false), frag4(udp, 0, 8, true)), udp)
}

// TestIPv4ECN: RFC 3168 5.3.
func TestIPv4ECN(t *testing.T) {
	whole := datagram4(src4, segment.ProtocolUDP, 14, 32, 7)
	withECN := func(f []byte, ecn byte) []byte {
		f[1] = f[1]&^3 | ecn
		fixCsum4(f)
		return f
	}
	r := New(Config{})
	res := feed4(t, r, t0, withECN(frag4(whole, 0, 16, true), 0), withECN(frag4(whole, 16, 16, false), 2))
	wantDrop(t, res, ReasonECN)
	if r.Stats().ECN != 1 {
		t.Fatalf("stats %+v", r.Stats())
	}
	res = feed4(t, r, t0, withECN(frag4(whole, 0, 16, true), 3), withECN(frag4(whole, 16, 16, false), 2))
	want := withECN(slices.Clone(whole), 3)
	wantComplete(t, res, want)
}

// TestIPv4Options: the reassembled header is the first fragment's, options
// included.
func TestIPv4Options(t *testing.T) {
	whole := withOptions(datagram4(src4, segment.ProtocolUDP, 15, 300, 8), []byte{0x94, 4, 0, 0, 7, 11, 4, 1}) // router alert (copied) + record route (not)
	frags := [][]byte{frag4(whole, 0, 104, true), frag4(whole, 104, 196, false)}
	// A later fragment with a shorter header (the copied option only).
	frags[1] = slices.Concat(frags[1][:20], []byte{0x94, 4, 0, 0}, frags[1][28:])
	frags[1][0] = 0x46
	frags[1][3] -= 4
	fixCsum4(frags[1])
	wantComplete(t, feed4(t, New(Config{}), t0, frags[1], frags[0]), whole)
}

// withOptions inserts IPv4 options (a multiple of 4 bytes) into pkt.
func withOptions(pkt, opts []byte) []byte {
	out := slices.Concat(pkt[:20], opts, pkt[20:])
	out[0] = 4<<4 | byte((20+len(opts))/4)
	out[2], out[3] = byte(len(out)>>8), byte(len(out))
	fixCsum4(out)
	return out
}

// TestIPv4KeyIncludesProtocol: RFC 791 2.3, fragments differing only in
// protocol belong to different datagrams.
func TestIPv4KeyIncludesProtocol(t *testing.T) {
	a := datagram4(src4, segment.ProtocolUDP, 16, 64, 9)
	b := datagram4(src4, segment.ProtocolICMP, 16, 64, 10)
	r := New(Config{})
	feed4(t, r, t0, frag4(a, 0, 32, true), frag4(b, 32, 32, false))
	wantComplete(t, r.InputIPv4(frag4(b, 0, 32, true), t0), b)
	wantComplete(t, r.InputIPv4(frag4(a, 32, 32, false), t0), a)
}
