package ipfrag

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

// collect runs a fragmentation function and returns copies of the fragments.
func collect(t *testing.T, run func(emit func([]byte) error) error) [][]byte {
	t.Helper()
	var out [][]byte
	if err := run(func(f []byte) error { out = append(out, slices.Clone(f)); return nil }); err != nil {
		t.Fatalf("fragmenting: %v", err)
	}
	return out
}

// TestFragmentIPv4RoundTrip: FragmentIPv4 then the Reassembler gives back
// the packet byte for byte, for many sizes and MTUs, with and without
// options; every fragment is valid, fits the MTU and has 8-byte aligned data.
func TestFragmentIPv4RoundTrip(t *testing.T) {
	opts := []byte{0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0} // router alert (copied), record route (not)
	for _, withOpts := range []bool{false, true} {
		for _, size := range []int{1, 100, 1472, 1473, 4000, 9000, 65515 - len(opts)} {
			for _, mtu := range []int{68, 576, 1280, 1500, 9000} {
				whole := datagram4(src4, segment.ProtocolICMP, uint16(size), size, uint64(mtu))
				if withOpts {
					whole = withOptions(whole, opts)
				}
				buf := make([]byte, mtu)
				frags := collect(t, func(emit func([]byte) error) error { return FragmentIPv4(whole, mtu, buf, emit) })
				if len(whole) <= mtu && len(frags) != 1 {
					t.Fatalf("size %d mtu %d: %d fragments for a packet that fits", size, mtu, len(frags))
				}
				for i, f := range frags {
					ip := segment.IPv4(f)
					if err := ip.Validate(); err != nil && err != segment.ErrFragment {
						t.Fatalf("size %d mtu %d fragment %d: %v", size, mtu, i, err)
					}
					if len(f) > mtu || (ip.MoreFragments() && len(ip.Payload())%8 != 0) {
						t.Fatalf("size %d mtu %d fragment %d: %d bytes, data %d", size, mtu, i, len(f), len(ip.Payload()))
					}
					if withOpts && i > 0 && ip.HeaderLen() != 24 {
						t.Fatalf("later fragment header %d bytes, want 24 (copied option only)", ip.HeaderLen())
					}
				}
				r := New(Config{MaxFragments: 2000})
				res := feed4(t, r, t0, frags...)
				if len(frags) == 1 {
					if res.Verdict != NotFragment || string(frags[0]) != string(whole) {
						t.Fatalf("size %d mtu %d: single fragment %v", size, mtu, res.Verdict)
					}
					continue
				}
				wantComplete(t, res, whole)
			}
		}
	}
}

func TestFragmentIPv4Errors(t *testing.T) {
	whole := datagram4(src4, segment.ProtocolICMP, 1, 2000, 1)
	buf := make([]byte, 1500)
	none := func([]byte) error { t.Fatal("emitted"); return nil }
	df := slices.Clone(whole)
	df[6] |= 0x40
	fixCsum4(df)
	bad := slices.Clone(whole)
	bad[10] ^= 1
	cases := []struct {
		name string
		pkt  []byte
		mtu  int
		buf  []byte
		want error
	}{
		{"DF", df, 1500, buf, ErrDontFragment},
		{"mtu 67", whole, 67, buf, ErrMTU},
		{"small buffer", whole, 1500, buf[:1000], ErrBufferTooSmall},
		{"bad checksum", bad, 1500, buf, ErrMalformed},
		{"short", whole[:10], 1500, buf, ErrMalformed},
	}
	for _, c := range cases {
		if err := FragmentIPv4(c.pkt, c.mtu, c.buf, none); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// DF on a packet that fits is no error.
	n := 0
	if err := FragmentIPv4(df, 2020, nil, func([]byte) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("fitting DF packet: %v, %d emitted", err, n)
	}
	// emit's error stops the loop.
	stop := errors.New("stop")
	n = 0
	if err := FragmentIPv4(whole, 576, buf, func([]byte) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("emit error: %v after %d", err, n)
	}
}

// TestFragmentIPv4Refragment: a fragment cut again keeps its offset and MF.
func TestFragmentIPv4Refragment(t *testing.T) {
	whole := datagram4(src4, segment.ProtocolUDP, 5, 3000, 2)
	first, second := frag4(whole, 0, 1480, true), frag4(whole, 1480, 1520, false)
	var frags [][]byte
	for _, f := range [][]byte{first, second} {
		frags = append(frags, collect(t, func(emit func([]byte) error) error { return FragmentIPv4(f, 576, make([]byte, 576), emit) })...)
	}
	for i, f := range frags {
		mf := binary.BigEndian.Uint16(f[6:])&v4FlagMF != 0
		if mf != (i < len(frags)-1) {
			t.Fatalf("fragment %d MF %v", i, mf)
		}
	}
	wantComplete(t, feed4(t, New(Config{}), t0, frags...), whole)
}

func TestFragmentIPv4NoAllocs(t *testing.T) {
	whole := datagram4(src4, segment.ProtocolICMP, 1, 4000, 1)
	buf := make([]byte, 1500)
	emit := func([]byte) error { return nil }
	if n := testing.AllocsPerRun(100, func() { _ = FragmentIPv4(whole, 1500, buf, emit) }); n != 0 {
		t.Fatalf("%v allocs per run", n)
	}
}
