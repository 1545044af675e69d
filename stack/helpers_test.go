package stack_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

var (
	addrA = netip.MustParseAddr("198.18.0.1")
	addrB = netip.MustParseAddr("198.18.0.2")
)

// pair is two stacks, A (198.18.0.1) and B (198.18.0.2), joined by tun's
// in-memory pipe.
type pair struct {
	a, b   *stack.Stack
	pa, pb *tun.PipeEnd
}

// newPair starts two stacks on a pipe with the given faults (both
// directions) on clock (nil: real). tweak, if non-nil, adjusts both stacks'
// options. The stacks are closed at the end of the test.
func newPair(t testing.TB, clock timers.Clock, f tun.FaultConfig, tweak func(*stack.Options)) *pair {
	t.Helper()
	return newPairOn(t, clock, f, tweak, nil)
}

// newPairOn is newPair with A's link, if linkA is not nil, made from A's
// pipe end by linkA.
func newPairOn(t testing.TB, clock timers.Clock, f tun.FaultConfig, tweak func(*stack.Options), linkA func(*tun.PipeEnd) stack.Link) *pair {
	t.Helper()
	if clock == nil {
		clock = timers.NewReal()
	}
	g := f
	g.Seed = f.Seed + 1
	pa, pb := tun.NewPipe(clock, 1500, f, g)
	oa := stack.Options{Addr: addrA, Clock: clock}
	ob := stack.Options{Addr: addrB, Clock: clock}
	if tweak != nil {
		tweak(&oa)
		tweak(&ob)
		oa.Addr, ob.Addr = addrA, addrB
	}
	var la stack.Link = pa
	if linkA != nil {
		la = linkA(pa)
	}
	a, err := stack.New(la, oa)
	if err != nil {
		t.Fatal(err)
	}
	b, err := stack.New(pb, ob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return &pair{a: a, b: b, pa: pa, pb: pb}
}

// connect returns a connected pair of conns: c1 dialed from A, c2 accepted
// on B (listener on port).
func (p *pair) connect(t testing.TB, port int) (c1, c2 net.Conn) {
	t.Helper()
	return p.connectTo(t, "198.18.0.2", port)
}

// connectTo is connect to B's address host (of either family).
func (p *pair) connectTo(t testing.TB, host string, port int) (c1, c2 net.Conn) {
	t.Helper()
	ln, err := p.b.Listen(":" + itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c1, err = p.a.Dial(ctx, net.JoinHostPort(host, itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return c1, r.c
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	if i == 0 {
		return "0"
	}
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// rawLink is a Link the test drives by hand: packets given to inject are
// read by the stack, packets the stack writes arrive on out.
type rawLink struct {
	in     chan []byte
	out    chan []byte
	closed chan struct{}
	once   sync.Once
}

// rawListener starts a stack with options o (Addr defaults to addrB) on a
// raw link the test scripts, and a listener on port 80; both close when
// the test ends.
func rawListener(t *testing.T, o stack.Options) (*rawLink, *stack.Stack, net.Listener) {
	t.Helper()
	if !o.Addr.IsValid() {
		o.Addr = addrB
	}
	l := newRawLink()
	s, err := stack.New(l, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ln, err := s.Listen(":80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return l, s, ln
}

func newRawLink() *rawLink {
	return &rawLink{in: make(chan []byte, 64), out: make(chan []byte, 4096), closed: make(chan struct{})}
}

func (l *rawLink) Read(p []byte) (int, error) {
	select {
	case b := <-l.in:
		return copy(p, b), nil
	case <-l.closed:
		return 0, net.ErrClosed
	}
}

func (l *rawLink) Write(p []byte) (int, error) {
	select {
	case <-l.closed:
		return 0, net.ErrClosed
	default:
	}
	b := append([]byte(nil), p...)
	select {
	case l.out <- b:
	default:
	}
	return len(p), nil
}

func (l *rawLink) MTU() int { return 1500 }

func (l *rawLink) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *rawLink) inject(p []byte) { l.in <- p }

// next returns the next packet the stack wrote, or nil after a timeout.
func (l *rawLink) next(t testing.TB, d time.Duration) []byte {
	t.Helper()
	select {
	case p := <-l.out:
		return p
	case <-time.After(d):
		return nil
	}
}

// tcpPacket builds an IPv4/TCP packet.
func tcpPacket(t testing.TB, seg *segment.Segment) []byte {
	t.Helper()
	buf := make([]byte, 1600)
	n, err := segment.BuildIPv4TCP(buf, seg, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// waitFor polls cond every few milliseconds for at most d.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

// goroutines returns the current goroutine count after letting exiting
// goroutines finish.
func goroutines() int {
	runtime.Gosched()
	return runtime.NumGoroutine()
}

func runtimeStack(buf []byte) int { return runtime.Stack(buf, true) }

// echoServer listens on addr of s and echoes every connection it accepts,
// each on its own goroutine with a deadline of d, until the test ends.
func echoServer(t testing.TB, s *stack.Stack, addr string, d time.Duration) {
	t.Helper()
	ln, err := s.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(d))
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
}
