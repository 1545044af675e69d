package stack_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// Transparent TCP between two stacks on the in-memory pipe: A's dials to
// addresses in 198.19.0.0/16 reach B's handler, which answers per port.

// fwdPair starts the pair with B in transparent mode and h as B's handler.
func fwdPair(t *testing.T, cfg stack.TCPForwarderConfig, h func(*stack.TCPRequest)) *pair {
	t.Helper()
	clock := timers.NewReal()
	pa, pb := tun.NewPipe(clock, 1500, tun.FaultConfig{}, tun.FaultConfig{Seed: 1})
	a, err := stack.New(pa, stack.Options{Addr: addrA, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	b, err := stack.New(pb, stack.Options{Addr: addrB, Clock: clock, TransparentPrefixes: []netip.Prefix{fwdPrefix4}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	p := &pair{a: a, b: b, pa: pa, pb: pb}
	if err := b.SetTCPForwarder(h, cfg); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestForwardPairEcho: concurrent connections to distinct transparent
// destinations are accepted (from the handler's own goroutine, after an
// "upstream" step) and echo their bytes exactly; each side sees the
// original destination as B's local address.
func TestForwardPairEcho(t *testing.T) {
	p := fwdPair(t, stack.TCPForwarderConfig{}, func(r *stack.TCPRequest) {
		go func() {
			c, err := r.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			if c.LocalAddr().String() != r.Destination().String() {
				c.Write([]byte("wrong local address " + c.LocalAddr().String()))
				return
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			io.Copy(c, c)
		}()
	})
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dst := fmt.Sprintf("198.19.%d.%d:%d", i/200, 1+i%200, 1000+i)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := p.a.Dial(ctx, dst)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if c.RemoteAddr().String() != dst {
				errs <- fmt.Errorf("remote %v, want %v", c.RemoteAddr(), dst)
				return
			}
			msg := make([]byte, 64<<10)
			rand.Read(msg)
			c.SetDeadline(time.Now().Add(20 * time.Second))
			go c.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("%s: echo differs", dst)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := p.b.Stats().Forward; st.Requests != n || st.Accepted != n || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardPairRefuse: a refusal with RST and an expired request both
// fail the client's Dial with ECONNREFUSED.
func TestForwardPairRefuse(t *testing.T) {
	p := fwdPair(t, stack.TCPForwarderConfig{PendingTimeout: 300 * time.Millisecond}, func(r *stack.TCPRequest) {
		if r.Destination().Port() == 81 {
			go r.Refuse(stack.RefuseReset)
		}
		// Port 83: never answered (a handler that forgot).
	})
	for _, dst := range []string{"198.19.0.1:81", "198.19.0.1:83"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		_, err := p.a.Dial(ctx, dst)
		cancel()
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("%s: dial %v, want ECONNREFUSED", dst, err)
		}
		t.Logf("%s refused after %v", dst, time.Since(start))
	}
	if st := p.b.Stats().Forward; st.Refused != 1 || st.Expired != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardPairAcceptAfterClientGaveUp: the handler accepts after the
// client's dial was abandoned: the client's stack resets the SYN-ACK, and
// the accepted connection reports ECONNRESET.
func TestForwardPairAcceptAfterClientGaveUp(t *testing.T) {
	got := make(chan *stack.TCPRequest, 1)
	p := fwdPair(t, stack.TCPForwarderConfig{}, func(r *stack.TCPRequest) { got <- r })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := p.a.Dial(ctx, "198.19.0.1:84")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial: %v", err)
	}
	r := <-got
	c, err := r.Accept()
	if err != nil {
		// (A's stack sends no RST when it abandons SYN-SENT, RFC 9293
		// 3.10.5, so the request is still pending.)
		t.Fatalf("Accept: %v", err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read: %v, want ECONNRESET", err)
	}
}

// TestForwardSynFlood: SYNs from many sources to a handler that never
// answers fill the table to MaxPending, no further: memory and goroutines
// stay bounded, the surplus is counted, and expiry empties it; a second
// flood costs no more than the first. A flood from one source stops at
// MaxPendingPerSource and leaves room for others.
func TestForwardSynFlood(t *testing.T) {
	const maxPending, perSource, flood = 2000, 8, 20000
	f := newFwdRaw(t, stack.TCPForwarderConfig{MaxPending: maxPending, MaxPendingPerSource: perSource}, nil)
	go func() { // the program that forgets to answer
		for range f.reqs {
		}
	}()
	drain := func() {
		for {
			select {
			case <-f.l.out:
			default:
				return
			}
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	g0, h0 := goroutines(), heap()
	var h1 uint64
	for round := 0; round < 2; round++ {
		for i := 0; i < flood; i++ {
			src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			f.send(t, fwdSyn(src, uint16(1024+i%50000), fwdDst4, 1))
		}
		f.sync(t)
		drain()
		st := f.s.Stats().Forward
		if st.Pending != maxPending || st.Limited != uint64((round+1)*(flood-maxPending)) {
			t.Fatalf("round %d: stats %+v", round, st)
		}
		g, h := goroutines(), heap()
		t.Logf("round %d: %d goroutines (before %d), heap %d KiB more", round, g, g0, (int64(h)-int64(h0))>>10)
		if g > g0+5 {
			t.Fatalf("goroutines grew from %d to %d", g0, g)
		}
		if h > h0+maxPending*2048 {
			t.Fatalf("heap grew by %d KiB with %d pending", (h-h0)>>10, maxPending)
		}
		if round == 1 && h > h1+4<<20 {
			t.Fatalf("second flood grew the heap by %d KiB more than the first", (h-h1)>>10)
		}
		h1 = h
		f.clock.Advance(stack.DefaultForwardPendingTimeout)
		f.sync(t)
		drain()
		if st := f.s.Stats().Forward; st.Pending != 0 || st.Expired != uint64((round+1)*maxPending) {
			t.Fatalf("round %d after expiry: %+v", round, st)
		}
	}
	// One source: stops at perSource; another source still gets in.
	for i := 0; i < 1000; i++ {
		f.send(t, fwdSyn(addrA, uint16(2000+i), fwdDst4, 1))
	}
	f.send(t, fwdSyn(netip.MustParseAddr("198.18.0.77"), 1, fwdDst4, 1))
	f.sync(t)
	if st := f.s.Stats().Forward; st.Pending != perSource+1 || st.SourceLimited != 1000-perSource {
		t.Fatalf("one-source flood: %+v", st)
	}
}
