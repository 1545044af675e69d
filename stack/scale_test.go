package stack_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestManyConns opens 10,000 concurrent connections (1,000 with -short)
// between two stacks, checks that a sample of them carries a byte to the
// right peer, and bounds the heap held per idle connection (the README's
// "about 2 KB", with margin) and the goroutines per connection.
func TestManyConns(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	p := newPair(t, nil, tun.FaultConfig{QueueLimit: 4096}, nil)
	ln, err := p.b.Listen(":7")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make([]net.Conn, 0, n)
	dialed := make([]net.Conn, n)
	var amu sync.Mutex
	accDone := make(chan struct{})
	go func() {
		defer close(accDone)
		for len(accepted) < n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			amu.Lock()
			accepted = append(accepted, c)
			amu.Unlock()
		}
	}()
	runtime.GC()
	g0 := runtime.NumGoroutine()
	h0 := heapInUse()

	// 64 parallel dialers, as the benchmark contract's conns workload.
	var wg sync.WaitGroup
	var next int
	var nmu sync.Mutex
	errs := make(chan error, 64)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				nmu.Lock()
				i := next
				next++
				nmu.Unlock()
				if i >= n {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, err := p.a.Dial(ctx, "198.18.0.2:7")
				cancel()
				if err != nil {
					errs <- err
					return
				}
				dialed[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	select {
	case <-accDone:
	case <-time.After(30 * time.Second):
		t.Fatalf("accepted %d of %d", len(accepted), n)
	}
	// Let handshakes' last ACKs and timers settle, then measure idle.
	time.Sleep(100 * time.Millisecond)
	h1 := heapInUse()
	g1 := runtime.NumGoroutine()
	perConn := float64(int64(h1)-int64(h0)) / float64(2*n)
	t.Logf("%d connections: heap %.0f bytes per idle connection endpoint (%.0f per A+B pair); goroutines per connection %.3f (%d -> %d)",
		n, perConn, 2*perConn, float64(g1-g0)/float64(n), g0, g1)
	// The README quotes this figure ("an idle connection costs about 2 KB
	// of heap"; measured 1.9 KB per endpoint with 10,000 connections, with
	// or without -race: the engine's Conn 1152 bytes (TestConnSize), the
	// runtime's 384, the demux table's entry and the dialer's wake-up
	// channel). The bound leaves room for GC and allocator noise, more of
	// it per connection with -short's 1,000.
	const maxPerConn = 3 << 10
	if perConn > maxPerConn {
		t.Fatalf("heap %.0f bytes per idle connection endpoint, want <= %d (README: about 2 KB)", perConn, maxPerConn)
	}
	if g1-g0 > 2 { // the clock's dispatcher may have started
		t.Fatalf("goroutines grew by %d for %d connections", g1-g0, n)
	}
	if st := p.a.Stats(); st.Conns != uint64(n) {
		t.Fatalf("A has %d conns, want %d", st.Conns, n)
	}
	if st := p.b.Stats(); st.Conns != uint64(n) {
		t.Fatalf("B has %d conns, want %d", st.Conns, n)
	}
	// The connections work: one byte on each of a sample, which must reach
	// the peer of the connection it was written on, and nothing else
	// arrives anywhere. The accepted side is matched by the dialer's port.
	want := make(map[int][]byte, n) // dialer's local port -> bytes expected
	for i, c := range dialed {
		port := c.LocalAddr().(*net.TCPAddr).Port
		want[port] = nil
		if i%(n/100) == 0 {
			if _, err := c.Write([]byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			want[port] = []byte{byte(i)}
		}
	}
	amu.Lock()
	defer amu.Unlock()
	for _, c := range dialed {
		c.Close()
	}
	for _, c := range accepted {
		port := c.RemoteAddr().(*net.TCPAddr).Port
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("accepted connection from port %d: %v after %q", port, err, got)
		}
		if exp, ok := want[port]; !ok || !bytes.Equal(got, exp) {
			t.Fatalf("accepted connection from port %d received %q, want %q (dialed: %v)", port, got, exp, ok)
		}
		delete(want, port)
		c.Close()
	}
	if len(want) != 0 {
		t.Fatalf("%d dialed connections have no accepted peer", len(want))
	}
	if !waitFor(10*time.Second, func() bool { return p.a.Stats().Conns == 0 && p.b.Stats().Conns == 0 }) {
		t.Fatalf("after closing: A %d conns, B %d conns", p.a.Stats().Conns, p.b.Stats().Conns)
	}
	if tw := p.a.Stats().TimeWait; tw != uint64(n) {
		t.Fatalf("A TIME-WAIT %d, want %d", tw, n)
	}
	_ = stack.DefaultBacklog
}
