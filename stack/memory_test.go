package stack_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
)

// newWiredPair is newPair on two rawLinks joined by goroutines: a link that
// keeps no memory once its packets are read (tun's pipe recycles its
// packet buffers), so the heap measures the stacks alone.
func newWiredPair(t *testing.T) *pair {
	t.Helper()
	la, lb := newRawLink(), newRawLink()
	wire := func(from, to *rawLink) {
		for {
			select {
			case b := <-from.out:
				select {
				case to.in <- b:
				case <-to.closed:
					return
				}
			case <-from.closed:
				return
			}
		}
	}
	go wire(la, lb)
	go wire(lb, la)
	a, err := stack.New(la, stack.Options{Addr: addrA})
	if err != nil {
		t.Fatal(err)
	}
	b, err := stack.New(lb, stack.Options{Addr: addrB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return &pair{a: a, b: b}
}

// TestMemoryReturnsAfterLoad fills the send and receive buffers of 32
// connections, drains and closes them, and checks that the stack's memory
// trim gives the buffer memory back: the heap in use returns to within 1
// MiB of what it was before the load (issue 8 section 4; before the trim
// existed, the engine's free list kept up to 2 MiB per block size, ~10 MiB
// here, for the life of the process).
func TestMemoryReturnsAfterLoad(t *testing.T) {
	const conns, perConn = 32, 1 << 20
	p := newWiredPair(t)
	// What earlier tests left on the (package-wide) free list goes first.
	stack.TrimMemory(p.a)
	stack.TrimMemory(p.a)
	h0 := int64(heapInUse())
	// Connections of earlier tests that their test never closed may
	// still hold buffers; none of this test's may.
	held0 := tcp.TrimBuffers().Held

	dialed, accepted := make([]net.Conn, conns), make([]net.Conn, conns)
	for i := range conns {
		dialed[i], accepted[i] = p.connect(t, 9)
	}
	// Phase 1: every A side writes perConn bytes that B does not read yet,
	// so B's receive buffer and A's send buffer fill up.
	pattern := make([]byte, perConn)
	for i := range pattern {
		pattern[i] = byte(i % 251)
	}
	var wg sync.WaitGroup
	werrs := make(chan error, conns)
	for _, c := range dialed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.Write(pattern); err != nil {
				werrs <- err
			}
		}()
	}
	// Both buffers of every connection full: 2 x 256 KiB each.
	const full = conns * 2 * tcp.DefaultRecvBufferSize
	if !waitFor(20*time.Second, func() bool { return tcp.TrimBuffers().Held-held0 >= full }) {
		t.Fatalf("buffers hold %d bytes, want %d", tcp.TrimBuffers().Held-held0, full)
	}
	peak := int64(heapInUse())
	// Phase 2: B reads everything (checked byte for byte), then both
	// sides close.
	buf := make([]byte, 64<<10)
	for i, c := range accepted {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for off := 0; off < perConn; {
			n, err := c.Read(buf[:min(len(buf), perConn-off)])
			for j := range n {
				if buf[j] != pattern[off+j] {
					t.Fatalf("conn %d: byte %d is %d, want %d", i, off+j, buf[j], pattern[off+j])
				}
			}
			off += n
			if err != nil {
				t.Fatalf("conn %d: read after %d bytes: %v", i, off, err)
			}
		}
	}
	wg.Wait()
	close(werrs)
	for err := range werrs {
		t.Fatal(err)
	}
	for i := range conns {
		dialed[i].Close()
		accepted[i].SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := io.Copy(io.Discard, accepted[i]); n != 0 || err != nil {
			t.Fatalf("conn %d: %d bytes more, %v; want EOF", i, n, err)
		}
		accepted[i].Close()
	}
	if !waitFor(10*time.Second, func() bool { return p.a.Stats().Conns == 0 && p.b.Stats().Conns == 0 }) {
		t.Fatalf("after closing: A %d conns, B %d conns", p.a.Stats().Conns, p.b.Stats().Conns)
	}
	closed := int64(heapInUse())
	// Two trims: the first drops what the free list held before the
	// connections closed, the second what they gave back.
	stack.TrimMemory(p.a)
	stack.TrimMemory(p.a)
	after := int64(heapInUse())
	const mib = 1 << 20
	t.Logf("heap in use: %.1f MiB before, %.1f MiB under load, %.1f MiB after close, %.1f MiB after trimming",
		float64(h0)/mib, float64(peak)/mib, float64(closed)/mib, float64(after)/mib)
	if peak-h0 < full/2 {
		t.Fatalf("the load raised the heap by only %d bytes: the test measures nothing", peak-h0)
	}
	if after-h0 > mib {
		t.Fatalf("heap in use %d bytes above the baseline after the connections closed and the trims ran; want <= 1 MiB", after-h0)
	}
	if u := tcp.TrimBuffers(); u.Held > held0 || u.Parked != 0 {
		t.Fatalf("buffer memory after close: %+v, want none parked and at most the %d bytes held before", u, held0)
	}
}
