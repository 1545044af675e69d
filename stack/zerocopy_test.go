package stack_test

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// TestZeroCopyWriteWhileOtherGoroutineFlushes: on a link with checksum
// offload a queued packet of new data points into the send ring, and any
// goroutine that releases the connection's lock may be the one writing it
// (here also the reader's, whose Reads send window updates). The writer
// keeps reusing acknowledged ring space (a small send buffer, odd write
// sizes) while the reader's and the input goroutine's flushes write
// packets out of the ring: every byte must come back intact and in order.
// (The race this guards against, the application's copy into the ring
// against another goroutine's writev of the same bytes, was reported by
// the race detector in the integration suite's TestDial, `tunstack dial`
// with a reader and a writer goroutine: 2 reports in 15 runs before
// Conn.waitFlushLocked, none in 30 after. This test did not reproduce the
// report, only guards the data.)
func TestZeroCopyWriteWhileOtherGoroutineFlushes(t *testing.T) {
	pa, pb := tun.NewPipe(timers.NewReal(), 1500, tun.FaultConfig{}, tun.FaultConfig{})
	la, lb := &gsoPipe{PipeEnd: pa}, &gsoPipe{PipeEnd: pb}
	// A small send buffer, so that acknowledged ring space is reused
	// soon and often, and a small receive buffer, so that reads send
	// window updates.
	a, err := stack.New(la, stack.Options{Addr: addrA, SendBufferSize: 16 << 10, ReceiveBufferSize: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := stack.New(lb, stack.Options{Addr: addrB})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	echoServer(t, b, ":7", time.Minute)
	c, err := a.Dial(t.Context(), "198.18.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	const total = 8 << 20
	data := make([]byte, total)
	newPRNG(7).Read(data)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for off := 0; off < total; off += 3000 { // odd sizes: ring wrap at varying offsets
			if _, err := c.Write(data[off:min(off+3000, total)]); err != nil {
				t.Error(err)
				return
			}
		}
		c.(*stack.Conn).CloseWrite()
	}()
	// Small reads: each opens the receive window and sends an update,
	// so the reader's goroutine keeps taking over the connection's output.
	var got []byte
	buf := make([]byte, 700)
	for {
		n, rerr := c.Read(buf)
		got = append(got, buf[:n]...)
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	wg.Wait()
	if err != nil {
		t.Fatalf("read %d bytes, then %v", len(got), err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo of %d bytes came back as %d bytes, first difference at %d", total, len(got), firstDiff(got, data))
	}
	if la.gsoWrites.Load() == 0 && la.bad.Load() == nil {
		t.Log("no super-segments were written (the payloads still went through WriteGSO)")
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
