//go:build !race

package stack_test

// Allocation counts are not meaningful under the race detector (it
// allocates on its own, and sync.Pool drops items at random), so this file
// is built only without it.

import (
	"io"
	"testing"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/tun"
)

// TestDataPathAllocs: moving data between two stacks allocates nothing in
// steady state, output queue included (its slices are reused; dropping
// them after large batches cost 4 allocations per 64 KiB).
func TestDataPathAllocs(t *testing.T) {
	for _, host := range []string{"198.18.0.2", "2001:2::2"} {
		t.Run(host, func(t *testing.T) { testDataPathAllocs(t, host) })
	}
}

func testDataPathAllocs(t *testing.T, host string) {
	p := newPair6(t, tun.FaultConfig{})
	c1, c2 := p.connectTo(t, host, 9)
	// A fixed receive window (SO_RCVBUF; no auto-tuning): with a window of
	// megabytes the writer never waits for ACKs, the ACKs queue up in the
	// in-memory pipe without bound, and the pipe's queue allocates a slot
	// at every new peak depth (seen at 641 packets), which is the test
	// link's allocation, not the stack's.
	if err := c2.(*stack.Conn).SetReadBuffer(256 << 10); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	rd := make([]byte, len(buf))
	move := func() {
		if _, err := c1.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c2, rd); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 { // warm up: buffers, pools, queue capacity
		move()
	}
	if n := testing.AllocsPerRun(200, move); n > 0.5 {
		t.Fatalf("%.2f allocations per 64 KiB moved, want 0", n)
	}
}
