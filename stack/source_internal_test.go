package stack

import (
	"net/netip"
	"testing"
)

// RFC 1122 3.2.1.3 / RFC 9293 MUST-63: which source addresses are invalid.
func TestInvalidSource_RFC1122_3_2_1_3(t *testing.T) {
	self := netip.MustParseAddr("198.18.0.2")
	for a, want := range map[string]bool{
		"198.18.0.1": false, "10.1.2.3": false, "223.255.255.254": false, "1.0.0.0": false,
		"198.18.0.2": true, "0.0.0.0": true, "0.1.2.3": true, "127.0.0.1": true, "127.255.0.9": true,
		"224.0.0.1": true, "239.255.255.255": true, "240.0.0.1": true, "255.255.255.255": true,
	} {
		if got := invalidSource(netip.MustParseAddr(a), self); got != want {
			t.Errorf("invalidSource(%s) = %v, want %v", a, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { invalidSource(self, self) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}
