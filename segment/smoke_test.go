package segment

import (
	"net/netip"
	"testing"
)

func TestSmokeRoundTrip(t *testing.T) {
	seg := Segment{
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		SrcPort: 1234, DstPort: 80, Seq: 100, Ack: 200, Flags: FlagSYN | FlagACK, Window: 65535,
		Options: Options{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2},
		Payload: []byte("hello"),
	}
	buf := make([]byte, 1500)
	n, err := BuildIPv4TCP(buf, &seg, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	var got Segment
	if err := ParseIPv4TCP(buf[:n], &got); err != nil {
		t.Fatal(err)
	}
	if got.String() != seg.String() {
		t.Fatalf("got %v want %v", got.String(), seg.String())
	}
	t.Log(got.String())
}
