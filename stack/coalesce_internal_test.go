package stack

import (
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack/tcp"
)

// recLink is an OffloadLink that records what is written and never has a
// packet to read.
type recLink struct {
	mu     sync.Mutex
	pkts   [][]byte
	closed chan struct{}
	once   sync.Once
}

func (l *recLink) Read(p []byte) (int, error) { <-l.closed; return 0, net.ErrClosed }
func (l *recLink) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.pkts = append(l.pkts, append([]byte(nil), p...))
	l.mu.Unlock()
	return len(p), nil
}
func (l *recLink) MTU() int     { return 1500 }
func (l *recLink) Close() error { l.once.Do(func() { close(l.closed) }); return nil }
func (l *recLink) ReadPacket(p []byte, idle func()) (int, bool, error) {
	n, err := l.Read(p)
	return n, false, err
}
func (l *recLink) GSOMaxSize() int                                    { return 0 }
func (l *recLink) WriteGSO(hdr, payload []byte, mss int) (int, error) { return 0, net.ErrClosed }

// A held ACK is moot only if what supersedes it will be processed by the
// peer. A retransmission (SEG.SEQ below the held ACK's, which carries
// SND.MAX) may lie wholly below the peer's RCV.NXT when its ACKs were lost,
// and then the peer drops it as unacceptable without looking at its ACK
// field (RFC 9293 3.10.7.4: "If an incoming segment is not acceptable, an
// acknowledgment should be sent in reply ... and the segment dropped");
// the acknowledgment the held ACK carried would be lost with it, and the
// peer would wait for its retransmission timeout. So the held ACK goes out
// first, then the retransmission. A segment at or above the held ACK's
// sequence number (new data, a later ACK) still supersedes it.
func TestHeldAckNotSupersededByRetransmission(t *testing.T) {
	l := &recLink{closed: make(chan struct{})}
	s, err := New(l, Options{Addr: netip.MustParseAddr("198.18.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	// The stack's input goroutine owns ackq; stop it so that this test
	// may play its part (Close waits for it to exit).
	s.Close()
	tu := tcp.Tuple{LocalAddr: s.addr4, LocalPort: 80, RemoteAddr: netip.MustParseAddr("198.18.0.1"), RemotePort: 40000}
	c := s.newConn(tu)
	k := (*connSink)(c)
	seg := func(seq, ack segment.Seq, n int) *segment.Segment {
		return &segment.Segment{Src: tu.LocalAddr, Dst: tu.RemoteAddr, SrcPort: 80, DstPort: 40000,
			Seq: seq, Ack: ack, Flags: segment.FlagACK, Window: 1000, Payload: make([]byte, n)}
	}
	c.mu.Lock()
	c.coalesce = true
	k.Output(seg(5000, 100, 0))    // sent: the first ACK
	k.Output(seg(5000, 200, 0))    // held: it acknowledges new data
	k.Output(seg(3000, 200, 1000)) // go-back-N retransmission from SND.UNA
	k.Output(seg(5000, 300, 0))    // held again
	k.Output(seg(5000, 300, 100))  // new data at SND.MAX: supersedes it
	c.coalesce = false
	c.unlock()
	var got []string
	l.mu.Lock()
	for _, p := range l.pkts {
		var sg segment.Segment
		if err := segment.ParseIPv4TCP(p, &sg); err != nil {
			t.Fatal(err)
		}
		got = append(got, sg.String())
	}
	l.mu.Unlock()
	want := []string{
		seg(5000, 100, 0).String(), seg(5000, 200, 0).String(), seg(3000, 200, 1000).String(), seg(5000, 300, 100).String(),
	}
	if len(got) != len(want) {
		t.Fatalf("wrote %d segments, want %d:\n got %q\nwant %q", len(got), len(want), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("segment %d is %s, want %s (all: %q)", i, got[i], want[i], got)
		}
	}
}

// An ACK carrying SACK blocks (a hole, or a D-SACK reported only once,
// RFC 2883) is never held: a later ACK would supersede what only it said.
func TestHeldAckNotForSACKBlocks(t *testing.T) {
	l := &recLink{closed: make(chan struct{})}
	s, err := New(l, Options{Addr: netip.MustParseAddr("198.18.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // the test plays the input goroutine (see above)
	tu := tcp.Tuple{LocalAddr: s.addr4, LocalPort: 80, RemoteAddr: netip.MustParseAddr("198.18.0.1"), RemotePort: 40000}
	c := s.newConn(tu)
	k := (*connSink)(c)
	ack := func(a segment.Seq, blocks ...segment.Seq) *segment.Segment {
		sg := &segment.Segment{Src: tu.LocalAddr, Dst: tu.RemoteAddr, SrcPort: 80, DstPort: 40000,
			Seq: 5000, Ack: a, Flags: segment.FlagACK, Window: 1000}
		for i := 0; i+1 < len(blocks); i += 2 {
			sg.Options.SACK[sg.Options.NumSACK] = segment.SACKBlock{Start: blocks[i], End: blocks[i+1]}
			sg.Options.NumSACK++
		}
		return sg
	}
	c.mu.Lock()
	c.coalesce = true
	k.Output(ack(100))
	k.Output(ack(200, 100, 150, 300, 400)) // new data acknowledged, with a D-SACK: sent at once
	k.Output(ack(300))                     // held
	k.Output(ack(400))                     // supersedes it, held
	held := k.hasHeld && k.held.Ack == 400
	c.coalesce = false
	c.unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var acks []segment.Seq
	for _, p := range l.pkts {
		var sg segment.Segment
		if err := segment.ParseIPv4TCP(p, &sg); err != nil {
			t.Fatal(err)
		}
		acks = append(acks, sg.Ack)
	}
	if len(acks) != 2 || acks[0] != 100 || acks[1] != 200 || !held {
		t.Fatalf("ACKs written %v (ACK 400 held: %v), want 100 and 200 (with its SACK blocks) written, 400 held", acks, held)
	}
}

// TestPollGate: the busy-poll gate parks the input goroutine's read only
// when another goroutine is writing output now and was at most of the
// recent looks (a bulk sender); output written now and then (a ping-pong
// answer) leaves the polling on.
func TestPollGate(t *testing.T) {
	s := &Stack{}
	if !s.pollGate() {
		t.Fatal("gate closed with nothing being written")
	}
	// An answer written during 1 look in 5: the read keeps polling,
	// even at the looks that see the writer.
	for i := range 1000 {
		busy := i%5 == 0
		if busy {
			s.flushers.Store(1)
		}
		if !s.pollGate() {
			t.Fatalf("look %d: gate closed with output written at 1 look in 5", i)
		}
		s.flushers.Store(0)
	}
	// A bulk sender: writing at every look. The gate closes within the
	// window and stays closed while the writing goes on.
	s.flushers.Store(1)
	closedAt := -1
	for i := range 1000 {
		if !s.pollGate() && closedAt < 0 {
			closedAt = i
		}
		if closedAt >= 0 && s.pollGate() {
			t.Fatalf("look %d: gate reopened while a sender writes at every look", i)
		}
	}
	if closedAt < 0 || closedAt > 256 {
		t.Fatalf("gate closed at look %d under a bulk sender, want within 256", closedAt)
	}
	// The sender stops: the gate opens at once.
	s.flushers.Store(0)
	if !s.pollGate() {
		t.Fatal("gate closed with nothing being written")
	}
}

// TestPollGateInstalled: New hands its gate to a link that busy-polls
// (PollGater).
func TestPollGateInstalled(t *testing.T) {
	l := &gateLink{recLink: recLink{closed: make(chan struct{})}}
	s, err := New(l, Options{Addr: netip.MustParseAddr("198.18.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if l.gate == nil || !l.gate() {
		t.Fatalf("New did not install an open poll gate on a PollGater link")
	}
}

type gateLink struct {
	recLink
	gate func() bool
}

func (l *gateLink) SetPollGate(g func() bool) { l.gate = g }
