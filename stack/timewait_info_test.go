package stack_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tunstack/tunstack/stack"
	"github.com/tunstack/tunstack/timers"
	"github.com/tunstack/tunstack/tun"
)

// TestTimeWaits: the active closer lists its TIME-WAIT record with the
// connection's tuple and the 2*MSL left, counting down on the stack's
// clock; the record leaves the list when it expires.
func TestTimeWaits(t *testing.T) {
	clk := timers.NewManual(time.Unix(1e9, 0))
	const msl = 10 * time.Second
	p := newPair(t, clk, tun.FaultConfig{}, func(o *stack.Options) { o.MSL = msl })
	if tw := p.a.TimeWaits(); len(tw) != 0 {
		t.Fatalf("fresh stack lists %d TIME-WAIT records", len(tw))
	}
	c1, c2 := p.connect(t, 80)
	local, remote := c1.LocalAddr().String(), c1.RemoteAddr().String()
	closeActively(t, clk, c1, c2)
	// B must have taken A's last ACK too: a FIN B retransmitted meanwhile
	// (its timer runs on the manual clock, its input on a goroutine)
	// would restart A's 2*MSL (RFC 9293 3.10.7.4) during the checks.
	if !pump(clk, func() bool { return len(p.a.TimeWaits()) == 1 && p.b.Stats().Conns == 0 }) {
		t.Fatalf("A: %+v\nB: %+v", p.a.Stats(), p.b.Stats())
	}
	tw := p.a.TimeWaits()[0]
	if got := tw.Tuple; got.LocalAddr != addrA ||
		local != netip.AddrPortFrom(got.LocalAddr, got.LocalPort).String() || remote != netip.AddrPortFrom(got.RemoteAddr, got.RemotePort).String() {
		t.Fatalf("record %+v, want %s <> %s", got, local, remote)
	}
	if tw.Left <= 0 || tw.Left > 2*msl || !tw.Expires.Equal(clk.Now().Add(tw.Left)) {
		t.Fatalf("left %v expires %v at %v", tw.Left, tw.Expires, clk.Now())
	}
	clk.Advance(time.Second)
	if got := p.a.TimeWaits(); len(got) != 1 || got[0].Left != tw.Left-time.Second {
		t.Fatalf("one second later: %+v, want left %v", got, tw.Left-time.Second)
	}
	if tw := p.b.TimeWaits(); len(tw) != 0 {
		t.Fatalf("passive closer lists %+v", tw)
	}
	clk.AdvanceTo(tw.Expires)
	if !pump(clk, func() bool { return len(p.a.TimeWaits()) == 0 }) {
		t.Fatalf("record outlived 2*MSL: %+v", p.a.TimeWaits())
	}
}
