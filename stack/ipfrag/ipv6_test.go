package ipfrag

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// TestIPv6Orders: in-order, reverse and random arrival, with and without an
// Unfragmentable hop-by-hop header and a destination options header in the
// fragmentable part, give back the original packet byte for byte.
func TestIPv6Orders(t *testing.T) {
	layouts := []struct {
		name          string
		exts          []ext
		unfrag, field int
	}{
		{"plain", nil, 40, 6},
		{"hop-by-hop", []ext{{segment.ProtocolHopByHop, extHopByHop}}, 48, 40},
		{"hbh+routing+destopts", []ext{{segment.ProtocolHopByHop, extHopByHop}, {segment.ProtocolRouting, extRouting}, {segment.ProtocolDestOpts, extDestOpts}}, 56, 48},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, l := range layouts {
		whole := datagram6(src6, segment.ProtocolUDP, 5000, 1, l.exts...)
		frags := split6(whole, l.unfrag, l.field, 1232, 77)
		orders := [][][]byte{frags, reversed(frags)}
		for range 4 {
			p := slices.Clone(frags)
			rng.Shuffle(len(p), func(a, b int) { p[a], p[b] = p[b], p[a] })
			orders = append(orders, p)
		}
		for _, order := range orders {
			r := New(Config{})
			res := feed6(t, r, t0, order...)
			wantComplete(t, res, whole)
			if s := r.Stats(); s.Reassembled != 1 || s.FragmentsIn != uint64(len(frags)) {
				t.Fatalf("%s: stats %+v", l.name, s)
			}
			checkMem(t, r)
		}
	}
}

func wantProblem(t *testing.T, res Result, reason Reason, code uint8, ptr uint32) {
	t.Helper()
	wantDrop(t, res, reason)
	if !res.ParamProblem || res.ParamCode != code || res.ParamPointer != ptr {
		t.Fatalf("parameter problem %v code %d pointer %d, want code %d pointer %d", res.ParamProblem, res.ParamCode, res.ParamPointer, code, ptr)
	}
}

// TestIPv6Rules covers RFC 8200 4.5's checks with their Parameter Problems,
// RFC 7112 and RFC 5722.
func TestIPv6Rules(t *testing.T) {
	whole := datagram6(src6, segment.ProtocolUDP, 200, 2)
	r := New(Config{})
	// Not a multiple of 8 with M set: code 0, pointer to Payload Length.
	wantProblem(t, r.InputIPv6(frag6(whole, 40, 6, 0, 20, true, 1), t0), ReasonBadLength, 0, 4)
	// Past 65535: code 0, pointer to the Fragment Offset field (40+2).
	big := frag6(datagram6(src6, segment.ProtocolUDP, 65536, 2), 40, 6, 65520, 16, false, 1)
	wantProblem(t, r.InputIPv6(big, t0), ReasonTooBig, 0, 42)
	// RFC 7112: a first fragment without the whole UDP header: code 3,
	// pointer 0.
	dest := datagram6(src6, segment.ProtocolUDP, 200, 2, ext{segment.ProtocolDestOpts, extDestOpts})
	wantProblem(t, r.InputIPv6(frag6(dest, 40, 6, 0, 8, true, 1), t0), ReasonTiny, 3, 0)
	if s := r.Stats(); s.BadLength != 1 || s.TooBig != 1 || s.Tiny != 1 || r.InProgress() != 0 {
		t.Fatalf("stats %+v, %d in progress", s, r.InProgress())
	}
	// RFC 5722: an overlap discards the datagram and what follows.
	feed6(t, r, t0, frag6(whole, 40, 6, 0, 64, true, 2))
	wantDrop(t, r.InputIPv6(frag6(whole, 40, 6, 56, 64, true, 2), t0), ReasonOverlap)
	wantDrop(t, r.InputIPv6(frag6(whole, 40, 6, 64, 136, false, 2), t0), ReasonDiscarded)
	// A duplicate is dropped, the datagram completes.
	feed6(t, r, t0, frag6(whole, 40, 6, 0, 64, true, 3))
	wantDrop(t, r.InputIPv6(frag6(whole, 40, 6, 0, 64, true, 3), t0), ReasonDuplicate)
	wantComplete(t, r.InputIPv6(frag6(whole, 40, 6, 64, 136, false, 3), t0), whole)
	// A malformed packet and a packet with no fragment header.
	wantDrop(t, r.InputIPv6(whole[:30], t0), ReasonMalformed)
	if res := r.InputIPv6(whole, t0); res.Verdict != NotFragment {
		t.Fatalf("whole packet: %v", res.Verdict)
	}
	// Keys are (src, dst, id): another source's fragment is separate.
	other := datagram6(src6b, segment.ProtocolUDP, 200, 2)
	feed6(t, r, t0, frag6(whole, 40, 6, 0, 64, true, 4), frag6(other, 40, 6, 64, 136, false, 4))
	wantComplete(t, r.InputIPv6(frag6(other, 40, 6, 0, 64, true, 4), t0), other)
}

// TestIPv6Atomic: RFC 6946, an atomic fragment is a whole datagram, returned
// at once with the fragment header spliced out, and leaves a queue with the
// same ID alone.
func TestIPv6Atomic(t *testing.T) {
	whole := datagram6(src6, segment.ProtocolUDP, 300, 3, ext{segment.ProtocolHopByHop, extHopByHop})
	small := datagram6(src6, segment.ProtocolICMPv6, 40, 4, ext{segment.ProtocolHopByHop, extHopByHop})
	r := New(Config{})
	feed6(t, r, t0, frag6(whole, 48, 40, 0, 160, true, 9))
	atomic := frag6(small, 48, 40, 0, len(small)-48, false, 9)
	wantComplete(t, r.InputIPv6(atomic, t0), small)
	wantComplete(t, r.InputIPv6(frag6(whole, 48, 40, 160, len(whole)-48-160, false, 9), t0), whole)
	if s := r.Stats(); s.Atomic != 1 || s.Reassembled != 1 || s.FragmentsIn != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// TestIPv6Timeout: 60 s (RFC 8200 4.5), and the first fragment reported.
func TestIPv6Timeout(t *testing.T) {
	var got []byte
	r := New(Config{TimeExceeded: func(f []byte) { got = slices.Clone(f) }})
	whole := datagram6(src6, segment.ProtocolUDP, 300, 5)
	first := frag6(whole, 40, 6, 0, 160, true, 1)
	feed6(t, r, t0, first)
	r.Expire(t0.Add(DefaultTimeoutIPv6 - time.Nanosecond))
	if got != nil || r.InProgress() != 1 {
		t.Fatal("expired before 60 s")
	}
	r.Expire(t0.Add(DefaultTimeoutIPv6))
	if string(got) != string(first) || r.Stats().TimeExceeded != 1 || r.InProgress() != 0 {
		t.Fatalf("reported %d bytes, stats %+v", len(got), r.Stats())
	}
}

// TestFragmentIPv6RoundTrip: FragmentIPv6 then the Reassembler is the
// identity, every fragment fits the MTU and walks cleanly.
func TestFragmentIPv6RoundTrip(t *testing.T) {
	layouts := [][]ext{
		nil,
		{{segment.ProtocolHopByHop, extHopByHop}},
		{{segment.ProtocolDestOpts, extDestOpts}, {segment.ProtocolRouting, extRouting}, {segment.ProtocolDestOpts, extDestOpts}},
	}
	for li, exts := range layouts {
		for _, size := range []int{100, 1232, 1233, 4000, 65535 - 24} {
			for _, mtu := range []int{1280, 1500, 9000} {
				whole := datagram6(src6, segment.ProtocolICMPv6, size, uint64(mtu), exts...)
				buf := make([]byte, mtu)
				frags := collect(t, func(emit func([]byte) error) error { return FragmentIPv6(whole, mtu, 0xabcd, buf, emit) })
				for i, f := range frags {
					var c segment.IPv6Chain
					if err := segment.WalkIPv6(f, &c); err != nil || len(f) > mtu {
						t.Fatalf("layout %d size %d mtu %d fragment %d: %v, %d bytes", li, size, mtu, i, err, len(f))
					}
					if len(frags) > 1 && (!c.HasFragment || c.Fragment.ID != 0xabcd) {
						t.Fatalf("fragment %d: no fragment header with the ID", i)
					}
				}
				r := New(Config{MaxFragments: 100})
				res := feed6(t, r, t0, frags...)
				if len(frags) == 1 {
					if res.Verdict != NotFragment || string(frags[0]) != string(whole) {
						t.Fatalf("single fragment: %v", res.Verdict)
					}
					continue
				}
				wantComplete(t, res, whole)
			}
		}
	}
}

func TestFragmentIPv6Errors(t *testing.T) {
	whole := datagram6(src6, segment.ProtocolICMPv6, 3000, 1)
	buf := make([]byte, 1500)
	none := func([]byte) error { t.Fatal("emitted"); return nil }
	for _, c := range []struct {
		name string
		pkt  []byte
		mtu  int
		buf  []byte
		want error
	}{
		{"mtu 1279", whole, 1279, buf, ErrMTU},
		{"small buffer", whole, 1500, buf[:1400], ErrBufferTooSmall},
		{"already a fragment", frag6(whole, 40, 6, 0, 1600, true, 1), 1500, buf, ErrMalformed},
		{"short", whole[:20], 1500, buf, ErrMalformed},
	} {
		if err := FragmentIPv6(c.pkt, c.mtu, 1, c.buf, none); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	emit := func([]byte) error { return nil }
	if n := testing.AllocsPerRun(100, func() { _ = FragmentIPv6(whole, 1500, 1, buf, emit) }); n != 0 {
		t.Fatalf("%v allocs per run", n)
	}
}
