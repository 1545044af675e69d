package stack_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// gatedLink is a pipe end whose Write blocks, while the gate is armed, for
// data segments (any segment, with any) from one local port: a link that
// is slow for one connection.
type gatedLink struct {
	*tun.PipeEnd
	port    atomic.Int32 // local port whose segments block; 0: none
	any     bool         // block every segment from port, not only data
	blocked chan struct{}
	open    chan struct{}
	once    sync.Once
}

func (g *gatedLink) Write(p []byte) (int, error) {
	if port := g.port.Load(); port != 0 {
		var s segment.Segment
		if segment.ParseIPv4TCP(p, &s) == nil && int32(s.SrcPort) == port && (g.any || len(s.Payload) > 0) {
			g.once.Do(func() { close(g.blocked) })
			<-g.open
		}
	}
	return g.PipeEnd.Write(p)
}

// TestSlowLinkWriteStallsOnlyItsConnection: while a Link.Write of one
// connection's data is stuck (on the application goroutine that wrote the
// data), the input goroutine still processes that connection's arriving
// segments and the stack serves other connections. The write happens after
// the connection's lock is released; when the lock was held across it, the
// input goroutine blocked on the first segment for that connection and the
// whole stack stopped.
func TestSlowLinkWriteStallsOnlyItsConnection(t *testing.T) {
	g := &gatedLink{blocked: make(chan struct{}), open: make(chan struct{})}
	clk := timers.NewReal()
	p := newPairOn(t, clk, tun.FaultConfig{}, nil, func(pe *tun.PipeEnd) stack.Link { g.PipeEnd = pe; return g })
	slowA, slowB := p.connect(t, 7)
	fastA, fastB := p.connect(t, 8)
	defer close(g.open)
	rto := slowA.(*stack.Conn).Info().RTO

	g.port.Store(int32(slowA.LocalAddr().(*net.TCPAddr).Port))
	msg := bytes.Repeat([]byte("x"), 3000)
	wrote := make(chan error, 1)
	go func() { _, err := slowA.Write(msg); wrote <- err }()
	select {
	case <-g.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow connection's data never reached the link")
	}
	// A segment for the connection whose write is stuck: the input
	// goroutine must get through it.
	if _, err := slowB.Write([]byte("to the slow one")); err != nil {
		t.Fatal(err)
	}
	slowA.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, err := slowA.Read(buf)
	if err != nil || string(buf[:n]) != "to the slow one" {
		t.Fatalf("read on the connection with a stuck write: %q, %v", buf[:n], err)
	}
	// And another connection works: an echo through B.
	go func() { io.CopyN(fastB, fastB, 4) }()
	fastA.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fastA.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(fastA, buf[:4]); err != nil || string(buf[:4]) != "ping" {
		t.Fatalf("echo on another connection while one write is stuck: %q, %v", buf[:4], err)
	}
	// The clock's goroutine runs every timer in deadline order. The stuck
	// connection's retransmission timer falls due first (its data was
	// built, so the timer is armed); a timer due after it must still run.
	// When the writer held the connection's lock, the clock's goroutine
	// blocked in that connection's callback and no timer ran again.
	probe := make(chan struct{})
	clk.AfterFunc(2*rto+100*time.Millisecond, func() { close(probe) })
	select {
	case <-probe:
	case <-time.After(20 * time.Second):
		t.Fatal("timers stopped while one connection's link write was stuck")
	}
	if in := slowA.(*stack.Conn).Info(); in.RTOExpiries == 0 {
		t.Fatalf("the stuck connection's retransmission timer has not run (RTO %v)", in.RTO)
	}
	select {
	case err := <-wrote:
		t.Fatalf("Write returned (%v) while its segment was stuck in the link", err)
	default:
	}
	// Release the link: the stuck data is delivered, once and in order.
	g.port.Store(0)
	g.open <- struct{}{}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	slowB.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(slowB, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("after the link recovered: %v, data intact %v", err, bytes.Equal(got, msg))
	}
}

// TestTraceHookRunsWithoutConnLock: Options.Trace is called after the
// connection's lock is released (here the hook calls Info on the
// connection, which takes that lock: under the lock it deadlocked), and in
// the order the transitions happened.
func TestTraceHookRunsWithoutConnLock(t *testing.T) {
	var mu sync.Mutex
	var conn *stack.Conn
	var states []tcp.State
	infoCalls := 0
	trace := func(tr tcp.Transition) {
		if tr.Tuple.LocalAddr != addrA {
			return // B's
		}
		mu.Lock()
		c := conn
		states = append(states, tr.To)
		mu.Unlock()
		if c != nil && tr.Tuple.LocalPort == uint16(c.LocalAddr().(*net.TCPAddr).Port) {
			c.Info() // takes the connection's lock
			mu.Lock()
			infoCalls++
			mu.Unlock()
		}
	}
	p := newPair(t, nil, tun.FaultConfig{}, func(o *stack.Options) { o.Trace = trace })
	ln, err := p.b.Listen(":9")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := p.a.Dial(ctx, "198.18.0.2:9")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	conn = nc.(*stack.Conn)
	mu.Unlock()
	done := make(chan struct{})
	go func() { nc.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: the trace hook ran under the connection's lock")
	}
	want := []tcp.State{tcp.StateSynSent, tcp.StateEstablished, tcp.StateFinWait1, tcp.StateFinWait2, tcp.StateTimeWait}
	if !waitFor(10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(states) >= len(want) }) {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("transitions %v, want %v", states, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, s := range want {
		if states[i] != s {
			t.Fatalf("transitions %v, want %v", states, want)
		}
	}
	if infoCalls < 3 {
		t.Fatalf("the hook called Info %d times, want 3 (FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT)", infoCalls)
	}
}

// TestTimeWaitAnswerWrittenWithoutDemuxLock: a TIME-WAIT record's answer
// is written after the demux lock is released. Here that write is stuck
// in the link; Listen, which needs only the demux lock, must still return.
// When the answer was written under the lock, Listen waited for the link.
func TestTimeWaitAnswerWrittenWithoutDemuxLock(t *testing.T) {
	g := &gatedLink{blocked: make(chan struct{}), open: make(chan struct{}), any: true}
	p := newPairOn(t, nil, tun.FaultConfig{}, nil, func(pe *tun.PipeEnd) stack.Link { g.PipeEnd = pe; return g })
	ca, cb := p.connect(t, 7)
	defer close(g.open)
	port := ca.LocalAddr().(*net.TCPAddr).Port
	ca.Close() // A closes first: A ends in TIME-WAIT
	cb.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := cb.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("B read %v, want EOF", err)
	}
	cb.Close()
	if !waitFor(10*time.Second, func() bool { return p.a.Stats().TimeWait == 1 }) {
		t.Fatalf("A has %d TIME-WAIT records, want 1", p.a.Stats().TimeWait)
	}
	// A stray FIN for the TIME-WAIT record, straight into A's link: the
	// record answers with an ACK, and that write blocks.
	g.port.Store(int32(port))
	if _, err := p.pb.Write(tcpPacket(t, &segment.Segment{Src: addrB, Dst: addrA, SrcPort: 7, DstPort: uint16(port),
		Seq: 12345, Ack: 1, Flags: segment.FlagFIN | segment.FlagACK, Window: 1000})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the TIME-WAIT record did not answer")
	}
	done := make(chan error, 1)
	go func() {
		ln, err := p.a.Listen(":8080")
		if err == nil {
			ln.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Listen blocked while a TIME-WAIT answer was stuck in the link")
	}
}

// idOrderLink is a pipe end that checks, per local port, that the packets
// of a connection reach the link in the order the stack built them: each
// carries the next IPv4 ID of its connection (Conn.queueLocked numbers them
// under the connection's lock).
type idOrderLink struct {
	*tun.PipeEnd
	mu   sync.Mutex
	last map[uint16]uint16
	n    int
	bad  string
}

func (l *idOrderLink) Write(p []byte) (int, error) {
	runtime.Gosched() // widen the window for another goroutine's write
	var s segment.Segment
	if segment.ParseIPv4TCP(p, &s) == nil {
		id := segment.IPv4(p).ID()
		l.mu.Lock()
		if last, ok := l.last[s.SrcPort]; ok && id != last+1 && l.bad == "" {
			l.bad = fmt.Sprintf("port %d: packet with IPv4 ID %d after %d (%v)", s.SrcPort, id, last, &s)
		}
		l.last[s.SrcPort] = id
		l.n++
		l.mu.Unlock()
	}
	return l.PipeEnd.Write(p)
}

// TestOutputKeepsBuildOrder: with application writes, the input goroutine
// and retransmission timers all producing output for the same connections
// (loss makes the timers fire), every connection's packets reach the link
// in the order they were built, whichever goroutine writes them.
func TestOutputKeepsBuildOrder(t *testing.T) {
	l := &idOrderLink{last: make(map[uint16]uint16)}
	f := tun.FaultConfig{Seed: 3, Loss: 0.02}
	p := newPairOn(t, nil, f, nil, func(pe *tun.PipeEnd) stack.Link { l.PipeEnd = pe; return l })
	const conns, size = 4, 256 << 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*conns)
	for i := range conns {
		ca, cb := p.connect(t, 20+i)
		msg := bytes.Repeat([]byte{byte(i)}, size)
		wg.Add(2)
		go func() { // B echoes
			defer wg.Done()
			cb.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := io.CopyN(cb, cb, size); err != nil {
				errs <- err
			}
		}()
		go func() { // A writes and reads back at once
			defer wg.Done()
			ca.SetDeadline(time.Now().Add(60 * time.Second))
			go ca.Write(msg)
			got := make([]byte, size)
			if _, err := io.ReadFull(ca, got); err != nil {
				errs <- err
			} else if !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("conn %d: echo differs", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bad != "" {
		t.Fatal(l.bad)
	}
	if st := p.a.Stats(); st.Retransmissions == 0 {
		t.Fatalf("no retransmission in %d packets: the timers never wrote", l.n)
	}
}
