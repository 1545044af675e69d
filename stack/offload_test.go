package stack_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// burstLink is an OffloadLink the test feeds in bursts: packets released
// together are all waiting when the stack reads the first of them, and
// idle runs only once the burst is used up, as on a TUN device whose queue
// holds several packets.
type burstLink struct {
	*rawLink
	mu      sync.Mutex
	queue   [][]byte
	waiting bool       // the reader found the queue empty and blocks
	cond    *sync.Cond // on mu: waiting became true
	kick    chan struct{}
	idles   atomic.Int32
}

func newBurstLink() *burstLink {
	l := &burstLink{rawLink: newRawLink(), kick: make(chan struct{}, 1)}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// waitIdle returns once the stack's input goroutine has processed every
// released packet and blocks reading the next: it processes a packet to
// completion, its output included, before it reads again.
func (l *burstLink) waitIdle(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		l.mu.Lock()
		for !l.waiting || len(l.queue) > 0 {
			l.cond.Wait()
		}
		l.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the input goroutine did not get through the released packets")
	}
}

// written returns the packets the stack has written so far.
func (l *burstLink) written() [][]byte {
	var ps [][]byte
	for {
		select {
		case p := <-l.out:
			ps = append(ps, p)
		default:
			return ps
		}
	}
}

// release queues pkts at once and wakes the reader.
func (l *burstLink) release(pkts ...[]byte) {
	l.mu.Lock()
	l.queue = append(l.queue, pkts...)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *burstLink) ReadPacket(p []byte, idle func()) (int, bool, error) {
	for {
		l.mu.Lock()
		if len(l.queue) > 0 {
			b := l.queue[0]
			l.queue = l.queue[1:]
			l.mu.Unlock()
			return copy(p, b), false, nil
		}
		if idle != nil {
			l.mu.Unlock()
			l.idles.Add(1)
			idle()
			idle = nil
			continue
		}
		l.waiting = true
		l.cond.Broadcast()
		l.mu.Unlock()
		select {
		case <-l.kick:
		case <-l.closed:
			return 0, false, net.ErrClosed
		}
		l.mu.Lock()
		l.waiting = false
		l.mu.Unlock()
	}
}

func (l *burstLink) GSOMaxSize() int { return 0 }

func (l *burstLink) WriteGSO(hdr, payload []byte, mss int) (int, error) {
	return 0, errors.New("burstLink: no GSO")
}

var _ stack.OffloadLink = (*burstLink)(nil)

// acks reads what the stack wrote within d and returns the acknowledgment
// numbers of the pure ACKs among it; anything else fails the test.
func acks(t *testing.T, l *burstLink, d time.Duration) []segment.Seq {
	t.Helper()
	var got []segment.Seq
	for {
		p := l.next(t, d)
		if p == nil {
			return got
		}
		var s segment.Segment
		if err := segment.ParseIPv4TCP(p, &s); err != nil {
			t.Fatalf("stack wrote a bad packet: %v", err)
		}
		if s.Flags != segment.FlagACK || len(s.Payload) != 0 {
			t.Fatalf("stack wrote %v, want only pure ACKs", &s)
		}
		got = append(got, s.Ack)
	}
}

// TestAckCoalescing: ten full-sized segments waiting at once are
// acknowledged by one ACK after the burst (not five), while duplicate ACKs
// for out-of-order segments still go out one per segment (RFC 5681 4.2),
// and the ACK for the segment that fills the gap follows them.
func TestAckCoalescing(t *testing.T) {
	l := newBurstLink()
	s, _, syn, sa := burstHandshake(t, l, l)
	const mss = 1460
	data := func(i int) []byte {
		return tcpPacket(t, &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 80,
			Seq: syn.Seq.Add(1 + uint32(i*mss)), Ack: sa.Seq.Add(1), Flags: segment.FlagACK, Window: 65535,
			Payload: bytes.Repeat([]byte{byte(i)}, mss)})
	}
	burst := [][]byte{tcpPacket(t, &segment.Segment{Src: addrA, Dst: addrB, SrcPort: 40000, DstPort: 80,
		Seq: syn.Seq.Add(1), Ack: sa.Seq.Add(1), Flags: segment.FlagACK, Window: 65535})}
	for i := range 10 {
		burst = append(burst, data(i))
	}
	l.release(burst...)
	x := syn.Seq.Add(1 + 10*mss)
	if got := acks(t, l, 200*time.Millisecond); len(got) != 1 || got[0] != x {
		t.Fatalf("after a burst of 10 segments the stack sent ACKs %v, want one ACK of %v", got, x)
	}
	if st := s.Stats(); st.AcksCoalesced != 4 {
		t.Errorf("AcksCoalesced = %d, want 4 (five ACKs due, one sent)", st.AcksCoalesced)
	}
	// A gap: segments 11..13 arrive before 10.
	l.release(data(11), data(12), data(13))
	if got := acks(t, l, 200*time.Millisecond); len(got) != 3 || got[0] != x || got[1] != x || got[2] != x {
		t.Fatalf("three out-of-order segments drew ACKs %v, want three duplicate ACKs of %v", got, x)
	}
	l.release(data(10))
	if got, want := acks(t, l, 200*time.Millisecond), syn.Seq.Add(1+14*mss); len(got) != 1 || got[0] != want {
		t.Fatalf("the segment filling the gap drew ACKs %v, want one ACK of %v", got, want)
	}
	if l.idles.Load() == 0 {
		t.Error("idle was never called")
	}
}

// gsoPipe makes a pipe end an OffloadLink that segments like a TUN device
// with TSO: WriteGSO cuts the packet into mss-sized segments (PSH and FIN
// on the last one only) and writes each to the pipe, whose MTU still
// refuses anything larger. It checks what the stack hands it.
type gsoPipe struct {
	*tun.PipeEnd
	mu        sync.Mutex
	buf, pkt  []byte
	gsoWrites atomic.Int64
	bad       atomic.Value // string: what was wrong with a WriteGSO packet
}

func (g *gsoPipe) ReadPacket(p []byte, idle func()) (int, bool, error) {
	if n, ok := g.TryRead(p); ok {
		return n, false, nil
	}
	if idle != nil {
		idle()
	}
	n, err := g.Read(p)
	return n, false, err
}

func (g *gsoPipe) GSOMaxSize() int { return 65535 }

func (g *gsoPipe) WriteGSO(hdr, payload []byte, mss int) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.buf == nil {
		g.buf = make([]byte, 65536)
		g.pkt = make([]byte, 65536)
	}
	// The checksum is the link's job: parse without verifying it.
	p := append(append(g.pkt[:0], hdr...), payload...)
	var s segment.Segment
	var flow uint32
	if segment.IPVersion(p) == 6 {
		var ch segment.IPv6Chain
		if err := segment.WalkIPv6(p, &ch); err != nil || ch.Protocol != segment.ProtocolTCP {
			g.bad.Store(fmt.Sprintf("bad IPv6 packet: %v", err))
			return 0, errors.New("bad IPv6 packet")
		}
		ip := segment.IPv6(p)
		flow = ip.FlowLabel()
		if err := segment.ParseTCPTrusted(ip.Src(), ip.Dst(), p[ch.Offset:ch.End], &s); err != nil {
			g.bad.Store("unparsable packet: " + err.Error())
			return 0, err
		}
	} else {
		ip := segment.IPv4(p)
		if err := ip.Validate(); err != nil {
			g.bad.Store("bad IPv4 header: " + err.Error())
			return 0, err
		}
		if err := segment.ParseTCPTrusted(ip.Src(), ip.Dst(), ip.Payload(), &s); err != nil {
			g.bad.Store("unparsable packet: " + err.Error())
			return 0, err
		}
	}
	if len(s.Payload) != len(payload) {
		g.bad.Store("headers and payload disagree on the length")
	}
	if len(s.Payload) > mss {
		g.gsoWrites.Add(1)
		if len(s.Payload)%mss != 0 && s.Flags&segment.FlagPSH == 0 {
			// Only the end of the queued data (PSH) may leave a
			// short piece.
			g.bad.Store("WriteGSO of " + itoa(len(s.Payload)) + " bytes with mss " + itoa(mss))
		}
	}
	payload, flags := s.Payload, s.Flags
	for off := 0; off < len(payload); off += mss {
		piece := s
		piece.Seq = s.Seq.Add(uint32(off))
		piece.Payload = payload[off:min(off+mss, len(payload))]
		if off+mss < len(payload) {
			piece.Flags = flags &^ (segment.FlagPSH | segment.FlagFIN)
		}
		var n int
		var err error
		if piece.Src.Is4() {
			n, err = segment.BuildIPv4TCP(g.buf, &piece, 0, 64)
		} else {
			n, err = segment.BuildIPv6TCP(g.buf, &piece, flow, 64)
		}
		if err != nil {
			return 0, err
		}
		if _, err := g.Write(g.buf[:n]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// GSOIPv6: the pipe cuts IPv6 super-segments too.
func (g *gsoPipe) GSOIPv6() bool { return true }

var _ stack.IPv6OffloadLink = (*gsoPipe)(nil)

// TestGSOLossyEcho: two stacks whose links segment for them (GSO) echo
// 1 MiB on each of 4 connections at once over a pipe with loss,
// duplication and reordering, byte-exact, over IPv4 and over IPv6. Large
// segments were used, each a whole number of full-sized pieces unless it
// ended the data, and no packet the pipe carried exceeded its MTU.
func TestGSOLossyEcho(t *testing.T) {
	for _, dst := range []string{"198.18.0.2:7", "[2001:2::2]:7"} {
		t.Run(dst, func(t *testing.T) { testGSOLossyEcho(t, dst) })
	}
}

func testGSOLossyEcho(t *testing.T, dst string) {
	f := tun.FaultConfig{Seed: 5, Loss: 0.01, Duplicate: 0.01, Reorder: 0.02, Delay: 100 * time.Microsecond, Jitter: 50 * time.Microsecond}
	g := f
	g.Seed++
	pa, pb := tun.NewPipe(timers.NewReal(), 1500, f, g)
	la, lb := &gsoPipe{PipeEnd: pa}, &gsoPipe{PipeEnd: pb}
	a, err := stack.New(la, stack.Options{Addrs: []netip.Addr{addrA, addr6A}, MinRTO: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := stack.New(lb, stack.Options{Addrs: []netip.Addr{addrB, addr6B}, MinRTO: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	echoServer(t, b, ":7", time.Minute)
	const conns, size = 4, 1 << 20
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := a.Dial(t.Context(), dst)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			data := make([]byte, size)
			newPRNG(byte(40 + i)).Read(data)
			want := sha256.Sum256(data)
			go func() {
				c.Write(data)
				c.(*stack.Conn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil {
				t.Errorf("conn %d: %v after %d bytes", i, err, len(got))
				return
			}
			if h := sha256.Sum256(got); h != want || len(got) != size {
				t.Errorf("conn %d: %d bytes, hash mismatch", i, len(got))
			}
		}()
	}
	wg.Wait()
	for name, l := range map[string]*gsoPipe{"A": la, "B": lb} {
		if v := l.bad.Load(); v != nil {
			t.Errorf("stack %s: %s", name, v)
		}
		if l.gsoWrites.Load() == 0 {
			t.Errorf("stack %s never used WriteGSO", name)
		}
	}
	for name, s := range map[string]*stack.Stack{"A": a, "B": b} {
		st := s.Stats()
		if st.LinkWriteErrors != 0 {
			t.Errorf("stack %s: %d link write errors (a packet above the MTU?)", name, st.LinkWriteErrors)
		}
		t.Logf("stack %s: GSO writes %d, segments out %d, retransmissions %d, ACKs coalesced %d",
			name, st.GSOWrites, st.SegmentsOut, st.Retransmissions, st.AcksCoalesced)
	}
}

// burstHandshake starts a stack on link (which delivers what bl releases)
// with a listener on :80, sends it a SYN from addrA:40000 with MSS 1460 and
// returns the stack, the listener, the SYN and the stack's SYN-ACK. Both are
// closed when the test ends.
func burstHandshake(t *testing.T, link stack.Link, bl *burstLink) (*stack.Stack, net.Listener, *segment.Segment, segment.Segment) {
	t.Helper()
	s, err := stack.New(link, stack.Options{Addr: addrB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ln, err := s.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	syn := synTo(80)
	syn.Options.HasMSS, syn.Options.MSS = true, 1460
	bl.release(tcpPacket(t, syn))
	synack := bl.next(t, 2*time.Second)
	var sa segment.Segment
	if synack == nil || segment.ParseIPv4TCP(synack, &sa) != nil || sa.Flags != segment.FlagSYN|segment.FlagACK {
		t.Fatalf("no SYN-ACK: %x", synack)
	}
	return s, ln, syn, sa
}
