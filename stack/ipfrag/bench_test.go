package ipfrag

import (
	"testing"

	"github.com/tunstack/tunstack/segment"
)

// reassembleAll feeds frags (one datagram) and fails unless it completes.
func reassembleAll(tb testing.TB, input func([]byte) Result, frags [][]byte) {
	for i, f := range frags {
		if res := input(f); (res.Verdict == Complete) != (i == len(frags)-1) {
			tb.Fatalf("fragment %d: %v %v", i, res.Verdict, res.Reason)
		}
	}
}

func BenchmarkReassembleIPv4(b *testing.B) {
	whole := datagram4(src4, segment.ProtocolICMP, 1, 4000, 1)
	frags := split4(whole, 1480)
	r := New(Config{})
	input := func(f []byte) Result { return r.InputIPv4(f, t0) }
	b.SetBytes(int64(len(whole)))
	b.ReportAllocs()
	for b.Loop() {
		reassembleAll(b, input, frags)
	}
}

func BenchmarkReassembleIPv6(b *testing.B) {
	whole := datagram6(src6, segment.ProtocolICMPv6, 4000, 1)
	frags := split6(whole, 40, 6, 1232, 1)
	r := New(Config{})
	input := func(f []byte) Result { return r.InputIPv6(f, t0) }
	b.SetBytes(int64(len(whole)))
	b.ReportAllocs()
	for b.Loop() {
		reassembleAll(b, input, frags)
	}
}

// BenchmarkInputNotFragment is the cost on a packet that is no fragment.
func BenchmarkInputNotFragment(b *testing.B) {
	pkt := datagram4(src4, segment.ProtocolTCP, 1, 1460, 1)
	r := New(Config{})
	b.ReportAllocs()
	for b.Loop() {
		if r.InputIPv4(pkt, t0).Verdict != NotFragment {
			b.Fatal("not NotFragment")
		}
	}
}

func BenchmarkAtomicIPv6(b *testing.B) {
	whole := datagram6(src6, segment.ProtocolICMPv6, 1000, 1)
	atomic := frag6(whole, 40, 6, 0, len(whole)-40, false, 1)
	r := New(Config{})
	b.ReportAllocs()
	for b.Loop() {
		if r.InputIPv6(atomic, t0).Verdict != Complete {
			b.Fatal("not complete")
		}
	}
}

func BenchmarkFragmentIPv4(b *testing.B) {
	whole := datagram4(src4, segment.ProtocolICMP, 1, 4000, 1)
	buf := make([]byte, 1500)
	emit := func([]byte) error { return nil }
	b.SetBytes(int64(len(whole)))
	b.ReportAllocs()
	for b.Loop() {
		if err := FragmentIPv4(whole, 1500, buf, emit); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFragmentIPv6(b *testing.B) {
	whole := datagram6(src6, segment.ProtocolICMPv6, 4000, 1)
	buf := make([]byte, 1500)
	emit := func([]byte) error { return nil }
	b.SetBytes(int64(len(whole)))
	b.ReportAllocs()
	for b.Loop() {
		if err := FragmentIPv6(whole, 1500, 1, buf, emit); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReassembleNoAllocs: once its buffers are warm, the Reassembler
// reassembles without allocating (recycled fragment buffers, datagram
// structs and assembly buffer).
func TestReassembleNoAllocs(t *testing.T) {
	w4 := split4(datagram4(src4, segment.ProtocolICMP, 1, 4000, 1), 1480)
	w6 := split6(datagram6(src6, segment.ProtocolICMPv6, 4000, 1), 40, 6, 1232, 1)
	r := New(Config{})
	in4 := func(f []byte) Result { return r.InputIPv4(f, t0) }
	in6 := func(f []byte) Result { return r.InputIPv6(f, t0) }
	run := func() {
		reassembleAll(t, in4, w4)
		reassembleAll(t, in6, w6)
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocs per two datagrams", n)
	}
}
