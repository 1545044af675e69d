package stack_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

type noIdleLink struct{ *burstLink }

func (l noIdleLink) ReadPacket(p []byte, idle func()) (int, bool, error) {
	return l.burstLink.ReadPacket(p, nil)
}

// TestHeldAckWrittenByAppGoroutine: an ACK held back during an input burst
// (ACK coalescing) can be written by an application goroutine — here Close
// with unread data sends a RST, which first flushes the held ACK — while
// the input goroutine answers other segments with RSTs of its own. The two
// must not share an output buffer (the race detector failed this test when
// they did), and the held ACK must leave before the RST.
func TestHeldAckWrittenByAppGoroutine(t *testing.T) {
	bl := newBurstLink()
	_, ln, syn, sa := burstHandshake(t, noIdleLink{bl}, bl)
	const mss = 1460
	pk := func(i int, n int) []byte {
		return tcpPacket(t, &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 80,
			Seq: syn.Seq.Add(1 + uint32(i*mss)), Ack: sa.Seq.Add(1), Flags: segment.FlagACK, Window: 65535,
			Payload: bytes.Repeat([]byte{byte(i)}, n)})
	}
	bl.release(pk(0, 0), pk(0, mss), pk(1, mss))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the ACK of the two segments is now held
	for p := bl.next(t, 10*time.Millisecond); p != nil; p = bl.next(t, 10*time.Millisecond) {
		var x segment.Segment
		segment.ParseIPv4TCP(p, &x)
		t.Logf("before close: %v", &x)
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }() // unread data: RST, which writes the held ACK first
	for i := 0; i < 20; i++ {
		bl.release(tcpPacket(t, synTo(81))) // answered with a RST through rawSink
	}
	<-done
	time.Sleep(50 * time.Millisecond)
	wantAck := syn.Seq.Add(1 + 2*mss)
	ackAt, rstAt := -1, -1
	for i, p := 0, bl.next(t, 10*time.Millisecond); p != nil; i, p = i+1, bl.next(t, 10*time.Millisecond) {
		var x segment.Segment
		if err := segment.ParseIPv4TCP(p, &x); err != nil {
			t.Fatalf("garbled packet after close: %v", err)
		}
		t.Logf("after close: %v", &x)
		if x.SrcPort != 80 || x.DstPort != 40000 {
			continue
		}
		switch {
		case x.Flags == segment.FlagACK && x.Ack == wantAck && ackAt < 0:
			ackAt = i
		case x.Flags&segment.FlagRST != 0 && rstAt < 0:
			rstAt = i
		}
	}
	if rstAt < 0 || (ackAt >= 0 && ackAt > rstAt) {
		t.Fatalf("after Close with unread data: held ACK at %d, RST at %d; want the RST, after the ACK if it was still held", ackAt, rstAt)
	}
}
