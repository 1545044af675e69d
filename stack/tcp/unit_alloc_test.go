package tcp

import (
	"runtime"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
)

// nopSink counts and forgets.
type uNopSink struct {
	n    int
	last segment.Segment
}

func (s *uNopSink) Output(seg *segment.Segment) {
	s.n++
	s.last = *seg
	s.last.Payload = nil
}
func (s *uNopSink) Notify(Event) {}

// uEstablished returns a passive Conn in ESTABLISHED whose peer has ISN
// 1000 (so its next data byte is 1001) and our ISS 5000.
func uEstablished(tb testing.TB, cfg *Config, sink Sink) (*Conn, time.Time) {
	now := time.Unix(1000, 0)
	c := NewConn(cfg, Tuple{uAddrB, 80, uAddrA, 40000}, sink)
	syn := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 1000,
		Flags: segment.FlagSYN, Window: 65535}
	syn.Options.HasMSS, syn.Options.MSS = true, 1460
	syn.Options.HasWScale, syn.Options.WScale = true, 7
	c.AcceptSYN(now, 5000, &syn)
	ack := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: 5001,
		Flags: segment.FlagACK, Window: 2048}
	c.HandleSegment(now, &ack)
	if c.State() != StateEstablished {
		tb.Fatalf("state %v", c.State())
	}
	return c, now
}

func TestUnitAllocReceiveInOrder(t *testing.T) {
	cfg := DefaultConfig()
	sink := &uNopSink{}
	c, now := uEstablished(t, &cfg, sink)
	payload := make([]byte, 1460)
	buf := make([]byte, 4096)
	seg := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: 5001,
		Flags: segment.FlagACK | segment.FlagPSH, Window: 2048, Payload: payload}
	step := func() {
		seg.Seq = c.RcvNxt
		c.HandleSegment(now, &seg)
		now = now.Add(time.Millisecond)
		c.HandleTimer(now)
		for {
			n, _ := c.Read(now, buf)
			if n == 0 {
				break
			}
		}
	}
	for i := 0; i < 10; i++ { // warm the buffer free list
		step()
	}
	before := sink.n
	allocs := testing.AllocsPerRun(1000, step)
	if allocs != 0 {
		t.Fatalf("receive path: %v allocs per in-order segment", allocs)
	}
	if sink.n-before < 500 {
		t.Fatalf("only %d ACKs for 1001 segments: ACK every second full-sized segment", sink.n-before)
	}
}

func TestUnitAllocSend(t *testing.T) {
	cfg := DefaultConfig()
	sink := &uNopSink{}
	c, now := uEstablished(t, &cfg, sink)
	data := make([]byte, 1460)
	ack := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 1001,
		Flags: segment.FlagACK, Window: 2048}
	step := func() {
		n, err := c.Write(now, data)
		if n != len(data) || err != nil {
			t.Fatalf("write %d %v", n, err)
		}
		if sink.last.Seq.Add(uint32(len(data))) != c.SndNxt {
			t.Fatalf("segment not sent")
		}
		ack.Ack = c.SndNxt
		now = now.Add(time.Millisecond)
		c.HandleSegment(now, &ack)
	}
	for i := 0; i < 10; i++ {
		step()
	}
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Fatalf("send path: %v allocs per full-size segment", allocs)
	}
}

// A payload that wraps around the end of the send ring goes out through a
// borrowed scratch block: still no allocation.
func TestUnitAllocSendWrapping(t *testing.T) {
	cfg := DefaultConfig()
	sink := &uNopSink{}
	c, now := uEstablished(t, &cfg, sink)
	data := make([]byte, 1000)
	ack := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 1001,
		Flags: segment.FlagACK, Window: 2048}
	c.Write(now, data) // keep 1000 bytes queued so the ring never empties
	step := func() {
		c.Write(now, data)
		ack.Ack = c.SndNxt.Add(^uint32(999)) // leave the last 1000 unacknowledged
		now = now.Add(time.Millisecond)
		c.HandleSegment(now, &ack)
	}
	for i := 0; i < 10; i++ {
		step()
	}
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Fatalf("wrapping send path: %v allocs", allocs)
	}
	if len(c.sndBuf.buf) != 4096 {
		t.Fatalf("send ring grew to %d", len(c.sndBuf.buf))
	}
}

// TestUnitIdleConnHeap measures the heap held by an idle established Conn
// (empty buffers released).
func TestUnitIdleConnHeap(t *testing.T) {
	cfg := DefaultConfig()
	sink := &uNopSink{}
	const n = 2000
	conns := make([]*Conn, n)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	data := make([]byte, 3000)
	buf := make([]byte, 4096)
	for i := range conns {
		c, now := uEstablished(t, &cfg, sink)
		// Echo a little data both ways, as an idle benchmark connection
		// would have done, then go quiet.
		seg := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: 5001,
			Flags: segment.FlagACK, Window: 2048, Payload: data[:100]}
		c.HandleSegment(now, &seg)
		c.Read(now, buf)
		c.Write(now, data)
		ack := segment.Segment{Src: uAddrA, Dst: uAddrB, SrcPort: 40000, DstPort: 80, Seq: 1101,
			Ack: c.SndNxt, Flags: segment.FlagACK, Window: 2048}
		c.HandleSegment(now, &ack)
		c.HandleTimer(now.Add(time.Second))
		conns[i] = c
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / n
	t.Logf("idle established Conn: %.0f bytes of heap each", per)
	for _, c := range conns {
		if c.sndBuf.buf != nil || c.rcvBuf.blocks != nil {
			t.Fatal("idle Conn holds buffer memory")
		}
	}
	if per > 2048 {
		t.Fatalf("idle Conn costs %.0f bytes", per)
	}
	runtime.KeepAlive(conns)
}
