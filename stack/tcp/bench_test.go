package tcp_test

// Per-segment hot paths, measured with -benchmem and held to zero
// allocations in steady state (the Test*Allocs tests below fail otherwise):
//
//	go test ./stack/tcp -run '^$' -bench . -benchmem

import (
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// countSink records what a benchmark needs without allocating.
type countSink struct {
	segs, acks, data int
	lastAck          segment.Seq
	lastEnd          segment.Seq
	lastWnd          uint16
	lastTSVal        uint32
}

func (s *countSink) Output(seg *segment.Segment) {
	s.segs++
	if len(seg.Payload) == 0 {
		s.acks++
	} else {
		s.data++
		s.lastEnd = seg.Seq.Add(uint32(len(seg.Payload)))
	}
	s.lastAck = seg.Ack
	s.lastWnd = seg.Window
	s.lastTSVal = seg.Options.TSVal
}

func (s *countSink) Notify(tcp.Event) {}

// benchConn is an established connection with the peer's side scripted by
// hand (no harness, no logging).
type benchConn struct {
	c    *tcp.Conn
	sink *countSink
	now  time.Time
	in   segment.Segment // reused peer segment
	pSeq segment.Seq     // peer's next sequence number
	buf  []byte
	ts   bool // timestamps and SACK negotiated: the peer stamps every segment
}

// newBenchConn sets up an established connection; with ts the peer's
// SYN-ACK agrees to timestamps and SACK (RFC 7323, RFC 2018).
func newBenchConn(tb testing.TB, ts ...bool) *benchConn {
	cfg := tcp.DefaultConfig()
	b := &benchConn{sink: &countSink{}, now: t0, buf: make([]byte, 64<<10)}
	b.c = tcp.NewConn(&cfg, testTuple, b.sink)
	b.c.Connect(b.now, engISS)
	b.ts = len(ts) > 0 && ts[0]
	b.in = segment.Segment{Src: remoteAddr, Dst: localAddr, SrcPort: testTuple.RemotePort, DstPort: testTuple.LocalPort,
		Seq: peerISS, Ack: engISS.Add(1), Flags: segment.FlagSYN | segment.FlagACK, Window: 65535,
		Options: segment.Options{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7,
			SACKPermitted: b.ts, HasTimestamp: b.ts, TSVal: 1}}
	b.c.HandleSegment(b.now, &b.in)
	if b.c.State() != tcp.StateEstablished {
		tb.Fatalf("bench handshake: state %v", b.c.State())
	}
	b.pSeq = peerISS.Add(1)
	b.in.Flags = segment.FlagACK
	b.in.Options = segment.Options{HasTimestamp: b.ts, TSVal: 1}
	b.in.Window = 1 << 12 // << 7 = 512 KiB
	return b
}

// stamp advances the peer's TSval (one tick per segment) and echoes the
// engine's last one.
func (b *benchConn) stamp() {
	if b.ts {
		b.in.Options.TSVal++
		b.in.Options.TSEcr = b.sink.lastTSVal
	}
}

func (b *benchConn) timers() {
	if dl := b.c.Deadline(); !dl.IsZero() && !dl.After(b.now) {
		b.c.HandleTimer(b.now)
	}
}

// receiveOne delivers one in-order full-size segment, lets the delayed-ACK
// timer run when due, and has the application read it.
func (b *benchConn) receiveOne(payload []byte) {
	b.now = b.now.Add(10 * time.Microsecond)
	b.timers()
	b.in.Seq = b.pSeq
	b.in.Ack = b.c.SndNxt
	b.in.Payload = payload
	b.stamp()
	b.c.HandleSegment(b.now, &b.in)
	b.pSeq = b.pSeq.Add(uint32(len(payload)))
	b.c.Read(b.now, b.buf)
}

// sendOne has the application write one full-size segment, which goes out
// at once, and feeds back the peer's ACK for it.
func (b *benchConn) sendOne(payload []byte) {
	b.now = b.now.Add(10 * time.Microsecond)
	b.timers()
	b.c.Write(b.now, payload)
	b.in.Seq = b.pSeq
	b.in.Ack = b.c.SndNxt
	b.in.Payload = nil
	b.stamp()
	b.c.HandleSegment(b.now, &b.in)
}

func BenchmarkReceiveInOrder(bm *testing.B) { benchReceiveInOrder(bm, false, 1460) }

// BenchmarkReceiveInOrderTS: the same with timestamps and SACK negotiated
// (full-sized segments are then 1448 bytes, RFC 6691).
func BenchmarkReceiveInOrderTS(bm *testing.B) { benchReceiveInOrder(bm, true, 1448) }

func benchReceiveInOrder(bm *testing.B, ts bool, mss int) {
	b := newBenchConn(bm, ts)
	payload := patBytes(0, mss)
	for i := 0; i < 1000; i++ { // warm up: buffers allocated, steady state
		b.receiveOne(payload)
	}
	acks := b.sink.acks
	bm.SetBytes(int64(mss))
	bm.ReportAllocs()
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		b.receiveOne(payload)
	}
	bm.StopTimer()
	if b.sink.lastAck != b.pSeq {
		// The last ACK may still be delayed; run the timer.
		b.now = b.now.Add(time.Second)
		b.timers()
	}
	if b.sink.lastAck != b.pSeq {
		bm.Fatalf("last ACK %d, want %d", b.sink.lastAck, b.pSeq)
	}
	if n := b.sink.acks - acks; bm.N >= 2 && n < bm.N/2 {
		bm.Fatalf("%d ACKs for %d full-size segments: fewer than one per two (RFC 5681 4.2)", n, bm.N)
	}
}

func BenchmarkSendFullSegment(bm *testing.B) { benchSendFullSegment(bm, false, 1460) }

// BenchmarkSendFullSegmentTS: the same with timestamps and SACK negotiated.
func BenchmarkSendFullSegmentTS(bm *testing.B) { benchSendFullSegment(bm, true, 1448) }

func benchSendFullSegment(bm *testing.B, ts bool, mss int) {
	b := newBenchConn(bm, ts)
	payload := patBytes(0, mss)
	for i := 0; i < 1000; i++ {
		b.sendOne(payload)
	}
	data := b.sink.data
	bm.SetBytes(int64(mss))
	bm.ReportAllocs()
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		b.sendOne(payload)
	}
	bm.StopTimer()
	if n := b.sink.data - data; n != bm.N {
		bm.Fatalf("%d data segments for %d writes of one MSS", n, bm.N)
	}
	if b.c.SndUna != b.c.SndNxt {
		bm.Fatalf("data left unacknowledged")
	}
}
