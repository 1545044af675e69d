package tcp

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// A peer dribbling 1-byte segments into a buffer nobody reads: rounding the
// scaled window up must not let the right edge creep forever. The window
// closes, memory stays within the bound plus slack, the advertised edge
// never exceeds what is accepted, and every accepted byte is readable.
func TestUnitWindowCreepBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RecvBufferSize = 128 << 10 // shift 2
	cfg.DelayedAckTimeout = -1
	sink := &uNopSink{}
	c, now := uEstablished(t, &cfg, sink)
	if c.rcvShift == 0 {
		t.Fatalf("shift %d", c.rcvShift)
	}
	seg := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Ack: 5001,
		Flags: segment.FlagACK, Window: 2048, Payload: []byte{7}}
	start := c.RcvNxt
	for i := 0; i < 200000; i++ {
		seg.Seq = c.RcvNxt
		c.HandleSegment(now, &seg)
		edge := sink.last.Ack.Add(uint32(sink.last.Window) << c.rcvShift)
		if edge.GreaterThan(c.rcvAdv) {
			t.Fatalf("advertised edge beyond the accepted edge")
		}
		if c.rcvBuf.n > c.rcvMax() {
			t.Fatalf("buffer %d beyond bound %d", c.rcvBuf.n, c.rcvMax())
		}
	}
	got := int(uint32(c.RcvNxt.Sub(start)))
	if got > c.rcvMax() || got < cfg.RecvBufferSize {
		t.Fatalf("accepted %d bytes, bound %d..%d", got, cfg.RecvBufferSize, c.rcvMax())
	}
	if c.rcvWnd() != 0 && c.rcvAdv.Sub(c.RcvNxt) > int32(c.rcvSlack()) {
		t.Fatalf("window still %d", c.rcvWnd())
	}
	if c.Readable() != got {
		t.Fatalf("readable %d, accepted %d", c.Readable(), got)
	}
	buf := make([]byte, 1<<20)
	n, _ := c.Read(now.Add(time.Millisecond), buf)
	if n != got {
		t.Fatalf("read %d", n)
	}
	for _, b := range buf[:n] {
		if b != 7 {
			t.Fatal("corrupt")
		}
	}
}
