package segment

import "testing"

const maxSeq = Seq(0xffffffff)

func TestSeqAdd(t *testing.T) {
	tests := []struct {
		s    Seq
		n    uint32
		want Seq
	}{
		{0, 0, 0},
		{100, 1, 101},
		{maxSeq, 1, 0},
		{maxSeq - 9, 20, 10},
		{1, 0xffffffff, 0},
		{0x80000000, 0x80000000, 0},
	}
	for _, tc := range tests {
		if got := tc.s.Add(tc.n); got != tc.want {
			t.Errorf("%d.Add(%d) = %d, want %d", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestSeqSub(t *testing.T) {
	tests := []struct {
		s, o Seq
		want int32
	}{
		{0, 0, 0},
		{101, 100, 1},
		{100, 101, -1},
		{0, maxSeq, 1},
		{maxSeq, 0, -1},
		{10, maxSeq - 9, 20},
		{maxSeq - 9, 10, -20},
		{0x7fffffff, 0, 0x7fffffff},
		{0x80000000, 0, -0x80000000}, // exactly 2^31 apart: the ambiguous case
	}
	for _, tc := range tests {
		if got := tc.s.Sub(tc.o); got != tc.want {
			t.Errorf("%d.Sub(%d) = %d, want %d", tc.s, tc.o, got, tc.want)
		}
	}
}

// TestSeqCompare checks all four comparisons on each pair, including pairs
// straddling the wrap from 2^32-1 to 0 (RFC 9293 3.4).
func TestSeqCompare(t *testing.T) {
	tests := []struct {
		name   string
		a, b   Seq
		lt, eq bool // a < b, a == b in sequence space
	}{
		{"equal zero", 0, 0, false, true},
		{"equal max", maxSeq, maxSeq, false, true},
		{"plain less", 100, 200, true, false},
		{"plain greater", 200, 100, false, false},
		{"max before zero", maxSeq, 0, true, false},
		{"zero after max", 0, maxSeq, false, false},
		{"across wrap", maxSeq - 100, 50, true, false},
		{"across wrap reversed", 50, maxSeq - 100, false, false},
		{"just under half", 0, 0x7fffffff, true, false},
		{"half reversed", 0x7fffffff, 0, false, false},
		{"raw less but seq greater", 1, 0x80000002, false, false},
		{"raw greater but seq less", 0x80000002, 1, true, false},
	}
	for _, tc := range tests {
		a, b := tc.a, tc.b
		gt := !tc.lt && !tc.eq
		if got := a.LessThan(b); got != tc.lt {
			t.Errorf("%s: %d.LessThan(%d) = %v", tc.name, a, b, got)
		}
		if got := a.LessThanEq(b); got != (tc.lt || tc.eq) {
			t.Errorf("%s: %d.LessThanEq(%d) = %v", tc.name, a, b, got)
		}
		if got := a.GreaterThan(b); got != gt {
			t.Errorf("%s: %d.GreaterThan(%d) = %v", tc.name, a, b, got)
		}
		if got := a.GreaterThanEq(b); got != (gt || tc.eq) {
			t.Errorf("%s: %d.GreaterThanEq(%d) = %v", tc.name, a, b, got)
		}
		wantMax, wantMin := a, b
		if tc.lt {
			wantMax, wantMin = b, a
		}
		if got := Max(a, b); got != wantMax {
			t.Errorf("%s: Max(%d, %d) = %d, want %d", tc.name, a, b, got, wantMax)
		}
		if got := Min(a, b); got != wantMin {
			t.Errorf("%s: Min(%d, %d) = %d, want %d", tc.name, a, b, got, wantMin)
		}
	}
}

func TestSeqInRange(t *testing.T) {
	tests := []struct {
		s, first, end Seq
		want          bool
	}{
		{5, 5, 10, true},
		{9, 5, 10, true},
		{10, 5, 10, false}, // end is exclusive
		{4, 5, 10, false},
		{5, 5, 5, false}, // empty range
		{maxSeq, maxSeq - 1, 3, true},
		{0, maxSeq - 1, 3, true},
		{2, maxSeq - 1, 3, true},
		{3, maxSeq - 1, 3, false},
		{maxSeq - 2, maxSeq - 1, 3, false},
	}
	for _, tc := range tests {
		if got := tc.s.InRange(tc.first, tc.end); got != tc.want {
			t.Errorf("%d.InRange(%d, %d) = %v, want %v", tc.s, tc.first, tc.end, got, tc.want)
		}
	}
}

// TestSeqInWindow follows the RFC 9293 3.10.7.4 window test
// RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND, including a window that wraps and
// the zero window (which contains nothing).
func TestSeqInWindow(t *testing.T) {
	tests := []struct {
		s, first Seq
		size     uint32
		want     bool
	}{
		{1000, 1000, 100, true},
		{1099, 1000, 100, true},
		{1100, 1000, 100, false},
		{999, 1000, 100, false},
		{1000, 1000, 0, false}, // zero window
		{1000, 1000, 1, true},
		{maxSeq, maxSeq - 10, 100, true},
		{0, maxSeq - 10, 100, true},
		{88, maxSeq - 10, 100, true},
		{89, maxSeq - 10, 100, false},
		{maxSeq - 11, maxSeq - 10, 100, false},
		{0x7fffffff, 0, 0x80000000, true}, // window of 2^31
		{0x80000000, 0, 0x80000000, false},
		{maxSeq, 0, 0xffffffff, false}, // largest window excludes first-1
		{maxSeq - 1, 0, 0xffffffff, true},
	}
	for _, tc := range tests {
		if got := tc.s.InWindow(tc.first, tc.size); got != tc.want {
			t.Errorf("%d.InWindow(%d, %d) = %v, want %v", tc.s, tc.first, tc.size, got, tc.want)
		}
	}
}
