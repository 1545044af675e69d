package segment

// Seq is a TCP sequence number. Sequence space is modular (RFC 9293 3.4): all
// comparisons are made on the signed 32-bit difference, so they stay correct
// across wraparound as long as the two numbers are less than 2^31 apart.
// Comparing two Seq values with Go's < or > is a bug; use these methods.
type Seq uint32

// Add returns s + n modulo 2^32.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Sub returns the signed distance s - o.
func (s Seq) Sub(o Seq) int32 { return int32(s - o) }

// LessThan reports s < o in sequence space.
func (s Seq) LessThan(o Seq) bool { return int32(s-o) < 0 }

// LessThanEq reports s <= o in sequence space.
func (s Seq) LessThanEq(o Seq) bool { return int32(s-o) <= 0 }

// GreaterThan reports s > o in sequence space.
func (s Seq) GreaterThan(o Seq) bool { return int32(s-o) > 0 }

// GreaterThanEq reports s >= o in sequence space.
func (s Seq) GreaterThanEq(o Seq) bool { return int32(s-o) >= 0 }

// InRange reports first <= s < end in sequence space.
func (s Seq) InRange(first, end Seq) bool {
	return first.LessThanEq(s) && s.LessThan(end)
}

// InWindow reports first <= s < first+size (RFC 9293 3.4, the window test used
// by the segment acceptability table). A zero-size window contains nothing.
func (s Seq) InWindow(first Seq, size uint32) bool {
	return uint32(s-first) < size
}

// Max returns the later of a and b in sequence space.
func Max(a, b Seq) Seq {
	if a.LessThan(b) {
		return b
	}
	return a
}

// Min returns the earlier of a and b in sequence space.
func Min(a, b Seq) Seq {
	if a.LessThan(b) {
		return a
	}
	return b
}
