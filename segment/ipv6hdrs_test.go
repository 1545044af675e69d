package segment

import (
	"errors"
	"testing"
)

// TestWalkIPv6Headers: the headers of a packet whose payload lies
// elsewhere (the payload length counts bytes not in the buffer) walk as
// the whole packet would; WalkIPv6 refuses them.
func TestWalkIPv6Headers(t *testing.T) {
	whole := v6(addr6Stack, ProtocolDestOpts, ext(ProtocolTCP, 1, 4, 0, 0, 0, 0), tcp20, make([]byte, 1000))
	hdrs := whole[:IPv6HeaderLen+8+len(tcp20)]
	var c, w IPv6Chain
	if err := WalkIPv6(hdrs, &c); !errors.Is(err, ErrPayloadLength) {
		t.Fatalf("WalkIPv6 on headers only: %v, want ErrPayloadLength", err)
	}
	if err := WalkIPv6Headers(hdrs, &c); err != nil {
		t.Fatalf("WalkIPv6Headers: %v", err)
	}
	if err := WalkIPv6(whole, &w); err != nil {
		t.Fatal(err)
	}
	if c.Protocol != ProtocolTCP || c.Offset != 48 || c.End != len(hdrs) || c.Offset != w.Offset || c.Protocol != w.Protocol {
		t.Fatalf("headers-only chain %+v, whole packet's %+v", c, w)
	}

	atomic := v6(addr6Stack, ProtocolFragment, frag(ProtocolTCP, 0, false, 7), tcp20)
	if err := WalkIPv6Headers(atomic, &c); err != nil || !c.HasFragment || c.Offset != 48 {
		t.Fatalf("atomic fragment: %v %+v", err, c)
	}
	for name, tc := range map[string]struct {
		b   []byte
		err error
	}{
		"short":     {hdrs[:39], ErrShort},
		"version":   {append([]byte{0x40}, hdrs[1:]...), ErrVersion},
		"truncated": {hdrs[:44], ErrIPv6ExtHeader},
		"esp":       {v6(addr6Stack, 50, tcp20), ErrIPv6NextHeader},
	} {
		if err := WalkIPv6Headers(tc.b, &c); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", name, err, tc.err)
		}
	}
	if a := testing.AllocsPerRun(100, func() { _ = WalkIPv6Headers(hdrs, &c) }); a != 0 {
		t.Errorf("%v allocs", a)
	}
}

// FuzzWalkIPv6Headers: never panics, and on a packet WalkIPv6 accepts,
// the same bytes up to the payload's end give the same chain.
func FuzzWalkIPv6Headers(f *testing.F) {
	f.Add(mustHex(goldenIPv6SYN))
	f.Add(v6(addr6Stack, ProtocolHopByHop, ext(ProtocolDestOpts, 1, 4, 0, 0, 0, 0), ext(ProtocolTCP, 1, 4, 0, 0, 0, 0), tcp20))
	f.Add(v6(addr6Stack, ProtocolRouting, routing(ProtocolFragment, 0, 0), frag(ProtocolTCP, 0, false, 1), tcp20))
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, data []byte) {
		var c, w IPv6Chain
		err := WalkIPv6Headers(data, &c)
		if err == nil && (c.Offset < IPv6HeaderLen || c.Offset > len(data) || c.End != len(data)) {
			t.Fatalf("chain %+v for %d bytes", c, len(data))
		}
		if WalkIPv6(data, &w) != nil {
			return
		}
		if err := WalkIPv6Headers(data[:w.End], &c); err != nil || c != w {
			t.Fatalf("WalkIPv6 %+v, WalkIPv6Headers %+v (%v)", w, c, err)
		}
	})
}
