package stack_test

import (
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/stack/tcp"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// TestConnGone: Options.ConnGone sees each connection leave the table
// exactly once, with its final figures: the active closer's as it enters
// TIME-WAIT, the passive closer's as it reaches CLOSED.
func TestConnGone(t *testing.T) {
	clk := timers.NewManual(time.Unix(1e9, 0))
	var mu sync.Mutex
	gone := map[tcp.Tuple][]tcp.Info{}
	p := newPair(t, clk, tun.FaultConfig{}, func(o *stack.Options) {
		o.ConnGone = func(i *tcp.Info) {
			mu.Lock()
			gone[i.Tuple] = append(gone[i.Tuple], *i)
			mu.Unlock()
		}
	})
	c1, c2 := p.connect(t, 80)
	if _, err := c1.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c2, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	closeActively(t, clk, c1, c2)
	if !pump(clk, func() bool { return p.a.Stats().Conns == 0 && p.b.Stats().Conns == 0 }) {
		t.Fatalf("A %+v B %+v", p.a.Stats(), p.b.Stats())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gone) != 2 {
		t.Fatalf("%d connections reported gone, want 2: %+v", len(gone), gone)
	}
	for tu, infos := range gone {
		if len(infos) != 1 {
			t.Fatalf("%v reported %d times", tu, len(infos))
		}
		i := infos[0]
		switch tu.LocalAddr {
		case addrA:
			if i.State != tcp.StateTimeWait || i.BytesOut != 1000 {
				t.Fatalf("active closer: %v, %d bytes out", i.State, i.BytesOut)
			}
		case addrB:
			if i.State != tcp.StateClosed || i.BytesIn != 1000 {
				t.Fatalf("passive closer: %v, %d bytes in", i.State, i.BytesIn)
			}
		}
	}
}
