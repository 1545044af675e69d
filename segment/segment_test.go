package segment

import "testing"

func TestFlagsString(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{0, "none"},
		{FlagSYN, "S"},
		{FlagSYN | FlagACK, "S."},
		{FlagACK, "."},
		{FlagFIN | FlagACK, "F."},
		{FlagRST, "R"},
		{FlagRST | FlagACK, "R."},
		{FlagPSH | FlagACK, "P."},
		{FlagURG | FlagACK, "U."},
		{FlagSYN | FlagECE | FlagCWR, "SEW"},
		{0xff, "SFRPUEW."},
	}
	for _, tc := range tests {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%#x: %q, want %q", uint8(tc.f), got, tc.want)
		}
	}
	if !(FlagSYN | FlagACK).Has(FlagSYN) || FlagSYN.Has(FlagSYN|FlagACK) || !FlagRST.Has(0) {
		t.Error("Has")
	}
}

func TestSegmentLen(t *testing.T) {
	tests := []struct {
		f    Flags
		n    int
		want uint32
	}{
		{FlagACK, 0, 0},
		{FlagACK, 100, 100},
		{FlagSYN, 0, 1},
		{FlagFIN | FlagACK, 0, 1},
		{FlagSYN | FlagFIN, 10, 12},
		{FlagRST, 5, 5},
	}
	for _, tc := range tests {
		s := Segment{Flags: tc.f, Payload: make([]byte, tc.n)}
		if got := s.Len(); got != tc.want {
			t.Errorf("%v len %d: Len = %d, want %d", tc.f, tc.n, got, tc.want)
		}
	}
}
