package stack_test

import (
	"bytes"
	"testing"

	"github.com/tunstack/tunstack/segment"
)

type noIdleLink struct{ *burstLink }

func (l noIdleLink) ReadPacket(p []byte, idle func()) (int, bool, error) {
	return l.burstLink.ReadPacket(p, nil)
}

// TestHeldAckWrittenByAppGoroutine: an ACK held back during an input burst
// (ACK coalescing) is written by an application goroutine — here Close
// with unread data sends a RST, which first writes the held ACK — while
// the input goroutine answers other segments with RSTs of its own. The two
// must not share an output buffer (the race detector failed this test when
// they did), and the held ACK must leave, before the RST. The link never
// calls idle, so nothing but Close can release the held ACK; every step
// waits for the input goroutine to finish its packets (waitIdle), never
// for time.
func TestHeldAckWrittenByAppGoroutine(t *testing.T) {
	bl := newBurstLink()
	_, ln, syn, sa := burstHandshake(t, noIdleLink{bl}, bl)
	const mss = 1460
	pk := func(i int, n int) []byte {
		return tcpPacket(t, &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 80,
			Seq: syn.Seq.Add(1 + uint32(i*mss)), Ack: sa.Seq.Add(1), Flags: segment.FlagACK, Window: 65535,
			Payload: bytes.Repeat([]byte{byte(i)}, n)})
	}
	wantAck := syn.Seq.Add(1 + 2*mss)
	isHeldAck := func(x *segment.Segment) bool {
		return x.SrcPort == 80 && x.DstPort == 40000 && x.Flags == segment.FlagACK && x.Ack == wantAck
	}
	bl.release(pk(0, 0), pk(0, mss), pk(1, mss))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	bl.waitIdle(t)
	for _, p := range bl.written() {
		var x segment.Segment
		if segment.ParseIPv4TCP(p, &x) == nil && isHeldAck(&x) {
			t.Fatalf("the ACK of the burst left before the burst ended: %v", &x)
		}
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }() // unread data: RST, which writes the held ACK first
	const syns = 20
	for i := 0; i < syns; i++ {
		bl.release(tcpPacket(t, synTo(81))) // answered with a RST through rawSink
	}
	<-done
	bl.waitIdle(t)
	ackAt, rstAt, otherRSTs := -1, -1, 0
	for i, p := range bl.written() {
		var x segment.Segment
		if err := segment.ParseIPv4TCP(p, &x); err != nil {
			t.Fatalf("garbled packet after close: %v", err)
		}
		switch {
		case x.SrcPort == 81 && x.Flags&segment.FlagRST != 0:
			otherRSTs++
		case x.SrcPort != 80 || x.DstPort != 40000:
			t.Fatalf("unexpected packet %v", &x)
		case isHeldAck(&x):
			if ackAt >= 0 {
				t.Fatalf("the held ACK left twice: %v", &x)
			}
			ackAt = i
		case x.Flags&segment.FlagRST != 0:
			if rstAt >= 0 {
				t.Fatalf("two RSTs for the closed connection: %v", &x)
			}
			rstAt = i
		default:
			t.Fatalf("unexpected packet of the closed connection: %v", &x)
		}
	}
	if ackAt < 0 || rstAt < 0 || ackAt > rstAt {
		t.Fatalf("after Close with unread data: held ACK at %d, RST at %d; want both, the ACK first", ackAt, rstAt)
	}
	if otherRSTs != syns {
		t.Fatalf("%d RSTs for the %d SYNs to a closed port", otherRSTs, syns)
	}
}
