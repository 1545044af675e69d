package segment

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// naiveSum is the RFC 1071 reference: add 16-bit big-endian words one by one
// into a wide accumulator, pad an odd byte with zero, fold at the end.
func naiveSum(b []byte, initial uint32) uint32 {
	s := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint32(s)
}

func naiveChecksum(b []byte, initial uint32) uint16 { return ^uint16(naiveSum(b, initial)) }

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Sum(b, 0); got != 0xddf2 {
		t.Fatalf("Sum = %#x, want 0xddf2", got)
	}
	if got := Checksum(b, 0); got != ^uint16(0xddf2) {
		t.Fatalf("Checksum = %#x, want %#x", got, ^uint16(0xddf2))
	}
}

func TestChecksumEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		initial uint32
		sum     uint32
	}{
		{"empty", nil, 0, 0},
		{"empty with initial", nil, 0x1234, 0x1234},
		{"initial folds", nil, 0xffffffff, 0xffff},
		{"initial carry", nil, 0x10000, 1},
		{"one byte", []byte{0xab}, 0, 0xab00},
		{"all ones 2", []byte{0xff, 0xff}, 0, 0xffff},
		{"carry wraps", []byte{0xff, 0xff, 0x00, 0x01}, 0, 0x0001},
		{"all ones 64", bytesOf(64, 0xff), 0, 0xffff},
		{"all ones 33", bytesOf(33, 0xff), 0, 0xff00},
		{"max initial and ones", bytesOf(40, 0xff), 0xffffffff, 0xffff},
	}
	for _, tc := range tests {
		if got := Sum(tc.b, tc.initial); got != tc.sum {
			t.Errorf("%s: Sum = %#x, want %#x", tc.name, got, tc.sum)
		}
		if got := naiveSum(tc.b, tc.initial); got != tc.sum {
			t.Errorf("%s: reference disagrees with the table: %#x", tc.name, got)
		}
	}
}

func bytesOf(n int, v byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	return b
}

// TestChecksumMatchesNaive compares the word-at-a-time sum with the
// byte-wise reference for every length 0..2000, at every alignment 0..7,
// with random data and random initial values, plus all-0xff data that
// stresses carries.
func TestChecksumMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	backing := make([]byte, 2000+8)
	for n := 0; n <= 2000; n++ {
		for off := 0; off < 8; off++ {
			b := backing[off : off+n]
			if (n+off)%3 == 0 {
				for i := range b {
					b[i] = 0xff
				}
			} else {
				for i := range b {
					b[i] = byte(r.Uint32())
				}
			}
			initial := r.Uint32()
			if n%5 == 0 {
				initial = 0
			}
			if got, want := Sum(b, initial), naiveSum(b, initial); got != want {
				t.Fatalf("len %d off %d initial %#x: Sum = %#x, reference %#x", n, off, initial, got, want)
			}
			if got, want := Checksum(b, initial), naiveChecksum(b, initial); got != want {
				t.Fatalf("len %d off %d: Checksum = %#x, reference %#x", n, off, got, want)
			}
		}
	}
}

// TestChecksumVerifiesToZero: storing the checksum in the data and summing
// again yields 0 (the verification rule the parsers use).
func TestChecksumVerifiesToZero(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 2; n <= 600; n += 2 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		b[0], b[1] = 0, 0
		binary.BigEndian.PutUint16(b, Checksum(b, 0))
		if c := Checksum(b, 0); c != 0 {
			t.Fatalf("len %d: verification sum %#x, want 0", n, c)
		}
		b[n-1] ^= 0x10
		if Checksum(b, 0) == 0 {
			t.Fatalf("len %d: corrupted data still verifies", n)
		}
	}
}

// TestSumCombines: sums of consecutive even-length pieces chain through
// the initial value.
func TestSumCombines(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	b := make([]byte, 999)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for cut := 0; cut <= len(b); cut += 2 {
		if got, want := Sum(b[cut:], Sum(b[:cut], 0)), naiveSum(b, 0); got != want {
			t.Fatalf("cut %d: %#x != %#x", cut, got, want)
		}
	}
}

func naivePseudo(src, dst netip.Addr, proto uint8, length int) uint32 {
	var b []byte
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
		b = append(b, 0, proto, byte(length>>8), byte(length))
	} else {
		s, d := src.As16(), dst.As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
		b = append(b, byte(length>>24), byte(length>>16), byte(length>>8), byte(length), 0, 0, 0, proto)
	}
	return naiveSum(b, 0)
}

func TestPseudoHeaderSum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 2000; i++ {
		var a4, b4 [4]byte
		var a16, b16 [16]byte
		binary.BigEndian.PutUint32(a4[:], r.Uint32())
		binary.BigEndian.PutUint32(b4[:], r.Uint32())
		for j := range a16 {
			a16[j], b16[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		l := r.IntN(65536)
		proto := uint8(r.Uint32())
		s4, d4 := netip.AddrFrom4(a4), netip.AddrFrom4(b4)
		if got, want := PseudoHeaderSum(s4, d4, proto, l), naivePseudo(s4, d4, proto, l); got != want {
			t.Fatalf("v4 %v %v %d %d: %#x != %#x", s4, d4, proto, l, got, want)
		}
		// IPv4-mapped addresses use the IPv4 pseudo-header.
		m4, n4 := netip.AddrFrom16(netip.AddrFrom4(a4).As16()), netip.AddrFrom16(netip.AddrFrom4(b4).As16())
		if got, want := PseudoHeaderSum(m4, n4, proto, l), naivePseudo(s4, d4, proto, l); got != want {
			t.Fatalf("v4-mapped: %#x != %#x", got, want)
		}
		if got, want := ipv4PseudoSum(a4[:], b4[:], proto, l), naivePseudo(s4, d4, proto, l); Sum(nil, got) != want {
			t.Fatalf("ipv4PseudoSum: %#x != %#x", got, want)
		}
		s6, d6 := netip.AddrFrom16(a16), netip.AddrFrom16(b16)
		if s6.Is4In6() {
			continue
		}
		l6 := int(r.Uint32() >> 8)
		if got, want := PseudoHeaderSum(s6, d6, proto, l6), naivePseudo(s6, d6, proto, l6); got != want {
			t.Fatalf("v6: %#x != %#x", got, want)
		}
	}
}

// TestUpdateChecksum: RFC 1624 incremental updates agree with recomputing
// from scratch, for random data and fields, including the all-zero and
// all-ones corner cases RFC 1624 is about.
func TestUpdateChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 20000; i++ {
		n := 4 + 2*r.IntN(40)
		b := make([]byte, n)
		switch i % 4 {
		case 0:
			// all zero
		case 1:
			for j := range b {
				b[j] = 0xff
			}
		default:
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		}
		old := Checksum(b, 0)
		// 16-bit field at an even offset.
		at := 2 * r.IntN(n/2)
		oldF := binary.BigEndian.Uint16(b[at:])
		newF := uint16(r.Uint32())
		if i%7 == 0 {
			newF = 0
		}
		binary.BigEndian.PutUint16(b[at:], newF)
		if got, want := UpdateChecksum16(old, oldF, newF), wantUpdated(b); got != want {
			t.Fatalf("16: old %#x %#x->%#x: %#x, recomputed %#x", old, oldF, newF, got, want)
		}
		// 32-bit field.
		old = Checksum(b, 0)
		at = 2 * r.IntN(n/2-1)
		oldW := binary.BigEndian.Uint32(b[at:])
		newW := r.Uint32()
		binary.BigEndian.PutUint32(b[at:], newW)
		if got, want := UpdateChecksum32(old, oldW, newW), wantUpdated(b); got != want {
			t.Fatalf("32: old %#x %#x->%#x: %#x, recomputed %#x", old, oldW, newW, got, want)
		}
	}
}

// wantUpdated is what an incremental update must return for data b: the
// recomputed checksum, except for all-zero data. There the recomputation
// gives 0xffff (the sum is +0) while RFC 1624 eqn. 3 gives 0x0000 (the sum
// comes out as -0); both are zero in one's complement, and all-zero data
// never occurs in an IP or TCP header (the version nibble is non-zero).
func wantUpdated(b []byte) uint16 {
	for _, x := range b {
		if x != 0 {
			return Checksum(b, 0)
		}
	}
	return 0
}

func TestUpdateChecksumVerifies(t *testing.T) {
	// Concrete: TTL decrement in a real header (the RFC 1624 use case).
	h, _ := hexBytes("4500003c1c4640004006924ec6120001c6120002")
	old := binary.BigEndian.Uint16(h[10:])
	oldW := binary.BigEndian.Uint16(h[8:])
	h[8]--
	binary.BigEndian.PutUint16(h[10:], UpdateChecksum16(old, oldW, binary.BigEndian.Uint16(h[8:])))
	if Checksum(h, 0) != 0 {
		t.Fatal("header does not verify after incremental update")
	}
}
