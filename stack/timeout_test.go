package stack_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/segment"
	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// TestDialTimeout: on the manual clock, a SYN nobody answers is
// retransmitted with backoff and Dial fails with ETIMEDOUT (RFC 9293 3.8.3
// R2 for SYNs), in simulated time.
func TestDialTimeout(t *testing.T) {
	clk, l, s, errc := dialOnManualClock(t)
	var derr error
	start := clk.Now()
	if !pumpStep(clk, time.Second, func() bool {
		select {
		case derr = <-errc:
			return true
		default:
			return false
		}
	}) {
		t.Fatal("Dial never gave up")
	}
	if !errors.Is(derr, syscall.ETIMEDOUT) {
		t.Fatalf("Dial: %v, want ETIMEDOUT", derr)
	}
	var oe *net.OpError
	if !errors.As(derr, &oe) || oe.Op != "dial" {
		t.Fatalf("want *net.OpError op dial, got %#v", derr)
	}
	syns := 0
	for p := l.next(t, 10*time.Millisecond); p != nil; p = l.next(t, 10*time.Millisecond) {
		var seg segment.Segment
		if segment.ParseIPv4TCP(p, &seg) == nil && seg.Flags == segment.FlagSYN {
			syns++
		}
	}
	el := clk.Now().Sub(start)
	t.Logf("%d SYNs, gave up after %v of simulated time", syns, el)
	if syns < 2 || el < 30*time.Second {
		t.Fatalf("%d SYNs over %v: no retransmission with backoff", syns, el)
	}
	if st := s.Stats(); st.Conns != 0 || st.Retransmissions != uint64(syns-1) {
		t.Fatalf("after the failed dial: %d conns, %d retransmissions (want 0, %d)", st.Conns, st.Retransmissions, syns-1)
	}
}

// TestDialSoftErrorReportedOnTimeout: an ICMP host unreachable quoting our
// SYN does not end the Dial (RFC 1122 4.2.3.9: a soft error must not abort
// the connection); the SYN is still retransmitted, and when the retries run
// out Dial fails with EHOSTUNREACH, not ETIMEDOUT, as on Linux.
func TestDialSoftErrorReportedOnTimeout(t *testing.T) {
	clk, l, s, errc := dialOnManualClock(t)
	syn := l.next(t, 5*time.Second)
	if syn == nil {
		t.Fatal("no SYN")
	}
	// Host unreachable (type 3 code 1) quoting the SYN's IPv4 header and
	// first 8 TCP bytes.
	l.inject(icmpPacket(addrA, addrB, append([]byte{3, 1, 0, 0, 0, 0, 0, 0}, syn[:28]...)))
	if !waitFor(5*time.Second, func() bool { return s.Stats().ICMPUnreachable == 1 }) {
		t.Fatalf("the ICMP error did not reach the connection: %+v", s.Stats())
	}
	var derr error
	if !pumpStep(clk, time.Second, func() bool {
		select {
		case derr = <-errc:
			return true
		default:
			return false
		}
	}) {
		t.Fatal("Dial never gave up")
	}
	if !errors.Is(derr, syscall.EHOSTUNREACH) {
		t.Fatalf("Dial: %v, want EHOSTUNREACH", derr)
	}
	if st := s.Stats(); st.Retransmissions == 0 {
		t.Fatal("the SYN was not retransmitted after the soft error")
	}
}

// TestUserTimeout: when the peer vanishes, data is retransmitted until the
// user timeout, then Read fails with ETIMEDOUT.
func TestUserTimeout(t *testing.T) {
	clk := timers.NewManual(time.Unix(1e9, 0))
	p := newPair(t, clk, tun.FaultConfig{}, func(o *stack.Options) { o.UserTimeout = 5 * time.Second })
	c1, _ := p.connect(t, 80)
	p.pb.Close() // B vanishes without a word (its link goes away, no FIN)
	if _, err := c1.Write([]byte("anyone there?")); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c1.Read(make([]byte, 10))
		errc <- err
	}()
	var rerr error
	if !pumpStep(clk, 100*time.Millisecond, func() bool {
		select {
		case rerr = <-errc:
			return true
		default:
			return false
		}
	}) {
		t.Fatal("Read never failed")
	}
	if !errors.Is(rerr, syscall.ETIMEDOUT) {
		t.Fatalf("Read: %v, want ETIMEDOUT", rerr)
	}
	if st := p.a.Stats(); st.Retransmissions == 0 || st.Conns != 0 {
		t.Fatalf("A: %d retransmissions, %d conns", st.Retransmissions, st.Conns)
	}
}

// pumpStep advances the manual clock by step at a time (bounded) until
// cond holds.
func pumpStep(clk *timers.Manual, step time.Duration, cond func() bool) bool {
	for i := 0; i < 3000; i++ {
		if cond() {
			return true
		}
		clk.Advance(step)
		time.Sleep(100 * time.Microsecond)
	}
	return cond()
}

// dialOnManualClock starts a stack on a raw link and the manual clock, and
// a Dial to 198.18.0.1:80 that nothing answers; Dial's result arrives on
// errc. The stack is closed when the test ends.
func dialOnManualClock(t *testing.T) (*timers.Manual, *rawLink, *stack.Stack, chan error) {
	t.Helper()
	clk := timers.NewManual(time.Unix(1e9, 0))
	l := newRawLink()
	s, err := stack.New(l, stack.Options{Addr: addrB, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	errc := make(chan error, 1)
	go func() {
		_, err := s.Dial(context.Background(), "198.18.0.1:80")
		errc <- err
	}()
	return clk, l, s, errc
}
