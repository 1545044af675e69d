package stack_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
)

// aheadLink is a burstLink that also lets the stack read ahead
// (stack.ReadAheadLink), counting the packets taken that way.
type aheadLink struct {
	*burstLink
	ahead int // under burstLink.mu
}

func (l *aheadLink) TryReadPacket(p []byte) (int, bool, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		return 0, false, false, nil
	}
	b := l.queue[0]
	l.queue = l.queue[1:]
	l.ahead++
	return copy(p, b), false, true, nil
}

var _ stack.ReadAheadLink = (*aheadLink)(nil)

// TestReadAheadBurst: a burst of segments waiting in the device is read
// ahead of processing (most of it with TryReadPacket) and still delivered
// exactly once and in order, with the same acknowledgments as without
// reading ahead: one per ackBurst packets and one when the burst is used
// up, never one per packet.
func TestReadAheadBurst(t *testing.T) {
	bl := newBurstLink()
	l := &aheadLink{burstLink: bl}
	s, ln, syn, sa := burstHandshake(t, l, bl)
	const mss, n = 1460, 40 // 58,400 bytes: within the 65,535-byte window
	var want []byte
	burst := [][]byte{tcpPacket(t, &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 80,
		Seq: syn.Seq.Add(1), Ack: sa.Seq.Add(1), Flags: segment.FlagACK, Window: 65535})}
	for i := range n {
		p := make([]byte, mss)
		for j := range p {
			p[j] = byte(i*131 + j)
		}
		want = append(want, p...)
		burst = append(burst, tcpPacket(t, &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 80,
			Seq: syn.Seq.Add(1 + uint32(i*mss)), Ack: sa.Seq.Add(1), Flags: segment.FlagACK, Window: 65535,
			Payload: p}))
	}
	l.release(burst...)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %v: the burst's bytes arrived out of order or changed", err)
	}
	bl.waitIdle(t)
	last := syn.Seq.Add(1 + n*mss)
	var ackNums []segment.Seq
	for _, p := range bl.written() {
		var x segment.Segment
		if err := segment.ParseIPv4TCP(p, &x); err != nil || x.Flags != segment.FlagACK || len(x.Payload) != 0 {
			t.Fatalf("stack wrote %v (%v), want only pure ACKs", &x, err)
		}
		ackNums = append(ackNums, x.Ack)
	}
	// The application's reads may open the window (a window update); the
	// acknowledgments are for the burst's 32nd packet and its end.
	if len(ackNums) < 2 || ackNums[len(ackNums)-1] != last || len(ackNums) > 4 {
		t.Errorf("ACKs %v for a burst of %d segments, want a few ending at %v", ackNums, n, last)
	}
	bl.mu.Lock()
	ahead := l.ahead
	bl.mu.Unlock()
	if ahead < n/2 {
		t.Errorf("%d of %d packets read ahead, want most", ahead, n+1)
	}
	if st := s.Stats(); st.ReadAhead != uint64(ahead) || st.ReadAheadPeak == 0 || st.ReadAheadPeak > uint64(ahead) || st.ReadAheadFull != 0 {
		t.Errorf("Stats: ReadAhead %d (the link gave %d), ReadAheadPeak %d, ReadAheadFull %d", st.ReadAhead, ahead, st.ReadAheadPeak, st.ReadAheadFull)
	}
}
